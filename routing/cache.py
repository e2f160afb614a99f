"""The response cache: key = SHA-256 of the canonical JSON of the normalised request.

Redis when configured (shared by every worker), else a bounded in-process LRU (the shared-state
store's cache entries, `RESPONSE_CACHE_MAX_ENTRIES` at most). Any cache failure is logged and
treated as a miss: the request goes on without the cache.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson
import structlog
from django.conf import settings

from core.shared_state import shared_state, shared_state_reset_for_tests

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


async def response_cache_get(key: str) -> dict[str, Any] | None:
    try:
        raw = await shared_state().cache_get(key)
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
        await shared_state().cache_set(key, raw, ttl_s=ttl_s, max_entries=settings.RESPONSE_CACHE_MAX_ENTRIES)
    except Exception:
        logger.warning("response_cache_unavailable", op="set")


def response_cache_reset_for_tests() -> None:
    shared_state_reset_for_tests(cache_only=True)
