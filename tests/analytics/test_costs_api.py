"""GET /api/v1/analytics/costs: totals, breakdowns, insights, and the same answer from rollups."""

from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.models import UsageRecord
from analytics.rollups import usage_rollup_day

pytestmark = pytest.mark.django_db

TOKENS = {"prompt_tokens": 1000, "completion_tokens": 500}


@pytest.fixture
def days():
    today = timezone.now().date()
    return {"today": today, "d3": today - timedelta(days=3), "d5": today - timedelta(days=5)}


@pytest.fixture
def usage(priced_catalogue, make_record, analytics_key, days):
    from access.services import api_key_create

    analyst, _ = analytics_key
    team, _ = api_key_create(name="team-b")
    now = timezone.now()

    def at(day, hour):
        return now.replace(year=day.year, month=day.month, day=day.day, hour=hour, minute=0, second=0,
                           microsecond=0)

    # Five days ago: two openai answers for team-b, one cache hit.
    make_record(at=at(days["d5"], 9), provider="openai", model="gpt-test", cost_usd="0.002", api_key=team, **TOKENS)
    make_record(at=at(days["d5"], 10), provider="openai", model="gpt-test", cost_usd="0.002", api_key=team,
                attempts=2, **TOKENS)
    make_record(at=at(days["d5"], 11), provider="openai", model="gpt-test", status="cache_hit", attempts=0,
                api_key=team, **TOKENS)
    # Three days ago: an anthropic answer for the analyst, and an error.
    make_record(at=at(days["d3"], 12), provider="anthropic", model="claude-test", cost_usd="0.0105",
                api_key=analyst, **TOKENS)
    make_record(at=at(days["d3"], 13), provider="anthropic", model="claude-test", status="error",
                error_code="UNAVAILABLE", api_key=analyst)
    # Today (the first minute of the day, so it is never in the future): one more openai answer.
    make_record(at=at(days["today"], 0), provider="openai", model="gpt-test", cost_usd="0.002", api_key=team,
                **TOKENS)
    # Outside the range asked for below.
    make_record(at=at(days["today"] - timedelta(days=20), 8), provider="openai", model="gpt-test", cost_usd="7")
    return {"team": team, "analyst": analyst}


def _costs(api, days, **params):
    params.setdefault("from", days["d5"].isoformat())
    params.setdefault("to", days["today"].isoformat())
    response = api("/api/v1/analytics/costs", **params)
    assert response.status_code == 200, response.content
    return response.json()


def test_totals_and_every_breakdown(api, usage, days):
    body = _costs(api, days)
    assert body["group_by"] == ["provider", "model", "api_key", "day"]
    assert body["currency"] == "USD" and "decimal strings with 8 decimal places" in body["money"]
    totals = body["totals"]
    assert totals["requests"] == 6
    assert totals["errors"] == 1 and totals["cache_hits"] == 1 and totals["failovers"] == 1
    assert totals["cost_usd"] == "0.01650000"  # money: decimal strings, 8 places
    assert totals["cache_savings_usd"] == "0.00200000"

    by_provider = {r["provider"]: r for r in body["breakdowns"]["provider"]}
    assert by_provider["openai"]["cost_usd"] == "0.00600000"
    assert by_provider["openai"]["requests"] == 4
    assert by_provider["anthropic"]["cost_usd"] == "0.01050000"
    # Sorted by cost, the largest first.
    assert [r["provider"] for r in body["breakdowns"]["provider"]] == ["anthropic", "openai"]

    by_key = {r["api_key"]: r for r in body["breakdowns"]["api_key"]}
    assert by_key["team-b"]["cost_usd"] == "0.00600000"
    assert by_key["team-b"]["api_key_id"] == usage["team"].id
    assert by_key["analyst"]["requests"] == 2

    by_day = body["breakdowns"]["day"]
    assert [r["day"] for r in by_day] == [days["d5"].isoformat(), days["d3"].isoformat(), days["today"].isoformat()]
    assert [r["cost_usd"] for r in by_day] == ["0.00400000", "0.01050000", "0.00200000"]

    by_model = {r["model"]: r for r in body["breakdowns"]["model"]}
    # Billed tokens: the cache hit's are not counted again.
    assert by_model["gpt-test"]["prompt_tokens"] == 3000
    assert totals["prompt_tokens"] == 4000 and totals["completion_tokens"] == 2000


def test_group_by_is_repeatable_or_comma_separated(api, usage, days):
    repeated = _costs(api, days, group_by=["day", "api_key"])
    assert repeated["group_by"] == ["day", "api_key"]
    assert set(repeated["breakdowns"]) == {"day", "api_key"}
    comma = _costs(api, days, group_by="provider,model")
    assert set(comma["breakdowns"]) == {"provider", "model"}


def test_insights_price_cache_hits_and_the_cheapest_alternative(api, usage, days):
    insights = _costs(api, days)["insights"]
    assert insights["cache_savings_usd"] == "0.00200000"
    [saving] = insights["cache_savings_by_model"]
    assert saving == {"provider": "openai", "model": "gpt-test", "cache_hits": 1, "saved_usd": "0.00200000"}

    alternatives = {r["model"]: r for r in insights["model_alternatives"]}
    claude = alternatives["claude-test"]
    # 1000 prompt + 500 completion tokens at gemini-test's $0.10 / $0.40 per million.
    assert claude["cheapest_alternative"] == {
        "provider": "google", "model": "gemini-test", "cost_usd": "0.00030000"
    }
    assert claude["cost_usd"] == "0.01050000"
    assert claude["potential_savings_usd"] == "0.01020000"
    gpt = alternatives["gpt-test"]
    assert gpt["prompt_tokens"] == 3000 and gpt["completion_tokens"] == 1500
    assert gpt["cheapest_alternative"]["model"] == "gemini-test"
    assert gpt["potential_savings_usd"] == "0.00510000"  # 0.006 - 0.0009, exactly
    # The largest saving first.
    assert insights["model_alternatives"][0]["model"] == "claude-test"


def test_past_days_come_from_complete_rollups_with_the_same_figures(api, usage, days):
    before = _costs(api, days)
    assert before["sources"]["rollup_days"] == 0
    # Up to the day before yesterday: yesterday's rollup is complete only five minutes after
    # midnight, and the test must not depend on the hour it runs at.
    for offset in (5, 4, 3, 2):
        usage_rollup_day(day=days["today"] - timedelta(days=offset))
    after = _costs(api, days)
    assert after["sources"] == {"rollup_days": 4, "raw_days": 2}
    assert after["totals"] == before["totals"]
    assert after["breakdowns"] == before["breakdowns"]
    assert after["insights"] == before["insights"]
    # Proof that those days really are read from the rollups: their raw rows are gone.
    UsageRecord.objects.filter(created_at__date__lte=days["today"] - timedelta(days=2)).delete()
    assert _costs(api, days)["totals"] == before["totals"]


@pytest.mark.parametrize(
    "params",
    [{"group_by": "provider,colour"}, {"from": "2026-13-01"}, {"to": "yesterday"},
     {"from": "2026-11-10", "to": "2026-11-01"}, {"from": "2020-01-01", "to": "2026-01-01"}],
)
def test_bad_parameters_are_a_400_envelope(api, params):
    response = api("/api/v1/analytics/costs", **params)
    assert response.status_code == 400
    assert response.json()["error_code"] == "VALIDATION_ERROR"


def test_costs_need_the_analytics_scope(client, db):
    from access.services import api_key_create

    _, secret = api_key_create(name="plain")
    response = client.get("/api/v1/analytics/costs", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 403
