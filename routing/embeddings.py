"""embedding_create: the one place an embeddings request is routed.

Candidates are the enabled providers that serve the embedding model asked for (by name or alias),
plus models the catalogue declares to share its vector space (`embedding_space`); never a
different model, and never the chat fallback chains. They are ranked like chat candidates and
walked with the chat router (`routing.services._Router`): the same deadline, breaker, retries,
failover rules and bookkeeping. A request larger than a provider takes in one call (`max_batch`
inputs, `max_batch_tokens` tokens) is split into several calls, run a few at a time, and the
vectors reassembled in input order; if a provider fails part-way, only the missing inputs go to the
next candidate. Cache, usage records and cost are those of chat (`routing.services`).
"""

from __future__ import annotations

import asyncio
import base64
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import structlog
from django.conf import settings

from access.limits import Reservation
from analytics.metrics import request_finished, request_started
from core.errors import ApiError
from providers.adapters.errors import ProviderError
from providers.adapters.messages import EmbeddingRequest, Message
from providers.adapters.results import EmbeddingResponse, Usage, estimate_text_tokens
from providers.catalogue import Catalogue, ModelEntry, ProviderEntry, catalogue_current
from providers.clients import provider_adapter
from routing import breaker
from routing.cache import cache_key, response_cache_get, response_cache_set
from routing.deadlines import answer_within
from routing.doors.openai_chat import RouteControls
from routing.selection import Candidate, rank_candidates, strategy_for
from routing.services import (
    Attempt,
    _cost,
    _note_success,
    _Option,
    _record_usage,
    _route_order,
    _Router,
    _unknown_provider,
    cache_namespace,
    resolve_model_name,
)
from routing.state import RoutingView, routing_view

logger = structlog.get_logger(__name__)

EMBEDDING = "embedding"
# Batches of one request sent to a provider at the same time.
BATCH_CONCURRENCY = 4
# Larger answers (floats in all) are not written to the response cache.
CACHE_MAX_FLOATS = 262_144
FEATURE_EMBEDDINGS = "embeddings"
FEATURE_TOKEN_ARRAYS = "input (token arrays)"
FEATURE_DIMENSIONS = "dimensions"


@dataclass(frozen=True)
class EmbeddingCommand:
    """A validated embeddings request: texts, or token arrays (tuples of token ids)."""

    request_id: str
    model: str
    inputs: tuple[str | tuple[int, ...], ...]
    dimensions: int | None = None
    user: str | None = None
    provider: str | None = None
    api_key_id: int | None = None
    cache_read: bool = True
    cache_write: bool = True
    route: RouteControls = field(default_factory=RouteControls)
    drop_params: bool = False  # never: a vector without its dimensions is another vector
    # What admission reserved for this request; settled with the real amounts when it is recorded.
    reservation: Reservation | None = field(default=None, compare=False, repr=False)

    @property
    def messages(self) -> tuple[Message, ...]:
        """The texts as messages, for the completion log line and traces (with LOG_PROMPTS)."""
        return tuple(Message("user", item) for item in self.inputs if isinstance(item, str))

    @property
    def has_token_arrays(self) -> bool:
        return any(not isinstance(item, str) for item in self.inputs)

    def token_estimates(self) -> list[int]:
        return [estimate_text_tokens(i) if isinstance(i, str) else len(i) for i in self.inputs]


@dataclass
class EmbeddingResult:
    vectors: list[list[float]]
    model: str
    provider: str
    usage: Usage
    cost_usd: Decimal
    latency_ms: float
    attempts: list[Attempt]
    cache_hit: bool
    usage_estimated: bool = False

    @property
    def attempt_count(self) -> int:
        return len(self.attempts)


# ------------------------------------------------------------------------------------------ plan


def _not_an_embedding_model(cmd: EmbeddingCommand, catalogue: Catalogue) -> ApiError:
    known = sorted({m.name for m in catalogue.models if m.kind == EMBEDDING})
    chat = bool(catalogue.models_named(cmd.model))
    message = (
        f"Model {cmd.model!r} is a chat model; /v1/embeddings needs an embedding model."
        if chat
        else f"Model {cmd.model!r} is not available."
    )
    return ApiError(
        message,
        error_code="MODEL_NOT_FOUND",
        status_code=404,
        context={"model": cmd.model, "available_models": known},
    )


async def embedding_reservation(cmd: EmbeddingCommand) -> tuple[int, Decimal]:
    """The request's worst case for admission: its estimated tokens on the dearest candidate."""
    catalogue = await catalogue_current()
    tokens = sum(cmd.token_estimates())
    try:
        options = embedding_candidates(cmd, catalogue)
    except ApiError:
        return tokens, Decimal(0)
    usage = Usage(prompt_tokens=tokens)
    cost = max((_cost(_Option(None, p, m), usage) for p, m, _ in options), default=Decimal(0))  # type: ignore[arg-type]
    return tokens, cost


