"""Streamed completions: the first chunk decides the provider (failing over before it, as plain
answers do), and CompletionStream carries the rest to the client and records the outcome when the
stream ends, however it ends."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import structlog

from analytics.metrics import request_finished
from providers.adapters.deadline import ChunkDeadline
from providers.adapters.errors import ProviderError
from providers.adapters.messages import ChatRequest, ReasoningPart, ToolCall
from providers.adapters.results import ChatChunk, Usage, estimate_text_tokens
from providers.clients import provider_adapter
from routing.attempts import Attempt, Router, candidate_call, error_code_of
from routing.bookkeeping import provider_failure_note, provider_success_note
from routing.breaker import BreakerState
from routing.deadlines import first_chunk, next_chunk
from routing.outcome import outcome_build, outcome_record
from routing.planning import Option, option_cost
from routing.replay import replay_remember
from routing.reservation import prompt_tokens_estimate

logger = structlog.get_logger(__name__)

# A stream the client left before it ended: not a failure of the provider.
CLIENT_DISCONNECTED = "CLIENT_DISCONNECTED"


class CompletionStream:
    """A stream whose first chunk has arrived: the provider is committed, the rest follows.

    Iterate `chunks()`; it yields the first chunk, then the others. A provider failure mid-stream
    raises ProviderError from the iterator; the usage record is written whatever happens, the
    client's disconnect included (the upstream call is then closed).
    """

    def __init__(
        self, router: Router, option: Option, state: BreakerState, first: ChatChunk, upstream, started: float
    ):
        self.cmd = router.cmd
        self.router = router
        self.option = option
        self.state = state
        self.first = first
        self.upstream = upstream
        self.started = started
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.cost_usd = Decimal("0")
        self.content_parts: list[str] = []
        # Streamed reasoning and tool-call arguments: paid for like the text when usage never came.
        self.other_parts: list[str] = []
        self._deadline = ChunkDeadline()  # the idle timeout's one timer (routing.deadlines.next_chunk)
        self.tool_calls: list[ToolCall] = []
        self.reasoning_parts: list[ReasoningPart] = []
        self.dropped = frozenset(router.dropped)
        # Built right after the first chunk arrived: the time to first token, attempts included.
        self.ttft_ms = router.elapsed_ms()
        self._in_flight = True

    @property
    def provider(self) -> str:
        return self.option.provider.display_name

    @property
    def model(self) -> str:
        return self.option.model.name

    @property
    def attempt_count(self) -> int:
        return len(self.router.attempts) + 1

    async def chunks(self) -> AsyncIterator[ChatChunk]:
        error_code = CLIENT_DISCONNECTED
        try:
            chunk = self.first
            while True:
                self._take(chunk)
                yield chunk
                try:
                    chunk = await next_chunk(
                        self.upstream, provider=self.option.provider.name, deadline=self._deadline
                    )
                except StopAsyncIteration:
                    break
            error_code = ""
        except ProviderError as error:
            error_code = error_code_of(error)
            await provider_failure_note(self.option, self.state, error, self.router.view)
            raise
        finally:
            await self._finish(error_code)

    def _take(self, chunk: ChatChunk) -> None:
        """What the chunk adds to the answer as recorded and paid for."""
        self.content_parts.append(chunk.delta)
        if chunk.reasoning:
            self.other_parts.append(chunk.reasoning)
        self.other_parts += [item.arguments or "" for item in chunk.tool_call_deltas]
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.finish_reason:
            self.finish_reason = chunk.finish_reason
            self.tool_calls = list(chunk.tool_calls)
            self.reasoning_parts = list(chunk.reasoning_parts)

    def _usage_estimate(self) -> Usage:
        """A stream that ended before the provider reported its usage (the client left, the
        provider failed) is still paid for: the prompt estimate plus what was streamed."""
        prompt = prompt_tokens_estimate(self.cmd.messages, self.cmd.tools)
        output = estimate_text_tokens("".join(self.content_parts) + "".join(self.other_parts))
        logger.info("stream_usage_estimated", provider=self.option.provider.name, prompt_tokens=prompt,
                    completion_tokens=output)
        return Usage(prompt_tokens=prompt, completion_tokens=output)

    async def _finish(self, error_code: str) -> None:
        self._deadline.close()
        try:
            await self.upstream.aclose()
        except Exception:  # noqa: S110 - the upstream is gone either way
            pass
        latency_ms = (time.monotonic() - self.started) * 1000
        usage = self.usage or self._usage_estimate()
        self.cost_usd = option_cost(self.option, usage)
        if not error_code:
            await provider_success_note(self.option, self.state, latency_ms)
            await replay_remember(
                api_key_id=self.cmd.api_key_id, tool_calls=self.tool_calls, reasoning=self.reasoning_parts
            )
        # This stream's own attempt after the ones that failed before its first chunk; a client that
        # went away is not a failure of the provider.
        provider_failed = bool(error_code) and error_code != CLIENT_DISCONNECTED
        this_attempt = Attempt(
            self.option.provider.name, self.option.model.name, error_code if provider_failed else None,
            "", latency_ms,
        )
        outcome = outcome_build(
            self.cmd,
            status="error" if error_code else "success",
            option=self.option,
            usage=usage,
            cost=self.cost_usd,
            latency_ms=self.router.elapsed_ms(),
            attempts=[*self.router.attempts, this_attempt],
            error_code=error_code,
            streamed=True,
            output="".join(self.content_parts),
            ttft_ms=self.ttft_ms,
        )
        await outcome_record(self.cmd, outcome)
        if self._in_flight:
            self._in_flight = False
            request_finished()


async def _stream_open(router: Router, option: Option, state: BreakerState, request: ChatRequest) -> Any:
    """(upstream, first chunk) of one streamed call; the upstream is closed when no chunk came."""
    upstream = provider_adapter(option.provider).stream(request, timeout=router.timeout_for(option))
    try:
        first = await first_chunk(
            upstream,
            provider=option.provider.name,
            state=state,
            timeout_s=router.first_byte_timeout_for(option),
        )
    except StopAsyncIteration:
        first = ChatChunk(finish_reason="stop")
    except Exception:
        await upstream.aclose()
        raise
    return upstream, first


async def stream_first_chunk(router: Router) -> CompletionStream | None:
    """A stream on the first candidate that produces a first chunk in time (the attempt loop of
    `routing.attempts`); None when none did. A client error raises Refused."""
    async for option, state, request in router.options():
        opened = await candidate_call(
            router, option, state, lambda o=option, s=state, r=request: _stream_open(router, o, s, r)
        )
        if opened is not None:
            (upstream, first), started = opened
            return CompletionStream(router, option, state, first, upstream, started)
    return None
