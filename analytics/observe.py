"""What happens when a completion ends, whatever its outcome: Prometheus counters, one structured log
line, and (when configured) a Langfuse trace. Called once per request by routing, next to the usage
record; cheap and synchronous, and it never raises into the request."""

from __future__ import annotations

from typing import Any

import structlog
from django.conf import settings

from analytics.metrics import outcome_metrics_record
from analytics.outcome import CompletionOutcome
from analytics.tracing import TraceRecord, completion_trace_enqueue, tracing_enabled

logger = structlog.get_logger(__name__)


def _key_name() -> str | None:
    # Bound for the request by access's authentication (the same value every log line carries).
    return structlog.contextvars.get_contextvars().get("client_key")


def completion_observed(outcome: CompletionOutcome) -> None:
    """Record one finished completion (success, cache hit or error) everywhere but the database."""
    try:
        outcome_metrics_record(outcome)
        key_name = _key_name()
        line = _log_line(outcome, key_name=key_name, log_prompts=settings.LOG_PROMPTS)
        logger.info("completion", **line)
        if tracing_enabled():
            completion_trace_enqueue(_trace(outcome, key_name=key_name, logged_input=line.get("messages")))
    except Exception:  # observability must never fail a request that has an answer
        logger.exception("completion_observe_failed", request_id=outcome.request_id)


def _log_line(outcome: CompletionOutcome, *, key_name: str | None, log_prompts: bool) -> dict[str, Any]:
    usage = outcome.usage
    line: dict[str, Any] = {
        "request_id": outcome.request_id,
        "api_key_name": key_name,
        "api_key_id": outcome.api_key_id,
        "provider": outcome.provider or None,
        "model": outcome.model or outcome.requested_model,
        "status": outcome.status,
        "cache": "hit" if outcome.cache_hit else "miss",
        "attempts": outcome.attempts,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cached_tokens": usage.cached_tokens,
        "cost_usd": float(outcome.cost_usd),
        "latency_ms": outcome.latency_ms,
        "streamed": outcome.streamed,
    }
    for name in ("cache_write_tokens", "reasoning_tokens"):
        if getattr(usage, name):
            line[name] = getattr(usage, name)
    line.update(outcome.usage_details)
    failed = [a for a in outcome.attempt_details if a.get("error_code")]
    if failed:
        line["failed_attempts"] = [f"{a['provider']}/{a['model']}: {a['error_code']}" for a in failed]
    if outcome.ttft_ms is not None:
        line["ttft_ms"] = round(outcome.ttft_ms, 2)
    if outcome.error_code:
        line["error_code"] = outcome.error_code
    if log_prompts:
        line["messages"] = [{"role": m.role, "content": m.content} for m in outcome.messages]
        line["output"] = outcome.output
    return line


def _trace(outcome: CompletionOutcome, *, key_name: str | None, logged_input: Any) -> TraceRecord:
    """The trace of the outcome; its input and output only when the log line carries them."""
    return TraceRecord(
        request_id=outcome.request_id,
        status=outcome.status,
        provider=outcome.provider,
        model=outcome.model,
        requested_model=outcome.requested_model,
        api_key_id=outcome.api_key_id,
        api_key_name=key_name,
        attempts=outcome.attempts,
        error_code=outcome.error_code,
        streamed=outcome.streamed,
        prompt_tokens=outcome.usage.prompt_tokens,
        completion_tokens=outcome.usage.completion_tokens,
        cached_tokens=outcome.usage.cached_tokens,
        cost_usd=float(outcome.cost_usd),
        latency_ms=outcome.latency_ms,
        ttft_ms=outcome.ttft_ms,
        input=logged_input,
        output=outcome.output if logged_input is not None else None,
    )
