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
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from typing import Any

import structlog
from django.conf import settings
from django.utils import timezone

from access.limits import Reservation, access_settle
from analytics.metrics import request_finished, request_started
from analytics.observe import completion_observed
from analytics.services import UsageEvent, usage_record_enqueue
from core.errors import ApiError
from providers.adapters.base import (
    ChatChoice,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Message,
    ProviderError,
    ReasoningPart,
    ResponseFormat,
    ToolCall,
    ToolChoice,
    ToolSpec,
    Usage,
    estimate_text_tokens,
)
from providers.adapters.deadline import ChunkDeadline
from providers.catalogue import Catalogue, ModelEntry, ProviderEntry, catalogue_current
from providers.clients import provider_adapter
from providers.pricing import flat_pricing
from routing import breaker
from routing.cache import cache_key, response_cache_get, response_cache_set
from routing.deadlines import first_chunk, next_chunk
from routing.doors.openai_chat import RouteControls
from routing.hedging import completion_race
from routing.replay import replay_remember, replay_restore
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
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None
    # Every other provider parameter, by its OpenAI name (seed, n, logprobs, ...).
    options: dict[str, Any] = field(default_factory=dict)
    route: RouteControls = field(default_factory=RouteControls)
    # The client's opt-in: leave out what a provider cannot honour instead of refusing.
    drop_params: bool = False
    # The client key's model allow-list (empty: any model); it holds for fallbacks too.
    allowed_models: tuple[str, ...] = ()
    # The request in a provider's own protocol, passed through to that protocol's adapters
    # (`ChatRequest.native`; the Anthropic door sets it).
    native: dict[str, Any] | None = None
    # What admission reserved for this request; settled with the real amounts when it is recorded.
    reservation: Reservation | None = field(default=None, compare=False, repr=False)


@dataclass
class Attempt:
    """One try of one candidate: an upstream call (`error_code` None when it answered), or a
    candidate passed over without a call (PROVIDER_NOT_CONFIGURED)."""

    provider: str
    model: str
    error_code: str | None = None
    message: str = ""
    latency_ms: float = 0.0

    def as_context(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, "error_code": self.error_code}

    @property
    def upstream(self) -> bool:
        """A call reached (or tried to reach) the provider."""
        return self.error_code not in NOT_CALLED_CODES

    def as_detail(self) -> dict[str, Any]:
        """As kept on the usage record: every upstream attempt, failed ones too."""
        return {
            "provider": self.provider,
            "model": self.model,
            "error_code": self.error_code or "",
            "latency_ms": round(self.latency_ms, 2),
        }


# Attempts that never called the provider: not counted as the provider's attempts.
NOT_CALLED_CODES = frozenset({"PROVIDER_NOT_CONFIGURED"})

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
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning: str = ""
    refusal: str | None = None
    logprobs: dict[str, Any] | None = None
    more_choices: list[ChatChoice] = field(default_factory=list)
    dropped: frozenset[str] = frozenset()
    # The provider's own response body, when it answered a request in its own protocol.
    native: dict[str, Any] | None = None

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


def _unknown_provider(name: str, catalogue: Catalogue, where: str) -> ApiError:
    return ApiError(
        f"Provider {name!r} in {where} is not configured or is disabled.",
        error_code="PROVIDER_NOT_FOUND",
        status_code=400,
        context={"provider": name, "available_providers": sorted(catalogue.providers)},
    )


def resolve_model_name(cmd: CompletionCommand, catalogue: Catalogue) -> CompletionCommand:
    """`provider/model` (as OpenRouter users write it) pins the request to that provider, unless
    the whole string is itself a model name."""
    prefix, slash, rest = cmd.model.partition("/")
    if not slash or catalogue.models_named(cmd.model) or prefix not in catalogue.providers:
        return cmd
    if cmd.provider and cmd.provider != prefix:
        raise ApiError(
            f"Model {cmd.model!r} names provider {prefix!r}, but the request is for {cmd.provider!r}.",
            error_code="VALIDATION_ERROR",
            status_code=400,
            context={"model": cmd.model, "provider": cmd.provider},
        )
    return replace(cmd, model=rest, provider=prefix)


