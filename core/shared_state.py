"""State that every worker and host must agree on: counters, windows, small hashes, locks.

The store is chosen once, by `shared_state_configure(redis_url=...)` (the site calls it at start-up
and again when the setting changes): with a Redis URL the state lives in Redis
(`core.redis_state`), shared by every process; without one (the embedded default) an in-process
store (`core.memory_state`) gives the same semantics within the one process. Callers never ask
which: they use `shared_state()` (async), the `shared_state_sync_*` functions (sync code) and
`StateScript` for a read-modify-write that must be atomic.

Redis clients are created once per event loop and closed on shutdown; a client bound to a closed
loop is never reused.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from typing import Any, Protocol, cast

from core.memory_state import MemoryState
from core.redis_state import RedisState, RedisStreamGroup, RedisSyncState
from core.state_script import StateScript


class SharedState(Protocol):
    """The async store. Keys are given bare; Redis adds `core.redis_state.KEY_PREFIX`."""

    async def incr(self, key: str, amount: int = 1, *, ttl_s: int | None = None) -> int: ...
    async def incr_float(self, key: str, amount: float, *, ttl_s: int | None = None) -> float: ...
    async def get(self, key: str) -> str | None: ...
    async def get_many(self, keys: list[str]) -> list[str | None]: ...
    async def set(
        self, key: str, value: str, *, ttl_s: int | None = None, only_new: bool = False
    ) -> bool: ...
    async def delete(self, *keys: str) -> None: ...
    async def hincr(self, key: str, amounts: dict[str, float], *, ttl_s: int | None = None) -> None: ...
    async def hgetall(self, key: str) -> dict[str, str]: ...
    async def hset(self, key: str, values: dict[str, str], *, ttl_s: int | None = None) -> None: ...
    async def ttl(self, key: str) -> int | None: ...
    async def hincr_many(self, items: list[tuple[str, dict[str, float], int | None]]) -> None: ...
    async def hgetall_many(self, keys: list[str]) -> list[dict[str, str]]: ...
    async def extend_deadline(self, key: str, member: str, deadline: float) -> float: ...
    async def deadlines(self, key: str) -> dict[str, float]: ...
    async def remove_deadline(self, key: str, member: str) -> None: ...
    async def run_script(self, script: StateScript, *, keys: list[str], args: list) -> Any: ...
    async def cache_get(self, key: str) -> str | None: ...
    async def cache_set(self, key: str, value: str, *, ttl_s: int, max_entries: int) -> None: ...
    async def ping(self) -> None: ...
    async def aclose(self) -> None: ...


_memory_state = MemoryState()
# The configured Redis URL ("" for the in-process store), and this process's sync side of it.
_redis_url = ""
_sync_state: MemoryState | RedisSyncState = _memory_state
_redis_states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RedisState] = weakref.WeakKeyDictionary()
# Clients for URLs configured before, kept until their loop closes them (`shared_state_aclose`).
_retired_states: list[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RedisState]] = []


def shared_state_configure(*, redis_url: str) -> None:
    """Choose the store: Redis at `redis_url`, or this process's memory when it is empty. Async
    clients made for another URL are retired (each loop makes a new one on its next call)."""
    global _redis_url, _sync_state, _redis_states
    if redis_url == _redis_url:
        return
    _redis_url = redis_url
    _sync_state = _redis_sync_state(redis_url) if redis_url else _memory_state
    _retired_states[:] = [states for states in (*_retired_states, _redis_states) if states]
    _redis_states = weakref.WeakKeyDictionary()


@functools.lru_cache(maxsize=8)
def _redis_sync_state(url: str) -> RedisSyncState:
    # One per URL, not one per process: a test that points the URL at another server gets it.
    return RedisSyncState(url)


def shared_state() -> SharedState:
    """The store for the running event loop (Redis when configured, else the process's memory)."""
    if not _redis_url:
        return _memory_state
    loop = asyncio.get_running_loop()
    state = _redis_states.get(loop)
    if state is None:
        state = _redis_states[loop] = RedisState(_redis_url)
    return state


async def shared_stream_add(stream: str, fields: dict[str, str]) -> None:
    """Append an entry to a stream every process shares (read with `shared_stream_group`). Only
    when `shared_state_spans_processes()`: nothing outlives this process otherwise, so a caller
    keeps its entries in its own in-process queue."""
    if not _redis_url:
        raise RuntimeError("a shared stream needs Redis")
    await cast(RedisState, shared_state()).stream_add(stream, fields)


def shared_state_spans_processes() -> bool:
    """Whether other processes share the store. Coordination only other processes need (telling
    them a cache is stale, a fleet-wide claim) is pointless otherwise."""
    return bool(_redis_url)


def shared_state_sync_incr(key: str, *, timeout_s: float | None = None) -> int:
    """INCR from sync code, on the same store the async side reads. `timeout_s` bounds the wait on
    Redis (None: no bound)."""
    return _sync_state.sync_incr(key, timeout_s=timeout_s)


def shared_state_sync_get(key: str, *, timeout_s: float | None = None) -> str | None:
    """GET from sync code, on the same store the async side reads."""
    return _sync_state.sync_get(key, timeout_s=timeout_s)


def shared_state_sync_set(
    key: str, value: str, *, ttl_s: int | None = None, only_new: bool = False,
    timeout_s: float | None = None,
) -> bool:
    """SET (NX when `only_new`: False if the key exists) from sync code, on the same store."""
    return _sync_state.sync_set(key, value, ttl_s=ttl_s, only_new=only_new, timeout_s=timeout_s)


def shared_stream_group(stream: str, *, group: str) -> RedisStreamGroup | None:
    """The readers' side of a stream every process writes with `shared_stream_add`; None
    when the store is this process's memory (nothing outlives the process, so a caller keeps its
    own in-process queue instead)."""
    if not _redis_url:
        return None
    return _redis_sync_state(_redis_url).stream_group(stream, group)


async def shared_state_aclose() -> None:
    """Close this loop's Redis clients (ASGI lifespan shutdown)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    for states in (_redis_states, *_retired_states):
        state = states.pop(loop, None)
        if state is not None:
            await state.aclose()


def shared_state_reset_for_tests(*, cache_only: bool = False) -> None:
    """Empty the in-process store (only its cache entries with `cache_only`)."""
    _memory_state.clear(cache_only=cache_only)