def embedding_candidates(
    cmd: EmbeddingCommand, catalogue: Catalogue
) -> list[tuple[ProviderEntry, ModelEntry, bool]]:
    """(provider, model, is_alternative): the model asked for wherever it is served, then the
    models declared to share its vector space, narrowed by the request's provider controls."""
    route = cmd.route
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
    named = [entry for entry in catalogue.models_named(cmd.model) if entry.kind == EMBEDDING]
    if not named:
        raise _not_an_embedding_model(cmd, catalogue)
    spaces = {entry.embedding_space for entry in named if entry.embedding_space}
    alternatives = [
        entry
        for entry in catalogue.models
        if entry.kind == EMBEDDING and entry.embedding_space in spaces and entry not in named
    ]
    chosen: list[tuple[ProviderEntry, ModelEntry, bool]] = []
    for entries, alternative in ((named, False), (alternatives, True)):
        if alternative and not route.allow_fallbacks:
            break
        for entry in entries:
            provider = catalogue.providers.get(entry.provider)
            if provider is None or (cmd.provider and provider.name != cmd.provider):
                continue
            if (route.only and provider.name not in route.only) or provider.name in route.ignore:
                continue
            if not route.allow_fallbacks and route.order and provider.name not in route.order:
                continue
            chosen.append((provider, entry, alternative))
    if not chosen:
        if cmd.provider:
            raise ApiError(
                f"Model {cmd.model!r} is not available on provider {cmd.provider!r}.",
                error_code="MODEL_NOT_FOUND",
                status_code=404,
                context={"model": cmd.model, "provider": cmd.provider},
            )
        raise ApiError(
            f"No provider of model {cmd.model!r} is left by the request's provider controls.",
            error_code="NO_PROVIDER_ALLOWED",
            status_code=400,
            context={"model": cmd.model, "provider": route.as_dict()},
        )
    return chosen


def _plan(cmd: EmbeddingCommand, catalogue: Catalogue, view: RoutingView) -> list[_Option]:
    options = []
    for provider, model, alternative in embedding_candidates(cmd, catalogue):
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
            price_per_1m=model.input_price_per_1m,
            is_fallback=alternative,
            context_window=model.context_window,
        )
        options.append(_Option(candidate, provider, model))
    ranked = rank_candidates([o.candidate for o in options], strategy=strategy_for(settings.ROUTING_STRATEGY))
    by_candidate = {(o.candidate.provider, o.candidate.model): o for o in options}
    return _route_order([by_candidate[(c.provider, c.model)] for c in ranked], cmd.route)


def _check_inputs(cmd: EmbeddingCommand, plan: list[_Option], estimates: list[int]) -> None:
    """400s the client can fix, before any call: dimensions beyond the model's, an input longer
    than the model takes (named by its index)."""
    sizes = [o.model.dimensions for o in plan if o.model.dimensions]
    if cmd.dimensions is not None and sizes and cmd.dimensions > min(sizes):
        raise ApiError(
            f"dimensions {cmd.dimensions} is larger than the {min(sizes)} of model {cmd.model!r}.",
            error_code="VALIDATION_ERROR",
            status_code=400,
            context={"param": "dimensions", "model": cmd.model, "max_dimensions": min(sizes)},
        )
    windows = [o.model.context_window for o in plan if o.model.context_window]
    if not windows:
        return
    limit = min(windows)
    for index, tokens in enumerate(estimates):
        if tokens > limit:
            what = "tokens" if not isinstance(cmd.inputs[index], str) else "tokens (estimated)"
            raise ApiError(
                f"input[{index}] is {tokens:,} {what}, over the {limit:,}-token input limit of model "
                f"{cmd.model!r}. Shorten or split that input.",
                error_code="CONTEXT_LENGTH_EXCEEDED",
                status_code=400,
                context={"param": f"input[{index}]", "model": cmd.model, "tokens": tokens, "limit": limit},
            )


def batches(indices: Sequence[int], estimates: Sequence[int], max_batch: int, max_tokens: int | None):
    """`indices` cut into consecutive runs of at most `max_batch` inputs and `max_tokens` tokens."""
    runs: list[list[int]] = []
    run: list[int] = []
    total = 0
    for index in indices:
        tokens = estimates[index]
        if run and (len(run) >= max_batch or (max_tokens is not None and total + tokens > max_tokens)):
            runs.append(run)
            run, total = [], 0
        run.append(index)
        total += tokens
    if run:
        runs.append(run)
    return runs


