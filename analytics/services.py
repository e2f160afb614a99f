"""Usage records: queued on the request path, written to the database in batches.

With Redis the queue is a Redis stream read through a consumer group: a flush reads a batch,
bulk-inserts it, and acknowledges the entries only after the transaction commits, so a web restart
or a database outage loses nothing. Between the answer and the flush the stream is the only copy of
a record: Redis must persist it (AOF, see docker-compose.yml). Without Redis a background thread in
the process drains an in-memory queue, which a crash or restart of the process loses.

A database outage never blocks a request (enqueueing never touches the database) and never drops a
record: the batch stays queued and is written by a later flush. A record the database refuses (a
value out of range, an unreadable entry) goes to `UsageDeadLetter` with its error, after the batch
is retried one record at a time, so it never holds up the records queued behind it.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import structlog
from django.conf import settings
from django.db import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)
from django.utils import timezone

from access.models import ApiKey
from analytics.models import UsageAttempt, UsageDeadLetter, UsageRecord
from core.redis_state import KEY_PREFIX
from core.shared_state import shared_state_spans_processes, shared_stream_add, shared_stream_group

logger = structlog.get_logger(__name__)

STREAM = "usage:stream"
STREAM_KEY = KEY_PREFIX + STREAM  # its key in Redis
GROUP = "usage-writers"
# An entry read by a writer that died is claimed by another after this long.
CLAIM_IDLE_MS = 60_000
# Errors that say the database cannot be reached (or is busy) now, not that a record is wrong.
DATABASE_DOWN_ERRORS = (OperationalError, InterfaceError)
# Longest pause of the in-process writer between attempts while the database is unreachable.
WRITER_MAX_BACKOFF_S = 30.0


class DatabaseUnavailable(Exception):
    """The database cannot take records now; the batch stays queued for a later flush."""


@dataclass
class UsageEvent:
    """What one accepted request did, as queued."""

    request_id: str
    status: str
    provider: str = ""
    model: str = ""
    api_key_id: int | None = None
    error_code: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    # Other token classes by Usage field name (cache_write_1h_tokens, input_audio_tokens, ...).
    usage_details: dict[str, int] = field(default_factory=dict)
    cost_usd: Decimal = Decimal("0")
    latency_ms: float = 0.0
    attempts: int = 1
    # Every upstream attempt in order: {"provider", "model", "error_code" ("" answered), "latency_ms"}.
    attempt_details: list[dict[str, Any]] = field(default_factory=list)
    streamed: bool = False
    created_at: datetime = field(default_factory=timezone.now)
    record_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_json(self) -> str:
        # A shallow dict (the two nested values are plain JSON already), not `asdict`'s deep copy.
        data = dict(vars(self))
        data["cost_usd"] = str(self.cost_usd)
        data["created_at"] = self.created_at.isoformat()
        try:
            return orjson.dumps(data).decode()
        except TypeError:  # what orjson refuses (a lone surrogate in an error message)
            return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> UsageEvent:
        """An event queued by this version, an older one (fields missing) or a newer one (fields
        this version does not know are left out)."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:  # e.g. an escaped lone surrogate, which json still reads
            data = json.loads(raw)
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["cost_usd"] = Decimal(data["cost_usd"])
        data["created_at"] = datetime.fromisoformat(data["created_at"])
        return cls(**data)

    def to_record(self) -> UsageRecord:
        # SQLite's INSERT OR IGNORE (the replay guard) would silently skip a row that breaks a
        # CHECK, so a negative count is refused here, as PostgreSQL would refuse it.
        for name in _COUNT_FIELDS:
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise ValueError(f"{name}={value!r} is not a token count")
        return UsageRecord(
            record_id=uuid.UUID(self.record_id),
            request_id=self.request_id,
            api_key_id=self.api_key_id,
            provider=self.provider,
            model=self.model,
            status=self.status,
            error_code=self.error_code,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cached_tokens=self.cached_tokens,
            cache_write_tokens=self.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens,
            usage_details=dict(self.usage_details),
            cost_usd=self.cost_usd,
            latency_ms=self.latency_ms,
            attempts=self.attempts,
            streamed=self.streamed,
            created_at=self.created_at,
        )

    def to_attempts(self) -> list[UsageAttempt]:
        record_id = uuid.UUID(self.record_id)
        return [
            UsageAttempt(
                record_id=record_id,
                seq=seq,
                provider=str(a.get("provider") or ""),
                model=str(a.get("model") or ""),
                error_code=str(a.get("error_code") or ""),
                latency_ms=float(a.get("latency_ms") or 0.0),
                created_at=self.created_at,
            )
            for seq, a in enumerate(self.attempt_details)
        ]


