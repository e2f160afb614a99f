"""embedding_create: the one place an embeddings request is routed.

The plan is `routing.embedding_plan`'s, walked with the chat router (`routing.attempts.Router`):
the same deadline, breaker, retries, failover rules and bookkeeping. A request larger than a
provider takes in one call (`max_batch` inputs, `max_batch_tokens` tokens) is split into several
calls, run a few at a time, and the vectors reassembled in input order; if a provider fails
part-way, only the missing inputs go to the next candidate. Cache, usage records and cost are those
of chat.
"""

from __future__ import annotations

import asyncio
import base64
import struct
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import structlog

from analytics.metrics import request_finished, request_started
from core.errors import ApiError
from providers.adapters.messages import EmbeddingRequest
from providers.adapters.results import EmbeddingResponse, Usage
from providers.catalogue import catalogue_current
from providers.clients import provider_adapter
from routing import breaker
from routing.attempts import Refused, Router, candidate_call
from routing.bookkeeping import provider_success_note
from routing.cache import cache_key, response_cache_get, response_cache_set
from routing.completion_cache import cache_namespace
from routing.deadlines import answer_within
from routing.embedding_plan import (
    EmbeddingCommand,
    EmbeddingResult,
    batches,
    embedding_inputs_check,
    embedding_plan,
)
from routing.outcome import completion_failed, completion_refused, outcome_build, outcome_record
from routing.planning import Option, option_cost, resolve_model_name
from routing.state import routing_view

logger = structlog.get_logger(__name__)

# Batches of one request sent to a provider at the same time.
BATCH_CONCURRENCY = 4
# Larger answers (floats in all) are not written to the response cache.
CACHE_MAX_FLOATS = 262_144
FEATURE_EMBEDDINGS = "embeddings"
FEATURE_TOKEN_ARRAYS = "input (token arrays)"
FEATURE_DIMENSIONS = "dimensions"


class EmbeddingRouter(Router):
    """The chat router over an embeddings plan; a candidate is usable when its protocol embeds
    (and takes token arrays or `dimensions` when the request has them)."""

    def request_for(self, option: Option) -> EmbeddingRequest | None:
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


class _Next(Exception):
    """A batch failed for good on this candidate: the missing inputs go to the next one."""


@dataclass
class _Tally:
    """What one candidate embedded: its usage (an estimate when the provider gave none)."""

    usage: Usage = field(default_factory=Usage)
    estimated: bool = False


@dataclass
class _OptionRun:
    """One candidate's share of the request: the inputs still missing, a few batches at a time."""

    router: EmbeddingRouter
    option: Option
    state: breaker.BreakerState
    template: EmbeddingRequest
    vectors: list[list[float] | None]
    tally: _Tally = field(default_factory=_Tally)

    async def embed(self, estimates: list[int]) -> None:
        """Embed every missing input, filling `vectors` and `tally`; raises Refused (client error)
        or _Next (this candidate failed for good)."""
        adapter = provider_adapter(self.option.provider)
        missing = [i for i, v in enumerate(self.vectors) if v is None]
        gate = asyncio.Semaphore(BATCH_CONCURRENCY)
        try:
            async with asyncio.TaskGroup() as group:
                for indices in batches(missing, estimates, adapter.max_batch, adapter.max_batch_tokens):
                    group.create_task(self._batch(adapter, indices, gate))
        except BaseExceptionGroup as failed:
            refusals = [e for e in failed.exceptions if isinstance(e, Refused)]
            if refusals:
                raise refusals[0] from None
            if all(isinstance(e, _Next) for e in failed.exceptions):
                raise _Next from None
            raise

    async def _batch(self, adapter, indices: list[int], gate: asyncio.Semaphore) -> None:
        cmd, option = self.router.cmd, self.option
        request = replace(self.template, inputs=[_wire_input(cmd.inputs[i]) for i in indices])

        def call():
            # A hang gives up once its provider's circuit opens (routing.deadlines): the batch
            # moves to the next candidate instead of waiting out the provider timeout.
            return answer_within(
                adapter.embed(request, timeout=self.router.timeout_for(option)),
                provider=option.provider.name,
                state=self.state,
                timeout_s=None,
                waiting_for="embeddings",
            )

        async with gate:
            answered = await candidate_call(self.router, option, self.state, call)
        if answered is None:
            raise _Next
        response: EmbeddingResponse = answered[0]
        if cmd.dimensions is not None and any(len(v) != cmd.dimensions for v in response.vectors):
            raise _Next  # a provider that ignored `dimensions`: its vectors are not what was asked
        for index, vector in zip(indices, response.vectors, strict=True):
            self.vectors[index] = vector
        self.tally.usage.prompt_tokens += response.usage.prompt_tokens
        self.tally.estimated = self.tally.estimated or response.usage_estimated


