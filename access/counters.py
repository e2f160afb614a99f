"""The counters behind admission, in shared state: fixed one-minute windows, the month's spend, the
holds of requests in flight, and the two atomic steps on them (admit, settle).

Each step is one `StateScript`: a Lua script on Redis (one round trip, atomic on the server) and its
Python twin on the in-process store (atomic under the store's lock). Windows are fixed 60-second
windows aligned to the UTC minute; the month's spend is kept under `access:spend:<key id>:<YYYY-MM>`
for 40 days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from access.types import ClientKey
from core.shared_state import shared_state
from core.state_script import StateScript

WINDOW_S = 60
WINDOW_TTL_S = 2 * WINDOW_S
SPEND_TTL_S = 40 * 24 * 3600


@dataclass(frozen=True)
class Window:
    """The minute (and month) a moment falls in."""

    index: int
    reset_s: int
    month: str
    month_start: datetime
    month_end: datetime

    @classmethod
    def at(cls, now: float) -> Window:
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


def _rpm_key(key_id: int, index: int) -> str:
    return f"access:rpm:{key_id}:{index}"


def _tpm_key(key_id: int, index: int) -> str:
    return f"access:tpm:{key_id}:{index}"


def spend_key(key_id: int, month: str) -> str:
    """Where a key's spend for a month (`YYYY-MM`) is counted."""
    return f"access:spend:{key_id}:{month}"


def rebuilt_key(key_id: int, month: str) -> str:
    """Set once a key's month was rebuilt from the usage records."""
    return f"access:spend-rebuilt:{key_id}:{month}"


def _held_key(key_id: int) -> str:
    """Holds of requests in flight: member `<id>:<usd>`, score the moment the hold expires."""
    return f"access:held:{key_id}"


@dataclass(frozen=True)
class Verdict:
    outcome: str  # "ok", "budget", "rpm", "tpm" or "rebuild" (the spend counter is missing)
    requests: int  # requests in the window, this one included when admitted
    tokens: int  # tokens charged (and reserved) in the window so far, before this request
    spend: Decimal
    held: Decimal = Decimal(0)  # holds of other requests in flight


@dataclass(frozen=True)
class Ask:
    """One admission's inputs."""

    key: ClientKey
    window: Window
    now: float
    estimated: int  # checked against the tokens per minute
    reserve_tokens: int  # counted in the window when admitted
    hold: str  # the hold's member on the budget ("" for none)
    hold_expires: float
    hold_ttl_s: int
    want_rebuild: bool


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


def _held_live(table, held_key: str, now: float) -> Decimal:
    """The holds not yet expired at `now` (expired ones are removed)."""
    held = Decimal(0)
    for member, expires in table.deadlines(held_key).items():
        if expires <= now:
            table.remove_deadline(held_key, member)
        else:
            held += Decimal(member.rpartition(":")[2])
    return held


def _admit_in_memory(table, keys: list[str], args: list) -> list:
    """`_ADMIT_LUA` on the in-process store (budgets compared as decimals)."""
    rpm_key, tpm_key, spend_key_, held_key = keys
    rpm, tpm, estimated, budget, want_rebuild, window_ttl, reserve, now, hold, hold_expires, _ = args
    requests = int(table.get(rpm_key) or 0)
    tokens = int(float(table.get(tpm_key) or 0))
    spend = table.get(spend_key_)
    held = Decimal(0)
    if budget != -1:
        if spend is None and want_rebuild == "1":
            return ["rebuild", requests, tokens, "0", "0"]
        held = _held_live(table, held_key, now)
        if Decimal(spend or "0") + held >= Decimal(budget):
            return ["budget", requests, tokens, spend or "0", str(held)]
    spend = spend or "0"
    if rpm >= 0 and requests >= rpm:
        return ["rpm", requests, tokens, spend, str(held)]
    if tpm >= 0 and (tokens >= tpm or (tokens > 0 and tokens + estimated > tpm)):
        return ["tpm", requests, tokens, spend, str(held)]
    requests = table.incr(rpm_key, ttl_s=window_ttl)
    if reserve > 0:
        table.incr(tpm_key, reserve, ttl_s=window_ttl)
    if hold:
        table.extend_deadline(held_key, hold, hold_expires)
    return ["ok", requests, tokens, spend, str(held)]


