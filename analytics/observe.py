"""What happens when a completion ends, whatever its outcome: Prometheus counters, one structured log
line, and (when configured) a Langfuse trace. Called once per request by routing, next to the usage
record; cheap and synchronous, and it never raises into the request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from django.conf import settings

from analytics.metrics import metrics_record
from analytics.services import UsageEvent
from analytics.tracing import TraceRecord, completion_trace_enqueue, tracing_enabled

logger = structlog.get_logger(__name__)


def _key_name() -> str | None:
    # Bound for the request by access's authentication (the same value every log line carries).
    return structlog.contextvars.get_contextvars().get("client_key")


def completion_observed(
    event: UsageEvent,
    *,
    requested_model: str = "",
    messages: Sequence[Any] = (),
    output: str | None = None,
    ttft_ms: float | None = None,
) -> None:
    """Record one finished completion (success, cache hit or error) everywhere but the database."""
    try:
        _observe(event, requested_model=requested_model, messages=messages, output=output, ttft_ms=ttft_ms)
    except Exception:  # observability must never fail a request that has an answer
        logger.exception("completion_observe_failed", request_id=event.request_id)


def _observe(event: UsageEvent, *, requested_model, messages, output, ttft_ms) -> None:
    cost = float(event.cost_usd)
    metrics_record(
        provider=event.provider,
        model=event.model,
        status=event.status,
        attempts=event.attempts,
        prompt_tokens=event.prompt_tokens,
        completion_tokens=event.completion_tokens,
        cost_usd=cost,
        latency_ms=event.latency_ms,
        ttft_ms=ttft_ms,
        attempt_details=event.attempt_details,
    )
    key_name = _key_name()
    log_prompts = settings.LOG_PROMPTS
    line: dict[str, Any] = {
        "request_id": event.request_id,
        "api_key_name": key_name,
        "api_key_id": event.api_key_id,
        "provider": event.provider or None,
        "model": event.model or requested_model,
        "status": event.status,
        "cache": "hit" if event.status == "cache_hit" else "miss",
        "attempts": event.attempts,
        "prompt_tokens": event.prompt_tokens,
        "completion_tokens": event.completion_tokens,
        "cached_tokens": event.cached_tokens,
        "cost_usd": cost,
        "latency_ms": event.latency_ms,
        "streamed": event.streamed,
    }
    for name in ("cache_write_tokens", "reasoning_tokens"):
        if getattr(event, name):
            line[name] = getattr(event, name)
    line.update(event.usage_details)
    failed = [a for a in event.attempt_details if a.get("error_code")]
    if failed:
        line["failed_attempts"] = [f"{a['provider']}/{a['model']}: {a['error_code']}" for a in failed]
    if ttft_ms is not None:
        line["ttft_ms"] = round(ttft_ms, 2)
    if event.error_code:
        line["error_code"] = event.error_code
    if log_prompts:
        line["messages"] = [{"role": m.role, "content": m.content} for m in messages]
        line["output"] = output
    logger.info("completion", **line)

    if tracing_enabled():
        completion_trace_enqueue(
            TraceRecord(
                request_id=event.request_id,
                status=event.status,
                provider=event.provider,
                model=event.model,
                requested_model=requested_model,
                api_key_id=event.api_key_id,
                api_key_name=key_name,
                attempts=event.attempts,
                error_code=event.error_code,
                streamed=event.streamed,
                prompt_tokens=event.prompt_tokens,
                completion_tokens=event.completion_tokens,
                cached_tokens=event.cached_tokens,
                cost_usd=cost,
                latency_ms=event.latency_ms,
                ttft_ms=ttft_ms,
                input=line.get("messages"),
                output=output if log_prompts else None,
            )
        )
