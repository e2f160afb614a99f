"""What a call teaches routing about its provider: the provider's stats and its circuit breaker,
in shared state and in this process's routing view. Best effort: never fails a request."""

from __future__ import annotations

from typing import Any

import structlog

from providers.adapters.errors import ProviderError
from routing import breaker
from routing.planning import Option
from routing.state import RoutingView, routing_view_note_breaker
from routing.stats import stats_record

logger = structlog.get_logger(__name__)


async def best_effort(coro, what: str) -> Any:
    """Shared-state bookkeeping must never fail a request that has an answer."""
    try:
        return await coro
    except Exception:
        logger.warning("routing_state_unavailable", op=what)
        return None


async def provider_success_note(option: Option, state: breaker.BreakerState, latency_ms: float) -> None:
    """A call answered: counted, and a circuit that was not closed closes."""
    provider = option.provider.name

    async def record() -> None:
        await stats_record(provider=provider, ok=True, latency_ms=latency_ms)
        if state.state != "closed":
            await breaker.breaker_record_success(provider=provider, was=state)
            routing_view_note_breaker(provider, breaker.BreakerState("closed"))

    await best_effort(record(), "record_success")


async def provider_failure_note(
    option: Option, state: breaker.BreakerState, error: ProviderError, view: RoutingView
) -> None:
    """A call failed at the provider: counted, and the breaker told (which may open the circuit)."""

    async def record() -> None:
        await stats_record(provider=option.provider.name, ok=False, latency_ms=0.0)
        new_state = await breaker.breaker_record_failure(
            provider=option.provider.name,
            was=state,
            retry_after=error.retry_after if error.kind == "rate_limited" else None,
            closed_at=view.closed_at.get(option.provider.name),
            policy=breaker.BreakerPolicy.from_settings(),
        )
        if new_state != state:
            routing_view_note_breaker(option.provider.name, new_state)
            if new_state.state == "open":
                logger.warning("circuit_opened", provider=option.provider.name, until=new_state.open_until)

    await best_effort(record(), "record_failure")
