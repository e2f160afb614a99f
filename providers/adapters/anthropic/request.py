"""Building an Anthropic Messages request from the internal `ChatRequest`, or adjusting the
client's own Messages body when the request came in Anthropic's protocol (pass-through)."""

from __future__ import annotations

import json
import re
from typing import Any, Final

from ..base import ProviderAdapter
from ..messages import ChatRequest, ImagePart, Message, ReasoningPart, TextPart, ToolCall, ToolSpec

# The API version the 2.x SDK speaks (2026-10-21) rejects temperature/top_p/top_k; the previous one
# still takes them, so a request that sets them is pinned to it.
SAMPLING_API_VERSION: Final = "2023-06-01"
_SAMPLING_FIELDS: Final = ("temperature", "top_p", "top_k")
# What the count_tokens endpoint takes of a Messages request (it refuses the rest); the Anthropic
# door accepts the same.
COUNT_TOKENS_FIELDS: Final = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "thinking",
        "output_config",
        "cache_control",
        "speed",
        "context_management",
        "mcp_servers",
    }
)

# OpenAI's reasoning_effort as Anthropic's output_config.effort (adaptive thinking, Claude 4.6+)...
_ADAPTIVE_EFFORT: Final[dict[str, str]] = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "max",
}
# ... and as a manual thinking budget (`enabled` + budget_tokens, Claude 4.5 and older).
_THINKING_BUDGET: Final[dict[str, int]] = {
    "minimal": 1024,
    "low": 1024,
    "medium": 4096,
    "high": 16384,
    "xhigh": 32000,
    "max": 32000,
}

# claude-<family>-<major>[-<minor>]: the minor is one or two digits, so the date snapshot of
# `claude-opus-4-20250514` is not read as a version.
_MODEL_VERSION_RE: Final = re.compile(
    r"claude-(?:opus|sonnet|haiku)-(\d+)(?:-(\d{1,2}))?(?!\d)", re.IGNORECASE
)


def takes_adaptive_thinking(model: str) -> bool:
    """Claude 4.6 and later think adaptively (`enabled` + budget is deprecated there, or a 400)."""
    found = _MODEL_VERSION_RE.search(model)
    if found is None:
        return False
    major, minor = int(found.group(1)), int(found.group(2) or 0)
    return (major, minor) >= (4, 6)


def native_of(request: ChatRequest, kind: str) -> dict[str, Any] | None:
    """The client's request in this adapter's own protocol, if it came in that protocol."""
    native = request.native
    return native if native and native.get("protocol") == kind and native.get("body") else None


