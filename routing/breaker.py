"""Circuit breaker per provider, its state shared through Redis.

- closed: calls go through. A failure re-reads the provider's recent window; once at least
  `min_requests` were seen and the failure ratio reaches `failure_ratio`, the circuit opens for
  `cooldown_s`. A 429 with Retry-After opens it at once until then. A hang opens it too, before any
  hung call has failed: `stalled_calls` calls still waiting past the stall threshold with no answer
  from the provider in between (counted by routing.deadlines).
- open: the deadline lives in one sorted set and only ever moves later (ZADD GT), so concurrent
  writers cannot shorten each other's cooldown.
- half_open: the deadline has passed; one caller across the fleet wins the probe lock and tries the
  provider. Success closes the circuit (and the failure window starts afresh); failure reopens it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from core.shared_state import shared_state
from routing.stats import stats_read

OPEN_KEY = "breaker:open_until"
CLOSED_KEY = "breaker:closed_at"


@dataclass(frozen=True)
class BreakerState:
    state: str  # closed, open, half_open
    open_until: float = 0.0


@dataclass(frozen=True)
class BreakerPolicy:
    failure_ratio: float
    min_requests: int
    cooldown_s: float
    stalled_calls: int = 5

    @classmethod
    def from_settings(cls) -> BreakerPolicy:
        return cls(
            failure_ratio=settings.BREAKER_FAILURE_RATIO,
            min_requests=settings.BREAKER_MIN_REQUESTS,
            cooldown_s=settings.BREAKER_COOLDOWN_S,
            stalled_calls=settings.BREAKER_STALLED_CALLS,
        )


def breaker_state_from(open_until: float | None, now: float) -> BreakerState:
    if not open_until:
        return BreakerState("closed")
    if open_until > now:
        return BreakerState("open", open_until)
    return BreakerState("half_open", open_until)


async def breaker_read(*, now: float | None = None) -> tuple[dict[str, BreakerState], dict[str, float]]:
    """Every provider's breaker state, and when each circuit last closed."""
    now = time.time() if now is None else now
    state = shared_state()
    deadlines = await state.deadlines(OPEN_KEY)
    closed_at = {k: float(v) for k, v in (await state.hgetall(CLOSED_KEY)).items()}
    return {name: breaker_state_from(deadline, now) for name, deadline in deadlines.items()}, closed_at


async def breaker_open(*, provider: str, until: float) -> float:
    """Open (or keep open) until `until`; returns the deadline now in force."""
    return await shared_state().extend_deadline(OPEN_KEY, provider, until)


async def breaker_try_probe(*, provider: str, ttl_s: float) -> bool:
    """In half-open state, only the caller that wins this lock may try the provider."""
    return await shared_state().set(f"breaker:probe:{provider}", "1", ttl_s=max(1, int(ttl_s)), only_new=True)


async def breaker_record_success(*, provider: str, was: BreakerState, now: float | None = None) -> None:
    if was.state == "closed":
        return
    now = time.time() if now is None else now
    state = shared_state()
    await state.remove_deadline(OPEN_KEY, provider)
    await state.hset(CLOSED_KEY, {provider: str(now)})
    await state.delete(f"breaker:probe:{provider}")


async def breaker_record_failure(
    *,
    provider: str,
    was: BreakerState,
    retry_after: float | None,
    closed_at: float | None,
    policy: BreakerPolicy,
    now: float | None = None,
) -> BreakerState:
    """Decide whether this failure opens the circuit; returns the state now in force."""
    now = time.time() if now is None else now
    if retry_after:
        until = await breaker_open(provider=provider, until=now + retry_after)
        return breaker_state_from(until, now)
    if was.state in ("half_open", "open"):
        await shared_state().delete(f"breaker:probe:{provider}")
        until = await breaker_open(provider=provider, until=now + policy.cooldown_s)
        return breaker_state_from(until, now)
    since = {provider: closed_at} if closed_at else None
    window = (await stats_read([provider], now=now, since=since))[provider]
    if window.requests >= policy.min_requests and window.failures / window.requests >= policy.failure_ratio:
        until = await breaker_open(provider=provider, until=now + policy.cooldown_s)
        return breaker_state_from(until, now)
    return was


def stall_opens(*, was: BreakerState, stalled: int, policy: BreakerPolicy) -> bool:
    """Whether `stalled` calls waiting with no answer in between mean a hang: enough of them, or the
    one half-open probe (its provider was already suspect)."""
    return was.state == "half_open" or stalled >= max(1, policy.stalled_calls)


async def breaker_record_stall(
    *, provider: str, was: BreakerState, stalled: int, policy: BreakerPolicy, now: float | None = None
) -> BreakerState:
    """A call has waited past the stall threshold, the `stalled`-th since the provider last
    answered. A hang opens the circuit here, while its calls still wait: their own timeouts come only
    after the full provider timeout. Returns the state now in force."""
    if was.state == "open" or not stall_opens(was=was, stalled=stalled, policy=policy):
        return was
    now = time.time() if now is None else now
    if was.state == "half_open":
        await shared_state().delete(f"breaker:probe:{provider}")
    until = await breaker_open(provider=provider, until=now + policy.cooldown_s)
    return breaker_state_from(until, now)
