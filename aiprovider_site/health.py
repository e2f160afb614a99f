"""What `/health`, `/status` and the health reports say: probe results (providers) joined with live
routing stats and circuit breakers (routing) and usage records (analytics).

This module sits above the apps so that none of them imports another against the arrows:
providers knows nothing of routing or analytics, yet the service's health is made of all three.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from analytics.models import UsageRecord, UsageStatus
from core.shared_state import shared_state
from providers.health import health_summary
from providers.models import HealthReport
from providers.selectors import CheckStats, health_check_stats, overall_status
from routing.breaker import breaker_read
from routing.stats import stats_read

logger = structlog.get_logger(__name__)

METRICS_KEY = "health:metrics"
LAST_METRICS_KEY = "health:metrics:last"
METRICS_LOCK_KEY = "health:metrics:lock"
STATUS_CHECK_TIMEOUT_S = 2.0
NO_USAGE = {"requests_24h": None, "cache_hits_24h": None, "cache_hit_rate_24h": None}


def _process_start() -> float:
    """When this process started (Unix time): from /proc on Linux, else when this module loaded
    (which is the first request, as the URLconf loads lazily)."""
    try:
        with open("/proc/self/stat") as f:
            # Field 22 (starttime, clock ticks after boot); the name in field 2 may hold spaces.
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            boot_time = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return boot_time + start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


_started = _process_start()


# --------------------------------------------------------------------------- /health


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


# --------------------------------------------------------------------------- /status


class CheckFailed(Exception):
    """A status check that failed with a message safe to show."""


def _database_ping() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()  # this pool thread keeps no connection of its own


async def _timed_check(check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(), STATUS_CHECK_TIMEOUT_S)
    except TimeoutError:
        return {"status": "error", "error": f"no answer within {STATUS_CHECK_TIMEOUT_S:g}s"}
    except CheckFailed as exc:
        return {"status": "error", "error": str(exc)}
    except Exception as exc:
        # The class only: messages of connection errors carry host names.
        return {"status": "error", "error": type(exc).__name__}
    result = {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
    return {**result, **(detail or {})}


async def _check_database() -> None:
    # Not the thread-sensitive executor: a stuck database must not block every other sync call.
    await sync_to_async(_database_ping, thread_sensitive=False)()


async def _check_redis() -> None:
    await shared_state().client.ping()


async def _check_celery() -> dict[str, Any]:
    from aiprovider_site.celery import app

    replies = await asyncio.to_thread(app.control.ping, timeout=1.0)
    if not replies:
        raise CheckFailed("no worker answered")
    return {"workers": len(replies)}


async def service_status() -> dict[str, Any]:
    """Version, uptime, and whether the database, Redis and the Celery workers answer, each within
    STATUS_CHECK_TIMEOUT_S. No URLs, host names or passwords."""

    checks: dict[str, Any] = {}
    pending = {"database": _timed_check(_check_database)}
    if settings.REDIS_URL:
        pending["redis"] = _timed_check(_check_redis)
    else:
        checks["redis"] = {"status": "not configured"}
    if settings.CELERY_TASK_ALWAYS_EAGER:
        checks["celery"] = {"status": "in-process (eager)"}
    else:
        pending["celery"] = _timed_check(_check_celery)
    for name, result in zip(pending, await asyncio.gather(*pending.values()), strict=True):
        checks[name] = result
    failed = {name for name, check in checks.items() if check["status"] == "error"}
    # Without the database or Redis nothing is served; without workers, only background work stops.
    status = "error" if failed & {"database", "redis"} else ("degraded" if failed else "ok")
    return {
        "status": status,
        "service": settings.SERVICE_NAME,
        "version": settings.SERVICE_VERSION,
        "timestamp": timezone.now().isoformat(),
        "started_at": datetime.fromtimestamp(_started, tz=UTC).isoformat(),
        "uptime_s": round(max(time.time() - _started, 0.0), 1),
        "checks": checks,
    }


# --------------------------------------------------------------------------- reports


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
