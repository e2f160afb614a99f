"""The Redis shared-state store: every worker and host sees the same values, and every operation is
atomic on the server (INCRBY, HINCRBYFLOAT, ZADD GT, Lua scripts), never a read-modify-write of a
whole blob.

`RedisState` is the async store, one `redis.asyncio` client per event loop (a client is bound to the
loop it was created on). `RedisSyncState` is the blocking side for sync code (signal handlers,
authentication threads, Celery tasks): thread-safe clients, one per socket timeout, per process.
"""

from __future__ import annotations

import functools
from typing import Any

from core.state_script import StateScript

KEY_PREFIX = "aip:"


class RedisState:
    """Redis-backed async store; one per event loop."""

    def __init__(self, url: str) -> None:
        from redis.asyncio import BlockingConnectionPool, Redis

        # A bounded pool that waits for a free connection: a burst of requests queues for a few
        # milliseconds instead of failing or opening thousands of sockets.
        pool = BlockingConnectionPool.from_url(
            url, decode_responses=True, max_connections=64, timeout=5, health_check_interval=30
        )
        self._redis = Redis(connection_pool=pool)
        self._scripts: dict[StateScript, Any] = {}

    async def _expiring(self, command: str, key: str, *args, ttl_s: int | None, **kwargs):
        """One command on `key` and, when `ttl_s` is given, EXPIRE NX in the same round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            getattr(pipe, command)(KEY_PREFIX + key, *args, **kwargs)
            if ttl_s is not None:
                pipe.expire(KEY_PREFIX + key, ttl_s, nx=True)
            value, *_ = await pipe.execute()
        return value

    async def incr(self, key: str, amount: int = 1, *, ttl_s: int | None = None) -> int:
        return int(await self._expiring("incrby", key, amount, ttl_s=ttl_s))

    async def incr_float(self, key: str, amount: float, *, ttl_s: int | None = None) -> float:
        return float(await self._expiring("incrbyfloat", key, amount, ttl_s=ttl_s))

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
        await self.hincr_many([(key, amounts, ttl_s)])

    async def hgetall(self, key: str) -> dict[str, str]:
        return await self._redis.hgetall(KEY_PREFIX + key)

    async def hset(self, key: str, values: dict[str, str], *, ttl_s: int | None = None) -> None:
        await self._expiring("hset", key, ttl_s=ttl_s, mapping=values)

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

    async def run_script(self, script: StateScript, *, keys: list[str], args: list) -> Any:
        """The script's Lua by EVALSHA (loaded once per client, reloaded if Redis forgot it)."""
        registered = self._scripts.get(script)
        if registered is None:
            registered = self._scripts[script] = self._redis.register_script(script.lua)
        return await registered(keys=[KEY_PREFIX + key for key in keys], args=args)

    async def cache_get(self, key: str) -> str | None:
        return await self.get(key)

    async def cache_set(self, key: str, value: str, *, ttl_s: int, max_entries: int) -> None:
        # Redis bounds its memory with its own eviction policy; `max_entries` is the process's bound.
        await self.set(key, value, ttl_s=ttl_s)

    async def stream_add(self, stream: str, fields: dict[str, str]) -> None:
        """XADD to a stream that `RedisSyncState.stream_group` reads."""
        await self._redis.xadd(KEY_PREFIX + stream, fields)

    async def ping(self) -> None:
        await self._redis.ping()

    async def aclose(self) -> None:
        await self._redis.aclose()
        await self._redis.connection_pool.disconnect()


class RedisSyncState:
    """Blocking operations on the same Redis, for sync code. `timeout_s` bounds one command's wait
    on the socket (None: no bound), so a Redis outage may delay an authentication, never hang it."""

    def __init__(self, url: str) -> None:
        self._url = url

    @functools.lru_cache(maxsize=4)  # noqa: B019 - one client per timeout, for the life of the process
    def _client(self, timeout_s: float | None):
        from redis import Redis

        if timeout_s is None:
            return Redis.from_url(self._url, decode_responses=True, health_check_interval=30)
        return Redis.from_url(
            self._url, decode_responses=True, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            health_check_interval=30,
        )

    def sync_incr(self, key: str, *, timeout_s: float | None = None) -> int:
        return int(self._client(timeout_s).incr(KEY_PREFIX + key))

    def sync_get(self, key: str, *, timeout_s: float | None = None) -> str | None:
        return self._client(timeout_s).get(KEY_PREFIX + key)

    def sync_set(
        self, key: str, value: str, *, ttl_s: int | None = None, only_new: bool = False,
        timeout_s: float | None = None,
    ) -> bool:
        return bool(self._client(timeout_s).set(KEY_PREFIX + key, value, ex=ttl_s, nx=only_new))

    def stream_group(self, stream: str, group: str) -> RedisStreamGroup:
        """The consumer group `group` on `stream` (created, with the stream, when missing)."""
        return RedisStreamGroup(self._client(None), KEY_PREFIX + stream, group)


class RedisStreamGroup:
    """Readers of one stream sharing its entries: an entry read stays pending until a reader
    acknowledges it, and one a reader held too long is claimed by another."""

    def __init__(self, client, stream: str, group: str) -> None:
        self._client, self._stream, self._group = client, stream, group
        try:
            client.xgroup_create(stream, group, id="0", mkstream=True)
        except Exception as exc:  # BUSYGROUP: it exists
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, *, consumer: str, count: int, claim_idle_ms: int) -> list[tuple[str, dict]]:
        """Up to `count` entries for `consumer`: first those pending for over `claim_idle_ms` (a reader
        died or handed them back), then new ones."""
        _, claimed, _ = self._client.xautoclaim(
            self._stream, self._group, consumer, min_idle_time=claim_idle_ms, count=count
        )
        entries = [(entry_id, fields) for entry_id, fields in claimed if fields]
        if len(entries) < count:
            wanted = count - len(entries)
            for _, stream_entries in (
                self._client.xreadgroup(self._group, consumer, {self._stream: ">"}, count=wanted) or []
            ):
                entries += stream_entries
        return entries

    def hand_back(self, *, consumer: str, ids: list[str], idle_ms: int) -> None:
        """Mark entries as idle for `idle_ms`: the next read of any reader claims them at once."""
        self._client.xclaim(
            self._stream, self._group, consumer, min_idle_time=0, message_ids=ids, idle=idle_ms
        )

    def done(self, ids: list[str]) -> None:
        """Acknowledge and delete entries."""
        self._client.xack(self._stream, self._group, *ids)
        self._client.xdel(self._stream, *ids)
