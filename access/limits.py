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

Counters live in shared state, so every worker and host agrees: one Lua script call (admit) and one
pipeline (settle) per request on Redis, the same logic on the in-process store without Redis.

Windows are fixed 60-second windows aligned to the UTC minute. The month's spend is kept under
`access:spend:<key id>:<YYYY-MM>` (kept 40 days). When that counter is missing for a key with a
budget (new month, Redis flushed) it is rebuilt once, fleet-wide, from the spend source that
`analytics` registers with `access_spend_source_register` (access does not import analytics).
Without a registered source the counter is authoritative and starts at zero.

If shared state is unreachable the request is admitted and charging is skipped (logged): a Redis
outage must not take the gateway down with it.
"""

from __future__ import annotations

import math
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

import structlog
from asgiref.sync import sync_to_async
from django.conf import settings
from redis.exceptions import RedisError

from access.errors import permission_denied
from access.types import ClientKey
from core.errors import ApiError
from core.shared_state import KEY_PREFIX, RedisState, SharedState, shared_state

logger = structlog.get_logger(__name__)

WINDOW_S = 60
WINDOW_TTL_S = 2 * WINDOW_S
SPEND_TTL_S = 40 * 24 * 3600

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


@dataclass(frozen=True)
class _Window:
    index: int
    reset_s: int
    month: str
    month_start: datetime
    month_end: datetime

    @classmethod
    def at(cls, now: float) -> _Window:
        index = int(now // WINDOW_S)
        moment = datetime.fromtimestamp(now, tz=UTC)
        month_start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        if month_start.month == 12:
            month_end = month_start.replace(year=month_start.year + 1, month=1)
        else:
            month_end = month_start.replace(month=month_start.month + 1)
        return cls(
            index=index,
            reset_s=max(1, math.ceil((index + 1) * WINDOW_S - now)),
            month=f"{month_start:%Y-%m}",
            month_start=month_start,
            month_end=month_end,
        )


def _rpm_key(key_id: int, window: _Window) -> str:
    return f"access:rpm:{key_id}:{window.index}"


def _tpm_key(key_id: int, window: _Window) -> str:
    return _tpm_key_at(key_id, window.index)


def _tpm_key_at(key_id: int, index: int) -> str:
    return f"access:tpm:{key_id}:{index}"


def _spend_key(key_id: int, month: str) -> str:
    return f"access:spend:{key_id}:{month}"


def _rebuilt_key(key_id: int, month: str) -> str:
    return f"access:spend-rebuilt:{key_id}:{month}"


def _held_key(key_id: int) -> str:
    """Holds of requests in flight: member `<id>:<usd>`, score the moment the hold expires."""
    return f"access:held:{key_id}"


def _hold_amount(member: str) -> Decimal:
    return Decimal(member.rpartition(":")[2])


@dataclass(frozen=True)
class _Verdict:
    outcome: str  # "ok", "budget", "rpm", "tpm" or "rebuild" (the spend counter is missing)
    requests: int  # requests in the window, this one included when admitted
    tokens: int  # tokens charged (and reserved) in the window so far, before this request
    spend: Decimal
    held: Decimal = Decimal(0)  # holds of other requests in flight


# KEYS: rpm window, tpm window, month spend, holds. ARGV: rpm, tpm, estimated tokens, budget (-1:
# none), "1" to report a missing spend counter, window ttl, tokens to reserve, now, the hold's member
# (empty: no hold), its expiry, the holds' ttl. Checks everything first, then counts the request and
# reserves only if it is admitted: a refused request uses no quota. Numbers that may be fractional
# come back as strings (Lua numbers are truncated to integers on the way out).
_ADMIT_LUA = """
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local estimated = tonumber(ARGV[3])
local budget = tonumber(ARGV[4])
local reserve = tonumber(ARGV[7])
local requests = tonumber(redis.call('GET', KEYS[1]) or '0')
local tokens = tonumber(redis.call('GET', KEYS[2]) or '0')
local spend = redis.call('GET', KEYS[3])
local held = 0
if budget >= 0 then
  if not spend and ARGV[5] == '1' then return {'rebuild', requests, tokens, '0', '0'} end
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[8])
  for _, member in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
    held = held + tonumber(string.match(member, ':([^:]+)$'))
  end
  if tonumber(spend or '0') + held >= budget then
    return {'budget', requests, tokens, spend or '0', tostring(held)}
  end