# --------------------------------------------------------------------------------- the router


class _EmbeddingRouter(_Router):
    """The chat router over an embeddings plan; a candidate is usable when its protocol embeds
    (and takes token arrays or `dimensions` when the request has them)."""

    def request_for(self, option: _Option) -> EmbeddingRequest | None:  # type: ignore[override]
        cmd = self.cmd
        adapter = provider_adapter(option.provider)
        missing: set[str] = set()
        if adapter.max_batch <= 0:
            missing.add(FEATURE_EMBEDDINGS)
        if cmd.has_token_arrays and not adapter.embeds_token_arrays:
            missing.add(FEATURE_TOKEN_ARRAYS)
        if cmd.dimensions is not None and FEATURE_DIMENSIONS in option.model.lacks:
            missing.add(FEATURE_DIMENSIONS)
        if missing:
            self.unsupported[f"{option.provider.name}/{option.model.name}"] = missing
            return None
        return EmbeddingRequest(model=option.model.name, inputs=[], dimensions=cmd.dimensions, user=cmd.user)

    def unsupported_error(self) -> ApiError:
        common = set.intersection(*self.unsupported.values())
        names = sorted(common or set.union(*self.unsupported.values()))
        return ApiError(
            f"No provider of model {self.cmd.model!r} can take {', '.join(names)}.",
            error_code="UNSUPPORTED_PARAMETER",
            status_code=400,
            context={
                "model": self.cmd.model,
                "param": "input" if names[0] == FEATURE_TOKEN_ARRAYS else names[0],
                "unsupported": {k: sorted(v) for k, v in self.unsupported.items()},
            },
        )


class _Stop(Exception):
    """A batch failed with a client error: the request is refused, without failover."""

    def __init__(self, error: ProviderError) -> None:
        self.error = error


class _Next(Exception):
    """A batch failed for good on this candidate: the missing inputs go to the next one."""


@dataclass
class _Tally:
    """What one candidate embedded: its usage (an estimate when the provider gave none)."""

    usage: Usage = field(default_factory=Usage)
    estimated: bool = False


async def _run_option(
    router: _EmbeddingRouter,
    option: _Option,
    state: breaker.BreakerState,
    template: EmbeddingRequest,
    vectors: list[list[float] | None],
    estimates: list[int],
    tally: _Tally,
) -> None:
    """Embed every missing input on one candidate, a few batches at a time, filling `vectors` and
    `tally`; raises _Stop (client error) or _Next (this candidate failed for good)."""
    cmd = router.cmd
    adapter = provider_adapter(option.provider)
    missing = [i for i, v in enumerate(vectors) if v is None]
    gate = asyncio.Semaphore(BATCH_CONCURRENCY)

    async def run(indices: list[int]) -> None:
        request = replace(template, inputs=[_wire_input(cmd.inputs[i]) for i in indices])
        retry = 0
        async with gate:
            while True:
                started = time.monotonic()
                try:
                    # A hang gives up once its provider's circuit opens (routing.deadlines): the
                    # batch moves to the next candidate instead of waiting out the provider timeout.
                    response: EmbeddingResponse = await answer_within(
                        adapter.embed(request, timeout=router.timeout_for(option)),
                        provider=option.provider.name,
                        state=state,
                        timeout_s=None,
                        waiting_for="embeddings",
                    )
                except ProviderError as error:
                    router.failure(option, error, started)
                    decision = await router.handle_failure(option, state, error, retry)
                    if decision == "stop":
                        raise _Stop(error) from None
                    if decision == "retry":
                        retry += 1
                        continue
                    raise _Next from None
                break
        if cmd.dimensions is not None and any(len(v) != cmd.dimensions for v in response.vectors):
            raise _Next  # a provider that ignored `dimensions`: its vectors are not what was asked
        for index, vector in zip(indices, response.vectors, strict=True):
            vectors[index] = vector
        tally.usage.prompt_tokens += response.usage.prompt_tokens
        tally.estimated = tally.estimated or response.usage_estimated

    try:
        async with asyncio.TaskGroup() as group:
            for indices in batches(missing, estimates, adapter.max_batch, adapter.max_batch_tokens):
                group.create_task(run(indices))
    except BaseExceptionGroup as failed:
        stops = [e for e in failed.exceptions if isinstance(e, _Stop)]
        if stops:
            raise stops[0] from None
        if all(isinstance(e, _Next) for e in failed.exceptions):
            raise _Next from None
        raise


def _wire_input(item: str | tuple[int, ...]) -> str | list[int]:
    return item if isinstance(item, str) else list(item)


