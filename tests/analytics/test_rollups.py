"""Daily rollups: one row per day, provider, model, key and status; recomputing changes nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.models import UsageDailyRollup, UsageRollupDay
from analytics.rollups import usage_rollup_day, usage_rollup_rebuild
from analytics.tasks import usage_rollup_task

pytestmark = pytest.mark.django_db


def _snapshot():
    return sorted(
        UsageDailyRollup.objects.values_list(
            "day", "provider", "model", "api_key_id", "status", "requests", "failovers", "streamed",
            "prompt_tokens", "completion_tokens", "cached_tokens", "cost_usd", "latency_ms_sum",
        )
    )


@pytest.fixture
def noon_two_days_ago():
    return (timezone.now() - timedelta(days=2)).replace(hour=12, minute=0, second=0, microsecond=0)


def test_a_day_rolls_up_by_provider_model_key_and_status(make_record, noon_two_days_ago, analytics_key):
    key, _ = analytics_key
    at = noon_two_days_ago
    make_record(at=at, provider="openai", model="gpt-test", prompt_tokens=10, completion_tokens=5,
                cost_usd="0.001", latency_ms=100, api_key=key)
    make_record(at=at, provider="openai", model="gpt-test", prompt_tokens=20, completion_tokens=7,
                cost_usd="0.002", latency_ms=300, api_key=key, attempts=2, streamed=True)
    make_record(at=at, provider="openai", model="gpt-test", status="error", latency_ms=50, api_key=key)
    make_record(at=at - timedelta(days=1), provider="openai", model="gpt-test", cost_usd="9")  # another day

    assert usage_rollup_day(day=at.date()) == 3
    success = UsageDailyRollup.objects.get(day=at.date(), status="success")
    assert (success.requests, success.failovers, success.streamed) == (2, 1, 1)
    assert (success.prompt_tokens, success.completion_tokens) == (30, 12)
    assert success.cost_usd == Decimal("0.003")
    assert success.latency_ms_sum == 400
    assert success.api_key_id == key.id
    error = UsageDailyRollup.objects.get(day=at.date(), status="error")
    assert error.requests == 1 and error.cost_usd == 0
    assert UsageRollupDay.objects.get(day=at.date()).records == 3


def test_recomputing_is_idempotent_and_picks_up_late_records(make_record, noon_two_days_ago):
    make_record(at=noon_two_days_ago, provider="openai", model="gpt-test", cost_usd="0.5")
    usage_rollup_day(day=noon_two_days_ago.date())
    first = _snapshot()
    usage_rollup_day(day=noon_two_days_ago.date())
    usage_rollup_day(day=noon_two_days_ago.date())
    assert _snapshot() == first
    assert UsageDailyRollup.objects.count() == 1

    make_record(at=noon_two_days_ago, provider="openai", model="gpt-test", cost_usd="0.25")
    usage_rollup_day(day=noon_two_days_ago.date())
    [row] = UsageDailyRollup.objects.all()
    assert row.requests == 2 and row.cost_usd == Decimal("0.75")


def test_the_periodic_task_rolls_up_yesterday_and_today(make_record):
    make_record(ago=timedelta(seconds=1), provider="openai", model="gpt-test", cost_usd="1")
    result = usage_rollup_task()
    today = timezone.now().date()
    assert set(result) == {today.isoformat(), (today - timedelta(days=1)).isoformat()}
    assert sum(result.values()) == 1
    assert UsageDailyRollup.objects.get().cost_usd == Decimal("1")
    assert usage_rollup_task() == result


def test_a_rebuild_covers_every_day_of_a_range(make_record):
    today = timezone.now().date()
    for back in (9, 6, 3):
        make_record(ago=timedelta(days=back), provider="openai", model="gpt-test", cost_usd="1")
    covered = usage_rollup_rebuild(start=today - timedelta(days=30), end=today - timedelta(days=2))
    assert covered == 3
    assert UsageDailyRollup.objects.count() == 3
    # Every day from the first record on has a marker, records or not.
    assert UsageRollupDay.objects.count() >= 8
