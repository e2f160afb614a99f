"""Swagger UI and Redoc work offline: in headless Chromium, every request the pages make goes to this
server (a request for any other host would fail at once and still be listed), and the pages render
the API. Screenshots: artifacts/screenshots/docs-*.png."""

import re

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.ops.browser import foreign, requested_urls, screenshot, start_chromium


@pytest.fixture
def browser(tmp_path):
    driver = start_chromium(tmp_path / "profile")
    yield driver
    driver.quit()


def test_the_docs_pages_carry_a_local_only_content_security_policy(client):
    for path in ("/api/docs/", "/api/redoc/"):
        response = client.get(path)
        assert response.status_code == 200
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "connect-src 'self'" in policy
        assert "img-src 'self' data: blob:" in policy and "font-src 'self' data:" in policy
        html = response.content.decode()
        assert "fonts.googleapis" not in html
        assert re.search(r"""(src|href)=["']?(https?:)?//""", html) is None


@pytest.mark.django_db(transaction=True)
def test_swagger_ui_renders_from_local_assets_only(live_server, browser):
    browser.get(f"{live_server.url}/api/docs/")
    WebDriverWait(browser, 20).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) > 5)
    paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert "/api/v1/completion" in paths
    urls = requested_urls(browser)
    assert any(url.endswith("swagger-ui-bundle.js") for url in urls)
    assert foreign(urls, live_server.url) == []
    screenshot(browser, "docs-swagger")


@pytest.mark.django_db(transaction=True)
def test_redoc_renders_from_local_assets_only(live_server, browser):
    browser.get(f"{live_server.url}/api/redoc/")
    WebDriverWait(browser, 20).until(
        lambda d: "AI Provider Service" in d.find_element(By.TAG_NAME, "body").text
        and d.find_elements(By.CSS_SELECTOR, "[role=menuitem]")
    )
    # Redoc's credits logo is drawn (from a data: URL), so the bundle did try to show it.
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "img[alt='redocly logo']"))
    urls = requested_urls(browser)
    assert any(url.endswith("redoc.standalone.js") for url in urls)
    assert foreign(urls, live_server.url) == []
    # Nothing was refused by the policy either: the page did not even try.
    refused = [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
    assert refused == []
    screenshot(browser, "docs-redoc")
