"""Reads of the provider catalogue and health."""

import math
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from core.shared_state import shared_state
from providers.models import HealthCheckResult, HealthReport, HealthStatus, Provider


def provider_list(*, enabled_only: bool = True) -> list[Provider]:
    qs = Provider.objects.all()
    if enabled_only:
        qs = qs.filter(enabled=True)
    return list(qs)


def overall_status(statuses: list[str]) -> str:
    """healthy when at least one provider is healthy; degraded when some answer but none fully;
    unhealthy when none answers."""
    if HealthStatus.HEALTHY in statuses:
        return "healthy"
    if HealthStatus.DEGRADED in statuses:
        return "degraded"
    return "unhealthy"


# A provider that answered, if slowly or rate-limited, was up.
UP_STATUSES = frozenset({HealthStatus.HEALTHY, HealthStatus.DEGRADED})


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least q% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class CheckStats:
    """What one provider's stored probe results say over a window."""

    checks: int = 0
    uptime_percent: float | None = None  # of the checks that called it (unconfigured ones do not)
    latency_p50_ms: float | None = None  # over the checks it answered
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    check_errors: dict[str, int] = field(default_factory=dict)  # error_code -> count


def _check_stats(rows: list[tuple[str, float | None, str]]) -> CheckStats:
    probed = [row for row in rows if row[0] != HealthStatus.UNCONFIGURED]
    latencies = [lat for status, lat, _ in probed if status in UP_STATUSES and lat is not None]
    up = sum(1 for status, _, _ in probed if status in UP_STATUSES)
    errors: dict[str, int] = {}
    for status, _, code in probed:
        # Unhealthy checks, and degraded ones with a reason (RATE_LIMITED, SLOW).
        if code or status == HealthStatus.UNHEALTHY:
            errors[code or "UNKNOWN"] = errors.get(code or "UNKNOWN", 0) + 1
    return CheckStats(
        checks=len(rows),
        uptime_percent=round(100 * up / len(probed), 2) if probed else None,
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        latency_p99_ms=percentile(latencies, 99),
        check_errors=dict(sorted(errors.items())),
    )


def health_check_stats(
    *, since: datetime, until: datetime, provider: str | None = None
) -> dict[str, CheckStats]:
    """Uptime, latency percentiles and errors per provider from the checks in [since, until)."""
    qs = HealthCheckResult.objects.filter(checked_at__gte=since, checked_at__lt=until)
    if provider is not None:
        qs = qs.filter(provider__name=provider)
    rows: dict[str, list[tuple[str, float | None, str]]] = {}
    for name, status, latency_ms, error_code in qs.values_list(
        "provider__name", "status", "latency_ms", "error_code"
    ):
        rows.setdefault(name, []).append((status, latency_ms, error_code))
    return {name: _check_stats(provider_rows) for name, provider_rows in sorted(rows.items())}


def provider_health_detail(*, name: str, limit: int, window: timedelta = timedelta(hours=24)) -> dict | None:
    """One provider's last `limit` checks and its uptime and latency over `window`; None if unknown."""
    provider = Provider.objects.filter(name=name).first()
    if provider is None:
        return None
    now = timezone.now()
    recent = list(HealthCheckResult.objects.filter(provider=provider).order_by("-checked_at")[:limit])
    stats = health_check_stats(since=now - window, until=now, provider=name).get(name, CheckStats())
    return {
        "provider": provider,
        "recent": recent,
        "stats": stats,
        "window_start": now - window,
        "window_end": now,
    }


def health_report_list(*, limit: int) -> list[HealthReport]:
    return list(HealthReport.objects.order_by("-window_start")[:limit])


HEALTH_STATUS_KEY = "health:status"
# When the last probe round published; statuses older than HEALTH_STATUS_MAX_AGE_S are ignored.
HEALTH_STATUS_STAMP_KEY = "health:status:published_at"


async def provider_health_statuses() -> dict[str, str]:
    """The latest probe status per provider, as the health checker publishes it."""
    state = shared_state()
    statuses = await state.hgetall(HEALTH_STATUS_KEY)
    stamp = await state.get(HEALTH_STATUS_STAMP_KEY)
    # If the prober stopped (beat down), old verdicts must not steer routing for ever.
    if stamp is not None and time.time() - float(stamp) > settings.HEALTH_STATUS_MAX_AGE_S:
        return {}
    return statuses


@dataclass(frozen=True)
class ProviderKeyStatus:
    name: str
    api_key_env: str
    configured: bool  # its key variable is set in this process's environment


def provider_key_status() -> list[ProviderKeyStatus]:
    """Each enabled provider and whether its key is in the environment (never the key itself)."""
    return [
        ProviderKeyStatus(p.name, p.api_key_env, bool(p.api_key_env and os.environ.get(p.api_key_env)))
        for p in Provider.objects.filter(enabled=True).order_by("priority", "name")
    ]