def _wire_input(item: str | tuple[int, ...]) -> str | list[int]:
    return item if isinstance(item, str) else list(item)


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
    cmd = resolve_model_name(cmd, catalogue)
    view = await routing_view(list(catalogue.providers))
    plan = embedding_plan(cmd, catalogue, view)  # raises MODEL_NOT_FOUND before any cache or call
    estimates = cmd.token_estimates()
    embedding_inputs_check(cmd, plan, estimates)
    router = EmbeddingRouter(cmd, catalogue, view, plan=plan)  # type: ignore[arg-type]
    key = cache_key(_cache_payload(cmd))
    if cmd.cache_read:
        cached = await response_cache_get(key)
        if cached is not None:
            return await _cache_hit(router, cached)

    vectors: list[list[float] | None] = [None] * len(cmd.inputs)
    spent = _Tally()
    cost = Decimal("0")
    async for option, state, template in router.options():
        started = time.monotonic()
        run = _OptionRun(router, option, state, template, vectors)
        failed = False
        try:
            await run.embed(estimates)
        except Refused as refused:
            raise await completion_refused(router, refused.option, refused.error) from None
        except _Next:
            failed = True
        latency_ms = (time.monotonic() - started) * 1000
        # What a candidate did embed is kept (same model or same space) and paid for, even when
        # the rest moves on to the next candidate.
        spent.usage.prompt_tokens += run.tally.usage.prompt_tokens
        spent.estimated = spent.estimated or run.tally.estimated
        cost += option_cost(option, run.tally.usage)
        if failed:
            continue
        router.answered(option, latency_ms)
        await provider_success_note(option, state, latency_ms)
        return await _answered(router, option, vectors, spent, cost, key)
    raise await completion_failed(router)


async def _cache_hit(router: EmbeddingRouter, cached: dict[str, Any]) -> EmbeddingResult:
    result = EmbeddingResult(
        vectors=_unpack(cached["vectors"]),
        model=cached["model"],
        provider=cached["provider"],
        usage=Usage.from_dict(cached["usage"]),
        cost_usd=Decimal("0"),
        latency_ms=router.elapsed_ms(),
        attempts=[],
        cache_hit=True,
        usage_estimated=bool(cached.get("usage_estimated")),
    )
    outcome = outcome_build(
        router.cmd,
        status="cache_hit",
        provider=cached.get("provider_name", result.provider),
        model=result.model,
        usage=result.usage,
        latency_ms=result.latency_ms,
        attempts=[],
    )
    await outcome_record(router.cmd, outcome)
    return result


async def _answered(
    router: EmbeddingRouter, option: Option, vectors: list, spent: _Tally, cost: Decimal, key: str
) -> EmbeddingResult:
    cmd = router.cmd
    result = EmbeddingResult(
        vectors=vectors,
        model=option.model.name,
        provider=option.provider.display_name,
        usage=spent.usage,
        cost_usd=cost,
        latency_ms=router.elapsed_ms(),
        attempts=router.attempts,
        cache_hit=False,
        usage_estimated=spent.estimated,
    )
    if cmd.cache_write and sum(len(v) for v in vectors) <= CACHE_MAX_FLOATS:
        await response_cache_set(
            key,
            {
                "vectors": _pack(vectors),
                "model": result.model,
                "provider": result.provider,
                "provider_name": option.provider.name,
                "usage": spent.usage.as_dict(nonzero=True),
                "usage_estimated": spent.estimated,
            },
        )
    outcome = outcome_build(
        cmd,
        status="success",
        option=option,
        usage=spent.usage,
        cost=cost,
        latency_ms=result.latency_ms,
        attempts=router.attempts,
    )
    await outcome_record(cmd, outcome)
    return result
