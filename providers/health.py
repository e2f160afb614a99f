"""Provider probes: every enabled provider checked at once, results stored, published and cached.

A probe round calls each provider's cheapest real endpoint (`adapter.probe()`, a model listing)
concurrently, each under its own timeout, so one hanging provider costs the round no more than
`HEALTH_PROBE_TIMEOUT_S`. The round then
- stores one `HealthCheckResult` per provider (one bulk insert),
- publishes each provider's status into the hash routing reads (`HEALTH_STATUS_KEY`),
- caches the summary in shared state for `HEALTH_CACHE_TTL_S`.

One round at a time for the whole fleet: a lock in shared state (SET NX with a TTL) is taken by
the periodic task and by a `/health` that finds the cache empty; everyone else waits for the
summary the lock holder writes instead of probing too.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from core.shared_state import shared_state
from providers.adapters.errors import ProviderError
from providers.catalogue import ProviderEntry, catalogue_current
from providers.clients import provider_adapter
from providers.models import HealthCheckResult, HealthStatus, Provider
from providers.selectors import HEALTH_STATUS_KEY, HEALTH_STATUS_STAMP_KEY

logger = structlog.get_logger(__name__)

SUMMARY_KEY = "health:summary"  # expires after HEALTH_CACHE_TTL_S: a miss means "probe again"
LAST_SUMMARY_KEY = "health:summary:last"  # never expires: what a late /health shows meanwhile
PROBE_LOCK_KEY = "health:probe:lock"
POLL_S = 0.05
MAX_ERROR_CHARS = 500

# Rounds started by a /health that stopped waiting for them: they finish in the background.
_background: set[asyncio.Task] = set()


@dataclass(frozen=True)
class ProbeResult:
    provider: str
    status: str
    latency_ms: float | None
    checked_at: datetime
    error_code: str = ""
    error: str = ""


def _redact(text: str, entry: ProviderEntry) -> str:
    # Adapters redact already; a probe error is stored and shown, so make sure twice.
    key = entry.api_key
    if key and key in text:
        text = text.replace(key, "***")
    return text[:MAX_ERROR_CHARS]


async def provider_probe(
    entry: ProviderEntry, *, timeout_s: float, degraded_latency_ms: float
) -> ProbeResult:
    """One provider's health. Unconfigured (no key): no call is made."""
    checked_at = timezone.now()
    if not entry.configured:
        return ProbeResult(entry.name, HealthStatus.UNCONFIGURED, None, checked_at)
    status, code, message = HealthStatus.HEALTHY, "", ""
    started = time.perf_counter()
    try:
        adapter = provider_adapter(entry)
        # Building the SDK client (once per event loop: every round on a worker) is not the
        # provider's latency; connecting to it is.
        adapter.client()
        started = time.perf_counter()
        async with asyncio.timeout(timeout_s):
            await adapter.probe()
    except TimeoutError:
        status, code, message = HealthStatus.UNHEALTHY, "TIMEOUT", f"no answer within {timeout_s:g}s"
    except ProviderError as exc:
        # A 429 means the provider answers but is busy: degraded, not down.
        status = HealthStatus.DEGRADED if exc.kind == "rate_limited" else HealthStatus.UNHEALTHY
        code, message = exc.kind.upper(), exc.message
    except Exception as exc:  # a probe must never break the round
        status, code, message = HealthStatus.UNHEALTHY, "PROBE_FAILED", f"{type(exc).__name__}: {exc}"
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    if status == HealthStatus.HEALTHY and latency_ms >= degraded_latency_ms:
        status, code, message = HealthStatus.DEGRADED, "SLOW", f"answered in {latency_ms:.0f} ms"
    return ProbeResult(entry.name, status, latency_ms, checked_at, code, _redact(message, entry))


def _store(results: list[ProbeResult]) -> None:
    ids = dict(Provider.objects.filter(name__in=[r.provider for r in results]).values_list("name", "id"))
    HealthCheckResult.objects.bulk_create(
        [
            HealthCheckResult(
                provider_id=ids[r.provider],
                status=r.status,
                latency_ms=r.latency_ms,
                error_code=r.error_code,
                error=r.error,
                checked_at=r.checked_at,
            )
            for r in results
            if r.provider in ids
        ]
    )


def _summary(results: list[ProbeResult]) -> dict[str, Any]:
    return {
        "checked_at": timezone.now().isoformat(),
        "providers": {
            r.provider: {
                "status": str(r.status),
                "latency_ms": r.latency_ms,
                "last_checked": r.checked_at.isoformat(),
            }
            for r in results
        },
    }


