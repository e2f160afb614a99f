"""The in-process shared-state store of the embedded default (no Redis): one process, one copy.

`MemoryTable` holds the values and does every operation without locking; `MemoryState` is the store
callers use: it takes its lock around each table operation, so sync code reaching it from other
threads (through `async_to_sync`) and a `StateScript` run as one step both see atomic operations,
as Redis gives them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from core.state_script import StateScript


class MemoryTable:
    """Values with optional expiry: numbers, strings, hashes (dicts) and deadline sets (dicts of
    member -> score). Not thread-safe: `MemoryState` locks around it."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._expires: dict[str, float] = {}

    def _live(self, key: str) -> bool:
        expires = self._expires.get(key)
        if expires is not None and expires <= time.monotonic():
            self._values.pop(key, None)
            self._expires.pop(key, None)
            return False
        return key in self._values

    def _touch(self, key: str, ttl_s: int | None, *, fresh: bool) -> None:
        # Like Redis EXPIRE NX: a TTL is set on a new key, never extended on an existing one.
        if ttl_s is not None and (fresh or key not in self._expires):
            self._expires[key] = time.monotonic() + ttl_s

    def expire(self, key: str, ttl_s: int) -> None:
        """Set the key's TTL whether or not it had one (Redis EXPIRE)."""
        if self._live(key):
            self._expires[key] = time.monotonic() + ttl_s

    def incr(self, key: str, amount: int = 1, *, ttl_s: int | None = None) -> int:
        fresh = not self._live(key)
        value = int(self._values.get(key, 0)) + amount
        self._values[key] = value
        self._touch(key, ttl_s, fresh=fresh)
        return value

    def incr_float(self, key: str, amount: float, *, ttl_s: int | None = None) -> float:
        fresh = not self._live(key)
        value = float(self._values.get(key, 0.0)) + amount
        self._values[key] = value
        self._touch(key, ttl_s, fresh=fresh)
        return value

    def get(self, key: str) -> str | None:
        return str(self._values[key]) if self._live(key) else None

    def set(self, key: str, value: str, *, ttl_s: int | None = None, only_new: bool = False) -> bool:
        if only_new and self._live(key):
            return False
        self._values[key] = value
        self._expires.pop(key, None)
        self._touch(key, ttl_s, fresh=True)
        return True

    def delete(self, *keys: str) -> None:
        for key in keys:
            self._values.pop(key, None)
            self._expires.pop(key, None)

    def hincr(self, key: str, amounts: dict[str, float], *, ttl_s: int | None = None) -> None:
        fresh = not self._live(key)
        table = self._values.setdefault(key, {})
        for field, amount in amounts.items():
            table[field] = float(table.get(field, 0.0)) + amount
        self._touch(key, ttl_s, fresh=fresh)

    def hgetall(self, key: str) -> dict[str, str]:
        if not self._live(key):
            return {}
        return {field: _plain(value) for field, value in self._values[key].items()}

    def hset(self, key: str, values: dict[str, str], *, ttl_s: int | None = None) -> None:
        fresh = not self._live(key)
        self._values.setdefault(key, {}).update(values)
        self._touch(key, ttl_s, fresh=fresh)

    def ttl(self, key: str) -> int | None:
        if not self._live(key) or key not in self._expires:
            return None
        return max(0, int(self._expires[key] - time.monotonic() + 0.999))

    def extend_deadline(self, key: str, member: str, deadline: float) -> float:
        if not self._live(key):
            self._values[key] = {}
        table = self._values[key]
        table[member] = max(float(table.get(member, 0.0)), deadline)
        return table[member]

    def deadlines(self, key: str) -> dict[str, float]:
        return dict(self._values[key]) if self._live(key) else {}

    def remove_deadline(self, key: str, member: str) -> None:
        if self._live(key):
            self._values[key].pop(member, None)

    def clear(self) -> None:
        self._values.clear()
        self._expires.clear()


