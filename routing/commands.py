"""CompletionCommand: a validated completion request, as every door hands it to routing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from access.limits import Reservation
from providers.adapters.messages import Message, ResponseFormat, ToolChoice, ToolSpec
from routing.doors.parsed import RouteControls


@dataclass(frozen=True)
class CompletionCommand:
    """A validated completion request."""

    request_id: str
    messages: tuple[Message, ...]
    model: str
    temperature: float | None = 0.7
    max_tokens: int | None = None
    top_p: float | None = None
    stop: tuple[str, ...] | None = None
    user: str | None = None
    provider: str | None = None
    api_key_id: int | None = None
    cache_read: bool = True
    cache_write: bool = True
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None
    # Every other provider parameter, by its OpenAI name (seed, n, logprobs, ...).
    options: dict[str, Any] = field(default_factory=dict)
    route: RouteControls = field(default_factory=RouteControls)
    # The client's opt-in: leave out what a provider cannot honour instead of refusing.
    drop_params: bool = False
    # The client key's model allow-list (empty: any model); it holds for fallbacks too.
    allowed_models: tuple[str, ...] = ()
    # The request in a provider's own protocol, passed through to that protocol's adapters
    # (`ChatRequest.native`; the Anthropic door sets it).
    native: dict[str, Any] | None = None
    # What admission reserved for this request; settled with the real amounts when it is recorded.
    reservation: Reservation | None = field(default=None, compare=False, repr=False)
