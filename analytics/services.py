"""Usage records: queued on the request path, written to the database in batches.

With Redis the queue is a Redis stream read through a consumer group: a flush reads a batch,
bulk-inserts it, and acknowledges the entries only after the transaction commits, so a web restart
or a database outage loses nothing (unacknowledged entries are claimed again later). Without Redis a
background thread in the process drains an in-memory queue.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import threading
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from aiprovider_site.shared_state import KEY_PREFIX, shared_state, sync_redis
from analytics.models import UsageAttempt, UsageRecord

logger = structlog.get_logger(__name__)

STREAM_KEY = KEY_PREFIX + "usage:stream"
GROUP = "usage-writers"
# An entry read by a writer that died is claimed by another after this long.
CLAIM_IDLE_MS = 60_000


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
        data = asdict(self)
        data["cost_usd"] = str(self.cost_usd)
        data["created_at"] = self.created_at.isoformat()
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> UsageEvent:
        """An event queued by this version, an older one (fields missing) or a newer one (fields
        this version does not know are left out)."""
        data = json.loads(raw)
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["cost_usd"] = Decimal(data["cost_usd"])
        data["created_at"] = datetime.fromisoformat(data["created_at"])
        return cls(**data)

    def to_record(self) -> UsageRecord:
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


# ---------------------------------------------------------------- in-process queue (no Redis)

_local_queue: queue.SimpleQueue[UsageEvent] = queue.SimpleQueue()
_writer_lock = threading.Lock()
_writer: threading.Thread | None = None


def _write(events: list[UsageEvent]) -> int:
    """Insert a batch; entries already written (a replay) are skipped."""
    if not events:
        return 0
    with transaction.atomic():
        UsageRecord.objects.bulk_create([e.to_record() for e in events], ignore_conflicts=True)
        attempts = [a for e in events for a in e.to_attempts()]
        if attempts:
            UsageAttempt.objects.bulk_create(attempts, ignore_conflicts=True)
    return len(events)


def _drain_local(limit: int) -> list[UsageEvent]:
    events: list[UsageEvent] = []
    while len(events) < limit:
        try:
            events.append(_local_queue.get_nowait())
        except queue.Empty:
            break
    return events


def _writer_loop() -> None:
    while True:
        try:
            first = _local_queue.get(timeout=settings.USAGE_FLUSH_INTERVAL_S)
        except queue.Empty:
            continue
        events = [first, *_drain_local(settings.USAGE_FLUSH_BATCH - 1)]
        try:
            close_old_connections()
            _write(events)
        except Exception:
            logger.exception("usage_write_failed", records=len(events))
            for event in events:  # keep them for the next round
                _local_queue.put(event)
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
    if settings.REDIS_URL:
        try:
            await shared_state().client.xadd(STREAM_KEY, {"e": event.to_json()})
            return
        except Exception:
            logger.warning("usage_queue_redis_unavailable", request_id=event.request_id)
    _local_queue.put(event)
    if settings.USAGE_BACKGROUND_WRITER:
        _ensure_writer()


def _consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _ensure_group(client) -> None:
    try:
        client.xgroup_create(STREAM_KEY, GROUP, id="0", mkstream=True)
    except Exception as exc:  # BUSYGROUP: it exists
        if "BUSYGROUP" not in str(exc):
            raise


def _flush_stream(batch: int) -> int:
    client = sync_redis()
    _ensure_group(client)
    consumer = _consumer_name()
    written = 0
    while True:
        entries: list[tuple[str, dict]] = []
        # Entries a dead writer read but never acknowledged come first.
        _, claimed, _ = client.xautoclaim(
            STREAM_KEY, GROUP, consumer, min_idle_time=CLAIM_IDLE_MS, count=batch
        )
        entries += [(entry_id, fields) for entry_id, fields in claimed if fields]
        if len(entries) < batch:
            for _, stream_entries in (
                client.xreadgroup(GROUP, consumer, {STREAM_KEY: ">"}, count=batch - len(entries)) or []
            ):
                entries += stream_entries
        if not entries:
            return written
        events = [UsageEvent.from_json(fields["e"]) for _, fields in entries]
        _write(events)
        ids = [entry_id for entry_id, _ in entries]
        # Acknowledged only after the commit: a crash before this line means a replay, which the
        # unique record id turns into a no-op.
        client.xack(STREAM_KEY, GROUP, *ids)
        client.xdel(STREAM_KEY, *ids)
        written += len(events)


def usage_flush(*, batch: int | None = None) -> int:
    """Write every queued usage record; returns how many were written. Sync: Celery and tests."""
    batch = batch or settings.USAGE_FLUSH_BATCH
    written = 0
    while events := _drain_local(batch):
        written += _write(events)
    if settings.REDIS_URL:
        written += _flush_stream(batch)
    return written


def usage_queue_reset_for_tests() -> None:
    _drain_local(10**9)
