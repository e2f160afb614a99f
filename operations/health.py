"""What `GET /health` says: probe results (providers) joined with live routing stats and circuit
breakers (routing) and the last 24 hours of usage records (analytics).

It lives in operations, above the apps, so that none of them imports another against the arrows:
providers knows nothing of routing or analytics, yet the service's health is made of all three.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import structlog
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from analytics.models import UsageRecord, UsageStatus
from core.shared_state import shared_state
from providers.health import health_summary
from providers.selectors import overall_status
from routing.breaker import breaker_read
from routing.stats import stats_read

logger = structlog.get_logger(__name__)

METRICS_KEY = "health:metrics"
LAST_METRICS_KEY = "health:metrics:last"
METRICS_LOCK_KEY = "health:metrics:lock"
NO_USAGE = {"requests_24h": None, "cache_hits_24h": None, "cache_hit_rate_24h": None}


def _usage_since(since: datetime) -> dict[str, Any]:
    row = UsageRecord.objects.filter(created_at__gte=since).aggregate(
        requests=Count("id"), cache_hits=Count("id", filter=Q(status=UsageStatus.CACHE_HIT))
    )
    requests, hits = row["requests"] or 0, row["cache_hits"] or 0
    return {
        "requests_24h": requests,
        "cache_hits_24h": hits,
        "cache_hit_rate_24h": round(hits / requests, 4) if requests else None,
    }


async def _usage_metrics() -> dict[str, Any]:
    """The last 24 h of usage records in one aggregate query, cached like the probe summary: at
    most one query per HEALTH_CACHE_TTL_S fleet-wide; a caller that loses the race gets the last
    figures rather than waiting."""
    state = shared_state()
    cached = await state.get(METRICS_KEY)
    if cached:
        return json.loads(cached)
    if await state.set(METRICS_LOCK_KEY, "1", ttl_s=10, only_new=True):
        try:
            figures = await sync_to_async(_usage_since)(timezone.now() - timedelta(hours=24))
            payload = json.dumps(figures)
            await state.set(METRICS_KEY, payload, ttl_s=settings.HEALTH_CACHE_TTL_S)
            await state.set(LAST_METRICS_KEY, payload)
            return figures
        finally:
            await state.delete(METRICS_LOCK_KEY)
    last = await state.get(LAST_METRICS_KEY)
    return json.loads(last) if last else dict(NO_USAGE)


def _round(value: float | None, digits: int) -> float | None:
    return round(value, digits) if value is not None else None


async def service_health() -> dict[str, Any]:
    """The body of GET /health without `service` and `timestamp`: no database query on a warm
    cache, and bounded by HEALTH_WAIT_S when a probe round has to run."""
    summary = await health_summary()
    names = list(summary["providers"])
    try:
        stats = await stats_read(names)
        breakers, _ = await breaker_read()
    except Exception:
        logger.warning("health_live_state_unavailable")
        stats, breakers = {}, {}
    try:
        usage = await _usage_metrics()
    except Exception:
        logger.warning("health_metrics_unavailable")
        usage = dict(NO_USAGE)

    providers: dict[str, dict[str, Any]] = {}
    for name, probe in summary["providers"].items():
        live = stats.get(name)
        breaker = breakers.get(name)
        providers[name] = {
            "status": probe["status"],
            "latency_ms": probe["latency_ms"],
            "last_checked": probe["last_checked"],
            "success_rate": _round(live.lifetime_success_rate, 4) if live else None,
            "avg_response_time_ms": _round(live.lifetime_avg_latency_ms, 2) if live else None,
            "breaker_state": breaker.state if breaker else "closed",
        }
    statuses = [p["status"] for p in providers.values()]
    # Before the first probe result the service itself is up: degraded, not unhealthy.
    status = overall_status(statuses) if any(s != "unknown" for s in statuses) else "degraded"
    total_requests = sum(s.total_requests for s in stats.values())
    total_successes = sum(s.total_successes for s in stats.values())
    metrics = {
        "requests_total": total_requests,
        "success_rate": round(total_successes / total_requests, 4) if total_requests else None,
        **usage,
        "providers_total": len(providers),
        "providers_healthy": statuses.count("healthy"),
        "last_probe_at": summary.get("checked_at"),
    }
    return {"status": status, "providers": providers, "metrics": metrics}
