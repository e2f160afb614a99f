"""What an operator steers providers by, per provider, right now: probe health, circuit breaker,
success rate and calls (routing's live counters, shared by every worker), and from the usage records
of the last hour the requests it answered and their p95 latency.

Like operations/health.py this sits above the apps: the figures join providers (health), routing
(stats, breaker) and analytics (usage records). The provider admin shows them through the source
operations registers at start-up (operations/apps.py), so providers never imports this module.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from datetime import timedelta

from asgiref.sync import async_to_sync
from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Q
from django.utils import timezone

from analytics.models import UsageRecord, UsageStatus
from core.shared_state import shared_state_aclose
from providers.selectors import percentile, provider_health_statuses
from routing.breaker import breaker_read
from routing.stats import ProviderStats, stats_read

WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class ProviderFigures:
    """One provider's live figures, as the provider admin's list shows them."""

    name: str
    health: str  # healthy, degraded, unhealthy, unconfigured, unknown (no probe yet, or a stale one)
    breaker: str  # closed, open, half_open
    open_until: float | None  # unix time an open circuit cools down
    success_rate: float | None  # of routed calls: the last minute, or all time when it had none
    calls: int  # the calls that rate is over
    rate_window: str  # "1 min" or "all time"
    requests_1h: int  # usage records attributed to it in the last hour
    errors_1h: int
    p95_ms: float | None  # of those that reached it (cache hits excluded)

    def as_dict(self) -> dict:
        return asdict(self)


class _Percentile95(Aggregate):
    """PostgreSQL's nearest-rank 95th percentile (the same rank `providers.selectors.percentile` takes)."""

    function = "percentile_disc"
    template = "%(function)s(0.95) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _usage_last_hour(names: list[str]) -> dict[str, tuple[int, int, float | None]]:
    """provider -> (requests, errors, p95 latency ms) over the last hour of usage records."""
    qs = UsageRecord.objects.filter(created_at__gte=timezone.now() - WINDOW, provider__in=names)
    counts = {
        row["provider"]: (row["requests"], row["errors"])
        for row in qs.values("provider")
        .annotate(requests=Count("id"), errors=Count("id", filter=Q(status=UsageStatus.ERROR)))
        .order_by()
    }
    reached = qs.exclude(status=UsageStatus.CACHE_HIT)
    if connection.vendor == "postgresql":
        p95 = {
            row["provider"]: row["p95"]
            for row in reached.values("provider").annotate(p95=_Percentile95("latency_ms")).order_by()
        }
    else:
        latencies: dict[str, list[float]] = {}
        for provider, latency in reached.values_list("provider", "latency_ms"):
            latencies.setdefault(provider, []).append(latency)
        p95 = {provider: percentile(values, 95) for provider, values in latencies.items()}
    return {
        name: (*counts.get(name, (0, 0)), p95.get(name))
        for name in names
    }


def _rate(stats: ProviderStats | None) -> tuple[float | None, int, str]:
    if stats is None:
        return None, 0, "all time"
    if stats.requests:
        return stats.successes / stats.requests, stats.requests, "1 min"
    return stats.lifetime_success_rate, stats.total_requests, "all time"


async def _live(names: list[str]) -> tuple[dict, dict, dict]:
    try:
        stats = await stats_read(names)
        breakers, _closed_at = await breaker_read()
        health = await provider_health_statuses()
        return stats, breakers, health
    finally:
        if threading.current_thread() is not threading.main_thread():
            # A loop made for this call (the admin under a WSGI server): close its Redis client
            # rather than leave it to the garbage collector. Under ASGI this is the server's loop.
            await shared_state_aclose()


def provider_figures(providers: list[tuple[str, bool]]) -> dict[str, ProviderFigures]:
    """Figures for (name, has a key) pairs. Sync (the admin); shared state is read in one go."""
    names = [name for name, _ in providers]
    if not names:
        return {}
    try:
        stats, breakers, health = async_to_sync(_live)(names)
    except Exception:  # shared state unreachable: the page still shows the usage figures
        stats, breakers, health = {}, {}, {}
    usage = _usage_last_hour(names)
    now = time.time()
    figures = {}
    for name, configured in providers:
        breaker = breakers.get(name)
        state = breaker.state if breaker else "closed"
        rate, calls, window = _rate(stats.get(name))
        requests, errors, p95 = usage[name]
        still_open = breaker is not None and state == "open" and breaker.open_until > now
        figures[name] = ProviderFigures(
            name=name,
            health="unconfigured" if not configured else health.get(name, "unknown"),
            breaker=state,
            open_until=breaker.open_until if still_open else None,
            success_rate=rate,
            calls=calls,
            rate_window=window,
            requests_1h=requests,
            errors_1h=errors,
            p95_ms=round(p95, 1) if p95 is not None else None,
        )
    return figures