def _options(cmd: CompletionCommand, catalogue: Catalogue) -> list[tuple[ProviderEntry, ModelEntry, bool]]:
    """(provider, model, is_fallback) for the model asked for, then its fallback chain, narrowed by
    the request's provider controls."""
    route = cmd.route
    allowed = {name.casefold() for name in cmd.allowed_models}
    for where, names in (("provider.order", route.order), ("provider.only", route.only)):
        for name in names:
            if name not in catalogue.providers:
                raise _unknown_provider(name, catalogue, where)
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
            if entry.kind != "chat":
                continue  # embedding models answer /v1/embeddings only (routing.embeddings)
            provider = catalogue.providers.get(entry.provider)
            if provider is None or (cmd.provider and provider.name != cmd.provider):
                continue
            if (route.only and provider.name not in route.only) or provider.name in route.ignore:
                continue
            if allowed and not any(name.casefold() in allowed for name in entry.public_names):
                continue  # the key may not use this model, even as a fallback
            if not route.allow_fallbacks and route.order and provider.name not in route.order:
                continue
            if (entry.provider, entry.name) not in seen:
                seen.add((entry.provider, entry.name))
                chosen.append((provider, entry, is_fallback))

    primary = tuple(entry for entry in catalogue.models_named(cmd.model) if entry.kind == "chat")
    add(primary, False)
    fallback_names = list(catalogue.fallbacks.get(cmd.model, ()))
    for entry in primary:
        fallback_names += [n for n in catalogue.fallbacks.get(entry.name, ()) if n not in fallback_names]
    if route.allow_fallbacks:
        for name in fallback_names:
            add(catalogue.models_named(name), True)
    if not chosen:
        if primary and not route.empty:
            raise ApiError(
                f"No provider of model {cmd.model!r} is left by the request's provider controls.",
                error_code="NO_PROVIDER_ALLOWED",
                status_code=400,
                context={"model": cmd.model, "provider": route.as_dict()},
            )
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
    plan = [by_candidate[(c.provider, c.model)] for c in ranked]
    return _route_order(plan, cmd.route)


def _route_order(plan: list[_Option], route: RouteControls) -> list[_Option]:
    """The client's `provider.sort` and `provider.order` over the ranked plan. Stable sorts within
    the model asked for and within its fallbacks (those still come after it), so the ranking
    decides among equals; open circuits still go last."""
    if route.sort == "price":
        plan = sorted(plan, key=lambda o: o.candidate.price_per_1m)
    elif route.sort == "latency":
        unknown = float("inf")  # providers with no latency yet go after measured ones
        plan = sorted(
            plan,
            key=lambda o: unknown if o.candidate.avg_latency_ms is None else o.candidate.avg_latency_ms,
        )
    if route.order:
        position = {name: index for index, name in enumerate(route.order)}
        plan = sorted(plan, key=lambda o: position.get(o.provider.name, len(position)))
    if route.sort or route.order:
        plan = sorted(plan, key=lambda o: (o.candidate.breaker_state == "open", o.candidate.is_fallback))
    return plan


def _max_tokens(cmd: CompletionCommand, option: _Option) -> int:
    # The provider's configured cap is the default; a client may ask for more (max_completion_tokens)
    # when the catalogue records how much the model itself allows, and up to that.
    model_max = option.model.max_output_tokens
    if cmd.max_tokens and model_max:
        return min(cmd.max_tokens, model_max)
    if cmd.max_tokens:
        return min(cmd.max_tokens, option.provider.max_tokens)
    return min(option.provider.max_tokens, model_max or option.provider.max_tokens)