end
spend = spend or '0'
if rpm >= 0 and requests >= rpm then return {'rpm', requests, tokens, spend, tostring(held)} end
if tpm >= 0 and (tokens >= tpm or (tokens > 0 and tokens + estimated > tpm)) then
  return {'tpm', requests, tokens, spend, tostring(held)}
end
requests = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]), 'NX')
if reserve > 0 then
  redis.call('INCRBY', KEYS[2], reserve)
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[6]), 'NX')
end
if ARGV[9] ~= '' then
  redis.call('ZADD', KEYS[4], tonumber(ARGV[10]), ARGV[9])
  redis.call('EXPIRE', KEYS[4], tonumber(ARGV[11]))
end
return {'ok', requests, tokens, spend, tostring(held)}
"""


def _judge(
    *, key: ClientKey, requests: int, tokens: int, spend: str | None, held: Decimal, estimated: int,
    want_rebuild: bool,
) -> str:
    """The in-process twin of `_ADMIT_LUA` (before the request is counted)."""
    if key.monthly_budget_usd is not None:
        if spend is None and want_rebuild:
            return "rebuild"
        if Decimal(spend or "0") + held >= key.monthly_budget_usd:
            return "budget"
    if key.rpm_limit is not None and requests >= key.rpm_limit:
        return "rpm"
    tpm = key.tpm_limit
    if tpm is not None and (tokens >= tpm or (tokens > 0 and tokens + estimated > tpm)):
        return "tpm"
    return "ok"


@dataclass(frozen=True)
class _Ask:
    """One admission's inputs."""

    key: ClientKey
    window: _Window
    estimated: int  # checked against the tokens per minute
    reserve_tokens: int  # counted in the window when admitted
    hold: str  # the hold's member on the budget ("" for none)
    hold_expires: float
    want_rebuild: bool


class _RedisCounters:
    """One script call to admit, one pipeline to settle."""

    _scripts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __init__(self, client) -> None:
        self._client = client
        script = self._scripts.get(client)
        if script is None:
            script = self._scripts[client] = client.register_script(_ADMIT_LUA)
        self._admit_script = script

    async def admit(self, ask: _Ask) -> _Verdict:
        key, window = ask.key, ask.window
        budget = key.monthly_budget_usd
        outcome, requests, tokens, spend, held = await self._admit_script(
            keys=[
                KEY_PREFIX + _rpm_key(key.id, window),
                KEY_PREFIX + _tpm_key(key.id, window),
                KEY_PREFIX + _spend_key(key.id, window.month),
                KEY_PREFIX + _held_key(key.id),
            ],
            args=[
                -1 if key.rpm_limit is None else key.rpm_limit,
                -1 if key.tpm_limit is None else key.tpm_limit,
                ask.estimated,
                -1 if budget is None else str(budget),
                "1" if ask.want_rebuild else "0",
                WINDOW_TTL_S,
                ask.reserve_tokens,
                now_s(),
                ask.hold,
                ask.hold_expires,
                _hold_ttl_s(),
            ],
        )
        return _Verdict(
            outcome=outcome, requests=int(requests), tokens=int(tokens), spend=Decimal(spend),
            held=Decimal(held),
        )

    async def settle(self, reservation: Reservation, *, window: _Window, tokens: int, cost: Decimal) -> None:
        """One pipeline: the real tokens replace the reserved ones, the real cost replaces the hold."""
        key_id = reservation.key.id
        async with self._client.pipeline(transaction=True) as pipe:
            for index, amount in _token_moves(reservation, window, tokens):
                tpm_key = KEY_PREFIX + _tpm_key_at(key_id, index)
                pipe.incrby(tpm_key, amount)
                pipe.expire(tpm_key, WINDOW_TTL_S, nx=True)
            if cost:
                spend_key = KEY_PREFIX + _spend_key(key_id, window.month)
                pipe.incrbyfloat(spend_key, float(cost))
                pipe.expire(spend_key, SPEND_TTL_S, nx=True)
            if reservation.hold:
                pipe.zrem(KEY_PREFIX + _held_key(key_id), reservation.hold)
            await pipe.execute()