# --------------------------------------------------------------------------------- the service


def _cache_payload(cmd: EmbeddingCommand) -> dict[str, Any]:
    return {
        "namespace": cache_namespace(cmd.api_key_id),
        "embeddings": {
            "model": cmd.model,
            "provider": cmd.provider,
            "inputs": [item if isinstance(item, str) else list(item) for item in cmd.inputs],
            "dimensions": cmd.dimensions,
            "route": cmd.route.as_dict(),
        }
    }


def _pack(vectors: list[list[float]]) -> list[str]:
    return [base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() for v in vectors]


def _unpack(packed: list[str]) -> list[list[float]]:
    vectors = []
    for item in packed:
        raw = base64.b64decode(item)
        vectors.append(list(struct.unpack(f"<{len(raw) // 4}f", raw)))
    return vectors


async def embedding_create(cmd: EmbeddingCommand) -> EmbeddingResult:
    """Answer one embeddings request: from the cache, or from the best providers of the model."""
    request_started()
    try:
        return await _embedding_create(cmd)
    finally:
        request_finished()


async def _embedding_create(cmd: EmbeddingCommand) -> EmbeddingResult:
    catalogue = await catalogue_current()
    cmd = resolve_model_name(cmd, catalogue)  # type: ignore[arg-type]
    view = await routing_view(list(catalogue.providers))
    plan = _plan(cmd, catalogue, view)  # raises MODEL_NOT_FOUND before any cache or call
    estimates = cmd.token_estimates()
    _check_inputs(cmd, plan, estimates)
    router = _EmbeddingRouter(cmd, catalogue, view, plan=plan)  # type: ignore[arg-type]
    key = cache_key(_cache_payload(cmd))

    if cmd.cache_read:
        cached = await response_cache_get(key)
        if cached is not None:
            usage = Usage.from_dict(cached["usage"])
            result = EmbeddingResult(
                vectors=_unpack(cached["vectors"]),
                model=cached["model"],
                provider=cached["provider"],
                usage=usage,
                cost_usd=Decimal("0"),
                latency_ms=router.elapsed_ms(),
                attempts=[],
                cache_hit=True,
                usage_estimated=bool(cached.get("usage_estimated")),
            )
            await _record_usage(
                cmd,  # type: ignore[arg-type]
                status="cache_hit",
                provider=cached.get("provider_name", result.provider),
                model=result.model,
                usage=usage,
                latency_ms=result.latency_ms,
                attempts=0,
            )
            return result

    vectors: list[list[float] | None] = [None] * len(cmd.inputs)
    usage = Usage()
    cost = Decimal("0")
    estimated = False
    async for option, state, template in router.options():
        started = time.monotonic()
        tally = _Tally()
        try:
            await _run_option(router, option, state, template, vectors, estimates, tally)
        except _Stop as stopped:
            raise await router.refused(option, stopped.error) from None
        except _Next:
            # What it did embed is kept (same model or same space) and paid for; the rest moves on.
            usage.prompt_tokens += tally.usage.prompt_tokens
            cost += _cost(option, tally.usage)
            estimated = estimated or tally.estimated
            continue
        latency_ms = (time.monotonic() - started) * 1000
        router.attempts.append(Attempt(option.provider.name, option.model.name, None, "", latency_ms))
        await _note_success(option, state, latency_ms)
        usage.prompt_tokens += tally.usage.prompt_tokens
        cost += _cost(option, tally.usage)
        estimated = estimated or tally.estimated
        return await _answered(cmd, router, option, vectors, usage, cost, estimated, key)
    raise await router.failed()


async def _answered(cmd, router, option: _Option, vectors, usage: Usage, cost: Decimal, estimated, key):
    result = EmbeddingResult(
        vectors=vectors,
        model=option.model.name,
        provider=option.provider.display_name,
        usage=usage,
        cost_usd=cost,
        latency_ms=router.elapsed_ms(),
        attempts=router.attempts,
        cache_hit=False,
        usage_estimated=estimated,
    )
    if cmd.cache_write and sum(len(v) for v in vectors) <= CACHE_MAX_FLOATS:
        await response_cache_set(
            key,
            {
                "vectors": _pack(vectors),
                "model": result.model,
                "provider": result.provider,
                "provider_name": option.provider.name,
                "usage": usage.as_dict(nonzero=True),
                "usage_estimated": estimated,
            },
        )
    await _record_usage(
        cmd,
        status="success",
        provider=option.provider.name,
        model=option.model.name,
        usage=usage,
        cost=cost,
        latency_ms=result.latency_ms,
        attempts=len(router.attempts),
        attempt_list=router.attempts,
    )
    return result