def _plain(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Lru:
    """Cache entries: at most `max_entries`, the least recently used dropped first."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def get(self, key: str) -> str | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, value = item
        if expires <= time.monotonic():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    def set(self, key: str, value: str, ttl_s: int, max_entries: int) -> None:
        self._items[key] = (time.monotonic() + ttl_s, value)
        self._items.move_to_end(key)
        while len(self._items) > max_entries:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


class MemoryState:
    """In-process store for the embedded default. Thread-safe: sync code reaches it through
    `async_to_sync` from other threads, and through the `sync_*` methods directly."""

    def __init__(self) -> None:
        self._table = MemoryTable()
        self._cache = _Lru()
        self._lock = threading.Lock()

    async def incr(self, key: str, amount: int = 1, *, ttl_s: int | None = None) -> int:
        with self._lock:
            return self._table.incr(key, amount, ttl_s=ttl_s)

    async def incr_float(self, key: str, amount: float, *, ttl_s: int | None = None) -> float:
        with self._lock:
            return self._table.incr_float(key, amount, ttl_s=ttl_s)

    async def get(self, key: str) -> str | None:
        with self._lock:
            return self._table.get(key)

    async def get_many(self, keys: list[str]) -> list[str | None]:
        with self._lock:
            return [self._table.get(key) for key in keys]

    async def set(self, key: str, value: str, *, ttl_s: int | None = None, only_new: bool = False) -> bool:
        with self._lock:
            return self._table.set(key, value, ttl_s=ttl_s, only_new=only_new)

    async def delete(self, *keys: str) -> None:
        with self._lock:
            self._table.delete(*keys)

    async def hincr(self, key: str, amounts: dict[str, float], *, ttl_s: int | None = None) -> None:
        with self._lock:
            self._table.hincr(key, amounts, ttl_s=ttl_s)

    async def hgetall(self, key: str) -> dict[str, str]:
        with self._lock:
            return self._table.hgetall(key)

    async def hset(self, key: str, values: dict[str, str], *, ttl_s: int | None = None) -> None:
        with self._lock:
            self._table.hset(key, values, ttl_s=ttl_s)

    async def ttl(self, key: str) -> int | None:
        with self._lock:
            return self._table.ttl(key)

    async def hincr_many(self, items: list[tuple[str, dict[str, float], int | None]]) -> None:
        with self._lock:
            for key, amounts, ttl_s in items:
                self._table.hincr(key, amounts, ttl_s=ttl_s)

    async def hgetall_many(self, keys: list[str]) -> list[dict[str, str]]:
        with self._lock:
            return [self._table.hgetall(key) for key in keys]

    async def extend_deadline(self, key: str, member: str, deadline: float) -> float:
        with self._lock:
            return self._table.extend_deadline(key, member, deadline)

    async def deadlines(self, key: str) -> dict[str, float]:
        with self._lock:
            return self._table.deadlines(key)

    async def remove_deadline(self, key: str, member: str) -> None:
        with self._lock:
            self._table.remove_deadline(key, member)

    async def run_script(self, script: StateScript, *, keys: list[str], args: list) -> Any:
        """The script's Python twin, under the lock: atomic like the Lua on Redis."""
        with self._lock:
            return script.python(self._table, keys, args)

    async def cache_get(self, key: str) -> str | None:
        with self._lock:
            return self._cache.get(key)

    async def cache_set(self, key: str, value: str, *, ttl_s: int, max_entries: int) -> None:
        with self._lock:
            self._cache.set(key, value, ttl_s, max_entries)

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def sync_incr(self, key: str, *, timeout_s: float | None = None) -> int:
        with self._lock:
            return self._table.incr(key)

    def sync_get(self, key: str, *, timeout_s: float | None = None) -> str | None:
        with self._lock:
            return self._table.get(key)

    def sync_set(
        self, key: str, value: str, *, ttl_s: int | None = None, only_new: bool = False,
        timeout_s: float | None = None,
    ) -> bool:
        with self._lock:
            return self._table.set(key, value, ttl_s=ttl_s, only_new=only_new)

    def clear(self, *, cache_only: bool = False) -> None:
        with self._lock:
            self._cache.clear()
            if not cache_only:
                self._table.clear()
