"""The in-process cache behind API key authentication, and how it stays honest across workers.

Authentication runs on every request, so a warm lookup costs a SHA-256 and a dict read: no
database query. Two things are cached, each for at most `ACCESS_KEY_CACHE_TTL_S` seconds:

- the set of digests of every active key, loaded with one query. A digest outside it is refused
  without a query, so a flood of random keys costs nothing but the hashing;
- each active key's `ClientKey`, loaded the first time it is presented.

Any save or delete of an `ApiKey` clears this process's cache and bumps a version counter in Redis;
every process reads that counter at most once every `ACCESS_KEY_VERSION_CHECK_S` seconds and drops
its cache when it moved. So a new or revoked key is seen on every worker within about a second, and
within the TTL even when a change bypassed the signals (`QuerySet.update()`) or several processes
run without Redis.

Stale-while-error: when a reload fails because the database is unreachable, the last good answer
(set and key) keeps being served for up to `ACCESS_KEY_STALE_S` seconds past its TTL, so known keys
ride out a database outage. Only answers that expired are served this way: a change the process
was told about (a clear, a version move) drops them, so a revocation seen before the outage still
wins. A key with no answer to fall back on gets `KeyStoreUnavailable` (a 503), never a 500.

The version lives in shared state, read through its synchronous side: authentication runs in DRF's
sync `initial()`, where the async shared-state client is not reachable. Without Redis there is no
other process to tell, so the version is neither bumped nor read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection

import redis
import structlog
from django.conf import settings
from django.db import DatabaseError

from access.types import ClientKey
from core.redis_state import KEY_PREFIX
from core.shared_state import shared_state_spans_processes, shared_state_sync_get, shared_state_sync_incr

logger = structlog.get_logger(__name__)

VERSION_NAME = "access:keys:version"
VERSION_KEY = KEY_PREFIX + VERSION_NAME  # its key in Redis
# A Redis outage may delay a version check, never hang authentication.
REDIS_TIMEOUT_S = 0.5
# Bounds memory if the active set is huge or keeps turning over.
MAX_ENTRIES = 10_000
# During an outage the database is tried again at most this often per process, by one thread at a
# time; every other lookup is served stale at once instead of waiting for a connection to fail
# (which takes DB_CONNECT_TIMEOUT_S when the database does not answer at all).
OUTAGE_RETRY_S = 1.0

_SKIPPED = object()


class KeyStoreUnavailable(Exception):
    """The database cannot be reached and nothing cached may stand in for it."""


# `KeyCache.peek`'s answer when only a lookup with I/O can tell.
MISSING = object()


class KeyCache:
    """Lookups by SHA-256 of the secret: the `ClientKey`, or None for unknown and revoked keys."""

    def __init__(self) -> None:
        # digest -> (the key or None, monotonic time it was read from the database)
        self._entries: dict[str, tuple[ClientKey | None, float]] = {}
        self._active: frozenset[str] | None = None
        self._active_loaded_at = float("-inf")
        self._lock = threading.Lock()
        # Bumped by every clear, so a lookup that read the database before a revocation cannot
        # store its stale answer after it.
        self._generation = 0
        self._version: str | None = None
        self._version_checked_at = float("-inf")
        self._version_known_at = float("-inf")
        self._outage_since: float | None = None
        self._retry_at = float("-inf")
        self._probe = threading.Lock()

    @property
    def generation(self) -> int:
        return self._generation

    def lookup(
        self,
        digest: str,
        *,
        load_active: Callable[[], Collection[str]],
        load_key: Callable[[str], ClientKey | None],
    ) -> ClientKey | None:
        """The key for `digest`, from the cache or through the loaders (which query the database).

        Raises `KeyStoreUnavailable` when the database fails and no answer within the stale bound
        is cached.
        """
        self._follow_version()
        active = self._active_digests(load_active)
        if digest not in active:
            return None
        entry = self._entries.get(digest)
        if entry is not None and self._fresh(entry[1]):
            return entry[0]
        generation = self._generation
        key = self._attempt(load_key, digest)
        if key is _SKIPPED:
            return self._stale_entry(entry)
        self._put(digest, key, generation=generation)
        return key

    def peek(self, digest: str):
        """The answer when it needs no I/O right now, else `MISSING`: for the event loop, where a
        lookup must not block. I/O is due when the version check is, or the active set or the
        entry is past its TTL; `lookup` (in a thread) does it."""
        now = time.monotonic()
        version_due = now - self._version_known_at >= settings.ACCESS_KEY_VERSION_CHECK_S
        if version_due and shared_state_spans_processes():
            return MISSING
        active = self._active
        if active is None or not self._fresh(self._active_loaded_at):
            return MISSING
        if digest not in active:
            return None
        entry = self._entries.get(digest)
        if entry is None or not self._fresh(entry[1]):
            return MISSING
        return entry[0]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._active = None
            self._generation += 1

    def bump_version(self) -> None:
        """Tell every process that keys changed (and forget this process's entries now)."""
        self.clear()
        if not shared_state_spans_processes():
            return
        try:
            shared_state_sync_incr(VERSION_NAME, timeout_s=REDIS_TIMEOUT_S)
        except redis.RedisError as exc:
            # Other workers still drop the change within ACCESS_KEY_CACHE_TTL_S.
            logger.warning("api_key_version_bump_failed", error=str(exc))

    def reset(self) -> None:
        """Forget everything, the version and any outage included (tests)."""
        with self._lock:
            self._entries.clear()
            self._active = None
            self._active_loaded_at = float("-inf")
            self._generation += 1
            self._version = None
            self._version_checked_at = float("-inf")
            self._version_known_at = float("-inf")
            self._outage_since = None
            self._retry_at = float("-inf")

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _fresh(loaded_at: float) -> bool:
        return time.monotonic() - loaded_at < settings.ACCESS_KEY_CACHE_TTL_S

    @staticmethod
    def _usable_stale(loaded_at: float) -> bool:
        return time.monotonic() - loaded_at < settings.ACCESS_KEY_CACHE_TTL_S + settings.ACCESS_KEY_STALE_S

    def _active_digests(self, load_active: Callable[[], Collection[str]]) -> frozenset[str]:
        active, loaded_at = self._active, self._active_loaded_at
        if active is not None and self._fresh(loaded_at):
            return active
        generation = self._generation
        loaded = self._attempt(load_active)
        if loaded is _SKIPPED:
            if active is not None and self._usable_stale(loaded_at):
                return active
            raise KeyStoreUnavailable("the key store is unreachable")
        loaded = frozenset(loaded)
        with self._lock:
            if generation == self._generation:
                self._active, self._active_loaded_at = loaded, time.monotonic()
        return loaded

    def _stale_entry(self, entry: tuple[ClientKey | None, float] | None) -> ClientKey | None:
        if entry is not None and self._usable_stale(entry[1]):
            return entry[0]
        raise KeyStoreUnavailable("the key store is unreachable")

    def _put(self, digest: str, key: ClientKey | None, *, generation: int) -> None:
        """Store a lookup made while the cache was at `generation` (dropped if it moved since)."""
        now = time.monotonic()
        with self._lock:
            if generation != self._generation:
                return
            if len(self._entries) >= MAX_ENTRIES and digest not in self._entries:
                horizon = settings.ACCESS_KEY_CACHE_TTL_S + settings.ACCESS_KEY_STALE_S
                self._entries = {d: e for d, e in self._entries.items() if now - e[1] < horizon}
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
            self._entries[digest] = (key, now)

    def _attempt(self, load: Callable, *args):
        """`load(*args)` from the database, or `_SKIPPED` when it failed (an outage begins) or is
        not tried (an outage is on, and it was tried under OUTAGE_RETRY_S ago or is being tried)."""
        probing = False
        if self._outage_since is not None:
            if time.monotonic() < self._retry_at or not self._probe.acquire(blocking=False):
                return _SKIPPED
            probing = True
        try:
            value = load(*args)
        except DatabaseError as exc:
            self._outage_seen(exc)
            return _SKIPPED
        finally:
            if probing:
                self._probe.release()
        self._recovered()
        return value

    def _outage_seen(self, exc: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            first = self._outage_since is None
            if first:
                self._outage_since = now
            self._retry_at = now + OUTAGE_RETRY_S
        if first:  # once per outage, not once per request
            logger.warning(
                "api_key_store_unreachable",
                error=str(exc).strip(),
                serving_stale_for_s=settings.ACCESS_KEY_STALE_S,
            )

    def _recovered(self) -> None:
        if self._outage_since is None:
            return
        with self._lock:
            since, self._outage_since = self._outage_since, None
        if since is not None:
            logger.info("api_key_store_recovered", outage_s=round(time.monotonic() - since, 1))

    def _follow_version(self) -> None:
        if not shared_state_spans_processes():
            return
        now = time.monotonic()
        with self._lock:
            if now - self._version_checked_at < settings.ACCESS_KEY_VERSION_CHECK_S:
                return
            self._version_checked_at = now
        try:
            version = shared_state_sync_get(VERSION_NAME, timeout_s=REDIS_TIMEOUT_S)
        except redis.RedisError as exc:
            logger.warning("api_key_version_check_failed", error=str(exc))
            return
        with self._lock:
            if version != self._version:
                self._entries.clear()
                self._active = None
                self._generation += 1
                self._version = version
            # Only now is the version known: `peek` must not answer from the old set while the
            # check is in flight (a key just created elsewhere would be refused).
            self._version_known_at = now


key_cache = KeyCache()
