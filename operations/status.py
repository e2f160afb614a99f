"""What `GET /status` says: version, uptime, and whether the database, Redis and the Celery workers
answer, each checked within STATUS_CHECK_TIMEOUT_S."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from celery import current_app
from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.shared_state import shared_state, shared_state_spans_processes

STATUS_CHECK_TIMEOUT_S = 2.0


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
    await shared_state().ping()


async def _check_celery() -> dict[str, Any]:
    # The project's Celery app, without importing the site package that builds it.
    replies = await asyncio.to_thread(current_app.control.ping, timeout=1.0)
    if not replies:
        raise CheckFailed("no worker answered")
    return {"workers": len(replies)}


async def service_status() -> dict[str, Any]:
    """Version, uptime, and whether the database, Redis and the Celery workers answer, each within
    STATUS_CHECK_TIMEOUT_S. No URLs, host names or passwords."""

    checks: dict[str, Any] = {}
    pending = {"database": _timed_check(_check_database)}
    if shared_state_spans_processes():
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
