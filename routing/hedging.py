"""Non-streamed completions: one call at a time, and a second one racing it when it looks hung.

A non-streamed answer sends nothing until it is complete, so from one call alone a hung provider and
a long generation look the same, and a first-byte timeout would kill the long generation. So a call
keeps its whole provider timeout, and the next candidate is started beside it (a hedged attempt)
when:

- the call has stalled and its provider's circuit is open (routing.deadlines: several calls waiting
  with no answer from the provider in between is a hang, not one long generation), or
- ROUTING_HEDGE_AFTER_S has passed, when set. Off by default: every answer slower than that, long
  generations included, would be paid for twice until one of the calls wins.

The first answer wins and the other call is cancelled; it stays on the request's record as an
attempt with error code HEDGE_LOST. At most two calls run at once; a failed one is replaced by the
next candidate, as without hedging.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from providers.adapters.messages import ChatRequest
from providers.adapters.results import ChatResponse
from providers.clients import provider_adapter
from routing.attempts import Refused, Router, candidate_call
from routing.breaker import BreakerState
from routing.deadlines import StallWatch
from routing.outcome import completion_refused
from routing.planning import Option

HEDGE_LOST = "HEDGE_LOST"


@dataclass(frozen=True)
class Answer:
    """The winning call: its candidate, the breaker state it was called in, its answer and latency."""

    option: Option
    state: BreakerState
    response: ChatResponse
    latency_ms: float


@dataclass
class _Try:
    """One candidate: its call, and its same-provider retries (as `Router.handle_failure` decides)."""

    option: Option
    state: BreakerState
    request: ChatRequest
    launched: float = field(default_factory=time.monotonic)
    started: float = field(default_factory=time.monotonic)  # of the current call

    async def run(self, router: Router, hedge: asyncio.Event) -> Answer | None:
        """The answer, or None when this candidate failed for good (the next one may answer)."""
        adapter = provider_adapter(self.option.provider)

        async def call() -> ChatResponse:
            async with StallWatch(provider=self.option.provider.name, state=self.state, on_open=hedge.set):
                return await adapter.complete(self.request, timeout=router.timeout_for(self.option))

        answered = await candidate_call(router, self.option, self.state, call, on_call=self._call_started)
        if answered is None:
            return None
        response, started = answered
        return Answer(self.option, self.state, response, (time.monotonic() - started) * 1000)

    def _call_started(self, started: float) -> None:
        self.started = started


async def completion_race(router: Router) -> Answer | None:
    """The first answer from the router's candidates, hedging a call that looks hung; None when no
    candidate answered. A client error from a provider raises the router's refusal (ApiError)."""
    options = router.options()
    hedge = asyncio.Event()
    hedge_after = settings.ROUTING_HEDGE_AFTER_S
    running: dict[asyncio.Task, _Try] = {}
    hedge_signal: asyncio.Task | None = None
    width = 1  # calls allowed at once: two once the lone call looks hung
    more = True
    try:
        while True:
            while more and len(running) < width:
                try:
                    option, state, request = await anext(options)
                except StopAsyncIteration:
                    more = False
                    break
                if any(t.option.provider.name == option.provider.name for t in running.values()):
                    continue  # another model at the provider already being waited on is no hedge
                attempt = _Try(option, state, request)
                running[asyncio.create_task(attempt.run(router, hedge))] = attempt
            if not running:
                return None
            waiting: set[Any] = set(running)
            timeout = None
            if width == 1 and more:
                if hedge_signal is None:
                    hedge_signal = asyncio.create_task(hedge.wait())
                waiting.add(hedge_signal)
                if hedge_after > 0:
                    oldest = min(t.launched for t in running.values())
                    timeout = max(0.0, oldest + hedge_after - time.monotonic())
            done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if not done or hedge_signal in done:
                width = 2
            for task in done:
                if task is hedge_signal:
                    continue
                running.pop(task)
                answer = task.result()  # raises Refused
                if answer is not None:
                    await _cancel_losers(router, running)
                    return answer
    except Refused as refused:
        await _cancel_losers(router, running)
        raise await completion_refused(router, refused.option, refused.error) from None
    finally:
        for task in running:
            task.cancel()
        if hedge_signal is not None:
            hedge_signal.cancel()
        await options.aclose()


async def _cancel_losers(router: Router, running: dict[asyncio.Task, _Try]) -> None:
    """Cancel the calls still running (their connections close) and keep them on the record."""
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    for attempt in running.values():
        router.lost(attempt.option, attempt.started, reason=HEDGE_LOST)
    running.clear()
