"""Live per-provider counters and decayed latency, shared by every worker and host.

Each outcome is added with atomic increments to a 10-second bucket (and to lifetime totals), so no
process ever rewrites another's numbers. Readers sum the recent buckets, weighting latency by age
(half-life of two buckets), which gives a decayed average without read-modify-write.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from core.shared_state import shared_state

BUCKET_S = 10
WINDOW_BUCKETS = 6
HALF_LIFE_BUCKETS = 2.0
BUCKET_TTL_S = BUCKET_S * (WINDOW_BUCKETS + 2)


@dataclass(frozen=True)
class ProviderStats:
    """Recent window (last minute) and lifetime figures for one provider."""

    requests: int = 0
    successes: int = 0
    failures: int = 0
    avg_latency_ms: float | None = None  # decayed, over successful calls in the window
    total_requests: int = 0
    total_successes: int = 0
    total_latency_ms: float = 0.0

    @property
    def success_rate(self) -> float:
        """Recent success rate; lifetime when the window is empty; 1.0 for a provider never used."""
        if self.requests:
            return self.successes / self.requests
        if self.total_requests:
            return self.total_successes / self.total_requests
        return 1.0

    @property
    def lifetime_success_rate(self) -> float | None:
        return self.total_successes / self.total_requests if self.total_requests else None

    @property
    def lifetime_avg_latency_ms(self) -> float | None:
        return self.total_latency_ms / self.total_successes if self.total_successes else None


def _bucket(now: float) -> int:
    return int(now // BUCKET_S)


def _bucket_key(provider: str, bucket: int) -> str:
    return f"stats:{provider}:{bucket}"


def _total_key(provider: str) -> str:
    return f"stats:{provider}:total"


async def stats_record(*, provider: str, ok: bool, latency_ms: float, now: float | None = None) -> None:
    """Count one attempt against a provider (one round trip)."""
    now = time.time() if now is None else now
    amounts = {"n": 1, "ok": 1 if ok else 0, "fail": 0 if ok else 1}
    if ok:
        amounts["lat"] = latency_ms
    await shared_state().hincr_many(
        [(_bucket_key(provider, _bucket(now)), amounts, BUCKET_TTL_S), (_total_key(provider), amounts, None)]
    )


def _stats_from(
    buckets: list[dict[str, str]], total: dict[str, str], since_bucket: int | None
) -> ProviderStats:
    requests = successes = failures = 0
    weighted_latency = weight_sum = 0.0
    for age, bucket in enumerate(buckets):
        if not bucket or (since_bucket is not None and age > since_bucket):
            continue
        n, ok, fail = (int(float(bucket.get(k, 0))) for k in ("n", "ok", "fail"))
        requests += n
        successes += ok
        failures += fail
        if ok:
            weight = 0.5 ** (age / HALF_LIFE_BUCKETS)
            weighted_latency += weight * float(bucket.get("lat", 0.0)) / ok
            weight_sum += weight
    return ProviderStats(
        requests=requests,
        successes=successes,
        failures=failures,
        avg_latency_ms=weighted_latency / weight_sum if weight_sum else None,
        total_requests=int(float(total.get("n", 0))),
        total_successes=int(float(total.get("ok", 0))),
        total_latency_ms=float(total.get("lat", 0.0)),
    )


async def stats_read(
    providers: list[str], *, now: float | None = None, since: dict[str, float] | None = None
) -> dict[str, ProviderStats]:
    """Current stats of several providers in one round trip. `since` limits the window of a
    provider to buckets after that time (a circuit that just closed starts with a clean slate)."""
    now = time.time() if now is None else now
    current = _bucket(now)
    keys: list[str] = []
    for provider in providers:
        keys += [_bucket_key(provider, current - age) for age in range(WINDOW_BUCKETS)]
        keys.append(_total_key(provider))
    rows = await shared_state().hgetall_many(keys)
    result: dict[str, ProviderStats] = {}
    step = WINDOW_BUCKETS + 1
    for index, provider in enumerate(providers):
        chunk = rows[index * step : (index + 1) * step]
        since_bucket = None
        if since and provider in since:
            since_bucket = max(0, current - _bucket(since[provider]))
        result[provider] = _stats_from(chunk[:WINDOW_BUCKETS], chunk[WINDOW_BUCKETS], since_bucket)
    return result
