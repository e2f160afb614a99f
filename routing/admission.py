"""A client key's request from admission to its answer: the key's model list, budget and rate
limits (with the worst case held against them until routing records the request), then the routing
call. An error the call raises carries the key's rate-limit headers, and frees the reservation if
routing ended before recording the request (settling is idempotent)."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Generic, TypeVar

from access.limits import Reservation, access_admit, access_settle
from access.types import ClientKey
from core.errors import ApiError
from providers.catalogue import catalogue_current
from routing.commands import CompletionCommand
from routing.completions import CompletionResult
from routing.embedding_plan import EmbeddingCommand, EmbeddingResult, embedding_reservation
from routing.embeddings import embedding_create
from routing.reservation import completion_reservation, prompt_tokens_estimate
from routing.services import completion_create, completion_stream
from routing.streams import CompletionStream

T = TypeVar("T")


@dataclass
class Admitted(Generic[T]):
    """What routing answered an admitted request with, and the key's rate-limit headers to send."""

    answer: T
    limit_headers: dict[str, str]


async def completion_admit(
    *, key: ClientKey, cmd: CompletionCommand, reserve: bool = True
) -> tuple[CompletionCommand, dict[str, str]]:
    """Per-key model list, budget and rate limits. Returns the command carrying its reservation
    (the worst case held against the key's budget and tokens per minute until routing records the
    request) and the rate-limit headers to send. `reserve=False` for calls that use no tokens."""
    catalogue = await catalogue_current()
    reserve_tokens, reserve_cost = 0, Decimal(0)
    if reserve and (key.tpm_limit is not None or key.monthly_budget_usd is not None):
        reserve_tokens, reserve_cost = await completion_reservation(cmd)
    # The reservation already counts the prompt; the estimate alone is for a call reserving nothing.
    estimated = 0
    if key.tpm_limit is not None and not reserve_tokens:
        estimated = prompt_tokens_estimate(cmd.messages, cmd.tools)
    admission = await access_admit(
        key=key,
        model_names=catalogue.public_names_of(cmd.model),
        estimated_tokens=estimated,
        reserve_tokens=reserve_tokens,
        reserve_cost_usd=reserve_cost,
    )
    return replace(cmd, reservation=admission.reservation if reserve else None), admission.headers


async def _admitted(call: Awaitable[T], limit_headers: dict[str, str], reservation: Reservation | None) -> T:
    try:
        return await call
    except BaseException as error:
        if reservation is not None:
            await access_settle(reservation, tokens=0, cost_usd=Decimal(0))
        if isinstance(error, ApiError):
            error.headers = {**limit_headers, **error.headers}
        raise


async def completion_answer(*, key: ClientKey, cmd: CompletionCommand) -> Admitted[CompletionResult]:
    """Admit a completion and answer it."""
    cmd, limit_headers = await completion_admit(key=key, cmd=cmd)
    result = await _admitted(completion_create(cmd), limit_headers, cmd.reservation)
    return Admitted(result, limit_headers)


async def completion_stream_answer(*, key: ClientKey, cmd: CompletionCommand) -> Admitted[CompletionStream]:
    """Admit a completion and open its stream (its first chunk has arrived)."""
    cmd, limit_headers = await completion_admit(key=key, cmd=cmd)
    stream = await _admitted(completion_stream(cmd), limit_headers, cmd.reservation)
    return Admitted(stream, limit_headers)


async def embedding_answer(*, key: ClientKey, cmd: EmbeddingCommand) -> Admitted[EmbeddingResult]:
    """Admit an embeddings request (its estimated tokens held on the dearest candidate) and answer it."""
    catalogue = await catalogue_current()
    reserve_tokens, reserve_cost = await embedding_reservation(cmd)
    admission = await access_admit(
        key=key,
        model_names=catalogue.public_names_of(cmd.model),
        estimated_tokens=reserve_tokens,
        reserve_tokens=reserve_tokens,
        reserve_cost_usd=reserve_cost,
    )
    cmd = replace(cmd, reservation=admission.reservation)
    result = await _admitted(embedding_create(cmd), admission.headers, cmd.reservation)
    return Admitted(result, admission.headers)