def _chat_request(cmd: CompletionCommand, option: _Option) -> ChatRequest:
    return ChatRequest(
        model=option.model.name,
        messages=list(cmd.messages),
        temperature=cmd.temperature,
        max_tokens=_max_tokens(cmd, option),
        top_p=cmd.top_p,
        stop=list(cmd.stop) if cmd.stop else None,
        user=cmd.user,
        tools=list(cmd.tools) or None,
        tool_choice=cmd.tool_choice,
        parallel_tool_calls=cmd.parallel_tool_calls,
        response_format=cmd.response_format,
        reasoning_effort=cmd.reasoning_effort,
        options=dict(cmd.options),
        native=cmd.native,
    )


def _cost(option: _Option, usage: Usage) -> Decimal:
    """USD for the answer's whole usage at the model's price model (providers.pricing): every token
    class at its own price, long-context tiers, the prices in force now, operator overrides."""
    pricing = option.model.pricing or flat_pricing(
        input_per_1m=option.model.input_price_per_1m,
        output_per_1m=option.model.output_price_per_1m,
        cached_input_per_1m=option.model.cached_input_price_per_1m,
        fallback_cost_per_token=option.provider.fallback_cost_per_token,
    )
    if not pricing.priced and usage.total_tokens:
        logger.warning("model_not_priced", provider=option.provider.name, model=option.model.name)
    return pricing.cost(usage, at=timezone.now())


# An image counts as this many prompt tokens in the pre-call estimate (a high-detail tile set).
IMAGE_TOKENS_ESTIMATE = 1_000


def prompt_tokens_estimate(messages: tuple[Message, ...] | list[Message], tools=()) -> int:
    """A cheap pre-call estimate of the prompt (about four characters a token), for admission and
    for charging a stream that ended before the provider reported its usage."""
    texts: list[str] = []
    images = 0
    for message in messages:
        texts.append(message.content)
        for part in message.parts:
            text = getattr(part, "text", None)
            if text is not None:
                texts.append(text)
            else:
                images += 1
        texts += [call.name + call.arguments for call in message.tool_calls]
    texts += [f"{tool.name} {tool.description or ''} {tool.parameters or ''}" for tool in tools]
    return estimate_text_tokens("".join(texts)) + 4 * len(messages) + IMAGE_TOKENS_ESTIMATE * images


async def completion_reservation(cmd: CompletionCommand) -> tuple[int, Decimal]:
    """The request's worst case for admission: (tokens, USD) if it runs to its output limit on the
    dearest candidate it may be routed to (fallbacks included). (0, 0) when the model is not known:
    routing answers that with its own error."""
    catalogue = await catalogue_current()
    cmd = resolve_model_name(cmd, catalogue)
    try:
        options = _options(cmd, catalogue)
    except ApiError:
        return 0, Decimal(0)
    prompt = prompt_tokens_estimate(cmd.messages, cmd.tools)
    choices = max(1, int(cmd.options.get("n") or 1))
    tokens, cost = 0, Decimal(0)
    for provider, model, _ in options:
        option = _Option(None, provider, model)  # type: ignore[arg-type]
        worst = Usage(prompt_tokens=prompt, completion_tokens=choices * _max_tokens(cmd, option))
        tokens = max(tokens, worst.total_tokens)
        cost = max(cost, _cost(option, worst))
    return tokens, cost


def cache_namespace(api_key_id: int | None) -> str:
    if settings.RESPONSE_CACHE_SHARED or api_key_id is None:
        return "shared"
    return f"key:{api_key_id}"


