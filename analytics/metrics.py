"""Prometheus metrics of completions, and the figures this process reports about itself.

Counters and histograms are in-process increments on the request path (no I/O). Under gunicorn with
several workers set `PROMETHEUS_MULTIPROC_DIR` to an empty directory (emptied at every start, before
the workers fork): each worker then writes its values to memory-mapped files there and a scrape of
any worker adds them up through `MultiProcessCollector`. Without it the scrape reads this process.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric

from analytics.outcome import CompletionOutcome

STARTED_AT = time.time()
_STARTED_MONOTONIC = time.monotonic()

# Seconds; completions run from tens of milliseconds (cache) to minutes (long generations).
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "aiprovider_requests", "Completion requests by outcome (success, error, cache_hit).",
    ["provider", "model", "status"],
)
DURATION = Histogram(
    "aiprovider_request_duration_seconds", "Completion latency as the client saw it, attempts included.",
    ["provider", "model"], buckets=DURATION_BUCKETS,
)
TIME_TO_FIRST_TOKEN = Histogram(
    "aiprovider_time_to_first_token_seconds", "Streams: from the request to the first chunk.",
    ["provider", "model"], buckets=TTFT_BUCKETS,
)
TOKENS = Counter(
    "aiprovider_tokens", "Tokens by direction (prompt, completion); cache hits excluded.",
    ["provider", "model", "direction"],
)
COST = Counter("aiprovider_cost_usd", "USD spent at the catalogue prices.", ["provider", "model"])
CACHE_HITS = Counter(
    "aiprovider_cache_hits", "Completions answered from the response cache.", ["provider", "model"]
)
FAILOVERS = Counter(
    "aiprovider_failovers", "Completions that needed more than one attempt (a retry or another provider).",
    ["provider", "model"],
)
ATTEMPTS = Counter(
    "aiprovider_provider_attempts",
    "Upstream calls by the provider and model called and their outcome: `success`, or the error code in "
    "lower case (`unavailable`, `timeout`, ...). Failed attempts that failover hid are counted too.",
    ["provider", "model", "outcome"],
)
IN_FLIGHT = Gauge(
    "aiprovider_in_flight_requests", "Completions being answered right now.", multiprocess_mode="livesum"
)


class _InFlight:
    """This process's own count, for the JSON metrics (the gauge above is summed across workers)."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, amount: int) -> None:
        with self._lock:
            self.value += amount


_in_flight = _InFlight()


def request_started() -> None:
    _in_flight.add(1)
    IN_FLIGHT.inc()


def request_finished() -> None:
    _in_flight.add(-1)
    IN_FLIGHT.dec()


def process_figures() -> dict:
    return {
        "pid": os.getpid(),
        "started_at": STARTED_AT,
        "uptime_s": round(time.monotonic() - _STARTED_MONOTONIC, 3),
        "in_flight_requests": _in_flight.value,
    }


def metrics_record(
    *,
    provider: str,
    model: str,
    status: str,
    attempts: int,
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: float,
    latency_ms: float,
    ttft_ms: float | None = None,
    attempt_details: Iterable[dict] = (),
) -> None:
    """Count one finished completion: a few in-process increments."""
    for attempt in attempt_details:
        outcome = (attempt.get("error_code") or "success").lower()
        ATTEMPTS.labels(attempt.get("provider") or "", attempt.get("model") or "", outcome).inc()
    REQUESTS.labels(provider, model, status).inc()
    DURATION.labels(provider, model).observe(latency_ms / 1000)
    if ttft_ms is not None:
        TIME_TO_FIRST_TOKEN.labels(provider, model).observe(ttft_ms / 1000)
    if status == "cache_hit":
        CACHE_HITS.labels(provider, model).inc()
        return
    if prompt_tokens:
        TOKENS.labels(provider, model, "prompt").inc(prompt_tokens)
    if completion_tokens:
        TOKENS.labels(provider, model, "completion").inc(completion_tokens)
    if cost_usd:
        COST.labels(provider, model).inc(cost_usd)
    if attempts > 1:
        FAILOVERS.labels(provider, model).inc()


def outcome_metrics_record(outcome: CompletionOutcome) -> None:
    """Count one finished completion from its outcome."""
    metrics_record(
        provider=outcome.provider,
        model=outcome.model,
        status=outcome.status,
        attempts=outcome.attempts,
        prompt_tokens=outcome.usage.prompt_tokens,
        completion_tokens=outcome.usage.completion_tokens,
        cost_usd=float(outcome.cost_usd),
        latency_ms=outcome.latency_ms,
        ttft_ms=outcome.ttft_ms,
        attempt_details=outcome.attempt_details,
    )


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or None


class _Families:
    """A registry-like holder for metric families computed at scrape time."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self):
        return iter(self._families)


def metrics_exposition(extra: Iterable[Metric] = ()) -> bytes:
    """The Prometheus text exposition: every worker's counters (multiprocess mode) or this
    process's, followed by `extra` families read at scrape time."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(_Families(extra))


def metrics_worker_exit(pid: int) -> None:
    """Call from gunicorn's `child_exit` hook: drops a dead worker's live gauges."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)
