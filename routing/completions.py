"""CompletionResult: a completion's answer as routing returns it to the doors."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone

from providers.adapters.messages import ToolCall
from providers.adapters.results import ChatChoice, Usage
from routing.attempts import Attempt


@dataclass
class CompletionResult:
    """The answer (from a provider or the cache), what it cost, and how it was reached."""

    content: str
    model: str
    provider: str
    usage: Usage
    finish_reason: str
    cost_usd: Decimal
    latency_ms: float
    attempts: list[Attempt]
    cache_hit: bool
    response_id: str | None
    created: Any = field(default_factory=timezone.now)
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning: str = ""
    refusal: str | None = None
    logprobs: dict[str, Any] | None = None
    more_choices: list[ChatChoice] = field(default_factory=list)
    dropped: frozenset[str] = frozenset()
    # The provider's own response body, when it answered a request in its own protocol.
    native: dict[str, Any] | None = None

    @property
    def attempt_count(self) -> int:
        return len(self.attempts)