def _cache_payload(cmd: CompletionCommand) -> dict[str, Any]:
    """Everything that can change the answer: two requests share a cache entry only if it is equal."""
    payload: dict[str, Any] = {
        # Each client key has its own cache unless the operator shares one (RESPONSE_CACHE_SHARED):
        # otherwise key B could read key A's answers, or learn what A asked.
        "namespace": cache_namespace(cmd.api_key_id),
        "messages": [[m.role, m.content] for m in cmd.messages],
        "model": cmd.model,
        "temperature": cmd.temperature,
        "max_tokens": cmd.max_tokens,
        "top_p": cmd.top_p,
        "stop": list(cmd.stop) if cmd.stop else None,
        "provider": cmd.provider,
    }
    rich = [m for m in cmd.messages if m.parts or m.tool_calls or m.tool_call_id or m.name or m.reasoning]
    if (
        rich or cmd.native or cmd.tools or cmd.response_format or cmd.reasoning_effort or cmd.options
        or not cmd.route.empty
    ):
        # Plain requests keep the short key above; anything richer is keyed by all of it.
        payload["full"] = {
            "messages": [asdict(m) for m in cmd.messages],
            "tools": [asdict(t) for t in cmd.tools],
            "tool_choice": asdict(cmd.tool_choice) if cmd.tool_choice else None,
            "parallel_tool_calls": cmd.parallel_tool_calls,
            "response_format": asdict(cmd.response_format) if cmd.response_format else None,
            "reasoning_effort": cmd.reasoning_effort,
            "options": cmd.options,
            "route": cmd.route.as_dict(),
            "drop_params": cmd.drop_params,
        }
        if cmd.native:
            payload["full"]["native"] = cmd.native
    return payload


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
    attempt_list: list[Attempt] | None = None,
) -> None:
    """The one place every request ends: its usage record (with every upstream attempt, failed
    ones included), metrics, log line and trace."""
    usage = usage or Usage()
    if attempt_list is None:
        # No attempt failed: the one that answered (or none: a cache hit, nothing tried).
        answered = status != "cache_hit" and attempts > 0 and provider and not error_code
        attempt_list = [Attempt(provider, model, None, "", latency_ms)] if answered else []
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
        reasoning_tokens=usage.reasoning_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        usage_details={
            k: v
            for k, v in usage.as_dict(nonzero=True).items()
            if k not in ("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens",
                         "cache_write_tokens")
        },
        cost_usd=cost,
        latency_ms=round(latency_ms, 2),
        attempts=attempts,
        attempt_details=[a.as_detail() for a in attempt_list if a.upstream],
        streamed=streamed,
    )
    completion_observed(
        event, requested_model=cmd.model, messages=cmd.messages, output=output, ttft_ms=ttft_ms
    )
    await usage_record_enqueue(event)
    reservation = getattr(cmd, "reservation", None)
    if reservation is not None:
        await access_settle(reservation, tokens=usage.total_tokens, cost_usd=cost)


# --------------------------------------------------------------------------------- the loop


