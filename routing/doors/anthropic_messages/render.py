"""A completion result as a Messages response, and the server-sent events of Anthropic's protocol."""

from __future__ import annotations

import json
from typing import Any, Final

from providers.adapters.results import Usage
from routing.doors.wire import json_bytes

# The internal finish reason as Anthropic's stop_reason.
STOP_REASONS: Final[dict[str, str]] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
# A provider failure (ProviderError.kind) as the `error.type` of Anthropic's stream error event.
STREAM_ERROR_TYPES: Final[dict[str, str]] = {
    "rate_limited": "rate_limit_error",
    "timeout": "timeout_error",
    "unavailable": "overloaded_error",
}


def stop_reason(finish_reason: str | None) -> str:
    """The internal finish reason as Anthropic's `stop_reason`."""
    return STOP_REASONS.get(finish_reason or "stop", "end_turn")


def usage_render(usage: Usage | None) -> dict[str, Any]:
    """Anthropic's usage: `input_tokens` without the cache reads and writes, which have their own fields."""
    usage = usage or Usage()
    read = usage.cached_tokens
    written = usage.cache_write_tokens
    hour = min(usage.cache_write_1h_tokens, written)
    body: dict[str, Any] = {
        "input_tokens": max(usage.prompt_tokens - read - written, 0),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_5m_input_tokens": written - hour, "ephemeral_1h_input_tokens": hour},
        "output_tokens": usage.completion_tokens,
    }
    if usage.reasoning_tokens:
        body["output_tokens_details"] = {"thinking_tokens": usage.reasoning_tokens}
    return body


def tool_input(arguments: str) -> dict[str, Any]:
    """Tool-call arguments (JSON text) as Anthropic's `input` object; {} when they are not one."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def messages_response_render(result, *, message_id: str, thinking_omitted: bool = False) -> dict[str, Any]:
    """A completion result as a Messages response. Anthropic's own answer to a passed-through
    request is returned as Anthropic sent it."""
    native = getattr(result, "native", None)
    if isinstance(native, dict) and native.get("type") == "message":
        return native
    content: list[dict[str, Any]] = []
    if result.reasoning and not thinking_omitted:
        # Other providers' reasoning has no Anthropic signature: an empty one (sent back, it is
        # replayed as plain reasoning where a provider takes that, and never to Anthropic as signed).
        content.append({"type": "thinking", "thinking": result.reasoning, "signature": ""})
    text = result.content or (result.refusal or "")
    if text:
        content.append({"type": "text", "text": text})
    for call in result.tool_calls:
        content.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": tool_input(call.arguments)}
        )
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": result.model,
        "content": content,
        "stop_reason": stop_reason(result.finish_reason),
        "stop_sequence": None,
        "usage": usage_render(result.usage),
    }


def sse_event(data: dict[str, Any]) -> bytes:
    """One Anthropic event: `event: <type>` and its JSON (whose `type` is the same name)."""
    return b"event: " + str(data.get("type", "message")).encode() + b"\ndata: " + json_bytes(data) + b"\n\n"


PING: Final = sse_event({"type": "ping"})


def stream_error_event(error_type: str, message: str, request_id: str | None = None) -> bytes:
    """Anthropic's `error` event, for a failure after the stream has begun."""
    body: dict[str, Any] = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id:
        body["request_id"] = request_id
    return sse_event(body)
