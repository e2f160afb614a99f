"""The pieces of OpenAI's Chat Completions answers: the assistant message, tool calls and usage."""

from __future__ import annotations

from typing import Any

from providers.adapters.messages import ToolCall
from providers.adapters.results import Usage


def tool_call_body(call: ToolCall) -> dict[str, Any]:
    """A tool call as a message's `tool_calls` entry."""
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def assistant_message(content: str, tool_calls, *, refusal: str | None = None, reasoning: str = "") -> dict:
    """The `message` of a choice; content is null when the answer is only tool calls."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if tool_calls and not content else content,
        "refusal": refusal,
    }
    if tool_calls:
        message["tool_calls"] = [tool_call_body(call) for call in tool_calls]
    if reasoning:
        message["reasoning_content"] = reasoning
    return message


def usage_body(usage: Usage) -> dict[str, Any]:
    """OpenAI's `usage`, with the cached and reasoning token details."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }
