"""Langfuse tracing of completions through the official SDK, entirely off the request path.

The request path only puts a small record on a bounded in-process queue (never blocks: when the
queue is full the trace is dropped and counted). A daemon thread turns each record into a Langfuse
generation; the SDK (OpenTelemetry underneath) batches them and exports to
`<LANGFUSE_HOST>/api/public/otel/v1/traces` from its own thread. A slow or dead Langfuse therefore
costs a completion nothing: at worst traces are dropped.

Tracing is on when LANGFUSE_HOST, LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY are all set. Prompts
and outputs are sent only with LOG_PROMPTS.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from django.conf import settings

logger = structlog.get_logger(__name__)

QUEUE_SIZE = 10_000


@dataclass(frozen=True)
class TraceRecord:
    """One finished completion, as the tracer needs it."""

    request_id: str
    status: str
    provider: str
    model: str
    requested_model: str
    api_key_id: int | None
    api_key_name: str | None
    attempts: int
    error_code: str
    streamed: bool
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd: float
    latency_ms: float
    ttft_ms: float | None = None
    input: list[dict] | None = None
    output: str | None = None
    ended_at: float = field(default_factory=time.time)


class _Tracer:
    def __init__(self) -> None:
        self.queue: queue.Queue[TraceRecord] = queue.Queue(maxsize=QUEUE_SIZE)
        self.dropped = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._client = None
        self._config: tuple[str, str, str, int] | None = None

    # ------------------------------------------------------------------ request path

    def enqueue(self, record: TraceRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                logger.warning("langfuse_queue_full", dropped=self.dropped)
            return
        if self._thread is None or not self._thread.is_alive():
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="langfuse-tracer", daemon=True)
                self._thread.start()

    # ------------------------------------------------------------------ background thread

    def _run(self) -> None:
        while True:
            record = self.queue.get()
            try:
                self._send(record)
            except Exception:
                logger.exception("langfuse_trace_failed", request_id=record.request_id)
            finally:
                self.queue.task_done()

    def client(self):
        """The SDK client for the current settings (rebuilt when they change)."""
        config = (
            settings.LANGFUSE_HOST.rstrip("/"),
            settings.LANGFUSE_PUBLIC_KEY,
            settings.LANGFUSE_SECRET_KEY,
            settings.LANGFUSE_TIMEOUT_S,
        )
        with self._lock:
            if self._client is None or self._config != config:
                from langfuse import Langfuse
                from opentelemetry.sdk.trace import TracerProvider

                old, self._client, self._config = self._client, None, config
                if old is not None:
                    threading.Thread(target=old.shutdown, name="langfuse-shutdown", daemon=True).start()
                host, public_key, secret_key, timeout_s = config
                self._client = Langfuse(
                    public_key=public_key,
                    secret_key=secret_key,
                    base_url=host,
                    timeout=timeout_s,
                    # Our own provider: the SDK would otherwise install itself as the process's
                    # global OpenTelemetry tracer provider.
                    tracer_provider=TracerProvider(),
                    release=settings.SERVICE_VERSION,
                )
            return self._client

    def _send(self, record: TraceRecord) -> None:
        from langfuse import Langfuse, propagate_attributes

        client = self.client()
        metadata = {
            "request_id": record.request_id,
            "provider": record.provider,
            "api_key": record.api_key_name or "",
            "api_key_id": record.api_key_id,
            "status": record.status,
            "cache": "hit" if record.status == "cache_hit" else "miss",
            "attempts": record.attempts,
            "streamed": record.streamed,
            "latency_ms": record.latency_ms,
            "requested_model": record.requested_model,
        }
        if record.error_code:
            metadata["error_code"] = record.error_code
        if record.ttft_ms is not None:
            metadata["ttft_ms"] = record.ttft_ms
        trace_metadata = {"request_id": record.request_id, "provider": record.provider or "none"}
        # The span starts when this thread gets to it; its end is placed `latency` later, so the
        # duration Langfuse shows is the completion's own latency.
        start_ns = time.time_ns()
        completion_start = None
        if record.ttft_ms is not None:
            completion_start = datetime.fromtimestamp((start_ns / 1e9) + record.ttft_ms / 1000, tz=UTC)
        with propagate_attributes(
            trace_name="completion",
            user_id=(record.api_key_name or None),
            tags=[t for t in (record.provider, record.status) if t],
            metadata=trace_metadata,
        ):
            generation = client.start_observation(
                trace_context={"trace_id": Langfuse.create_trace_id(seed=record.request_id)},
                name="completion",
                as_type="generation",
                model=record.model or record.requested_model,
                input=record.input,
                output=record.output,
                metadata=metadata,
                level="ERROR" if record.status == "error" else "DEFAULT",
                status_message=record.error_code or None,
                completion_start_time=completion_start,
                usage_details={
                    "input": record.prompt_tokens,
                    "output": record.completion_tokens,
                    "total": record.prompt_tokens + record.completion_tokens,
                    "input_cached_tokens": record.cached_tokens,
                },
                cost_details={"total": record.cost_usd},
            )
            generation.end(end_time=start_ns + int(record.latency_ms * 1_000_000))

    # ------------------------------------------------------------------ tests, shutdown

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued record is handed to the SDK, then flush the SDK's batch."""
        deadline = time.monotonic() + timeout_s
        while self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        client = self._client
        if client is not None:
            client.flush()
        return not self.queue.unfinished_tasks

    def reset(self) -> None:
        """Forget the client (tests), after its pending exports finished or gave up."""
        self.flush(timeout_s=5)
        with self._lock:
            old, self._client, self._config = self._client, None, None
        if old is not None:
            old.shutdown()


_tracer = _Tracer()


def tracing_enabled() -> bool:
    return bool(settings.LANGFUSE_HOST and settings.LANGFUSE_PUBLIC_KEY and settings.LANGFUSE_SECRET_KEY)


def completion_trace_enqueue(record: TraceRecord) -> None:
    """Hand one completion to the tracer; returns at once whatever Langfuse is doing."""
    _tracer.enqueue(record)


def tracing_flush(timeout_s: float = 10.0) -> bool:
    return _tracer.flush(timeout_s)


def tracing_dropped() -> int:
    return _tracer.dropped


def tracing_reset_for_tests() -> None:
    _tracer.reset()
