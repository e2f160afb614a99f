"""completion_create / completion_stream: the one place a request is routed.

Candidates come from the in-process catalogue snapshot, are ranked by `selection`, and are tried in
order within an overall deadline. Retryable failures back off (honouring Retry-After when it fits)
and move on to the next candidate; client errors come straight back. Every accepted request leaves
exactly one usage record, queued off the request path.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog
from django.conf import settings
from django.utils import timezone

from aiprovider_site.errors import ApiError
from analytics.metrics import request_finished, request_started
from analytics.observe import completion_observed
from analytics.services import UsageEvent, usage_record_enqueue
from providers.adapters.base import ChatChunk, ChatRequest, ChatResponse, Message, ProviderError, Usage
from providers.catalogue import Catalogue, ModelEntry, ProviderEntry, catalogue_current
from providers.clients import provider_adapter
from providers.pricing import completion_cost
from routing import breaker
from routing.cache import cache_key, response_cache_get, response_cache_set
from routing.selection import Candidate, rank_candidates, strategy_for
from routing.state import RoutingView, routing_view, routing_view_note_breaker
from routing.stats import stats_record

logger = structlog.get_logger(__name__)

# Failures that say nothing about the provider's health: the request itself was refused.
CLIENT_ERROR_KINDS = frozenset({"bad_request", "content_filtered"})
# Worth a second try on the same provider after a short back-off. Not a 429: its Retry-After has
# opened the circuit, and another provider answers sooner than waiting it out.
SAME_PROVIDER_RETRY_KINDS = frozenset({"connection", "unavailable", "invalid_response"})


@dataclass(frozen=True)
class CompletionCommand:
    """A validated completion request."""

    request_id: str
    messages: tuple[Message, ...]
    model: str
    temperature: float | None = 0.7
    max_tokens: int | None = None
    top_p: float | None = None
    stop: tuple[str, ...] | None = None
    user: str | None = None
    provider: str | None = None
    api_key_id: int | None = None
    cache_read: bool = True
    cache_write: bool = True


@dataclass
class Attempt:
    provider: str
    model: str
    error_code: str | None = None
    message: str = ""
    latency_ms: float = 0.0

    def as_context(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, "error_code": self.error_code}


@dataclass
class CompletionResult:
    content: str
    model: str
    provider: str
    usage: Usage
    finish_reason: str
    cost_usd: Decimal
    latency_ms: float
    attempts: list[Attempt]
    cache_hit: bool
    response_id: str | None
    created: Any = field(default_factory=timezone.now)

    @property
    def attempt_count(self) -> int:
        return len(self.attempts)


# ------------------------------------------------------------------------------------------ plan


@dataclass(frozen=True)
class _Option:
    candidate: Candidate
    provider: ProviderEntry
    model: ModelEntry


def _model_not_found(cmd: CompletionCommand, catalogue: Catalogue) -> ApiError:
    known = sorted({m.name for m in catalogue.models})
    context: dict[str, Any] = {"model": cmd.model, "available_models": known[:50]}
    if cmd.provider:
        context["provider"] = cmd.provider
        context["available_models"] = sorted({m.name for m in catalogue.models if m.provider == cmd.provider})
    where = f" on provider {cmd.provider!r}" if cmd.provider else ""
    return ApiError(
        f"Model {cmd.model!r} is not available{where}.",
        error_code="MODEL_NOT_FOUND",
        status_code=404,
        context=context,
    )


def _options(cmd: CompletionCommand, catalogue: Catalogue) -> list[tuple[ProviderEntry, ModelEntry, bool]]:
    """(provider, model, is_fallback) for the model asked for, then its fallback chain."""
    if cmd.provider and cmd.provider not in catalogue.providers:
        raise ApiError(
            f"Provider {cmd.provider!r} is not configured or is disabled.",
            error_code="PROVIDER_NOT_FOUND",
            status_code=404,
            context={"provider": cmd.provider, "available_providers": sorted(catalogue.providers)},
        )
    chosen: list[tuple[ProviderEntry, ModelEntry, bool]] = []
    seen: set[tuple[str, str]] = set()

    def add(entries, is_fallback: bool) -> None:
        for entry in entries:
            provider = catalogue.providers.get(entry.provider)
            if provider is None or (cmd.provider and provider.name != cmd.provider):
                continue
            if (entry.provider, entry.name) not in seen:
                seen.add((entry.provider, entry.name))
                chosen.append((provider, entry, is_fallback))

    primary = catalogue.models_named(cmd.model)
    add(primary, False)
    fallback_names = list(catalogue.fallbacks.get(cmd.model, ()))
    for entry in primary:
        fallback_names += [n for n in catalogue.fallbacks.get(entry.name, ()) if n not in fallback_names]
    for name in fallback_names:
        add(catalogue.models_named(name), True)
    if not chosen:
        raise _model_not_found(cmd, catalogue)
    return chosen


def _plan(cmd: CompletionCommand, catalogue: Catalogue, view: RoutingView) -> list[_Option]:
    options = []
    for provider, model, is_fallback in _options(cmd, catalogue):
        stats = view.stats.get(provider.name)
        state = view.breakers.get(provider.name, breaker.BreakerState("closed"))
        candidate = Candidate(
            provider=provider.name,
            model=model.name,
            priority=provider.priority,
            weight=provider.weight,
            success_rate=stats.success_rate if stats else 1.0,
            avg_latency_ms=stats.avg_latency_ms if stats else None,
            health_status=view.health.get(provider.name, "unknown"),
            breaker_state=state.state,
            open_until=state.open_until,
            price_per_1m=model.input_price_per_1m + model.output_price_per_1m,
            is_fallback=is_fallback,
            context_window=model.context_window,
        )
        options.append(_Option(candidate, provider, model))
    ranked = rank_candidates([o.candidate for o in options], strategy=strategy_for(settings.ROUTING_STRATEGY))
    by_candidate = {(o.candidate.provider, o.candidate.model): o for o in options}
    return [by_candidate[(c.provider, c.model)] for c in ranked]


def _chat_request(cmd: CompletionCommand, option: _Option) -> ChatRequest:
    limits = [option.provider.max_tokens]
    if option.model.max_output_tokens:
        limits.append(option.model.max_output_tokens)
    if cmd.max_tokens:
        limits.append(cmd.max_tokens)
    return ChatRequest(
        model=option.model.name,
        messages=list(cmd.messages),
        temperature=cmd.temperature,
        max_tokens=min(limits),
        top_p=cmd.top_p,
        stop=list(cmd.stop) if cmd.stop else None,
        user=cmd.user,
    )


def _cost(option: _Option, usage: Usage) -> Decimal:
    return completion_cost(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        input_per_1m=option.model.input_price_per_1m,
        output_per_1m=option.model.output_price_per_1m,
        cached_input_per_1m=option.model.cached_input_price_per_1m,
        fallback_cost_per_token=option.provider.fallback_cost_per_token,
    )


def _cache_payload(cmd: CompletionCommand) -> dict[str, Any]:
    return {
        "messages": [[m.role, m.content] for m in cmd.messages],
        "model": cmd.model,
        "temperature": cmd.temperature,
        "max_tokens": cmd.max_tokens,
        "top_p": cmd.top_p,
        "stop": list(cmd.stop) if cmd.stop else None,
        "provider": cmd.provider,
    }


def _error_code(error: ProviderError) -> str:
    return error.kind.upper()


# --------------------------------------------------------------------------------- bookkeeping


async def _best_effort(coro, what: str) -> Any:
    """Shared-state bookkeeping must never fail a request that has an answer."""
    try:
        return await coro
    except Exception:
        logger.warning("routing_state_unavailable", op=what)
        return None


async def _note_success(option: _Option, state: breaker.BreakerState, latency_ms: float) -> None:
    provider = option.provider.name

    async def record() -> None:
        await stats_record(provider=provider, ok=True, latency_ms=latency_ms)
        if state.state != "closed":
            await breaker.breaker_record_success(provider=provider, was=state)
            routing_view_note_breaker(provider, breaker.BreakerState("closed"))

    await _best_effort(record(), "record_success")


async def _note_failure(
    option: _Option, state: breaker.BreakerState, error: ProviderError, view: RoutingView
):
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

    await _best_effort(record(), "record_failure")


async def _record_usage(
    cmd: CompletionCommand,
    *,
    status: str,
    provider: str = "",
    model: str = "",
    usage: Usage | None = None,
    cost: Decimal = Decimal("0"),
    latency_ms: float,
    attempts: int,
    error_code: str = "",
    streamed: bool = False,
    output: str | None = None,
    ttft_ms: float | None = None,
) -> None:
    """The one place every request ends: its usage record, metrics, log line and trace."""
    usage = usage or Usage()
    event = UsageEvent(
        request_id=cmd.request_id,
        status=status,
        provider=provider,
        model=model,
        api_key_id=cmd.api_key_id,
        error_code=error_code,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        cost_usd=cost,
        latency_ms=round(latency_ms, 2),
        attempts=attempts,
        streamed=streamed,
    )
    completion_observed(
        event, requested_model=cmd.model, messages=cmd.messages, output=output, ttft_ms=ttft_ms
    )
    await usage_record_enqueue(event)


# --------------------------------------------------------------------------------- the loop


class _Router:
    """Walks the ranked plan for one request, within its deadline."""

    def __init__(self, cmd: CompletionCommand, catalogue: Catalogue, view: RoutingView) -> None:
        self.cmd = cmd
        self.view = view
        self.plan = _plan(cmd, catalogue, view)
        self.started = time.monotonic()
        self.deadline = self.started + settings.ROUTING_DEADLINE_S
        self.attempts: list[Attempt] = []
        self.context_limit: int | None = None  # set when a prompt was too long for some model
        self.tried_open = False
        self.last_error: ProviderError | None = None

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    async def options(self) -> AsyncIterator[tuple[_Option, breaker.BreakerState]]:
        """Candidates worth calling, in order, each admitted by its breaker."""
        for option in self.plan:
            if self.remaining() <= 0:
                return
            name = option.provider.name
            if not option.provider.configured:
                self.attempts.append(
                    Attempt(
                        name, option.model.name, "PROVIDER_NOT_CONFIGURED", "no API key in the environment"
                    )
                )
                continue
            if self.context_limit is not None:
                window = option.model.context_window
                if not window or window <= self.context_limit:
                    continue
            state = self.view.breakers.get(name, breaker.BreakerState("closed"))
            if state.state == "open":
                # Reached only when nothing usable answered: try the soonest to cool down, once.
                if self.tried_open or any(a.error_code is None for a in self.attempts):
                    continue
                self.tried_open = True
            elif state.state == "half_open":
                won = await _best_effort(
                    breaker.breaker_try_probe(provider=name, ttl_s=option.provider.timeout_s), "probe_lock"
                )
                if won is False:
                    continue
            yield option, state

    def timeout_for(self, option: _Option) -> float:
        return max(0.05, min(option.provider.timeout_s, self.remaining()))

    async def backoff(self, retry: int, error: ProviderError) -> bool:
        """Wait before retrying the same provider; False when there is no time for it."""
        if error.retry_after is not None:
            delay = error.retry_after
            if delay > settings.ROUTING_BACKOFF_MAX_S:
                return False
        else:
            delay = min(settings.ROUTING_BACKOFF_MAX_S, settings.ROUTING_BACKOFF_BASE_S * 2**retry)
            delay *= random.uniform(0.5, 1.5)
        if delay >= self.remaining() - 0.05:
            return False
        await asyncio.sleep(delay)
        return True

    def failure(self, option: _Option, error: ProviderError, started: float) -> None:
        self.last_error = error
        self.attempts.append(
            Attempt(
                option.provider.name,
                option.model.name,
                _error_code(error),
                error.message[:300],
                (time.monotonic() - started) * 1000,
            )
        )
        logger.info(
            "provider_attempt_failed",
            provider=option.provider.name,
            model=option.model.name,
            error_kind=error.kind,
            retryable=error.retryable,
        )

    def client_error(self, error: ProviderError) -> ApiError:
        codes = {
            "bad_request": ("UPSTREAM_BAD_REQUEST", 400),
            "content_filtered": ("CONTENT_FILTERED", 400),
            "context_length_exceeded": ("CONTEXT_LENGTH_EXCEEDED", 400),
        }
        code, status = codes[error.kind]
        return ApiError(
            f"The provider refused the request: {error.message}",
            error_code=code,
            status_code=status,
            context={"provider": error.provider, "attempts": [a.as_context() for a in self.attempts]},
        )

    async def refused(self, option: _Option, error: ProviderError, *, streamed: bool = False) -> ApiError:
        """A client error from the provider: recorded, and returned to raise without failover."""
        await _record_usage(
            self.cmd,
            status="error",
            provider=option.provider.name,
            model=option.model.name,
            latency_ms=self.elapsed_ms(),
            attempts=len(self.attempts),
            error_code=_error_code(error),
            streamed=streamed,
        )
        return self.client_error(error)

    async def failed(self, *, streamed: bool = False) -> ApiError:
        """No candidate answered: recorded, and returned to raise (a prompt too long for every
        model is the client's error; anything else is 503)."""
        if self.last_error is not None and self.last_error.kind == "context_length_exceeded":
            error = self.client_error(self.last_error)
        else:
            error = self.exhausted()
        await _record_usage(
            self.cmd,
            status="error",
            latency_ms=self.elapsed_ms(),
            attempts=len(self.attempts),
            error_code=error.error_code,
            streamed=streamed,
        )
        return error

    def exhausted(self) -> ApiError:
        if not self.attempts:
            message = "No provider could be tried within the deadline."
        else:
            message = "Every provider failed for this request."
        return ApiError(
            message,
            error_code="PROVIDER_UNAVAILABLE",
            status_code=503,
            context={"model": self.cmd.model, "attempts": [a.as_context() for a in self.attempts]},
        )

    async def handle_failure(self, option, state, error: ProviderError, retry: int) -> str:
        """What to do after a failed call: 'retry' the same provider, 'next' one, or 'stop'."""
        if error.kind in CLIENT_ERROR_KINDS:
            return "stop"
        if error.kind == "context_length_exceeded":
            self.context_limit = max(self.context_limit or 0, option.model.context_window or 0)
            return "next"
        await _note_failure(option, state, error, self.view)
        if (
            error.retryable
            and error.kind in SAME_PROVIDER_RETRY_KINDS
            and retry < option.provider.max_retries
            and state.state == "closed"
            and await self.backoff(retry, error)
        ):
            return "retry"
        return "next"


async def completion_create(cmd: CompletionCommand) -> CompletionResult:
    """Answer one completion: from the cache, or from the best provider that answers in time."""
    request_started()
    try:
        return await _completion_create(cmd)
    finally:
        request_finished()


async def _completion_create(cmd: CompletionCommand) -> CompletionResult:
    catalogue = await catalogue_current()
    key = cache_key(_cache_payload(cmd))
    view = await routing_view(list(catalogue.providers))
    router = _Router(cmd, catalogue, view)  # raises MODEL_NOT_FOUND before any cache or call

    if cmd.cache_read:
        cached = await response_cache_get(key)
        if cached is not None:
            usage = Usage(**cached["usage"])
            result = CompletionResult(
                content=cached["content"],
                model=cached["model"],
                provider=cached["provider"],
                usage=usage,
                finish_reason=cached["finish_reason"],
                cost_usd=Decimal("0"),
                latency_ms=router.elapsed_ms(),
                attempts=[],
                cache_hit=True,
                response_id=cached.get("response_id"),
            )
            await _record_usage(
                cmd,
                status="cache_hit",
                # The catalogue name (as on every other record), not the display name.
                provider=cached.get("provider_name", result.provider),
                model=result.model,
                usage=usage,
                latency_ms=result.latency_ms,
                attempts=0,
                output=result.content,
            )
            return result

    async for option, state in router.options():
        retry = 0
        while True:
            started = time.monotonic()
            try:
                response: ChatResponse = await provider_adapter(option.provider).complete(
                    _chat_request(cmd, option), timeout=router.timeout_for(option)
                )
            except ProviderError as error:
                router.failure(option, error, started)
                decision = await router.handle_failure(option, state, error, retry)
                if decision == "stop":
                    raise await router.refused(option, error) from None
                if decision == "retry":
                    retry += 1
                    continue
                break
            latency_ms = (time.monotonic() - started) * 1000
            router.attempts.append(Attempt(option.provider.name, option.model.name, None, "", latency_ms))
            await _note_success(option, state, latency_ms)
            cost = _cost(option, response.usage)
            result = CompletionResult(
                content=response.content,
                model=option.model.name,
                provider=option.provider.display_name,
                usage=response.usage,
                finish_reason=response.finish_reason,
                cost_usd=cost,
                latency_ms=router.elapsed_ms(),
                attempts=router.attempts,
                cache_hit=False,
                response_id=response.response_id,
            )
            if cmd.cache_write:
                await response_cache_set(
                    key,
                    {
                        "content": result.content,
                        "model": result.model,
                        "provider": result.provider,
                        "provider_name": option.provider.name,
                        "finish_reason": result.finish_reason,
                        "response_id": result.response_id,
                        "usage": {
                            "prompt_tokens": response.usage.prompt_tokens,
                            "completion_tokens": response.usage.completion_tokens,
                            "cached_tokens": response.usage.cached_tokens,
                            "reasoning_tokens": response.usage.reasoning_tokens,
                        },
                    },
                )
            await _record_usage(
                cmd,
                status="success",
                provider=option.provider.name,
                model=option.model.name,
                usage=response.usage,
                cost=cost,
                latency_ms=result.latency_ms,
                attempts=len(router.attempts),
                output=result.content,
            )
            return result

    raise await router.failed()


# --------------------------------------------------------------------------------- streaming


class CompletionStream:
    """A stream whose first chunk has arrived: the provider is committed, the rest follows.

    Iterate `chunks()`; it yields the first chunk, then the others. A provider failure mid-stream
    raises ProviderError from the iterator; the usage record is written whatever happens, the
    client's disconnect included (the upstream call is then closed).
    """

    def __init__(self, cmd, router: _Router, option: _Option, state, first: ChatChunk, upstream, started):
        self.cmd = cmd
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
        error_code = "CLIENT_DISCONNECTED"
        try:
            chunk = self.first
            while True:
                self.content_parts.append(chunk.delta)
                if chunk.usage is not None:
                    self.usage = chunk.usage
                if chunk.finish_reason:
                    self.finish_reason = chunk.finish_reason
                yield chunk
                try:
                    chunk = await anext(self.upstream)
                except StopAsyncIteration:
                    break
            error_code = ""
        except ProviderError as error:
            error_code = _error_code(error)
            await _note_failure(self.option, self.state, error, self.router.view)
            raise
        finally:
            await self._finish(error_code)

    async def _finish(self, error_code: str) -> None:
        try:
            await self.upstream.aclose()
        except Exception:  # noqa: S110 - the upstream is gone either way
            pass
        latency_ms = (time.monotonic() - self.started) * 1000
        usage = self.usage or Usage()
        self.cost_usd = _cost(self.option, usage)
        if not error_code:
            await _note_success(self.option, self.state, latency_ms)
        await _record_usage(
            self.cmd,
            status="error" if error_code else "success",
            provider=self.option.provider.name,
            model=self.option.model.name,
            usage=usage,
            cost=self.cost_usd,
            latency_ms=self.router.elapsed_ms(),
            attempts=self.attempt_count,
            error_code=error_code,
            streamed=True,
            output="".join(self.content_parts),
            ttft_ms=self.ttft_ms,
        )
        if self._in_flight:
            self._in_flight = False
            request_finished()


async def completion_stream(cmd: CompletionCommand) -> CompletionStream:
    """Open a stream on the best provider that produces a first chunk in time (failing over
    before that); streams are not served from or written to the response cache."""
    request_started()  # finished when the stream ends (CompletionStream._finish)
    try:
        return await _completion_stream(cmd)
    except BaseException:
        request_finished()
        raise


async def _completion_stream(cmd: CompletionCommand) -> CompletionStream:
    catalogue = await catalogue_current()
    view = await routing_view(list(catalogue.providers))
    router = _Router(cmd, catalogue, view)
    async for option, state in router.options():
        retry = 0
        while True:
            started = time.monotonic()
            upstream = provider_adapter(option.provider).stream(
                _chat_request(cmd, option), timeout=router.timeout_for(option)
            )
            try:
                first = await anext(upstream)
            except StopAsyncIteration:
                first = ChatChunk(finish_reason="stop")
            except ProviderError as error:
                await upstream.aclose()
                router.failure(option, error, started)
                decision = await router.handle_failure(option, state, error, retry)
                if decision == "stop":
                    raise await router.refused(option, error, streamed=True) from None
                if decision == "retry":
                    retry += 1
                    continue
                break
            return CompletionStream(cmd, router, option, state, first, upstream, started)

    raise await router.failed(streamed=True)