class _Router:
    """Walks the ranked plan for one request, within its deadline."""

    def __init__(
        self,
        cmd: CompletionCommand,
        catalogue: Catalogue,
        view: RoutingView,
        plan: list[_Option] | None = None,
    ) -> None:
        self.cmd = cmd
        self.view = view
        # `plan`: a ranked plan made elsewhere (routing.embeddings), else the chat plan.
        self.plan = _plan(cmd, catalogue, view) if plan is None else plan
        self.started = time.monotonic()
        self.deadline = self.started + settings.ROUTING_DEADLINE_S
        self.attempts: list[Attempt] = []
        self.context_limit: int | None = None  # set when a prompt was too long for some model
        self.tried_open = False
        self.last_error: ProviderError | None = None
        # Candidates passed over because they cannot honour part of the request, and what.
        self.unsupported: dict[str, set[str]] = {}
        self.capable = 0
        self.dropped: set[str] = set()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    def request_for(self, option: _Option) -> ChatRequest | None:
        """The request as this candidate will get it; None if it cannot honour part of it (unless
        the client opted into dropping what it cannot honour)."""
        request = _chat_request(self.cmd, option)
        if not request.features():
            return request
        missing = provider_adapter(option.provider).unsupported(request) | (
            request.features() & option.model.lacks
        )
        if not missing:
            return request
        if self.cmd.drop_params:
            self.dropped |= missing
            return request.without(missing)
        self.unsupported[f"{option.provider.name}/{option.model.name}"] = missing
        return None

    async def options(self) -> AsyncIterator[tuple[_Option, breaker.BreakerState, ChatRequest]]:
        """Candidates worth calling, in order, each admitted by its breaker, with their request."""
        for option in self.plan:
            if self.remaining() <= 0:
                return
            name = option.provider.name
            request = self.request_for(option)
            if request is None:
                continue
            self.capable += 1
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
            yield option, state, request

    def timeout_for(self, option: _Option) -> float:
        """The whole call's bound: a non-streamed answer, or a stream's connection."""
        return max(0.05, min(option.provider.timeout_s, self.remaining()))

    def first_byte_timeout_for(self, option: _Option) -> float:
        """How long a stream may take to its first chunk before the next candidate is tried."""
        first_byte = settings.ROUTING_FIRST_BYTE_TIMEOUT_S  # 0: the call's own timeout only
        return min(first_byte, self.timeout_for(option)) if first_byte > 0 else self.timeout_for(option)

    def lost(self, option: _Option, started: float, *, reason: str) -> None:
        """A call cancelled unanswered because another candidate answered first (routing.hedging)."""
        self.attempts.append(
            Attempt(option.provider.name, option.model.name, reason, "", (time.monotonic() - started) * 1000)
        )

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
            attempt_list=self.attempts,
        )
        return self.client_error(error)

    async def failed(self, *, streamed: bool = False) -> ApiError:
        """No candidate answered: recorded, and returned to raise (a prompt too long for every
        model is the client's error; anything else is 503)."""
        if self.capable == 0 and self.unsupported:
            error = self.unsupported_error()
        elif self.last_error is not None and self.last_error.kind == "context_length_exceeded":
            error = self.client_error(self.last_error)
        else:
            error = self.exhausted()
        await _record_usage(
            self.cmd,
            status="error",
            # A request pinned to one provider failed at that provider; otherwise at none in particular.
            provider=self.cmd.provider or "",
            latency_ms=self.elapsed_ms(),
            attempts=len(self.attempts),
            error_code=error.error_code,
            streamed=streamed,
            attempt_list=self.attempts,
        )
        return error

    def unsupported_error(self) -> ApiError:
        common = set.intersection(*self.unsupported.values())
        names = sorted(common or set.union(*self.unsupported.values()))
        return ApiError(
            f"No provider for model {self.cmd.model!r} supports {', '.join(names)}. Remove "
            f"{'it' if len(names) == 1 else 'them'}, choose another model, or send X-Drop-Params: true "
            "to have what a provider cannot honour left out.",
            error_code="UNSUPPORTED_PARAMETER",
            status_code=400,
            context={
                "model": self.cmd.model,
                "param": names[0],
                "unsupported": {k: sorted(v) for k, v in self.unsupported.items()},
            },
        )

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
            # The gateway has retried and failed over already: a client retry would repeat all of it.
            headers={"x-should-retry": "false"},
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


def _cached_extras(response: ChatResponse) -> dict[str, Any]:
    """The parts of an answer beyond its text, as kept in the response cache."""
    extras: dict[str, Any] = {}
    if response.tool_calls:
        extras["tool_calls"] = [asdict(call) for call in response.tool_calls]
    if response.reasoning_text:
        extras["reasoning"] = response.reasoning_text
    if response.refusal:
        extras["refusal"] = response.refusal
    if response.logprobs is not None:
        extras["logprobs"] = response.logprobs
    if response.more_choices:
        extras["more_choices"] = [asdict(choice) for choice in response.more_choices]
    if response.provider_details.get("native"):
        extras["native"] = response.provider_details["native"]
    return extras


def _choice_from(data: dict[str, Any]) -> ChatChoice:
    calls = [ToolCall(**call) for call in data.get("tool_calls") or []]
    return ChatChoice(content=data["content"], finish_reason=data["finish_reason"], tool_calls=calls)


