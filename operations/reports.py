"""The hourly health report: per provider, probe uptime and latency (providers) with the traffic it
served, its errors and its failovers (analytics usage records), one row per window."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.db.models import Count, Q
from django.utils import timezone

from analytics.models import UsageRecord, UsageStatus
from providers.models import HealthReport
from providers.selectors import CheckStats, health_check_stats

logger = structlog.get_logger(__name__)


def _usage_figures(*, since: datetime, until: datetime) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Traffic per provider and in total from the usage records of [since, until)."""
    records = UsageRecord.objects.filter(created_at__gte=since, created_at__lt=until)
    per_provider: dict[str, dict[str, Any]] = {}

    def bucket(name: str) -> dict[str, Any]:
        return per_provider.setdefault(name, {"requests": 0, "errors": {}, "failovers": 0})

    # A cache hit is served by the gateway, not by a provider.
    served = records.exclude(provider="").exclude(status=UsageStatus.CACHE_HIT)
    failovers = Count("id", filter=Q(attempts__gt=1))
    for row in served.values("provider").annotate(n=Count("id"), failovers=failovers):
        figures = bucket(row["provider"])
        figures["requests"], figures["failovers"] = row["n"], row["failovers"]
    errors_total: Counter[str] = Counter()
    errors = records.filter(status=UsageStatus.ERROR).values("provider", "error_code")
    for row in errors.annotate(n=Count("id")):
        code = row["error_code"] or "UNKNOWN"
        errors_total[code] += row["n"]
        if row["provider"]:
            bucket(row["provider"])["errors"][code] = row["n"]
    totals = records.aggregate(
        requests=Count("id"),
        cache_hits=Count("id", filter=Q(status=UsageStatus.CACHE_HIT)),
        failovers=Count("id", filter=Q(attempts__gt=1)),
    )
    totals["errors"] = dict(sorted(errors_total.items()))
    return per_provider, totals


def _check_figures(stats: CheckStats) -> dict[str, Any]:
    return {
        "checks": stats.checks,
        "uptime_percent": stats.uptime_percent,
        "latency_p50_ms": stats.latency_p50_ms,
        "latency_p95_ms": stats.latency_p95_ms,
        "check_errors": stats.check_errors,
    }


def health_report_create(*, window_start: datetime, window_end: datetime) -> HealthReport:
    """Write (or rewrite) the report of one window: per provider uptime, p50/p95 probe latency and
    probe errors by code, with the traffic it served, its errors by code and its failovers."""
    checks = health_check_stats(since=window_start, until=window_end)
    usage, totals = _usage_figures(since=window_start, until=window_end)
    empty_checks = _check_figures(CheckStats())
    empty_usage = {"requests": 0, "errors": {}, "failovers": 0}
    providers = {
        name: {
            **(_check_figures(checks[name]) if name in checks else empty_checks),
            **usage.get(name, empty_usage),
        }
        for name in sorted(set(checks) | set(usage))
    }
    report, _ = HealthReport.objects.update_or_create(
        window_start=window_start,
        defaults={"window_end": window_end, "providers": providers, "totals": totals},
    )
    logger.info("health_report_written", window_start=window_start.isoformat(), providers=len(providers))
    return report


def health_report_create_last_hour(*, now: datetime | None = None) -> HealthReport:
    """The report of the last full hour (the periodic task's unit of work; rerunning it rewrites)."""
    now = now or timezone.now()
    window_end = now.replace(minute=0, second=0, microsecond=0)
    return health_report_create(window_start=window_end - timedelta(hours=1), window_end=window_end)
