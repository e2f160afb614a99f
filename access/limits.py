"""Per-key admission and charging: allowed models, monthly budget, requests and tokens per minute.

The completion views call two coroutines:

- `access_admit(key=..., model_names=..., estimated_tokens=...)` before routing: raises the API
  error (403 `MODEL_NOT_ALLOWED`, 402 `BUDGET_EXCEEDED`, 429 `RATE_LIMITED`) or returns the
  `X-RateLimit-*` headers for the response. It counts the request; it only checks the tokens.
- `access_charge(key=..., tokens=..., cost_usd=...)` after the answer: adds the real tokens to the
  minute's window and the cost to the month's spend.

Counters live in shared state, so every worker and host agrees: one Lua script call (admit) or one
pipeline (charge) per request on Redis, the same logic on the in-process store without Redis.

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
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import structlog
from asgiref.sync import sync_to_async
from redis.exceptions import RedisError

from access.errors import permission_denied
from access.types import ClientKey
from aiprovider_site.errors import ApiError
from aiprovider_site.shared_state import KEY_PREFIX, RedisState, SharedState, shared_state

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


@dataclass(frozen=True)
class Admission:
    """An admitted request: the rate-limit headers to put on its response."""

    headers: dict[str, str]


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
    return f"access:tpm:{key_id}:{window.index}"


def _spend_key(key_id: int, month: str) -> str:
    return f"access:spend:{key_id}:{month}"


def _rebuilt_key(key_id: int, month: str) -> str:
    return f"access:spend-rebuilt:{key_id}:{month}"


@dataclass(frozen=True)
class _Verdict:
    outcome: str  # "ok", "budget", "rpm", "tpm" or "rebuild" (the spend counter is missing)
    requests: int  # requests in the window, this one included when admitted
    tokens: int  # tokens charged to the window so far
    spend: Decimal


# KEYS: rpm window, tpm window, month spend. ARGV: rpm, tpm, estimated tokens, budget (-1: none),
# "1" to report a missing spend counter, window ttl. Checks everything first, then counts the request
# only if it is admitted: a refused request uses no quota.
_ADMIT_LUA = """
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local estimated = tonumber(ARGV[3])
local budget = tonumber(ARGV[4])
local requests = tonumber(redis.call('GET', KEYS[1]) or '0')
local tokens = tonumber(redis.call('GET', KEYS[2]) or '0')
local spend = redis.call('GET', KEYS[3])
if budget >= 0 then
  if not spend and ARGV[5] == '1' then return {'rebuild', requests, tokens, '0'} end
  if tonumber(spend or '0') >= budget then return {'budget', requests, tokens, spend or '0'} end
end
spend = spend or '0'
if rpm >= 0 and requests >= rpm then return {'rpm', requests, tokens, spend} end
if tpm >= 0 and (tokens >= tpm or (tokens > 0 and tokens + estimated > tpm)) then
  return {'tpm', requests, tokens, spend}