ADMIT = StateScript(lua=_ADMIT_LUA, python=_admit_in_memory)


# KEYS: the month's spend, the holds, then the token windows to move. ARGV: window ttl, the cost to
# add ('' for none), spend ttl, the hold to remove ('' for none), then one token amount per window.
_SETTLE_LUA = """
for i = 3, #KEYS do
  redis.call('INCRBY', KEYS[i], ARGV[i + 2])
  redis.call('EXPIRE', KEYS[i], ARGV[1], 'NX')
end
if ARGV[2] ~= '' then
  redis.call('INCRBYFLOAT', KEYS[1], ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[3], 'NX')
end
if ARGV[4] ~= '' then redis.call('ZREM', KEYS[2], ARGV[4]) end
return 0
"""


def _settle_in_memory(table, keys: list[str], args: list) -> int:
    """`_SETTLE_LUA` on the in-process store."""
    spend_key_, held_key, *tpm_keys = keys
    window_ttl, cost, spend_ttl, hold, *amounts = args
    for tpm_key, amount in zip(tpm_keys, amounts, strict=True):
        table.incr(tpm_key, amount, ttl_s=window_ttl)
    if cost:
        table.incr_float(spend_key_, float(cost), ttl_s=spend_ttl)
    if hold:
        table.remove_deadline(held_key, hold)
    return 0


SETTLE = StateScript(lua=_SETTLE_LUA, python=_settle_in_memory)


async def counters_admit(ask: Ask) -> Verdict:
    """Check the key's limits and, when they allow it, count the request and reserve: one atomic step."""
    key, window = ask.key, ask.window
    budget = key.monthly_budget_usd
    outcome, requests, tokens, spend, held = await shared_state().run_script(
        ADMIT,
        keys=[
            _rpm_key(key.id, window.index),
            _tpm_key(key.id, window.index),
            spend_key(key.id, window.month),
            _held_key(key.id),
        ],
        args=[
            -1 if key.rpm_limit is None else key.rpm_limit,
            -1 if key.tpm_limit is None else key.tpm_limit,
            ask.estimated,
            -1 if budget is None else str(budget),
            "1" if ask.want_rebuild else "0",
            WINDOW_TTL_S,
            ask.reserve_tokens,
            ask.now,
            ask.hold,
            ask.hold_expires,
            ask.hold_ttl_s,
        ],
    )
    return Verdict(
        outcome=outcome, requests=int(requests), tokens=int(tokens), spend=Decimal(spend), held=Decimal(held)
    )


async def counters_settle(
    *, key_id: int, reserved_index: int, reserved_tokens: int, hold: str, window: Window, tokens: int,
    cost: Decimal,
) -> None:
    """One atomic step: the real tokens replace the reserved ones, the real cost replaces the hold."""
    moves = _token_moves(reserved_index, reserved_tokens, window, tokens)
    await shared_state().run_script(
        SETTLE,
        keys=[spend_key(key_id, window.month), _held_key(key_id), *(_tpm_key(key_id, i) for i, _ in moves)],
        args=[WINDOW_TTL_S, repr(float(cost)) if cost else "", SPEND_TTL_S, hold, *(n for _, n in moves)],
    )


def _token_moves(
    reserved_index: int, reserved_tokens: int, window: Window, tokens: int
) -> list[tuple[int, int]]:
    """(window index, tokens to add): the real tokens go to the current minute, and the reserved
    ones leave the minute they were reserved in (one move when that is the same minute)."""
    if reserved_index == window.index:
        amount = tokens - reserved_tokens
        return [(window.index, amount)] if amount else []
    moves = [(reserved_index, -reserved_tokens)] if reserved_tokens else []
    return moves + ([(window.index, tokens)] if tokens else [])
