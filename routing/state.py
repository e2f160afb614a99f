"""What routing knows about providers right now: live stats, breaker states, probe health.

Read from shared state in one go and kept in process for `ROUTING_STATE_REFRESH_S`, so the hot
path does not pay a round trip per request for it; this worker's own breaker changes apply at once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import structlog
from django.conf import settings

from providers.selectors import provider_health_statuses
from routing.breaker import BreakerState, breaker_read
from routing.stats import ProviderStats, stats_read

logger = structlog.get_logger(__name__)


@dataclass
class RoutingView:
    stats: dict[str, ProviderStats] = field(default_factory=dict)
    breakers: dict[str, BreakerState] = field(default_factory=dict)
    closed_at: dict[str, float] = field(default_factory=dict)
    health: dict[str, str] = field(default_factory=dict)
    read_at: float = 0.0
    providers: tuple[str, ...] = ()


_view = RoutingView()
# One refresh in flight per event loop: a burst of requests arriving as the view goes stale waits
# for that one read instead of each sending its own.
_refreshing: dict[int, asyncio.Future] = {}


async def routing_view(providers: list[str], *, fresh: bool = False) -> RoutingView:
    now = time.monotonic()
    if (
        not fresh
        and _view.providers == tuple(providers)
        and now - _view.read_at < settings.ROUTING_STATE_REFRESH_S
    ):
        return _view
    loop = asyncio.get_running_loop()
    pending = _refreshing.get(id(loop))
    if pending is not None and not fresh and _view.providers == tuple(providers):
        return await asyncio.shield(pending)
    future = loop.create_future()
    _refreshing[id(loop)] = future
    try:
        view = await _refresh(providers, now)
        future.set_result(view)
        return view
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # retrieved: waiters get it, nobody else needs to
        raise
    finally:
        if _refreshing.get(id(loop)) is future:
            del _refreshing[id(loop)]


async def _refresh(providers: list[str], now: float) -> RoutingView:
    global _view
    try:
        stats = await stats_read(providers)
        breakers, closed_at = await breaker_read()
        health = await provider_health_statuses()
    except Exception:
        # Shared state unreachable: route on what we knew (or on nothing) rather than fail.
        logger.warning("routing_state_unavailable", op="read")
        _view = RoutingView(
            stats=_view.stats,
            breakers=_view.breakers,
            closed_at=_view.closed_at,
            health=_view.health,
            read_at=now,
            providers=tuple(providers),
        )
        return _view
    _view = RoutingView(stats, breakers, closed_at, health, now, tuple(providers))
    return _view


def routing_view_note_breaker(provider: str, state: BreakerState) -> None:
    """This worker's own breaker change, visible to its next request without waiting."""
    _view.breakers[provider] = state


def routing_view_breaker(provider: str) -> BreakerState:
    """This worker's latest knowledge of one provider's circuit (its own changes included)."""
    return _view.breakers.get(provider, BreakerState("closed"))


def routing_view_reset_for_tests() -> None:
    global _view
    _view = RoutingView()