_COUNT_FIELDS = (
    "prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens", "cache_write_tokens",
)


# ---------------------------------------------------------------- writing, and dead letters

def _write(events: list[UsageEvent]) -> int:
    """Insert a batch in one transaction; entries already written (a replay) are skipped."""
    if not events:
        return 0
    with transaction.atomic():
        UsageRecord.objects.bulk_create([e.to_record() for e in events], ignore_conflicts=True)
        attempts = [a for e in events for a in e.to_attempts()]
        if attempts:
            UsageAttempt.objects.bulk_create(attempts, ignore_conflicts=True)
    return len(events)


def _store(events: list[UsageEvent]) -> int:
    """Write a batch; returns how many records were written (the rest were dead-lettered).

    If the database refuses the batch, each record is written alone and the ones it still refuses
    go to the dead-letter table. Raises `DatabaseUnavailable` when the database cannot be reached:
    the caller keeps the whole batch (records written before that are skipped when it is replayed).
    """
    try:
        return _write(events)
    except DATABASE_DOWN_ERRORS as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    except Exception as exc:
        logger.warning("usage_batch_refused", records=len(events), error=_error_text(exc))
    written = 0
    for event in events:
        try:
            written += _write_alone(event)
        except DATABASE_DOWN_ERRORS as exc:
            raise DatabaseUnavailable(str(exc)) from exc
        except Exception as exc:
            _dead_letter(
                payload=event.to_json(), error=exc, record_id=event.record_id, request_id=event.request_id
            )
    return written


def _write_alone(event: UsageEvent) -> int:
    try:
        return _write([event])
    except IntegrityError:
        if event.api_key_id is None or ApiKey.objects.filter(pk=event.api_key_id).exists():
            raise
    # The key was deleted between the request and the flush: the record lands without it, as the
    # foreign key's SET_NULL would have left it had the record been written first.
    logger.info("usage_record_key_deleted", record_id=event.record_id, api_key_id=event.api_key_id)
    return _write([replace(event, api_key_id=None)])


def _dead_letter(*, payload: str, error: BaseException, record_id: str = "", request_id: str = "") -> None:
    """Keep a refused record with its error. If even that fails, the record stays queued."""
    message = _error_text(error)
    try:
        UsageDeadLetter.objects.bulk_create(
            [
                UsageDeadLetter(
                    payload_sha256=hashlib.sha256(payload.encode()).hexdigest(),
                    record_id=str(record_id)[:64],
                    request_id=str(request_id)[:128].replace("\x00", ""),
                    error=message,
                    payload=payload,
                )
            ],
            ignore_conflicts=True,
        )
    except Exception as exc:
        raise DatabaseUnavailable(f"dead letter not written: {exc}") from exc
    logger.error("usage_record_dead_lettered", record_id=record_id, error=message)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip().replace("\x00", "")[:2000]


def _release_broken_connection() -> None:
    """After an outage error, drop this thread's connection if it is broken, so the next flush
    reconnects instead of failing on a dead socket (never inside a transaction: tests)."""
    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()


# ---------------------------------------------------------------- in-process queue (no Redis)

_local_queue: queue.SimpleQueue[UsageEvent] = queue.SimpleQueue()
_writer_lock = threading.Lock()
_writer: threading.Thread | None = None


def _drain_local(limit: int) -> list[UsageEvent]:
    events: list[UsageEvent] = []
    while len(events) < limit:
        try:
            events.append(_local_queue.get_nowait())
        except queue.Empty:
            break
    return events


def _requeue_local(events: list[UsageEvent]) -> None:
    for event in events:
        _local_queue.put(event)


