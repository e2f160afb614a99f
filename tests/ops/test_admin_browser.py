"""The operator's admin in headless Chromium, against two server processes sharing Redis and one
database: server A serves the admin, server B the API (ROUTING_STRATEGY=priority).

- The provider list's live figures change after traffic sent to B, without reloading the page.
- An alias added with the multi-value field, a priority edited in the list and a one-click disable,
  all on A, change how B routes within a second.

Screenshots: artifacts/screenshots/admin-*.png."""

import os
import sqlite3
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from redis import Redis
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from providers.emulator import EmulatorServer
from tests.deploy.servers import ROOT, server_env
from tests.ops.browser import screenshot, start_chromium
from tests.ops.clone import free_ports

PASSWORD = "operator-password-for-tests"
ALIAS = "chat-default"


def _start(env: dict[str, str], port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "aiprovider_site.asgi:application", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
        env=env, cwd=ROOT,
    )


def _wait_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited: {process.returncode}")
        try:
            if httpx.get(url, timeout=5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer")


PREPARE = f"""
from django.contrib.auth import get_user_model
from django.core.management import call_command
from access.services import api_key_create
call_command("migrate", verbosity=0)
call_command("sync_providers", verbosity=0)
get_user_model().objects.create_superuser("ops", "ops@example.com", {PASSWORD!r})
print(api_key_create(name="fleet-tests")[1])
"""
FLUSH = "from analytics.services import usage_flush; print(usage_flush())"


def django_script(env: dict[str, str], code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup()\n{code}"],
        env={**env, "DJANGO_SETTINGS_MODULE": "aiprovider_site.settings"}, cwd=ROOT, check=True, timeout=180,
        capture_output=True, text=True,
    ).stdout


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    from tests.conftest import redis_test_url

    redis_url = redis_test_url()
    if redis_url is None:
        pytest.skip("no Redis on 127.0.0.1:6379 and REDIS_URL is not set")
    Redis.from_url(redis_url).flushdb()
    tmp = tmp_path_factory.mktemp("fleet")
    admin_port, api_port, emulator_port = free_ports(3)
    emulator = EmulatorServer(port=emulator_port).start()
    keys = {name: "sk-fleet-tests" for name in
            ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_AI_API_KEY", "DEEPSEEK_API_KEY")}
    api_env = server_env(
        tmp, emulator_url=emulator.base_url, redis_url=redis_url, LOG_LEVEL="WARNING",
        ROUTING_STRATEGY="priority", BREAKER_MIN_REQUESTS="2", RESPONSE_CACHE_TTL_S="0", **keys,
    )
    # One process (each start imports every provider SDK): schema, catalogue, a client key, an operator.
    key = django_script(api_env, PREPARE).strip().splitlines()[-1]
    admin_env = {**api_env, "DEVELOPMENT_MODE": "true", "ALLOWED_HOSTS": "127.0.0.1",
                 "SECRET_KEY": "admin-server-tests-" + "y" * 50}
    servers = [_start(admin_env, admin_port), _start(api_env, api_port)]
    try:
        _wait_up(f"http://127.0.0.1:{admin_port}/admin/login/", servers[0])
        _wait_up(f"http://127.0.0.1:{api_port}/status", servers[1])
        yield {
            "admin": f"http://127.0.0.1:{admin_port}", "api": f"http://127.0.0.1:{api_port}", "key": key,
            "emulator": emulator, "api_env": api_env, "db": tmp / "db.sqlite3",
        }
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(20)
        emulator.stop()


@pytest.fixture(scope="module")
def browser(fleet, tmp_path_factory):
    driver = start_chromium(tmp_path_factory.mktemp("chromium") / "profile", window="1800,1000")
    driver.get(f"{fleet['admin']}/admin/login/")
    driver.find_element(By.ID, "id_username").send_keys("ops")
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(driver, 20).until(lambda d: "/admin/login/" not in d.current_url)
    yield driver
    driver.quit()


def complete(fleet, model: str, *, provider: str | None = None) -> httpx.Response:
    path = f"/api/v1/providers/{provider}/completion" if provider else "/api/v1/completion"
    return httpx.post(
        f"{fleet['api']}{path}",
        json={"model": model, "messages": [{"role": "user", "content": f"hello {uuid.uuid4()}"}]},
        headers={"Authorization": f"Bearer {fleet['key']}"}, timeout=30,
    )


def answered_by(fleet, model: str) -> str:
    response = complete(fleet, model)
    assert response.status_code == 200, response.text
    return response.json()["provider"]


def model_pk(fleet, provider: str, name: str) -> int:
    with sqlite3.connect(fleet["db"]) as db:
        (pk,) = db.execute(
            "SELECT m.id FROM providers_providermodel m JOIN providers_provider p ON p.id = m.provider_id "
            "WHERE p.name = ? AND m.name = ?", (provider, name),
        ).fetchone()
    return pk


def live_text(browser, provider: str, figure: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, f'[data-live="{provider}:{figure}"]').text


def provider_row(browser, provider: str):
    return browser.find_element(By.XPATH, f'//tr[.//th/a[normalize-space()="{provider}"]]')


def wait_until_routed(fleet, model: str, provider: str, *, within: float) -> float:
    """Seconds until B answers `model` from `provider` (polled as fast as it answers)."""
    started = time.monotonic()
    while True:
        answer = answered_by(fleet, model)
        elapsed = time.monotonic() - started
        if answer == f"{provider} (emulator)":
            return elapsed
        assert elapsed < within + 2, f"still {answer} after {elapsed:.2f}s"


def test_the_provider_list_shows_live_figures_that_change_after_traffic(fleet, browser):
    browser.get(f"{fleet['admin']}/admin/providers/provider/")
    assert live_text(browser, "openai", "requests_1h") == "0"
    assert live_text(browser, "openai", "success_rate") == "no calls"
    assert live_text(browser, "anthropic", "breaker") == "closed"
    screenshot(browser, "admin-providers-before-traffic")
    marks = [("page", time.monotonic())]

    # Traffic on the other server: six answers from openai, and anthropic failing until its
    # circuit opens; a /health call probes every provider (anthropic's probe fails too).
    for _ in range(6):
        assert answered_by(fleet, "gpt-4o-mini") == "openai (emulator)"
    fleet["emulator"].emulator.set_fault("anthropic", "status:503")
    try:
        for _ in range(3):
            assert complete(fleet, "claude-haiku-4-5", provider="anthropic").status_code == 503
        assert httpx.get(f"{fleet['api']}/health", timeout=30).status_code == 200
    finally:
        fleet["emulator"].emulator.clear_faults()
    marks.append(("traffic", time.monotonic()))
    # The periodic usage flush (Celery beat in production), run once by hand.
    assert django_script(fleet["api_env"], FLUSH).strip() == "9"  # 6 answers, 3 errors

    marks.append(("flush", time.monotonic()))
    # No reload: the page's own refresh brings the new figures within its period (5 s).
    WebDriverWait(browser, 15, poll_frequency=0.2).until(
        lambda d: live_text(d, "openai", "requests_1h") == "6"
    )
    marks.append(("refreshed", time.monotonic()))
    print("TIMING", [(name, round(t - marks[0][1], 1)) for name, t in marks])
    assert browser.find_element(By.ID, "live-status").text.startswith("Live figures, updated")
    assert live_text(browser, "openai", "success_rate").startswith("100.0%")
    assert live_text(browser, "openai", "health") == "healthy"
    assert live_text(browser, "openai", "p95").endswith(" ms")
    assert live_text(browser, "anthropic", "breaker").startswith("open")
    assert live_text(browser, "anthropic", "success_rate").startswith("0.0%")
    assert live_text(browser, "anthropic", "health") == "unhealthy"
    assert "DeepSeek (OpenAI protocol)" in provider_row(browser, "deepseek").text
    screenshot(browser, "admin-providers-after-traffic")


def test_an_alias_a_priority_edit_and_a_disable_change_routing_on_the_other_server_within_a_second(
    fleet, browser
):
    # An alias that openai's and google's cheap models share, added with the multi-value field.
    for provider, name in (("openai", "gpt-4o-mini"), ("google", "gemini-2.5-flash")):
        browser.get(f"{fleet['admin']}/admin/providers/providermodel/{model_pk(fleet, provider, name)}/change/")
        field = browser.find_element(By.ID, "id_aliases")
        field.find_element(By.CSS_SELECTOR, ".list-field-add").click()
        inputs = field.find_elements(By.CSS_SELECTOR, "input[type=text]")
        assert inputs[-1] == browser.switch_to.active_element  # the new input has the focus
        inputs[-1].send_keys(ALIAS)
        if provider == "google":
            screenshot(browser, "admin-model-capabilities-and-aliases")
        browser.find_element(By.NAME, "_save").click()
        WebDriverWait(browser, 20).until(lambda d: "was changed successfully" in d.page_source)
    wait_until_routed(fleet, ALIAS, "openai", within=1.0)  # priority 10 beats google's 30

    # google's priority to 1, in the list, and Save.
    browser.get(f"{fleet['admin']}/admin/providers/provider/")
    priority = provider_row(browser, "google").find_element(By.CSS_SELECTOR, "input[name$='-priority']")
    priority.clear()
    priority.send_keys("1")
    browser.find_element(By.NAME, "_save").click()
    WebDriverWait(browser, 20).until(lambda d: "changed successfully" in d.page_source)
    took = wait_until_routed(fleet, ALIAS, "google", within=1.0)
    print(f"priority edit on server A: server B routes by it after {took:.3f}s")
    assert took < 1.0
    screenshot(browser, "admin-providers-priority-edited")

    # One click disables google: server B goes back to openai.
    provider_row(browser, "google").find_element(By.CSS_SELECTOR, "button.toggle-form-button").click()
    WebDriverWait(browser, 20).until(lambda d: "Provider google disabled" in d.page_source)
    took = wait_until_routed(fleet, ALIAS, "openai", within=1.0)
    print(f"disable on server A: server B stops routing to it after {took:.3f}s")
    assert took < 1.0
    assert provider_row(browser, "google").find_element(By.CSS_SELECTOR, "button.toggle-form-button").text == "Enable"
    screenshot(browser, "admin-providers-google-disabled")
    # The provider page: its models with capabilities as checkboxes and aliases as lists.
    browser.get(f"{fleet['admin']}/admin/providers/provider/")
    provider_row(browser, "openai").find_element(By.LINK_TEXT, "openai").click()
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".capabilities"))
    assert "OpenAI (adapter dialect 'openai'" in browser.page_source
    browser.execute_script("document.querySelector('.inline-group').scrollIntoView()")
    screenshot(browser, "admin-provider-models-inline")
    if os.environ.get("CI"):
        print("screenshots: artifacts/screenshots/admin-*.png")
