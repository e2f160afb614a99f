"""Deadlines for a provider that accepts a call and then never answers.

The provider timeout (`timeout_s`, 30-60 s) is the right bound for a long generation, and far too
long for a hang: until a hung call times out, its request waits and the circuit learns nothing. So:

- Streams: the first chunk must arrive within ROUTING_FIRST_BYTE_TIMEOUT_S (else the next candidate
  is tried, and the provider is charged a failure), and each later one within
  ROUTING_STREAM_IDLE_TIMEOUT_S (else the stream ends with its error event, as any mid-stream
  failure does).
- Stalls: a call still waiting for its first byte (a stream's first chunk, a non-streamed answer, a
  batch of embeddings) ROUTING_STALL_AFTER_S after it started has stalled. BREAKER_STALLED_CALLS
  stalls at one provider with no answer from it in between open its circuit
  (`breaker.breaker_record_stall`) while those calls still wait; a stalled half-open probe reopens
  it at once. A stalled call whose provider's circuit is then open moves on: streams and
  embeddings fail over, a non-streamed call is raced by a hedged attempt (routing.hedging).

Each of the three settings at 0 turns its mechanism off. Stalls are counted per worker process (a
worker sees its own calls wait); the circuit they open is shared by every worker. Any answer resets
the count, so a provider busy with long generations and short ones alike never collects enough
stalls to open.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import structlog
from django.conf import settings

from providers.adapters.deadline import ChunkDeadline
from providers.adapters.errors import ProviderError
from providers.adapters.results import ChatChunk
from routing import breaker
from routing.state import routing_view_breaker, routing_view_note_breaker

logger = structlog.get_logger(__name__)

T = TypeVar("T")

# How often a stalled call looks at its provider's circuit (this worker's view of it).
POLL_S = 0.1

# Calls that stalled at each provider since it last answered, in this process.
_stalled: dict[str, int] = {}


class StallWatch:
    """Watches one call while its body runs: counts the call as stalled once it has waited
    ROUTING_STALL_AFTER_S, then calls `on_open` (once) if the provider's circuit is open.

    The body ending with an answer (or a provider error that is not a timeout: the provider did
    respond) resets the provider's stall count; a timeout or a cancellation does not.
    """

    def __init__(self, *, provider: str, state: breaker.BreakerState, on_open: Callable[[], None]) -> None:
        self.provider = provider
        self.state = state
        self.on_open = on_open
        self.stalled = False
        self.opened = False
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> StallWatch:
        stall_after = settings.ROUTING_STALL_AFTER_S
        if stall_after > 0:  # 0: stall detection off
            # A timer, not a task: most calls answer before it fires, and cancelling it is cheap.
            self._timer = asyncio.get_running_loop().call_later(stall_after, self._stall)
        return self

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
        answered = exc is None or isinstance(exc, StopAsyncIteration) or (
            isinstance(exc, ProviderError) and exc.kind != "timeout"
        )
        if answered:
            _stalled.pop(self.provider, None)
        return False

    def _stall(self) -> None:
        self.stalled = True
        if self.state.state == "open":
            return  # a last resort on a circuit already open: nothing new to learn or to do
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        try:
            await _stall_noted(self.provider, self.state)
            while True:
                seen = routing_view_breaker(self.provider)
                if seen.state == "open" and seen.open_until > time.time():
                    self.opened = True
                    self.on_open()
                    return
                await asyncio.sleep(POLL_S)
        except asyncio.CancelledError:
            raise
        except Exception:  # a watch must never fail the call it watches
            logger.exception("stall_watch_failed", provider=self.provider)


async def _stall_noted(provider: str, state: breaker.BreakerState) -> None:
    count = _stalled[provider] = _stalled.get(provider, 0) + 1
    policy = breaker.BreakerPolicy.from_settings()
    try:
        new_state = await breaker.breaker_record_stall(
            provider=provider, was=state, stalled=count, policy=policy
        )
    except Exception:
        logger.warning("routing_state_unavailable", op="record_stall")
        if not breaker.stall_opens(was=state, stalled=count, policy=policy):
            return
        # Shared state is down: this worker at least stops sending calls into the hang.
        new_state = breaker.BreakerState("open", time.time() + policy.cooldown_s)
    if new_state.state == "open" and new_state != state:
        _stalled.pop(provider, None)
        routing_view_note_breaker(provider, new_state)
        logger.warning(
            "circuit_opened",
            provider=provider,
            until=new_state.open_until,
            reason="stalled",
            stalled_calls=count,
        )


async def answer_within(
    call: Awaitable[T],
    *,
    provider: str,
    state: breaker.BreakerState,
    timeout_s: float | None,
    waiting_for: str,
) -> T:
    """Await a provider call under a StallWatch: a ProviderError("timeout") after `timeout_s`
    (None: the call's own deadline only), or as soon as the call has stalled and its provider's
    circuit is open."""
    loop = asyncio.get_running_loop()
    watch: StallWatch | None = None
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s) as deadline:
            watch = StallWatch(
                provider=provider, state=state, on_open=lambda: deadline.reschedule(loop.time())
            )
            async with watch:
                return await call
    except TimeoutError:
        waited = time.monotonic() - started
        if watch is not None and watch.opened:
            message = f"no {waiting_for} after {waited:.1f}s, and the provider's circuit opened meanwhile"
        else:
            message = f"no {waiting_for} within {waited:.1f}s"
        raise ProviderError("timeout", message, provider=provider) from None


async def first_chunk(
    upstream: AsyncIterator[ChatChunk], *, provider: str, state: breaker.BreakerState, timeout_s: float
) -> ChatChunk:
    """A stream's first chunk, within the first-byte timeout (StopAsyncIteration if it is empty)."""
    return await answer_within(
        anext(upstream), provider=provider, state=state, timeout_s=timeout_s, waiting_for="first chunk"
    )


async def next_chunk(
    upstream: AsyncIterator[ChatChunk], *, provider: str, deadline: ChunkDeadline | None = None
) -> ChatChunk:
    """A stream's next chunk, within the idle timeout (StopAsyncIteration at its end). `deadline`:
    the stream's one timer (a timer per chunk costs a fast stream a good part of its CPU)."""
    idle_s = settings.ROUTING_STREAM_IDLE_TIMEOUT_S
    if idle_s <= 0:  # 0: no idle timeout
        return await anext(upstream)
    try:
        if deadline is not None:
            return await deadline.next_of(upstream, idle_s)
        async with asyncio.timeout(idle_s):
            return await anext(upstream)
    except TimeoutError:
        message = f"the stream went idle: no chunk for {idle_s:g}s"
        raise ProviderError("timeout", message, provider=provider) from None


def deadlines_reset_for_tests() -> None:
    _stalled.clear()
