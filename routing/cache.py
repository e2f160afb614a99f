"""The response cache: key = SHA-256 of the canonical JSON of the normalised request.

Redis when configured (shared by every worker), else a bounded in-process LRU. Any cache failure
is logged and treated as a miss: the request goes on without the cache.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from typing import Any

import orjson
import structlog
from django.conf import settings

from core.shared_state import shared_state

logger = structlog.get_logger(__name__)


def cache_key(normalised_request: dict[str, Any]) -> str:
    """Stable across processes and hosts (never Python's salted `hash()`)."""
    try:
        canonical = orjson.dumps(normalised_request, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # a value orjson does not take (an integer beyond 64 bits)
        canonical = json.dumps(
            normalised_request, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    return "resp:" + hashlib.sha256(canonical).hexdigest()


class _LocalLru:
    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            expires, value = item
            if expires <= time.monotonic():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return value

    def set(self, key: str, value: str, ttl_s: int) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + ttl_s, value)
            self._items.move_to_end(key)
            while len(self._items) > settings.RESPONSE_CACHE_MAX_ENTRIES:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_local = _LocalLru()


async def response_cache_get(key: str) -> dict[str, Any] | None:
    try:
        raw = await shared_state().get(key) if settings.REDIS_URL else _local.get(key)
    except Exception:
        logger.warning("response_cache_unavailable", op="get")
        return None
    return orjson.loads(raw) if raw else None


async def response_cache_set(key: str, value: dict[str, Any]) -> None:
    ttl_s = settings.RESPONSE_CACHE_TTL_S
    if ttl_s <= 0:
        return
    try:
        raw = orjson.dumps(value).decode()
    except TypeError:
        raw = json.dumps(value, separators=(",", ":"))
    try:
        if settings.REDIS_URL:
            await shared_state().set(key, raw, ttl_s=ttl_s)
        else:
            _local.set(key, raw, ttl_s)
    except Exception:
        logger.warning("response_cache_unavailable", op="set")


def response_cache_reset_for_tests() -> None:
    _local.clear()