end
requests = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]), 'NX')
return {'ok', requests, tokens, spend}
"""


def _judge(
    *, key: ClientKey, requests: int, tokens: int, spend: str | None, estimated: int, want_rebuild: bool
) -> str:
    """The in-process twin of `_ADMIT_LUA` (before the request is counted)."""
    if key.monthly_budget_usd is not None:
        if spend is None and want_rebuild:
            return "rebuild"
        if Decimal(spend or "0") >= key.monthly_budget_usd:
            return "budget"
    if key.rpm_limit is not None and requests >= key.rpm_limit:
        return "rpm"
    tpm = key.tpm_limit
    if tpm is not None and (tokens >= tpm or (tokens > 0 and tokens + estimated > tpm)):
        return "tpm"
    return "ok"


class _RedisCounters:
    """One script call to admit, one pipeline to charge."""

    _scripts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __init__(self, client) -> None:
        self._client = client
        script = self._scripts.get(client)
        if script is None:
            script = self._scripts[client] = client.register_script(_ADMIT_LUA)
        self._admit_script = script

    async def admit(
        self, *, key: ClientKey, window: _Window, estimated: int, want_rebuild: bool
    ) -> _Verdict:
        budget = key.monthly_budget_usd
        outcome, requests, tokens, spend = await self._admit_script(
            keys=[
                KEY_PREFIX + _rpm_key(key.id, window),
                KEY_PREFIX + _tpm_key(key.id, window),
                KEY_PREFIX + _spend_key(key.id, window.month),
            ],
            args=[
                -1 if key.rpm_limit is None else key.rpm_limit,
                -1 if key.tpm_limit is None else key.tpm_limit,
                estimated,
                -1 if budget is None else str(budget),
                "1" if want_rebuild else "0",
                WINDOW_TTL_S,
            ],
        )
        return _Verdict(outcome=outcome, requests=int(requests), tokens=int(tokens), spend=Decimal(spend))

    async def charge(self, *, key_id: int, window: _Window, tokens: int, cost: Decimal) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            if tokens:
                tpm_key = KEY_PREFIX + _tpm_key(key_id, window)
                pipe.incrby(tpm_key, tokens)
                pipe.expire(tpm_key, WINDOW_TTL_S, nx=True)
            if cost:
                spend_key = KEY_PREFIX + _spend_key(key_id, window.month)
                pipe.incrbyfloat(spend_key, float(cost))
                pipe.expire(spend_key, SPEND_TTL_S, nx=True)
            await pipe.execute()


class _StateCounters:
    """The same logic on any `SharedState` (the in-process store of the embedded default). The
    request is counted with an atomic increment and given back if that overshot the limit, so
    concurrent requests never admit more than the limit."""

    def __init__(self, state: SharedState) -> None:
        self._state = state

    async def admit(
        self, *, key: ClientKey, window: _Window, estimated: int, want_rebuild: bool
    ) -> _Verdict:
        rpm_key = _rpm_key(key.id, window)
        requests, tokens, spend = await self._state.get_many(
            [rpm_key, _tpm_key(key.id, window), _spend_key(key.id, window.month)]
        )
        requests_n, tokens_n = int(requests or 0), int(float(tokens or 0))
        outcome = _judge(
            key=key, requests=requests_n, tokens=tokens_n, spend=spend, estimated=estimated,
            want_rebuild=want_rebuild,
        )
        if outcome == "ok":
            requests_n = await self._state.incr(rpm_key, ttl_s=WINDOW_TTL_S)
            if key.rpm_limit is not None and requests_n > key.rpm_limit:
                await self._state.incr(rpm_key, -1)
                outcome, requests_n = "rpm", requests_n - 1
        return _Verdict(outcome=outcome, requests=requests_n, tokens=tokens_n, spend=Decimal(spend or "0"))

    async def charge(self, *, key_id: int, window: _Window, tokens: int, cost: Decimal) -> None:
        if tokens:
            await self._state.incr(_tpm_key(key_id, window), tokens, ttl_s=WINDOW_TTL_S)
        if cost:
            await self._state.incr_float(_spend_key(key_id, window.month), float(cost), ttl_s=SPEND_TTL_S)


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


async def access_admit(*, key: ClientKey, model_names: set[str], estimated_tokens: int) -> Admission:
    """Admit one request for `key`, or raise the `ApiError` to answer with.

    `model_names`: the requested model and its catalogue aliases; a key restricted to some models
    is admitted when any of them is allowed (403 `MODEL_NOT_ALLOWED` otherwise, also for an empty
    set). `estimated_tokens`: prompt plus expected completion; refused (429) when the minute's tokens
    plus this estimate exceed the key's tokens per minute. The estimate is not counted (charge the
    real tokens with `access_charge`), and a request larger than the whole limit still gets into an
    empty window, so it can never be starved forever. Order: model (403), budget (402), requests per
    minute (429, counts this request), tokens per minute (429). A refused request uses no quota.
    """
    if not key.allows_model(model_names):
        raise permission_denied(
            f"This API key may not use {' / '.join(sorted(model_names)) or 'this model'}.",
            error_code="MODEL_NOT_ALLOWED",
            requested=sorted(model_names),
            allowed_models=list(key.allowed_models),
        )
    window = _Window.at(now_s())
    estimated = max(0, int(estimated_tokens))
    state = shared_state()
    counters = _counters(state)
    want_rebuild = key.monthly_budget_usd is not None and _spend_source is not None
    try:
        verdict = await counters.admit(key=key, window=window, estimated=estimated, want_rebuild=want_rebuild)
        if verdict.outcome == "rebuild":
            await _spend_rebuild_from_source(state, key_id=key.id, window=window)
            verdict = await counters.admit(key=key, window=window, estimated=estimated, want_rebuild=False)
    except (RedisError, OSError) as exc:
        logger.error("access_limits_unavailable", error=str(exc), client_key=key.name)
        return Admission(headers={})
    if verdict.outcome != "ok":
        raise _refusal(key, verdict, window, estimated)
    return Admission(headers=_rate_limit_headers(key, verdict, window))


async def access_charge(*, key: ClientKey, tokens: int, cost_usd: Decimal) -> None:
    """Charge an answered request: its real tokens to the current minute, its cost to the month."""
    tokens = max(0, int(tokens))
    cost = max(Decimal(0), Decimal(cost_usd or 0))
    if not tokens and not cost:
        return
    window = _Window.at(now_s())
    try:
        await _counters(shared_state()).charge(key_id=key.id, window=window, tokens=tokens, cost=cost)
    except (RedisError, OSError) as exc:
        logger.error("access_charge_failed", error=str(exc), client_key=key.name, tokens=tokens,
                     cost_usd=str(cost))


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
