"""Per-key admission and charging: allowed models, monthly budget, requests and tokens per minute.

The completion views call:

- `access_admit(key=..., model_names=..., estimated_tokens=..., reserve_tokens=..., reserve_cost_usd=...)`
  before routing: raises the API error (403 `MODEL_NOT_ALLOWED`, 402 `BUDGET_EXCEEDED`, 429
  `RATE_LIMITED`) or returns the `X-RateLimit-*` headers and a `Reservation`. It counts the request
  and reserves the request's worst case (prompt estimate plus the most it may generate, at the
  model's prices): the tokens in the minute's window, the cost as a hold beside the month's spend.
- `access_settle(reservation, tokens=..., cost_usd=...)` when the request ends, whatever the ending
  (answer, error, a stream the client left): replaces the reservation with the real amounts.
- `access_charge(key=..., tokens=..., cost_usd=...)`: a charge with nothing reserved.

Why reserve: limits checked before the call and charged after let 50 concurrent requests on a key
with USD 0.01 left all in. With reservations a request is admitted only while the month's spend plus
the holds of requests in flight is under the budget (and the minute's tokens, reservations included,
under the tokens per minute), so concurrent requests overshoot by at most one request's reservation.
A hold expires after ACCESS_RESERVATION_TTL_S, so a worker that dies mid-request frees it.

The counters live in shared state, so every worker and host agrees (`access.counters`: one atomic
step to admit and one to settle per request). When the month's spend counter is missing for a key
with a budget (new month, Redis flushed) it is rebuilt once, fleet-wide, from the spend source that
`analytics` registers with `access_spend_source_register` (access does not import analytics).
Without a registered source the counter is authoritative and starts at zero.

If shared state is unreachable the request is admitted and charging is skipped (logged): a Redis
outage must not take the gateway down with it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

import structlog
from asgiref.sync import sync_to_async
from django.conf import settings
from redis.exceptions import RedisError

from access.counters import (
    SPEND_TTL_S,
    Ask,
    Verdict,
    Window,
    counters_admit,
    counters_settle,
    rebuilt_key,
    spend_key,
)
from access.errors import permission_denied
from access.types import ClientKey
from core.errors import ApiError
from core.shared_state import shared_state

logger = structlog.get_logger(__name__)

# (key_id, since, until) -> the key's spend in [since, until), read from the usage records.
SpendSource = Callable[..., Decimal]
_spend_source: SpendSource | None = None


def now_s() -> float:
    """Wall-clock seconds; every worker must agree on the minute (tests freeze this)."""
    return time.time()


@dataclass
class Reservation:
    """What an admitted request holds until it is settled: `tokens` in the minute's window of its
    admission (only for a key with a tokens-per-minute limit) and `cost` as a hold on the month's
    budget (only for a key with a budget)."""

    key: ClientKey
    window_index: int
    tokens: int = 0
    cost: Decimal = Decimal(0)
    hold: str = ""
    settled: bool = False


@dataclass(frozen=True)
class Admission:
    """An admitted request: the rate-limit headers to put on its response, and its reservation."""

    headers: dict[str, str]
    reservation: Reservation | None = None


def _rate_limit_headers(key: ClientKey, verdict: Verdict, window: Window) -> dict[str, str]:
    headers: dict[str, str] = {}
    if key.rpm_limit is not None:
        headers["X-RateLimit-Limit"] = str(key.rpm_limit)
        headers["X-RateLimit-Remaining"] = str(max(0, key.rpm_limit - verdict.requests))
    if key.tpm_limit is not None:
        headers["X-RateLimit-Limit-Tokens"] = str(key.tpm_limit)
        headers["X-RateLimit-Remaining-Tokens"] = str(max(0, key.tpm_limit - verdict.tokens))
    if headers:
        headers["X-RateLimit-Reset"] = str(window.reset_s)
    return headers


def _refusal(key: ClientKey, verdict: Verdict, window: Window, estimated: int) -> ApiError:
    if verdict.outcome == "budget":
        return ApiError(
            f"The monthly budget of this API key (USD {key.monthly_budget_usd}) is spent.",
            status_code=402,
            error_code="BUDGET_EXCEEDED",
            context={
                "budget": str(key.monthly_budget_usd),
                "spent": str(verdict.spend.quantize(Decimal("0.000001"))),
                "month": window.month,
                "resets_at": window.month_end.isoformat(),
            },
        )
    headers = {**_rate_limit_headers(key, verdict, window), "Retry-After": str(window.reset_s)}
    if verdict.outcome == "rpm":
        headers["X-RateLimit-Remaining"] = "0"
        return ApiError(
            f"Rate limit of {key.rpm_limit} requests per minute reached; retry in {window.reset_s} s.",
            status_code=429,
            error_code="RATE_LIMITED",
            context={"limit": "requests_per_minute", "limit_value": key.rpm_limit,
                     "retry_after_s": window.reset_s},
            headers=headers,
        )
    return ApiError(
        f"Rate limit of {key.tpm_limit} tokens per minute reached ({verdict.tokens} used, about "
        f"{estimated} more requested); retry in {window.reset_s} s.",
        status_code=429,
        error_code="RATE_LIMITED",
        context={"limit": "tokens_per_minute", "limit_value": key.tpm_limit, "used": verdict.tokens,
                 "estimated": estimated, "retry_after_s": window.reset_s},
        headers=headers,
    )


async def access_admit(
    *,
    key: ClientKey,
    model_names: set[str],
    estimated_tokens: int,
    reserve_tokens: int | None = None,
    reserve_cost_usd: Decimal | None = None,
) -> Admission:
    """Admit one request for `key`, or raise the `ApiError` to answer with.

    `model_names`: the requested model and its catalogue aliases; a key restricted to some models
    is admitted when any of them is allowed (403 `MODEL_NOT_ALLOWED` otherwise, also for an empty
    set). `estimated_tokens`: prompt plus expected completion; refused (429) when the minute's tokens
    plus this estimate exceed the key's tokens per minute; a request larger than the whole limit
    still gets into an empty window, so it can never be starved forever. Order: model (403), budget
    (402), requests per minute (429, counts this request), tokens per minute (429). A refused
    request uses no quota.

    `reserve_tokens` / `reserve_cost_usd`: the request's worst case. When given, the tokens are
    counted in the window (and checked instead of the estimate when larger) and the cost is held
    against the budget until `access_settle`; a key is over budget when its spend plus the holds of
    its requests in flight reach the budget. Without them nothing is reserved (charge afterwards
    with `access_charge`).
    """
    _model_check(key, model_names)
    if key.rpm_limit is None and key.tpm_limit is None and key.monthly_budget_usd is None:
        return Admission(headers={})  # nothing to count: no shared state on this request's path
    ask = _ask_for(
        key, now=now_s(), estimated_tokens=estimated_tokens, reserve_tokens=reserve_tokens,
        reserve_cost_usd=reserve_cost_usd,
    )
    window = ask.window
    try:
        verdict = await counters_admit(ask)
        if verdict.outcome == "rebuild":
            await _spend_rebuild_from_source(key_id=key.id, window=window)
            verdict = await counters_admit(replace(ask, want_rebuild=False))
    except (RedisError, OSError) as exc:
        logger.error("access_limits_unavailable", error=str(exc), client_key=key.name)
        return Admission(headers={}, reservation=Reservation(key=key, window_index=window.index))
    if verdict.outcome != "ok":
        raise _refusal(key, verdict, window, ask.estimated)
    reservation = Reservation(
        key=key, window_index=window.index, tokens=ask.reserve_tokens, cost=_hold_cost(ask.hold),
        hold=ask.hold,
    )
    return Admission(headers=_rate_limit_headers(key, verdict, window), reservation=reservation)


def _model_check(key: ClientKey, model_names: set[str]) -> None:
    if not key.allows_model(model_names):
        raise permission_denied(
            f"This API key may not use {' / '.join(sorted(model_names)) or 'this model'}.",
            error_code="MODEL_NOT_ALLOWED",
            requested=sorted(model_names),
            allowed_models=list(key.allowed_models),
        )


def _ask_for(
    key: ClientKey, *, now: float, estimated_tokens: int, reserve_tokens: int | None,
    reserve_cost_usd: Decimal | None,
) -> Ask:
    """What to check and reserve: only what a limit of the key reads."""
    reserve = max(0, int(reserve_tokens or 0)) if key.tpm_limit is not None else 0
    hold_cost = max(Decimal(0), Decimal(reserve_cost_usd or 0)) if key.monthly_budget_usd is not None else 0
    hold_ttl_s = int(settings.ACCESS_RESERVATION_TTL_S)
    return Ask(
        key=key,
        window=Window.at(now),
        now=now,
        estimated=max(0, int(estimated_tokens), reserve),
        reserve_tokens=reserve,
        hold=f"{uuid.uuid4().hex}:{hold_cost}" if hold_cost else "",
        hold_expires=now + hold_ttl_s,
        hold_ttl_s=hold_ttl_s,
        want_rebuild=key.monthly_budget_usd is not None and _spend_source is not None,
    )


def _hold_cost(hold: str) -> Decimal:
    return Decimal(hold.rpartition(":")[2]) if hold else Decimal(0)


async def access_settle(reservation: Reservation, *, tokens: int, cost_usd: Decimal) -> None:
    """End a reservation: the request's real tokens and cost replace what it reserved. Idempotent
    (a second call does nothing); never raises (a shared-state failure is logged, and the holds
    expire on their own)."""
    if reservation.settled:
        return
    reservation.settled = True
    key = reservation.key
    # Only what a limit reads is counted: tokens for a tokens-per-minute limit, cost for a budget
    # (a budget set later rebuilds the month from the usage records, see `access_spend_source_register`).
    tokens = max(0, int(tokens)) if key.tpm_limit is not None else 0
    cost = max(Decimal(0), Decimal(cost_usd or 0)) if key.monthly_budget_usd is not None else Decimal(0)
    if not tokens and not cost and not reservation.tokens and not reservation.hold:
        return
    try:
        await counters_settle(
            key_id=key.id, reserved_index=reservation.window_index, reserved_tokens=reservation.tokens,
            hold=reservation.hold, window=Window.at(now_s()), tokens=tokens, cost=cost,
        )
    except (RedisError, OSError) as exc:
        logger.error("access_charge_failed", error=str(exc), client_key=reservation.key.name, tokens=tokens,
                     cost_usd=str(cost))


async def access_charge(*, key: ClientKey, tokens: int, cost_usd: Decimal) -> None:
    """Charge a request that reserved nothing: its real tokens to the current minute, its cost to
    the month."""
    reservation = Reservation(key=key, window_index=Window.at(now_s()).index)
    await access_settle(reservation, tokens=tokens, cost_usd=cost_usd)


async def access_spend_get(*, key_id: int, month: str | None = None) -> Decimal:
    """The spend counted for a key in a month (`YYYY-MM`, default: this UTC month)."""
    month = month or Window.at(now_s()).month
    value = await shared_state().get(spend_key(key_id, month))
    return Decimal(value or "0")


async def access_spend_rebuild(*, key_id: int, month: str, amount: Decimal) -> None:
    """Replace a key's spend for `month` (`YYYY-MM`) with an authoritative amount, e.g. the sum of
    its usage records after Redis lost the counter; marks the month as rebuilt."""
    datetime.strptime(month, "%Y-%m")  # ValueError on anything else
    state = shared_state()
    await state.set(spend_key(key_id, month), str(Decimal(amount)), ttl_s=SPEND_TTL_S)
    await state.set(rebuilt_key(key_id, month), "1", ttl_s=SPEND_TTL_S)


def access_spend_source_register(source: SpendSource | None) -> None:
    """Register where a missing month's spend is read from (analytics, at start-up).

    `source(key_id=int, since=datetime, until=datetime) -> Decimal` is sync (it queries the
    database) and returns the key's cost in [since, until). It is called at most once per key and
    month fleet-wide, when the counter is missing and the key has a budget. None unregisters.
    """
    global _spend_source
    _spend_source = source


async def _spend_rebuild_from_source(*, key_id: int, window: Window) -> None:
    state = shared_state()
    source = _spend_source
    flag = rebuilt_key(key_id, window.month)
    if source is None or not await state.set(flag, "1", ttl_s=SPEND_TTL_S, only_new=True):
        return  # another request (or worker) is rebuilding or has rebuilt it
    try:
        amount = await sync_to_async(source)(key_id=key_id, since=window.month_start, until=window.month_end)
    except Exception as exc:  # the source is someone else's code; a failure must not refuse requests
        logger.exception("access_spend_rebuild_failed", api_key_id=key_id, error=str(exc))
        await state.delete(flag)
        return
    # Added, not set: charges that landed while the source was read are kept. Even zero creates the
    # counter, so the month is not rebuilt again.
    await state.incr_float(spend_key(key_id, window.month), float(amount or 0), ttl_s=SPEND_TTL_S)
    logger.info("access_spend_rebuilt", api_key_id=key_id, month=window.month, amount_usd=str(amount))