def _writer_loop() -> None:
    backoff = 0.0
    while True:
        if backoff:
            time.sleep(backoff)
        if not settings.USAGE_BACKGROUND_WRITER:
            return  # switched off (tests): `usage_flush` writes the queue instead
        try:
            first = _local_queue.get(timeout=settings.USAGE_FLUSH_INTERVAL_S)
        except queue.Empty:
            continue
        if not settings.USAGE_BACKGROUND_WRITER:
            _local_queue.put(first)
            return
        events = [first, *_drain_local(settings.USAGE_FLUSH_BATCH - 1)]
        try:
            close_old_connections()
            _store(events)
            if backoff:
                logger.info("usage_writer_recovered")
            backoff = 0.0
        except DatabaseUnavailable as exc:
            _requeue_local(events)
            if not backoff:  # once per outage
                logger.warning("usage_writer_database_unavailable", records=len(events), error=str(exc))
            backoff = min(max(backoff * 2, settings.USAGE_FLUSH_INTERVAL_S), WRITER_MAX_BACKOFF_S)
        except Exception:
            logger.exception("usage_write_failed", records=len(events))
            _requeue_local(events)
            backoff = min(max(backoff * 2, settings.USAGE_FLUSH_INTERVAL_S), WRITER_MAX_BACKOFF_S)
        finally:
            close_old_connections()


def _ensure_writer() -> None:
    global _writer
    if _writer is not None and _writer.is_alive():
        return
    with _writer_lock:
        if _writer is None or not _writer.is_alive():
            _writer = threading.Thread(target=_writer_loop, name="usage-writer", daemon=True)
            _writer.start()


# ---------------------------------------------------------------- public services


async def usage_record_enqueue(event: UsageEvent) -> None:
    """Queue one usage record. Never raises: if Redis is unreachable the record goes to the
    in-process queue instead of being lost."""
    if shared_state_spans_processes():
        try:
            await shared_stream_add(STREAM, {"e": event.to_json()})
            return
        except Exception:
            logger.warning("usage_queue_redis_unavailable", request_id=event.request_id)
    _local_queue.put(event)
    if settings.USAGE_BACKGROUND_WRITER:
        _ensure_writer()


def _consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _flush_stream(batch: int) -> int:
    """Write the records queued in the shared stream (none when the store is this process's memory:
    they are all in the local queue)."""
    group = shared_stream_group(STREAM, group=GROUP)
    if group is None:
        return 0
    consumer = _consumer_name()
    written = 0
    while True:
        # Entries a dead writer read but never acknowledged (or a writer handed back after a database
        # error) come first.
        entries = group.read(consumer=consumer, count=batch, claim_idle_ms=CLAIM_IDLE_MS)
        if not entries:
            return written
        ids = [entry_id for entry_id, _ in entries]
        try:
            events = _readable_events(entries)
            written += _store(events)
        except DatabaseUnavailable:
            # Handed back as if idle for long: the next flush of any writer claims them at once.
            group.hand_back(consumer=consumer, ids=ids, idle_ms=CLAIM_IDLE_MS)
            raise
        # Acknowledged only after the commit: a crash before this line means a replay, which the
        # unique record id turns into a no-op.
        group.done(ids)


def _readable_events(entries: list[tuple[str, dict]]) -> list[UsageEvent]:
    """The events of stream entries; an entry that does not read as one is dead-lettered."""
    events = []
    for _, entry_fields in entries:
        raw = entry_fields.get("e", "")
        try:
            events.append(UsageEvent.from_json(raw))
        except Exception as exc:
            _dead_letter(payload=str(raw) or json.dumps(entry_fields), error=exc)
    return events


def usage_flush(*, batch: int | None = None) -> int:
    """Write every queued usage record; returns how many were written. Sync: Celery and tests.

    While the database is unreachable it writes what it can, logs `usage_flush_database_unavailable`
    and returns: the rest stays queued for the next flush.
    """
    batch = batch or settings.USAGE_FLUSH_BATCH
    written = 0
    try:
        while events := _drain_local(batch):
            try:
                written += _store(events)
            except DatabaseUnavailable:
                _requeue_local(events)
                raise
        written += _flush_stream(batch)
    except DatabaseUnavailable as exc:
        logger.warning("usage_flush_database_unavailable", written=written, error=str(exc))
        _release_broken_connection()
    return written


def usage_queue_reset_for_tests() -> None:
    _drain_local(10**9)
