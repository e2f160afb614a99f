"""The in-process cache behind API key authentication, and how it stays honest across workers.

Authentication runs on every request, so a warm lookup costs a SHA-256 and a dict read: no
database query. Each entry (a key, or the fact that a hash is unknown or revoked) lives at most
`ACCESS_KEY_CACHE_TTL_S` seconds. Any save or delete of an `ApiKey` clears this process's cache
and bumps a version counter in Redis; every process reads that counter at most once every
`ACCESS_KEY_VERSION_CHECK_S` seconds and drops its cache when it moved. So a revoked key stops
working on every worker within about a second, and within the TTL even when a change bypassed the
signals (`QuerySet.update()`) or several processes run without Redis.

The version lives under the shared-state key prefix, read with a small synchronous Redis client:
authentication runs in DRF's sync `initial()`, where the async shared-state client is not reachable.
"""

from __future__ import annotations

import threading
import time
from functools import lru_cache

import redis
import structlog
from django.conf import settings

from access.types import ClientKey
from aiprovider_site.shared_state import KEY_PREFIX

logger = structlog.get_logger(__name__)

VERSION_KEY = KEY_PREFIX + "access:keys:version"
# A flood of distinct bad keys must not grow the cache without bound.
MAX_ENTRIES = 10_000

MISSING = object()


@lru_cache(maxsize=8)
def redis_sync_client(url: str) -> redis.Redis:
    """One thread-safe synchronous client per Redis URL and process. Short timeouts: a Redis outage
    may delay a version check, never hang authentication."""
    return redis.Redis.from_url(
        url, decode_responses=True, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
    )


class KeyCache:
    """Lookups by SHA-256 of the secret: the `ClientKey`, or None for unknown and revoked keys."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[ClientKey | None, float]] = {}
        self._lock = threading.Lock()
        # Bumped by every clear, so a lookup that read the database before a revocation cannot
        # store its stale answer after it.
        self._generation = 0
        self._version: str | None = None
        self._version_checked_at = float("-inf")

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, digest: str):
        """The cached answer, or `MISSING`."""
        self._follow_version()
        entry = self._entries.get(digest)
        if entry is None or entry[1] <= time.monotonic():
            return MISSING
        return entry[0]

    def put(self, digest: str, key: ClientKey | None, *, generation: int) -> None:
        """Store a lookup made while the cache was at `generation` (dropped if it moved since)."""
        now = time.monotonic()
        with self._lock:
            if generation != self._generation:
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries = {d: e for d, e in self._entries.items() if e[1] > now}
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
            self._entries[digest] = (key, now + settings.ACCESS_KEY_CACHE_TTL_S)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generation += 1

    def _follow_version(self) -> None:
        url = settings.REDIS_URL
        if not url:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._version_checked_at < settings.ACCESS_KEY_VERSION_CHECK_S:
                return
            self._version_checked_at = now
        try:
            version = redis_sync_client(url).get(VERSION_KEY)
        except redis.RedisError as exc:
            logger.warning("api_key_version_check_failed", error=str(exc))
            return
        with self._lock:
            if version != self._version:
                self._entries.clear()
                self._generation += 1
                self._version = version

    def bump_version(self) -> None:
        """Tell every process that keys changed (and forget this process's entries now)."""
        self.clear()
        url = settings.REDIS_URL
        if not url:
            return
        try:
            redis_sync_client(url).incr(VERSION_KEY)
        except redis.RedisError as exc:
            # Other workers still drop the change within ACCESS_KEY_CACHE_TTL_S.
            logger.warning("api_key_version_bump_failed", error=str(exc))

    def reset(self) -> None:
        """Forget everything, the version included (tests)."""
        with self._lock:
            self._entries.clear()
            self._generation += 1
            self._version = None
            self._version_checked_at = float("-inf")


key_cache = KeyCache()
