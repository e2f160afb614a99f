"""State that every worker and host must agree on: counters, windows, small hashes.

With `REDIS_URL` it lives in Redis and every operation is atomic on the server (INCRBY,
HINCRBYFLOAT, Lua for compare-and-set), never a read-modify-write of a whole blob. Without Redis
(the embedded default) an in-process store gives the same semantics within the one process.

Clients are created once per event loop and closed on shutdown; a client bound to a closed loop is
never reused.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
import weakref
from typing import Protocol

from django.conf import settings

KEY_PREFIX = "aip:"


class SharedState(Protocol):
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
    async def aclose(self) -> None: ...


class MemoryState:
    """In-process store for the embedded default. Thread-safe: sync code reaches it through
    `async_to_sync` from other threads."""

    def __init__(self) -> None:
        self._values: dict[str, object] = {}
        self._expires: dict[str, float] = {}
        self._lock = threading.Lock()

    def _live(self, key: str) -> bool:
        expires = self._expires.get(key)
        if expires is not None and expires <= time.monotonic():
            self._values.pop(key, None)
            self._expires.pop(key, None)
            return False
        return key in self._values

    def _touch(self, key: str, ttl_s: int | None, *, fresh: bool) -> None:
        if ttl_s is not None and (fresh or key not in self._expires):
            self._expires[key] = time.monotonic() + ttl_s

    async def incr(self, key: str, amount: int = 1, *, ttl_s: int | None = None) -> int:
        with self._lock:
            fresh = not self._live(key)
            value = int(self._values.get(key, 0)) + amount
            self._values[key] = value
            self._touch(key, ttl_s, fresh=fresh)
            return value

    async def incr_float(self, key: str, amount: float, *, ttl_s: int | None = None) -> float:
        with self._lock:
            fresh = not self._live(key)
            value = float(self._values.get(key, 0.0)) + amount
            self._values[key] = value
            self._touch(key, ttl_s, fresh=fresh)
            return value

    async def get(self, key: str) -> str | None:
        with self._lock:
            return str(self._values[key]) if self._live(key) else None

    async def get_many(self, keys: list[str]) -> list[str | None]:
        return [await self.get(key) for key in keys]

    async def set(self, key: str, value: str, *, ttl_s: int | None = None, only_new: bool = False) -> bool:
        with self._lock:
            if only_new and self._live(key):
                return False
            self._values[key] = value
            self._expires.pop(key, None)
            self._touch(key, ttl_s, fresh=True)
            return True

    async def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._values.pop(key, None)
                self._expires.pop(key, None)

    async def hincr(self, key: str, amounts: dict[str, float], *, ttl_s: int | None = None) -> None:
        with self._lock:
            fresh = not self._live(key)
            table = self._values.setdefault(key, {})
            for field, amount in amounts.items():
                table[field] = float(table.get(field, 0.0)) + amount
            self._touch(key, ttl_s, fresh=fresh)

    async def hgetall(self, key: str) -> dict[str, str]:
        with self._lock:
            if not self._live(key):
                return {}
            return {field: _plain(value) for field, value in self._values[key].items()}

    async def hset(self, key: str, values: dict[str, str], *, ttl_s: int | None = None) -> None:
        with self._lock:
            fresh = not self._live(key)
            self._values.setdefault(key, {}).update(values)
            self._touch(key, ttl_s, fresh=fresh)

    async def ttl(self, key: str) -> int | None:
        with self._lock:
            if not self._live(key) or key not in self._expires:
                return None
            return max(0, int(self._expires[key] - time.monotonic() + 0.999))

    async def hincr_many(self, items: list[tuple[str, dict[str, float], int | None]]) -> None:
        for key, amounts, ttl_s in items:
            await self.hincr(key, amounts, ttl_s=ttl_s)

    async def hgetall_many(self, keys: list[str]) -> list[dict[str, str]]:
        return [await self.hgetall(key) for key in keys]

    async def extend_deadline(self, key: str, member: str, deadline: float) -> float:
        with self._lock:
            if not self._live(key):
                self._values[key] = {}
            table = self._values[key]
            table[member] = max(float(table.get(member, 0.0)), deadline)
            return table[member]

    async def deadlines(self, key: str) -> dict[str, float]:
        with self._lock:
            return dict(self._values[key]) if self._live(key) else {}

    async def remove_deadline(self, key: str, member: str) -> None:
        with self._lock:
            if self._live(key):
                self._values[key].pop(member, None)

    async def aclose(self) -> None:
        return None

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._expires.clear()


def _plain(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class RedisState:
    """Redis-backed store; one `redis.asyncio` client per event loop."""

    def __init__(self, url: str) -> None:
        from redis.asyncio import BlockingConnectionPool, Redis

        # A bounded pool that waits for a free connection: a burst of requests queues for a few
        # milliseconds instead of failing or opening thousands of sockets.
        pool = BlockingConnectionPool.from_url(
            url, decode_responses=True, max_connections=64, timeout=5, health_check_interval=30
        )
        self._redis = Redis(connection_pool=pool)

    async def incr(self, key: str, amount: int = 1, *, ttl_s: int | None = None) -> int:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incrby(KEY_PREFIX + key, amount)
            if ttl_s is not None:
                pipe.expire(KEY_PREFIX + key, ttl_s, nx=True)
            value, *_ = await pipe.execute()
        return int(value)

    async def incr_float(self, key: str, amount: float, *, ttl_s: int | None = None) -> float:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incrbyfloat(KEY_PREFIX + key, amount)
            if ttl_s is not None:
                pipe.expire(KEY_PREFIX + key, ttl_s, nx=True)
            value, *_ = await pipe.execute()
        return float(value)

    async def get(self, key: str) -> str | None:
        return await self._redis.get(KEY_PREFIX + key)

    async def get_many(self, keys: list[str]) -> list[str | None]:
        if not keys:
            return []
        return await self._redis.mget([KEY_PREFIX + key for key in keys])

    async def set(self, key: str, value: str, *, ttl_s: int | None = None, only_new: bool = False) -> bool:
        return bool(await self._redis.set(KEY_PREFIX + key, value, ex=ttl_s, nx=only_new))

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._redis.delete(*(KEY_PREFIX + key for key in keys))

    async def hincr(self, key: str, amounts: dict[str, float], *, ttl_s: int | None = None) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for field, amount in amounts.items():
                pipe.hincrbyfloat(KEY_PREFIX + key, field, amount)
            if ttl_s is not None:
                pipe.expire(KEY_PREFIX + key, ttl_s, nx=True)
            await pipe.execute()

    async def hgetall(self, key: str) -> dict[str, str]:
        return await self._redis.hgetall(KEY_PREFIX + key)

    async def hset(self, key: str, values: dict[str, str], *, ttl_s: int | None = None) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(KEY_PREFIX + key, mapping=values)
            if ttl_s is not None:
                pipe.expire(KEY_PREFIX + key, ttl_s, nx=True)
            await pipe.execute()

    async def ttl(self, key: str) -> int | None:
        value = await self._redis.ttl(KEY_PREFIX + key)
        return value if value is not None and value >= 0 else None

    async def hincr_many(self, items: list[tuple[str, dict[str, float], int | None]]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, amounts, ttl_s in items:
                for field, amount in amounts.items():
                    pipe.hincrbyfloat(KEY_PREFIX + key, field, amount)
                if ttl_s is not None:
                    pipe.expire(KEY_PREFIX + key, ttl_s, nx=True)
            await pipe.execute()

    async def hgetall_many(self, keys: list[str]) -> list[dict[str, str]]:
        if not keys:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(KEY_PREFIX + key)
            return await pipe.execute()

    async def extend_deadline(self, key: str, member: str, deadline: float) -> float:
        """ZADD GT: a deadline only ever moves later, atomically, whoever writes it."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(KEY_PREFIX + key, {member: deadline}, gt=True)
            pipe.zscore(KEY_PREFIX + key, member)
            _, score = await pipe.execute()
        return float(score)

    async def deadlines(self, key: str) -> dict[str, float]:
        return {m: float(s) for m, s in await self._redis.zrange(KEY_PREFIX + key, 0, -1, withscores=True)}

    async def remove_deadline(self, key: str, member: str) -> None:
        await self._redis.zrem(KEY_PREFIX + key, member)

    @property
    def client(self):
        """The raw client, for the few callers that need a pipeline or a script of their own."""
        return self._redis

    async def aclose(self) -> None:
        await self._redis.aclose()
        await self._redis.connection_pool.disconnect()