class _StateCounters:
    """The same logic on any `SharedState` (the in-process store of the embedded default). The
    request is counted with an atomic increment and given back if that overshot the limit, so
    concurrent requests never admit more than the limit."""

    def __init__(self, state: SharedState) -> None:
        self._state = state

    async def admit(self, ask: _Ask) -> _Verdict:
        # The in-process store never suspends, so from the first read to the last write nothing
        # else runs on this event loop: the sequence is as atomic as the Lua script.
        key, window = ask.key, ask.window
        rpm_key, tpm_key = _rpm_key(key.id, window), _tpm_key(key.id, window)
        requests, tokens, spend = await self._state.get_many(
            [rpm_key, tpm_key, _spend_key(key.id, window.month)]
        )
        held = Decimal(0)
        if key.monthly_budget_usd is not None:
            now = now_s()
            for member, expires in (await self._state.deadlines(_held_key(key.id))).items():
                if expires <= now:
                    await self._state.remove_deadline(_held_key(key.id), member)
                else:
                    held += _hold_amount(member)
        requests_n, tokens_n = int(requests or 0), int(float(tokens or 0))
        outcome = _judge(
            key=key, requests=requests_n, tokens=tokens_n, spend=spend, held=held, estimated=ask.estimated,
            want_rebuild=ask.want_rebuild,
        )
        if outcome == "ok":
            requests_n = await self._state.incr(rpm_key, ttl_s=WINDOW_TTL_S)
            if key.rpm_limit is not None and requests_n > key.rpm_limit:
                await self._state.incr(rpm_key, -1)
                outcome, requests_n = "rpm", requests_n - 1
        if outcome == "ok":
            if ask.reserve_tokens:
                await self._state.incr(tpm_key, ask.reserve_tokens, ttl_s=WINDOW_TTL_S)
            if ask.hold:
                await self._state.extend_deadline(_held_key(key.id), ask.hold, ask.hold_expires)
        return _Verdict(
            outcome=outcome, requests=requests_n, tokens=tokens_n, spend=Decimal(spend or "0"), held=held
        )

    async def settle(self, reservation: Reservation, *, window: _Window, tokens: int, cost: Decimal) -> None:
        key_id = reservation.key.id
        for index, amount in _token_moves(reservation, window, tokens):
            await self._state.incr(_tpm_key_at(key_id, index), amount, ttl_s=WINDOW_TTL_S)
        if cost:
            await self._state.incr_float(_spend_key(key_id, window.month), float(cost), ttl_s=SPEND_TTL_S)
        if reservation.hold:
            await self._state.remove_deadline(_held_key(key_id), reservation.hold)


def _hold_ttl_s() -> int:
    return int(settings.ACCESS_RESERVATION_TTL_S)


def _token_moves(reservation: Reservation, window: _Window, tokens: int) -> list[tuple[int, int]]:
    """(window index, tokens to add): the real tokens go to the current minute, and the reserved
    ones leave the minute they were reserved in (one move when that is the same minute)."""
    if reservation.window_index == window.index:
        amount = tokens - reservation.tokens
        return [(window.index, amount)] if amount else []
    moves = [(reservation.window_index, -reservation.tokens)] if reservation.tokens else []
    return moves + ([(window.index, tokens)] if tokens else [])


def _counters(state: SharedState) -> _RedisCounters | _StateCounters:
    if isinstance(state, RedisState):
        return _RedisCounters(state.client)
    return _StateCounters(state)


def _rate_limit_headers(key: ClientKey, verdict: _Verdict, window: _Window) -> dict[str, str]:
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