async def health_probe_round() -> dict[str, Any]:
    """Probe every enabled provider concurrently; store, publish and cache the results.

    Returns the summary: {"checked_at", "providers": {name: {"status","latency_ms","last_checked"}}}.
    Callers that may race other processes use `health_probe_exclusive` or `health_summary`.
    """
    catalogue = await catalogue_current()
    for entry in catalogue.providers.values():
        # Build every SDK client before any clock starts: construction blocks the loop, and would
        # count against the probes already in flight.
        if entry.configured:
            try:
                provider_adapter(entry).client()
            except Exception:  # noqa: S112 - the probe reports it
                continue
    results = list(
        await asyncio.gather(
            *(
                provider_probe(
                    entry,
                    timeout_s=settings.HEALTH_PROBE_TIMEOUT_S,
                    degraded_latency_ms=settings.HEALTH_DEGRADED_LATENCY_MS,
                )
                for entry in catalogue.providers.values()
            )
        )
    )
    try:
        await sync_to_async(_store)(results)
    except Exception:
        logger.exception("health_results_not_stored")
    summary = _summary(results)
    try:
        state = shared_state()
        if results:
            await state.hset(HEALTH_STATUS_KEY, {r.provider: str(r.status) for r in results})
            await state.set(HEALTH_STATUS_STAMP_KEY, str(time.time()))
        payload = json.dumps(summary)
        await state.set(SUMMARY_KEY, payload, ttl_s=settings.HEALTH_CACHE_TTL_S)
        await state.set(LAST_SUMMARY_KEY, payload)
    except Exception:
        logger.exception("health_summary_not_published")
    logger.info("health_probe_round", statuses={r.provider: str(r.status) for r in results})
    return summary


def _lock_ttl_s() -> int:
    return math.ceil(settings.HEALTH_PROBE_TIMEOUT_S) + 10


async def _take_lock() -> bool:
    return await shared_state().set(PROBE_LOCK_KEY, "1", ttl_s=_lock_ttl_s(), only_new=True)


async def _round_then_release() -> dict[str, Any]:
    try:
        return await health_probe_round()
    finally:
        try:
            await shared_state().delete(PROBE_LOCK_KEY)
        except Exception:  # the lock expires on its own
            logger.warning("health_probe_lock_not_released")


async def health_probe_exclusive() -> dict[str, Any] | None:
    """A probe round, unless one is running somewhere in the fleet already (then None)."""
    if not await _take_lock():
        logger.info("health_probe_skipped", reason="another round is running")
        return None
    return await _round_then_release()


def _keep_in_background(task: asyncio.Task) -> None:
    _background.add(task)

    def done(t: asyncio.Task) -> None:
        _background.discard(t)
        if not t.cancelled() and t.exception() is not None:
            logger.warning("health_probe_round_failed", error=type(t.exception()).__name__)

    task.add_done_callback(done)


async def _unknown_summary() -> dict[str, Any]:
    try:
        names = list((await catalogue_current()).providers)
    except Exception:
        names = []
    unknown = {"status": "unknown", "latency_ms": None, "last_checked": None}
    return {"checked_at": None, "providers": {name: dict(unknown) for name in names}}


async def _last_known() -> dict[str, Any]:
    try:
        raw = await shared_state().get(LAST_SUMMARY_KEY)
    except Exception:
        raw = None
    return json.loads(raw) if raw else await _unknown_summary()


async def health_summary(*, wait_s: float | None = None) -> dict[str, Any]:
    """The cached probe summary. On a miss exactly one probe round runs fleet-wide; this caller
    runs it or waits for it, at most `wait_s` (HEALTH_WAIT_S), then answers with the last known
    summary (or every provider `unknown`) while the round finishes in the background."""
    wait_s = settings.HEALTH_WAIT_S if wait_s is None else wait_s
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    try:
        state = shared_state()
        while True:
            cached = await state.get(SUMMARY_KEY)
            if cached:
                return json.loads(cached)
            if await _take_lock():
                task = loop.create_task(_round_then_release())
                _keep_in_background(task)
                try:
                    return await asyncio.wait_for(asyncio.shield(task), max(deadline - loop.time(), 0.0))
                except TimeoutError:
                    return await _last_known()
            # Another worker or process holds the lock: its summary lands in the cache.
            if loop.time() >= deadline:
                return await _last_known()
            await asyncio.sleep(POLL_S)
    except Exception:
        # Shared state down, or the round itself failed: say what was last known.
        logger.exception("health_summary_unavailable")
        return await _last_known()


async def health_cache_clear() -> None:
    """Forget the cached summary: the next /health probes (admin actions, tests)."""
    await shared_state().delete(SUMMARY_KEY)


def health_checks_prune(*, older_than_days: int) -> int:
    """Delete probe results older than the retention; returns how many went."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = HealthCheckResult.objects.filter(checked_at__lt=cutoff).delete()
    logger.info("health_checks_pruned", deleted=deleted, older_than_days=older_than_days)
    return deleted

