"""Money shown as money: the admin's usage records, API keys and cost dashboard format USD for
people (micro-dollars for tiny sums, thousands separators for large ones), the key list and detail
show this month's spend and what is left of the budget; screenshots from headless Chromium are kept
under artifacts/screenshots/ for CI."""

from datetime import timedelta
from decimal import Decimal

import pytest

from access.services import api_key_create
from core.money import usd_amount, usd_text
from tests.analytics.conftest import login_browser, screenshot

USAGE = "/admin/analytics/usagerecord/"
KEYS = "/admin/access/apikey/"
DASHBOARD = "/admin/analytics/costdashboard/"


def test_usd_text_reads_like_money():
    cases = {
        "0": "$0.00", "0.000696880000000000": "$0.000697", "0.00000123": "$0.00000123", "0.0165": "$0.0165",
        "0.5": "$0.50", "0.123456": "$0.123", "1.5": "$1.50", "12345.678": "$12,345.68",
        "1234567.891": "$1,234,567.89", "-2345.678": "-$2,345.68",
    }
    assert {value: usd_text(value) for value in cases} == cases
    assert usd_text(None) == "-"
    assert usd_amount("0.000696880000000000") == "0.00069688"
    assert usd_amount(Decimal("12345.678")) == "12345.67800000"


@pytest.fixture
def spend(priced_catalogue, make_record):
    """Three keys this month: a tiny spender, one within its budget, one over it."""
    tiny, _ = api_key_create(name="tiny-spender")
    team, _ = api_key_create(name="team-budget", monthly_budget_usd=Decimal("50"))
    big, _ = api_key_create(name="big-spender", monthly_budget_usd=Decimal("10000"))
    make_record(provider="openai", model="gpt-test", api_key=tiny, cost_usd="0.00069688",
                prompt_tokens=250, completion_tokens=100)
    make_record(provider="anthropic", model="claude-test", api_key=team, cost_usd="12.3456",
                prompt_tokens=2_100_000, completion_tokens=400_000)
    make_record(provider="anthropic", model="claude-test", api_key=big, cost_usd="12345.678",
                prompt_tokens=1_234_567_000, completion_tokens=987_654_000,
                failed_before=[("openai", "gpt-test", "UNAVAILABLE")])
    # Last month's spend is not this month's.
    make_record(ago=timedelta(days=40), provider="openai", model="gpt-test", api_key=team, cost_usd="99")
    return {"tiny": tiny, "team": team, "big": big}


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("money", password="pw")


@pytest.mark.django_db
def test_the_admin_pages_render_formatted_money(client, superuser, spend):
    client.force_login(superuser)
    usage = client.get(USAGE).content.decode()
    for text in ("$0.000697", "$12.35", "$12,345.68"):
        assert text in usage
    assert "0.000696880000000000" not in usage and "12345.67800000<" not in usage
    # The totals of the rows shown: this month's and last month's.
    assert '$12,457.02</span>' in usage  # 0.00069688 + 12.3456 + 12345.678 + 99

    keys = client.get(KEYS).content.decode()
    assert "spend this month" in keys.lower() and "budget remaining" in keys.lower()
    assert "$0.000697" in keys  # tiny-spender: spend
    assert "no budget" in keys
    assert "$12.35" in keys and "$37.65" in keys  # team-budget: spent, left of $50
    assert "-$2,345.68 (spent)" in keys  # big-spender: over its $10,000
    assert "$50.00" in keys and "$10,000.00" in keys  # budgets as money

    detail = client.get(f"{KEYS}{spend['team'].pk}/change/").content.decode()
    assert "$12.35" in detail and "$37.65" in detail

    dashboard = client.get(f"{DASHBOARD}?days=7").content.decode()
    assert "$12,358.02" in dashboard  # the last 7 days: last month's record is out


@pytest.mark.django_db(transaction=True)
def test_screenshots_of_usage_keys_and_dashboard(live_server, browser, client, superuser, spend):
    from selenium.webdriver.common.by import By

    login_browser(browser, live_server, client, superuser)

    browser.get(f"{live_server.url}{USAGE}")
    cells = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#result_list td.field-cost")]
    assert sorted(cells) == sorted(["$0.000697", "$12.35", "$12,345.68", "$99.00"])
    assert browser.find_element(By.ID, "usage-total-cost").text == "$12,457.02"
    screenshot(browser, "usage-records", width=2300)

    browser.get(f"{live_server.url}{KEYS}")
    rows = {
        row.find_element(By.CSS_SELECTOR, "th.field-name").text: (
            row.find_element(By.CSS_SELECTOR, "td.field-spend_this_month").text,
            row.find_element(By.CSS_SELECTOR, "td.field-budget_remaining").text,
        )
        for row in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    }
    assert rows["tiny-spender"] == ("$0.000697", "no budget")
    assert rows["team-budget"] == ("$12.35", "$37.65")
    assert rows["big-spender"] == ("$12,345.68", "-$2,345.68 (spent)")
    screenshot(browser, "api-keys", width=1800)

    browser.get(f"{live_server.url}{DASHBOARD}?days=7")
    assert browser.find_element(By.ID, "total-cost").text == "$12,358.02"
    assert browser.find_element(By.ID, "total-failed-attempts").text.startswith("1 ")
    screenshot(browser, "cost-dashboard-money")