def native_call(
    request: ChatRequest, *, kind: str, default_max_tokens: int, stream: bool = False, count: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The client's own Messages body (and its `anthropic-*` headers) for this candidate: only
    the model, `max_tokens` (the gateway's cap, with room for a thinking budget) and the stream
    flag change; the API version is pinned to one that takes sampling parameters if they are set."""
    native = native_of(request, kind) or {}
    body = dict(native.get("body") or {})
    # A dated snapshot of the model the client named is kept (`claude-haiku-4-5-20251001`).
    snapshot = native.get("snapshot") or {}
    body["model"] = snapshot["model"] if snapshot.get("base") == request.model else request.model
    if count:
        body = {k: v for k, v in body.items() if k in COUNT_TOKENS_FIELDS}
    else:
        body["max_tokens"] = _native_max_tokens(body, request, default_max_tokens)
        body.pop("stream", None)
        if stream:
            body["stream"] = True
    headers = {k: v for k, v in (native.get("headers") or {}).items() if v}
    if any(body.get(name) is not None for name in _SAMPLING_FIELDS):
        headers["anthropic-version"] = SAMPLING_API_VERSION
    options: dict[str, Any] = {"headers": headers}
    if native.get("beta"):
        options["params"] = {"beta": "true"}
    return body, options


def _native_max_tokens(body: dict[str, Any], request: ChatRequest, default_max_tokens: int) -> int:
    asked = body.get("max_tokens")
    allowed = request.max_tokens if request.max_tokens is not None else default_max_tokens
    max_tokens = min(asked, allowed) if isinstance(asked, int) else allowed
    thinking = body.get("thinking")
    budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
    if isinstance(budget, int) and budget >= max_tokens and isinstance(asked, int) and asked > 0:
        # The thinking counts against max_tokens: the cap bounds the answer after it.
        max_tokens = min(asked, budget + allowed)
    return max_tokens


def messages_kwargs(
    adapter: ProviderAdapter, request: ChatRequest, *, default_max_tokens: int
) -> dict[str, Any]:
    """The keyword arguments of the SDK's `messages.create` for a translated request."""
    system, messages = _turns(adapter, request.messages)
    max_tokens = request.max_tokens or default_max_tokens
    kwargs: dict[str, Any] = {"model": request.model, "max_tokens": max_tokens, "messages": messages}
    if system:
        kwargs["system"] = "\n\n".join(system)
    if request.stop:
        kwargs["stop_sequences"] = list(request.stop)
    if request.user:
        kwargs["metadata"] = {"user_id": request.user}
    if request.tools:
        kwargs["tools"] = [_tool(tool) for tool in request.tools]
        tool_choice = _tool_choice(request)
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
    output_config: dict[str, Any] = {}
    response_format = request.response_format
    if response_format is not None and response_format.type == "json_schema":
        if response_format.schema is not None:
            output_config["format"] = {"type": "json_schema", "schema": response_format.schema}
    # json_object has no Anthropic equivalent and is not in supported_features: the router
    # never sends it here.
    if request.reasoning_effort is not None:
        _thinking_kwargs(adapter, request, kwargs, output_config)
    if output_config:
        kwargs["output_config"] = output_config
    _sampling_kwargs(request, kwargs)
    return kwargs


def _turns(adapter: ProviderAdapter, conversation: list[Message]) -> tuple[list[str], list[dict[str, Any]]]:
    """The system texts, and the turns alternating user/assistant as the API requires."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in conversation:
        if message.role in ("system", "developer"):
            system.append(message.content)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        content = _content(adapter, message)
        if messages and messages[-1]["role"] == role:
            # The API only alternates user/assistant; same-role turns are combined into one
            # (tool results become user turns, so consecutive ones land in one message).
            messages[-1]["content"] = _merge(messages[-1]["content"], content)
        else:
            messages.append({"role": role, "content": content})
    for turn in messages:
        if turn["role"] == "user" and isinstance(turn["content"], list):
            # tool_result blocks must open the user turn; text may only follow them.
            blocks = turn["content"]
            results = [b for b in blocks if b.get("type") == "tool_result"]
            turn["content"] = results + [b for b in blocks if b.get("type") != "tool_result"]
    return system, messages


def _thinking_kwargs(
    adapter: ProviderAdapter, request: ChatRequest, kwargs: dict[str, Any], output_config: dict[str, Any]
) -> None:
    effort = request.reasoning_effort or ""
    if effort == "none":
        kwargs["thinking"] = {"type": "disabled"}
    elif effort not in _ADAPTIVE_EFFORT:
        raise adapter._error("bad_request", f"unknown reasoning_effort {effort!r}", retryable=False)
    elif takes_adaptive_thinking(request.model):
        kwargs["thinking"] = {"type": "adaptive"}
        output_config["effort"] = _ADAPTIVE_EFFORT[effort]
    else:
        budget = _THINKING_BUDGET[effort]
        kwargs["thinking"] = {"type": "enabled", "budget_tokens": budget}
        # budget_tokens must stay below max_tokens, and the thinking counts against it:
        # the client's max_tokens bounds the answer, so the thinking comes on top.
        kwargs["max_tokens"] = budget + kwargs["max_tokens"]


def _sampling_kwargs(request: ChatRequest, kwargs: dict[str, Any]) -> None:
    sampling = {
        name: value
        for name, value in (("temperature", request.temperature), ("top_p", request.top_p))
        if value is not None
    }
    if sampling:
        # The SDK has no sampling parameters and its API version rejects them: pin the version
        # that still takes them and send them as raw body fields.
        kwargs["extra_headers"] = {"anthropic-version": SAMPLING_API_VERSION}
        kwargs["extra_body"] = sampling


def _content(adapter: ProviderAdapter, message: Message) -> str | list[dict[str, Any]]:
    """One internal message as Anthropic content: a plain string when it is only text."""
    if message.role == "tool":
        if not message.tool_call_id:
            raise adapter._error("bad_request", "a tool message without tool_call_id", retryable=False)
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
        if message.content:
            result["content"] = message.content
        return [result]
    if message.role == "assistant":
        if not message.tool_calls:
            return message.content
        blocks: list[dict[str, Any]] = [
            _thinking_block(part)
            for part in message.reasoning
            if part.protocol == adapter.kind and (part.redacted or part.signature)
        ]
        if message.content:
            blocks.append({"type": "text", "text": message.content})
        blocks += [_tool_use(adapter, call) for call in message.tool_calls]
        return blocks
    if message.parts:
        return [block for part in message.parts if (block := _user_block(part)) is not None]
    return message.content


def _tool_use(adapter: ProviderAdapter, call: ToolCall) -> dict[str, Any]:
    # Anthropic needs the input as an object. An OpenAI model may have produced arguments that
    # are not JSON; replacing them with {} would silently rewrite the conversation the model
    # sees, so refuse the request instead (no other attempt can make it valid here).
    if not call.arguments.strip():
        arguments: Any = {}
    else:
        try:
            arguments = json.loads(call.arguments)
        except ValueError:
            arguments = None
    if not isinstance(arguments, dict):
        raise adapter._error(
            "bad_request",
            f"tool call {call.id} ({call.name}): arguments are not a JSON object, "
            "which Anthropic requires as tool input",
            retryable=False,
        )
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": arguments}


def _tool_choice(request: ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    if choice is None:
        if request.parallel_tool_calls is False:
            return {"type": "auto", "disable_parallel_tool_use": True}
        return None
    if choice.mode == "none":
        return {"type": "none"}  # takes no disable_parallel_tool_use
    converted: dict[str, Any]
    if choice.mode == "required":
        converted = {"type": "any"}
    elif choice.mode == "function":
        converted = {"type": "tool", "name": choice.name}
    else:
        converted = {"type": "auto"}
    if request.parallel_tool_calls is False:
        converted["disable_parallel_tool_use"] = True
    return converted


def _merge(first: str | list[dict[str, Any]], second: str | list[dict[str, Any]]) -> Any:
    """Two same-role contents as one: strings joined by a blank line, otherwise blocks concatenated."""
    if isinstance(first, str) and isinstance(second, str):
        return f"{first}\n\n{second}"
    return _blocks(first) + _blocks(second)


def _blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return content
    return [{"type": "text", "text": content}] if content else []


def _tool(tool: ToolSpec) -> dict[str, Any]:
    schema = tool.parameters or {"type": "object", "properties": {}}
    converted: dict[str, Any] = {"name": tool.name}
    if tool.description:
        converted["description"] = tool.description
    converted["input_schema"] = schema
    if tool.strict is not None:
        converted["strict"] = tool.strict
    return converted


def _thinking_block(part: ReasoningPart) -> dict[str, Any]:
    if part.redacted:
        return {"type": "redacted_thinking", "data": part.redacted}
    return {"type": "thinking", "thinking": part.text, "signature": part.signature}


def _user_block(part: TextPart | ImagePart) -> dict[str, Any] | None:
    if isinstance(part, ImagePart):
        if part.is_data:
            media_type, data = part.data()
            return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    # The API rejects empty text blocks.
    return {"type": "text", "text": part.text} if part.text else None
