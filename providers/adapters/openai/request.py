"""Building an OpenAI chat completions request body from the internal `ChatRequest`.

Shared by OpenAI, DeepSeek and every OpenAI-compatible server; the dialects differ only in the
hooks the adapter passes (the max-tokens field, the reasoning switch, replayed reasoning).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..messages import ChatRequest, ImagePart, Message, TextPart, ToolSpec


def chat_kwargs(
    request: ChatRequest,
    *,
    max_tokens_param: str,
    reasoning_kwargs: Callable[[str, dict[str, Any]], None],
    replayed_reasoning: Callable[[Message], str],
) -> dict[str, Any]:
    """The keyword arguments of the SDK's `chat.completions.create` for `request`."""
    kwargs: dict[str, Any] = {
        "model": request.model,
        "messages": [chat_message(m, replayed_reasoning=replayed_reasoning) for m in request.messages],
    }
    if request.temperature is not None:
        kwargs["temperature"] = request.temperature
    if request.top_p is not None:
        kwargs["top_p"] = request.top_p
    if request.max_tokens is not None:
        kwargs[max_tokens_param] = request.max_tokens
    if request.stop:
        kwargs["stop"] = list(request.stop)
    if request.user:
        kwargs["user"] = request.user
    if request.tools:
        _tools_kwargs(request, kwargs)
    if request.response_format is not None:
        kwargs["response_format"] = request.response_format.as_openai()
    if request.reasoning_effort is not None:
        reasoning_kwargs(request.reasoning_effort, kwargs)
    for name, value in request.options.items():
        kwargs[name] = value
    return kwargs


def _tools_kwargs(request: ChatRequest, kwargs: dict[str, Any]) -> None:
    kwargs["tools"] = [_tool(tool) for tool in request.tools or ()]
    if request.tool_choice is not None:
        choice = request.tool_choice
        named = {"type": "function", "function": {"name": choice.name}}
        kwargs["tool_choice"] = named if choice.mode == "function" else choice.mode
    if request.parallel_tool_calls is not None:
        kwargs["parallel_tool_calls"] = request.parallel_tool_calls


def chat_message(message: Message, *, replayed_reasoning: Callable[[Message], str]) -> dict[str, Any]:
    """One internal message in the chat completions shape."""
    role = message.role
    if role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id or "", "content": message.content}
    out: dict[str, Any] = {"role": role}
    if message.parts and role == "user":
        out["content"] = [_part(part) for part in message.parts]
    elif message.tool_calls and not message.content:
        out["content"] = None
    else:
        out["content"] = message.content
    if message.name and role in ("user", "system", "developer", "assistant"):
        out["name"] = message.name
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    replayed = replayed_reasoning(message)
    if replayed:
        out["reasoning_content"] = replayed
    return out


def _tool(tool: ToolSpec) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.parameters is not None:
        function["parameters"] = tool.parameters
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _part(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, ImagePart):
        image: dict[str, Any] = {"url": part.url}
        if part.detail:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    return {"type": "text", "text": part.text}