def _refusal(key: ClientKey, verdict: _Verdict, window: _Window, estimated: int) -> ApiError:
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
    if not key.allows_model(model_names):
        raise permission_denied(
            f"This API key may not use {' / '.join(sorted(model_names)) or 'this model'}.",
            error_code="MODEL_NOT_ALLOWED",
            requested=sorted(model_names),
            allowed_models=list(key.allowed_models),
        )
    if key.rpm_limit is None and key.tpm_limit is None and key.monthly_budget_usd is None:
        return Admission(headers={})  # nothing to count: no shared state on this request's path
    now = now_s()
    window = _Window.at(now)
    reserve = max(0, int(reserve_tokens or 0)) if key.tpm_limit is not None else 0
    hold_cost = max(Decimal(0), Decimal(reserve_cost_usd or 0)) if key.monthly_budget_usd is not None else 0
    hold = f"{uuid.uuid4().hex}:{hold_cost}" if hold_cost else ""
    ask = _Ask(
        key=key,
        window=window,
        estimated=max(0, int(estimated_tokens), reserve),
        reserve_tokens=reserve,
        hold=hold,
        hold_expires=now + _hold_ttl_s(),
        want_rebuild=key.monthly_budget_usd is not None and _spend_source is not None,
    )
    state = shared_state()
    counters = _counters(state)
    try:
        verdict = await counters.admit(ask)
        if verdict.outcome == "rebuild":
            await _spend_rebuild_from_source(state, key_id=key.id, window=window)
            verdict = await counters.admit(replace(ask, want_rebuild=False))
    except (RedisError, OSError) as exc:
        logger.error("access_limits_unavailable", error=str(exc), client_key=key.name)
        return Admission(headers={}, reservation=Reservation(key=key, window_index=window.index))
    if verdict.outcome != "ok":
        raise _refusal(key, verdict, window, ask.estimated)
    reservation = Reservation(
        key=key, window_index=window.index, tokens=reserve, cost=Decimal(hold_cost), hold=hold
    )
    return Admission(headers=_rate_limit_headers(key, verdict, window), reservation=reservation)


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
        await _counters(shared_state()).settle(
            reservation, window=_Window.at(now_s()), tokens=tokens, cost=cost
        )
    except (RedisError, OSError) as exc:
        logger.error("access_charge_failed", error=str(exc), client_key=reservation.key.name, tokens=tokens,
                     cost_usd=str(cost))


async def access_charge(*, key: ClientKey, tokens: int, cost_usd: Decimal) -> None:
    """Charge a request that reserved nothing: its real tokens to the current minute, its cost to
    the month."""
    reservation = Reservation(key=key, window_index=_Window.at(now_s()).index)
    await access_settle(reservation, tokens=tokens, cost_usd=cost_usd)


async def access_spend_get(*, key_id: int, month: str | None = None) -> Decimal:
    """The spend counted for a key in a month (`YYYY-MM`, default: this UTC month)."""
    month = month or _Window.at(now_s()).month
    value = await shared_state().get(_spend_key(key_id, month))
    return Decimal(value or "0")


async def access_spend_rebuild(*, key_id: int, month: str, amount: Decimal) -> None:
    """Replace a key's spend for `month` (`YYYY-MM`) with an authoritative amount, e.g. the sum of
    its usage records after Redis lost the counter; marks the month as rebuilt."""
    datetime.strptime(month, "%Y-%m")  # ValueError on anything else
    state = shared_state()
    await state.set(_spend_key(key_id, month), str(Decimal(amount)), ttl_s=SPEND_TTL_S)
    await state.set(_rebuilt_key(key_id, month), "1", ttl_s=SPEND_TTL_S)


def access_spend_source_register(source: SpendSource | None) -> None:
    """Register where a missing month's spend is read from (analytics, at start-up).

    `source(key_id=int, since=datetime, until=datetime) -> Decimal` is sync (it queries the
    database) and returns the key's cost in [since, until). It is called at most once per key and
    month fleet-wide, when the counter is missing and the key has a budget. None unregisters.
    """
    global _spend_source
    _spend_source = source


async def _spend_rebuild_from_source(state: SharedState, *, key_id: int, window: _Window) -> None:
    source = _spend_source
    flag = _rebuilt_key(key_id, window.month)
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
    await state.incr_float(_spend_key(key_id, window.month), float(amount or 0), ttl_s=SPEND_TTL_S)
    logger.info("access_spend_rebuilt", api_key_id=key_id, month=window.month, amount_usd=str(amount))
