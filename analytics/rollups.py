"""Daily rollups of usage records: one row per UTC day, provider, model, API key and status.

`usage_rollup_day` recomputes a day from scratch (delete and insert in one transaction, under a row
lock on the day's marker), so it is idempotent and safe to run from several workers. The periodic
task recomputes yesterday and today; `usage_rollup_rebuild` covers any range (after an import, or
to backfill).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from analytics.models import (
    UsageAttempt,
    UsageAttemptDailyRollup,
    UsageDailyRollup,
    UsageRecord,
    UsageRollupDay,
)
from analytics.usage_source import day_start


def _record_rollups(*, day: date, begin: datetime, end: datetime) -> list[UsageDailyRollup]:
    """The day's usage records summed by provider, model, API key and status."""
    groups = (
        UsageRecord.objects.filter(created_at__gte=begin, created_at__lt=end)
        .values("provider", "model", "api_key_id", "status")
        .annotate(
            requests=Count("id"),
            failovers=Count("id", filter=Q(attempts__gt=1)),
            streamed=Count("id", filter=Q(streamed=True)),
            prompt_tokens=Sum("prompt_tokens"),
            completion_tokens=Sum("completion_tokens"),
            cached_tokens=Sum("cached_tokens"),
            cache_write_tokens=Sum("cache_write_tokens"),
            reasoning_tokens=Sum("reasoning_tokens"),
            cost_usd=Sum("cost_usd"),
            latency_ms_sum=Sum("latency_ms"),
        )
        .order_by()
    )
    return [
        UsageDailyRollup(
            day=day,
            provider=g["provider"],
            model=g["model"],
            api_key_id=g["api_key_id"] or 0,
            status=g["status"],
            requests=g["requests"],
            failovers=g["failovers"],
            streamed=g["streamed"],
            prompt_tokens=g["prompt_tokens"] or 0,
            completion_tokens=g["completion_tokens"] or 0,
            cached_tokens=g["cached_tokens"] or 0,
            cache_write_tokens=g["cache_write_tokens"] or 0,
            reasoning_tokens=g["reasoning_tokens"] or 0,
            cost_usd=g["cost_usd"] or 0,
            latency_ms_sum=g["latency_ms_sum"] or 0,
        )
        for g in groups
    ]


def _attempt_rollups(*, day: date, begin: datetime, end: datetime) -> list[UsageAttemptDailyRollup]:
    """The day's upstream attempts counted by provider, model and error code."""
    return [
        UsageAttemptDailyRollup(
            day=day, provider=g["provider"], model=g["model"], error_code=g["error_code"],
            attempts=g["n"], latency_ms_sum=g["latency"] or 0,
        )
        for g in UsageAttempt.objects.filter(created_at__gte=begin, created_at__lt=end)
        .values("provider", "model", "error_code")
        .annotate(n=Count("id"), latency=Sum("latency_ms"))
        .order_by()
    ]


def usage_rollup_day(*, day: date) -> int:
    """Recompute one UTC day's rollups (usage records, and their upstream attempts); returns how
    many usage records it covers."""
    begin, end = day_start(day), day_start(day + timedelta(days=1))
    with transaction.atomic():
        try:
            with transaction.atomic():
                UsageRollupDay.objects.get_or_create(day=day, defaults={"computed_at": begin})
        except IntegrityError:  # created by a concurrent run: the lock below waits for it
            pass
        marker = UsageRollupDay.objects.select_for_update().get(day=day)
        # Taken before the read: a record that lands after it is not claimed as included.
        computed_at = timezone.now()
        rows = _record_rollups(day=day, begin=begin, end=end)
        attempt_rows = _attempt_rollups(day=day, begin=begin, end=end)
        UsageDailyRollup.objects.filter(day=day).delete()
        UsageDailyRollup.objects.bulk_create(rows, batch_size=1000)
        UsageAttemptDailyRollup.objects.filter(day=day).delete()
        UsageAttemptDailyRollup.objects.bulk_create(attempt_rows, batch_size=1000)
        marker.computed_at = computed_at
        marker.records = sum(r.requests for r in rows)
        marker.save(update_fields=["computed_at", "records"])
    return marker.records


def usage_rollup_recent() -> dict[str, int]:
    """Yesterday (records queued around midnight land late) and today."""
    today = timezone.now().date()
    return {day.isoformat(): usage_rollup_day(day=day) for day in (today - timedelta(days=1), today)}


def usage_rollup_rebuild(*, start: date, end: date) -> int:
    """Recompute every day in [start, end] that has records or an old rollup."""
    days = set(
        UsageRollupDay.objects.filter(day__gte=start, day__lte=end).values_list("day", flat=True)
    )
    first = UsageRecord.objects.filter(created_at__gte=day_start(start)).order_by("created_at").first()
    day = max(start, first.created_at.date()) if first else end + timedelta(days=1)
    while day <= end:
        days.add(day)
        day += timedelta(days=1)
    return sum(usage_rollup_day(day=d) for d in sorted(days))