_memory_state = MemoryState()


def sync_redis():
    """A blocking Redis client for sync code (signal handlers, Celery tasks); thread-safe."""
    return _sync_redis_for(settings.REDIS_URL)


@functools.lru_cache(maxsize=8)
def _sync_redis_for(url: str):
    # One per URL, not one per process: a test that points REDIS_URL at another server gets it.
    from redis import Redis

    return Redis.from_url(url, decode_responses=True, health_check_interval=30)


def shared_state_sync_incr(key: str) -> int:
    """INCR from sync code, on the same store the async side reads."""
    if not settings.REDIS_URL:
        with _memory_state._lock:
            value = int(_memory_state._values.get(key, 0)) + 1 if _memory_state._live(key) else 1
            _memory_state._values[key] = value
            return value
    return int(sync_redis().incr(KEY_PREFIX + key))
_redis_states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RedisState] = weakref.WeakKeyDictionary()


def shared_state() -> SharedState:
    """The store for the running event loop (Redis when configured, else the process's memory)."""
    if not settings.REDIS_URL:
        return _memory_state
    loop = asyncio.get_running_loop()
    state = _redis_states.get(loop)
    if state is None:
        state = _redis_states[loop] = RedisState(settings.REDIS_URL)
    return state


async def shared_state_aclose() -> None:
    """Close this loop's Redis client (ASGI lifespan shutdown)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    state = _redis_states.pop(loop, None)
    if state is not None:
        await state.aclose()


def shared_state_reset_for_tests() -> None:
    _memory_state.clear()
