"""A whole answer as a Response object, and the output items and usage a stream reuses."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Final

from providers.adapters.messages import ToolCall
from providers.adapters.results import Usage
from routing.doors.openai_responses.request import ResponsesInput

_INCOMPLETE_REASONS: Final[dict[str, str]] = {
    "length": "max_output_tokens",
    "content_filter": "content_filter",
}


def new_id(prefix: str) -> str:
    """An id in OpenAI's style: `resp_...`, `msg_...`, `fc_...`."""
    return f"{prefix}_{secrets.token_hex(16)}"


def usage_render(usage: Usage | None) -> dict[str, Any] | None:
    """The Response object's `usage`."""
    if usage is None:
        return None
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def response_status(finish_reason: str | None) -> tuple[str, dict[str, str] | None]:
    """The Response status a finish reason gives, and its `incomplete_details`."""
    reason = _INCOMPLETE_REASONS.get(finish_reason or "")
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def output_text_part(text: str) -> dict[str, Any]:
    """A message item's text part."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def reasoning_text_part(text: str) -> dict[str, Any]:
    """A reasoning item's text part."""
    return {"type": "reasoning_text", "text": text}


def message_item(item_id: str, text: str, *, status: str, refusal: str | None = None) -> dict[str, Any]:
    """The assistant message output item (a refusal part when the model only refused)."""
    content = [{"type": "refusal", "refusal": refusal}] if refusal and not text else [output_text_part(text)]
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": content}


def reasoning_item(item_id: str, text: str, *, status: str = "completed") -> dict[str, Any]:
    """A reasoning output item."""
    return {
        "id": item_id,
        "type": "reasoning",
        "summary": [],
        "content": [reasoning_text_part(text)],
        "status": status,
    }


def call_item(item_id: str, call: ToolCall, *, status: str = "completed") -> dict[str, Any]:
    """A function_call output item."""
    return {
        "id": item_id,
        "type": "function_call",
        "call_id": call.id,
        "name": call.name,
        "arguments": call.arguments,
        "status": status,
    }


@dataclass
class ResponseShape:
    """Everything of a Response object that does not depend on the answer."""

    parsed: ResponsesInput
    id: str = field(default_factory=lambda: new_id("resp"))
    created_at: int = field(default_factory=lambda: int(time.time()))

    def body(
        self,
        *,
        model: str,
        status: str,
        output: list[dict[str, Any]],
        usage: Usage | None = None,
        provider: str | None = None,
        incomplete: dict[str, str] | None = None,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The Response object as it stands at `status`."""
        parsed = self.parsed
        done = status in ("completed", "incomplete", "failed")
        body: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": error,
            "incomplete_details": incomplete,
            "instructions": parsed.instructions,
            "max_output_tokens": parsed.chat.max_tokens,
            "max_tool_calls": None,
            "model": model,
            "output": output,
            "parallel_tool_calls": parsed.parallel_tool_calls,
            "previous_response_id": None,
            "reasoning": parsed.reasoning,
            "service_tier": parsed.service_tier,
            "store": False,
            "temperature": parsed.chat.temperature,
            "text": parsed.text,
            "tool_choice": parsed.tool_choice,
            "tools": parsed.tools,
            "top_p": parsed.chat.top_p,
            "truncation": "disabled",
            "usage": usage_render(usage) if done else None,
            "user": parsed.user,
            "metadata": parsed.metadata,
        }
        if provider is not None:
            body["provider"] = provider
        return body


def response_render(
    shape: ResponseShape,
    *,
    model: str,
    provider: str,
    content: str,
    finish_reason: str,
    usage: Usage,
    tool_calls: list[ToolCall],
    reasoning: str = "",
    refusal: str | None = None,
) -> dict[str, Any]:
    """A whole answer as a Response object: a reasoning item (when the provider returned reasoning),
    the message (unless the answer is only tool calls), then one function_call item per call."""
    status, incomplete = response_status(finish_reason)
    output: list[dict[str, Any]] = []
    if reasoning:
        output.append(reasoning_item(new_id("rs"), reasoning))
    if content or refusal or not tool_calls:
        output.append(message_item(new_id("msg"), content, status=status, refusal=refusal))
    output += [call_item(new_id("fc"), call) for call in tool_calls]
    return shape.body(
        model=model, status=status, output=output, usage=usage, provider=provider, incomplete=incomplete
    )
