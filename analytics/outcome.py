"""CompletionOutcome: what one finished request did, built once by routing when the request ends and
read by everything that records it (the usage record, Prometheus metrics, the log line, the trace)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from providers.adapters.results import Usage

# The token classes with a column of their own on the usage record; any other goes to `usage_details`.
USAGE_COLUMNS = frozenset(
    {"prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens", "cache_write_tokens"}
)


@dataclass
class CompletionOutcome:
    """One finished completion or embeddings request: a success, a cache hit or an error."""

    request_id: str
    # success, error or cache_hit.
    status: str
    api_key_id: int | None = None
    # The catalogue names of the provider and model that answered (or failed last).
    provider: str = ""
    model: str = ""
    # The model the client asked for (an alias, a fallback's primary).
    requested_model: str = ""
    usage: Usage = field(default_factory=Usage)
    cost_usd: Decimal = Decimal("0")
    # As the client saw it, attempts included; rounded to hundredths of a millisecond.
    latency_ms: float = 0.0
    attempts: int = 0
    # Every upstream attempt in order: {"provider", "model", "error_code" ("" answered), "latency_ms"}.
    attempt_details: list[dict[str, Any]] = field(default_factory=list)
    error_code: str = ""
    streamed: bool = False
    # Streams: from the request to the first chunk.
    ttft_ms: float | None = None
    # The prompt and the answer's text, for the log line and the trace when LOG_PROMPTS is on.
    messages: Sequence[Any] = ()
    output: str | None = None

    @property
    def cache_hit(self) -> bool:
        return self.status == "cache_hit"

    @property
    def usage_details(self) -> dict[str, int]:
        """The token classes beyond the usage record's own columns (cache_write_1h_tokens, ...)."""
        return {k: v for k, v in self.usage.as_dict(nonzero=True).items() if k not in USAGE_COLUMNS}

    def usage_record_fields(self) -> dict[str, Any]:
        """The outcome as its usage record's fields (`analytics.services.UsageEvent`)."""
        usage = self.usage
        return {
            "request_id": self.request_id,
            "status": self.status,
            "provider": self.provider,
            "model": self.model,
            "api_key_id": self.api_key_id,
            "error_code": self.error_code,
            **{name: getattr(usage, name) for name in USAGE_COLUMNS},
            "usage_details": self.usage_details,
            "cost_usd": self.cost_usd,
            "latency_ms": self.latency_ms,
            "attempts": self.attempts,
            "attempt_details": self.attempt_details,
            "streamed": self.streamed,
        }
