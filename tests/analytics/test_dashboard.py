"""The admin's cost dashboard: staff only, listed on the admin index, and its SVG charts render
with data in a real browser (headless Chromium), with a screenshot kept under artifacts/screenshots/
(CI keeps that directory as an artifact)."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from analytics.rollups import usage_rollup_day
from core.money import usd_text

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "artifacts" / "screenshots" / "cost-dashboard.png"
DASHBOARD = "/admin/analytics/costdashboard/"

SEEDED_COST = {"openai": Decimal("0"), "anthropic": Decimal("0")}


@pytest.fixture
def seeded(priced_catalogue, make_record):
    tokens = {"prompt_tokens": 1200, "completion_tokens": 800}
    today_start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    costs = {"openai": Decimal("0"), "anthropic": Decimal("0")}
    for back, openai_cost, anthropic_cost in ((0, "0.02", "0.05"), (2, "0.04", "0.03"), (4, "0.01", "0.08")):
        at = today_start - timedelta(days=back)
        make_record(at=at, provider="openai", model="gpt-test", cost_usd=openai_cost, **tokens)
        make_record(at=at, provider="anthropic", model="claude-test", cost_usd=anthropic_cost, **tokens)
        make_record(at=at, provider="openai", model="gpt-test", status="cache_hit", attempts=0, **tokens)
        costs["openai"] += Decimal(openai_cost)
        costs["anthropic"] += Decimal(anthropic_cost)
    make_record(at=today_start, provider="anthropic", model="claude-test", status="error", error_code="TIMEOUT")
    usage_rollup_day(day=(today_start - timedelta(days=4)).date())
    return costs


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("ops", password="pw", is_staff=True)


@pytest.mark.django_db
def test_the_dashboard_is_listed_on_the_admin_index_for_staff(client, staff, seeded):
    client.force_login(staff)
    index = client.get("/admin/")
    assert DASHBOARD.encode() in index.content
    page = client.get(DASHBOARD)
    assert page.status_code == 200
    html = page.content.decode()
    for chart in ("chart-cost-per-day", "chart-tokens-by-model", "chart-cache-savings", "chart-error-rate"):
        assert f'id="{chart}"' in html
    assert 'data-series="openai"' in html and 'data-series="anthropic"' in html


@pytest.mark.django_db
def test_the_dashboard_is_for_staff_only(client, django_user_model):
    assert client.get(DASHBOARD).status_code == 302  # to the login page
    client.force_login(django_user_model.objects.create_user("someone", password="pw"))
    assert client.get(DASHBOARD).status_code == 302


@pytest.mark.django_db(transaction=True)
def test_the_charts_render_with_data_in_chromium(live_server, browser, client, staff, seeded):
    from selenium.webdriver.common.by import By

    client.force_login(staff)
    browser.get(f"{live_server.url}/admin/login/")
    browser.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})
    browser.get(f"{live_server.url}{DASHBOARD}?days=7")
    assert "Cost dashboard" in browser.title

    for provider, cost in seeded.items():
        bars = browser.find_elements(By.CSS_SELECTOR, f"#chart-cost-per-day rect.bar[data-series='{provider}']")
        assert len(bars) == 3, provider  # one per day with spend
        assert sum(Decimal(b.get_attribute("data-value")) for b in bars) == pytest.approx(cost)
        assert all(b.size["height"] > 0 and b.size["width"] > 0 for b in bars)  # laid out, visible
    legend = browser.find_elements(By.CSS_SELECTOR, "#chart-cost-per-day .legend-item")
    assert {item.text for item in legend} == {"openai", "anthropic"}

    token_bars = browser.find_elements(By.CSS_SELECTOR, "#chart-tokens-by-model rect.bar")
    assert {b.get_attribute("data-category") for b in token_bars} == {"openai/gpt-test", "anthropic/claude-test"}
    savings = browser.find_elements(By.CSS_SELECTOR, "#chart-cache-savings rect.bar")
    # Each day's cache hit: 1200 + 800 tokens at gpt-test's $1 / $2 per million.
    assert [Decimal(b.get_attribute("data-value")) for b in savings] == [Decimal("0.0028")] * 3
    errors = browser.find_elements(By.CSS_SELECTOR, "#chart-error-rate rect.bar")
    # Upstream attempts per provider: anthropic's one failed attempt of four.
    assert [b.get_attribute("data-category") for b in errors] == ["anthropic (1/4 attempts)"]
    request_errors = browser.find_elements(By.CSS_SELECTOR, "#chart-request-errors rect.bar")
    assert [b.get_attribute("data-category") for b in request_errors] == ["anthropic (1/4 requests)"]
    assert browser.find_element(By.ID, "total-cost").text == usd_text(sum(seeded.values())) == "$0.23"

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 20_000
    print(f"dashboard screenshot: {SCREENSHOT}")
