"""completion_create / completion_stream: the one place a request is routed.

Candidates come from the in-process catalogue snapshot, are ranked (`routing.planning`), and are
tried in order within an overall deadline (`routing.attempts`). Retryable failures back off
(honouring Retry-After when it fits) and move on to the next candidate; client errors come straight
back. Every accepted request leaves exactly one outcome (`routing.outcome`), queued off the request
path.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from analytics.metrics import request_finished, request_started
from providers.catalogue import catalogue_current
from routing.attempts import Refused, Router
from routing.bookkeeping import provider_success_note
from routing.cache import cache_key, response_cache_get, response_cache_set
from routing.commands import CompletionCommand
from routing.completion_cache import cache_entry, cached_result, completion_cache_payload
from routing.completions import CompletionResult
from routing.hedging import Answer, completion_race
from routing.outcome import completion_failed, completion_refused, outcome_build, outcome_record
from routing.planning import option_cost, resolve_model_name
from routing.replay import replay_remember, replay_restore
from routing.state import routing_view
from routing.streams import CompletionStream, stream_first_chunk


async def completion_create(cmd: CompletionCommand) -> CompletionResult:
    """Answer one completion: from the cache, or from the best provider that answers in time."""
    request_started()
    try:
        return await _completion_create(cmd)
    finally:
        request_finished()


async def _router(cmd: CompletionCommand) -> Router:
    """The request's router over its ranked plan (MODEL_NOT_FOUND and the like raise here, before
    any cache read or call)."""
    catalogue = await catalogue_current()
    cmd = resolve_model_name(cmd, catalogue)
    view = await routing_view(list(catalogue.providers))
    return Router(cmd, catalogue, view)


async def _replayed(router: Router) -> None:
    """Tool calls and reasoning the client sent back as it got them are restored to what the
    provider sent (routing.replay)."""
    cmd = router.cmd
    if any(m.tool_calls for m in cmd.messages):
        messages = await replay_restore(api_key_id=cmd.api_key_id, messages=cmd.messages)
        router.cmd = replace(cmd, messages=messages)


async def _completion_create(cmd: CompletionCommand) -> CompletionResult:
    router = await _router(cmd)
    key = cache_key(completion_cache_payload(router.cmd))
    if router.cmd.cache_read:
        cached = await response_cache_get(key)
        if cached is not None:
            return await _cache_hit(router, cached)
    await _replayed(router)
    # Calls one candidate at a time; a call that looks hung is raced by the next (routing.hedging).
    answer = await completion_race(router)
    if answer is None:
        raise await completion_failed(router)
    return await _answered(router, answer, key)


async def _cache_hit(router: Router, cached: dict) -> CompletionResult:
    result = cached_result(cached, latency_ms=router.elapsed_ms())
    outcome = outcome_build(
        router.cmd,
        status="cache_hit",
        # The catalogue name (as on every other record), not the display name.
        provider=cached.get("provider_name", result.provider),
        model=result.model,
        usage=result.usage,
        latency_ms=result.latency_ms,
        attempts=[],
        output=result.content,
    )
    await outcome_record(router.cmd, outcome)
    return result


async def _answered(router: Router, answer: Answer, key: str) -> CompletionResult:
    cmd, option, response = router.cmd, answer.option, answer.response
    router.answered(option, answer.latency_ms)
    result = CompletionResult(
        content=response.content,
        model=option.model.name,
        provider=option.provider.display_name,
        usage=response.usage,
        finish_reason=response.finish_reason,
        cost_usd=option_cost(option, response.usage),
        latency_ms=router.elapsed_ms(),
        attempts=router.attempts,
        cache_hit=False,
        response_id=response.response_id,
        tool_calls=response.tool_calls,
        reasoning=response.reasoning_text,
        refusal=response.refusal,
        logprobs=response.logprobs,
        more_choices=response.more_choices,
        dropped=frozenset(router.dropped),
        native=response.provider_details.get("native"),
    )
    outcome = outcome_build(
        cmd,
        status="success",
        option=option,
        usage=response.usage,
        cost=result.cost_usd,
        latency_ms=result.latency_ms,
        attempts=router.attempts,
        output=result.content,
    )
    # The writes after an answer are independent of one another (and none of them raises): sent
    # together, the answer waits for the slowest round trip instead of the sum of four.
    writes = [
        provider_success_note(option, answer.state, answer.latency_ms),
        replay_remember(
            api_key_id=cmd.api_key_id, tool_calls=response.tool_calls, reasoning=response.reasoning
        ),
    ]
    if cmd.cache_write:
        writes.append(response_cache_set(key, cache_entry(result, option=option, response=response)))
    writes.append(outcome_record(cmd, outcome))
    await asyncio.gather(*writes)
    return result


async def completion_stream(cmd: CompletionCommand) -> CompletionStream:
    """Open a stream on the best provider that produces a first chunk in time (failing over
    before that); streams are not served from or written to the response cache."""
    request_started()  # finished when the stream ends (CompletionStream._finish)
    try:
        router = await _router(cmd)
        await _replayed(router)
        try:
            stream = await stream_first_chunk(router)
        except Refused as refused:
            raise await completion_refused(router, refused.option, refused.error, streamed=True) from None
        if stream is None:
            raise await completion_failed(router, streamed=True)
        return stream
    except BaseException:
        request_finished()
        raise
