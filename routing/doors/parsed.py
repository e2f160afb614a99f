"""What a chat door gives routing: the internal chat request, and the client's routing controls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from providers.adapters.messages import Message, ResponseFormat, ToolChoice, ToolSpec
from routing.doors.common import DoorError, keys_check

ROUTE_SORTS: Final = ("price", "latency")


@dataclass(frozen=True)
class RouteControls:
    """OpenRouter-style `provider` object: which providers may answer, and in what order."""

    order: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    allow_fallbacks: bool = True
    sort: str | None = None

    @property
    def empty(self) -> bool:
        """The client set no control."""
        return self == RouteControls()

    def as_dict(self) -> dict[str, Any]:
        """As recorded with the request."""
        return {
            "order": list(self.order),
            "only": list(self.only),
            "ignore": list(self.ignore),
            "allow_fallbacks": self.allow_fallbacks,
            "sort": self.sort,
        }


def route_controls_parse(value: Any) -> RouteControls:
    """The gateway's own `provider` field, the same at every door."""
    if value is None:
        return RouteControls()
    if not isinstance(value, dict):
        raise DoorError(
            "provider must be an object (order, only, ignore, allow_fallbacks, sort)", param="provider"
        )
    keys_check(value, {"order", "only", "ignore", "allow_fallbacks", "sort"}, "provider")

    def names(key: str) -> tuple[str, ...]:
        items = value.get(key)
        if items is None:
            return ()
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise DoorError(f"provider.{key} must be a list of provider names", param=f"provider.{key}")
        return tuple(items)

    allow = value.get("allow_fallbacks", True)
    if not isinstance(allow, bool):
        raise DoorError("provider.allow_fallbacks must be a boolean", param="provider.allow_fallbacks")
    sort = value.get("sort")
    if sort is not None and sort not in ROUTE_SORTS:
        raise DoorError("provider.sort must be 'price' or 'latency'", param="provider.sort")
    return RouteControls(names("order"), names("only"), names("ignore"), allow, sort)


@dataclass
class ChatInput:
    """A parsed chat request, whichever protocol it came in: what routing and the adapters read."""

    model: str
    messages: tuple[Message, ...]
    stream: bool = False
    include_usage: bool = False
    # How the model samples and what shape its answer takes.
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None
    # The functions the model may call.
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None
    # Every other provider parameter, by its OpenAI name.
    options: dict[str, Any] = field(default_factory=dict)
    route: RouteControls = field(default_factory=RouteControls)