async def _completion_create(cmd: CompletionCommand) -> CompletionResult:
    catalogue = await catalogue_current()
    cmd = resolve_model_name(cmd, catalogue)
    key = cache_key(_cache_payload(cmd))
    view = await routing_view(list(catalogue.providers))
    router = _Router(cmd, catalogue, view)  # raises MODEL_NOT_FOUND before any cache or call

    if cmd.cache_read:
        cached = await response_cache_get(key)
        if cached is not None:
            usage = Usage.from_dict(cached["usage"])
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
                tool_calls=[ToolCall(**call) for call in cached.get("tool_calls") or []],
                reasoning=cached.get("reasoning", ""),
                refusal=cached.get("refusal"),
                logprobs=cached.get("logprobs"),
                more_choices=[_choice_from(choice) for choice in cached.get("more_choices") or []],
                dropped=frozenset(cached.get("dropped") or ()),
                native=cached.get("native"),
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

    if any(m.tool_calls for m in cmd.messages):
        cmd = replace(cmd, messages=await replay_restore(api_key_id=cmd.api_key_id, messages=cmd.messages))
        router.cmd = cmd
    # Calls one candidate at a time; a call that looks hung is raced by the next (routing.hedging).
    answer = await completion_race(router)
    if answer is None:
        raise await router.failed()
    option, state, response, latency_ms = answer.option, answer.state, answer.response, answer.latency_ms
    router.attempts.append(Attempt(option.provider.name, option.model.name, None, "", latency_ms))
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
        tool_calls=response.tool_calls,
        reasoning=response.reasoning_text,
        refusal=response.refusal,
        logprobs=response.logprobs,
        more_choices=response.more_choices,
        dropped=frozenset(router.dropped),
        native=response.provider_details.get("native"),
    )
    # The writes after an answer are independent of one another (and none of them raises): sent
    # together, the answer waits for the slowest round trip instead of the sum of four.
    writes = [
        _note_success(option, state, latency_ms),
        replay_remember(
            api_key_id=cmd.api_key_id, tool_calls=response.tool_calls, reasoning=response.reasoning
        ),
    ]
    if cmd.cache_write:
        writes.append(response_cache_set(
            key,
            {
                "content": result.content,
                "model": result.model,
                "provider": result.provider,
                "provider_name": option.provider.name,
                "finish_reason": result.finish_reason,
                "response_id": result.response_id,
                "usage": response.usage.as_dict(nonzero=True),
                "dropped": sorted(router.dropped),
                **_cached_extras(response),
            },
        ))
    writes.append(_record_usage(
        cmd,
        status="success",
        provider=option.provider.name,
        model=option.model.name,
        usage=response.usage,
        cost=cost,
        latency_ms=result.latency_ms,
        attempts=len(router.attempts),
        output=result.content,
        attempt_list=router.attempts,
    ))
    await asyncio.gather(*writes)
    return result


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
        error_code = "CLIENT_DISCONNECTED"
        try:
            chunk = self.first
            while True:
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
                yield chunk
                try:
                    chunk = await next_chunk(
                        self.upstream, provider=self.option.provider.name, deadline=self._deadline
                    )
                except StopAsyncIteration:
                    break
            error_code = ""
        except ProviderError as error:
            error_code = _error_code(error)
            await _note_failure(self.option, self.state, error, self.router.view)
            raise
        finally:
            await self._finish(error_code)

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
        self.cost_usd = _cost(self.option, usage)
        if not error_code:
            await _note_success(self.option, self.state, latency_ms)
            await replay_remember(
                api_key_id=self.cmd.api_key_id, tool_calls=self.tool_calls, reasoning=self.reasoning_parts
            )
        # This stream's own attempt after the ones that failed before its first chunk; a client that
        # went away is not a failure of the provider.
        provider_failed = bool(error_code) and error_code != "CLIENT_DISCONNECTED"
        this_attempt = Attempt(
            self.option.provider.name, self.option.model.name, error_code if provider_failed else None,
            "", latency_ms,
        )
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
            attempt_list=[*self.router.attempts, this_attempt],
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
    cmd = resolve_model_name(cmd, catalogue)
    view = await routing_view(list(catalogue.providers))
    router = _Router(cmd, catalogue, view)
    if any(m.tool_calls for m in cmd.messages):
        cmd = replace(cmd, messages=await replay_restore(api_key_id=cmd.api_key_id, messages=cmd.messages))
        router.cmd = cmd
    async for option, state, request in router.options():
        retry = 0
        while True:
            started = time.monotonic()
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
