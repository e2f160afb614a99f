"""Anthropic Messages <-> the internal request and result.

`messages_request_parse` reads a `/v1/messages` (or `/v1/messages/count_tokens`) body into a
`MessagesInput`: the translation every provider can take (system, content blocks, `tool_use` /
`tool_result`, images and thinking as internal messages, tools, reasoning effort) plus the body
itself for Anthropic (`native`: passed through unchanged, `cache_control`, `metadata`, beta fields
and all), with what only Anthropic can carry named in `native["requires"]`. A field or block type
it does not know is refused, in Anthropic's wording, never ignored.

`messages_response_render` and `MessagesStreamRenderer` turn the answer back into a Messages
response and Anthropic's event sequence; an answer Anthropic gave to its own protocol is returned
as Anthropic sent it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Final

from providers.adapters.anthropic import COUNT_TOKENS_FIELDS
from providers.adapters.messages import (
    ContentPart,
    ImagePart,
    Message,
    ReasoningPart,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolChoice,
    ToolSpec,
)
from providers.adapters.results import Usage
from routing.doors.openai_chat import DoorError, RouteControls, json_bytes
from routing.doors.openai_chat import _route as route_controls_parse

PROTOCOL: Final = "anthropic"
EFFORTS: Final = ("low", "medium", "high", "xhigh", "max")
IMAGE_MEDIA_TYPES: Final = ("image/jpeg", "image/png", "image/gif", "image/webp")
# The headers of Anthropic's protocol that travel with a passed-through request; a version the
# gateway does not know is accepted but not passed on (Anthropic gets its SDK's current one).
PASSED_HEADERS: Final = ("anthropic-version", "anthropic-beta")
KNOWN_VERSIONS: Final = frozenset({"2023-01-01", "2023-06-01", "2026-10-21"})

# Cost and capacity hints: carried to Anthropic, left out for the other providers (they do not
# change what the answer says). `cache_control` on blocks and tools is the same kind of hint.
HINT_FIELDS: Final = frozenset({"cache_control", "service_tier", "speed", "diagnostics"})
# Top-level fields only Anthropic can honour: a request that sets one is answered by Anthropic only
# (unless the client sends X-Drop-Params: true).
ANTHROPIC_ONLY_FIELDS: Final = frozenset(
    {
        "container",
        "inference_geo",
        "mcp_servers",
        "context_management",
        "compaction",
        "thread",
        "fallbacks",
        "fallback_credit_token",
        "billing_policy",
    }
)
CREATE_FIELDS: Final = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "system",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "thinking",
        "tools",
        "tool_choice",
        "output_config",
        *HINT_FIELDS,
        *ANTHROPIC_ONLY_FIELDS,
    }
)
COUNT_FIELDS: Final = COUNT_TOKENS_FIELDS
# The gateway's own field (routing controls, as at /v1/chat/completions); never sent upstream.
GATEWAY_FIELDS: Final = frozenset({"provider"})

# Content blocks only Anthropic understands (documents, search results, server tools and their
# results, MCP, containers, context management): accepted, and they make the request Anthropic's.
ANTHROPIC_ONLY_BLOCKS: Final = frozenset(
    {
        "document",
        "search_result",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "advisor_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "mcp_tool_listing",
        "container_upload",
        "compaction",
        "tool_addition",
        "tool_removal",
        "tool_reference",
        "fallback",
    }
)
_USER_BLOCKS: Final = frozenset({"text", "image", "tool_result"})
_ASSISTANT_BLOCKS: Final = frozenset({"text", "thinking", "redacted_thinking", "tool_use"})
_BLOCK_KEYS: Final[dict[str, frozenset[str]]] = {
    "text": frozenset({"type", "text", "cache_control", "citations"}),
    "image": frozenset({"type", "source", "cache_control"}),
    "tool_result": frozenset({"type", "tool_use_id", "content", "is_error", "cache_control"}),
    "thinking": frozenset({"type", "thinking", "signature"}),
    "redacted_thinking": frozenset({"type", "data"}),
    "tool_use": frozenset({"type", "id", "name", "input", "cache_control", "caller"}),
}
_TOOL_KEYS: Final = frozenset(
    {
        "type",
        "name",
        "description",
        "input_schema",
        "cache_control",
        "strict",
        "input_examples",
        "eager_input_streaming",
        "defer_loading",
        "allowed_callers",
    }
)
# Anthropic-defined tools carry a versioned type (`web_search_20250305`, `bash_20250124`, ...).
_VERSIONED_TOOL_RE: Final = re.compile(r"^[a-z][a-z0-9_]*_\d{8}$")
_TOOL_NAME_RE: Final = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
# A dated snapshot or `-latest` of a Claude model: `claude-haiku-4-5-20251001`.
_SNAPSHOT_RE: Final = re.compile(r"^(claude-[a-z0-9.-]+?)-(?:\d{8}|latest)$")

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

# count_tokens estimate (when Anthropic does not serve the model): about four characters a token.
CHARS_PER_TOKEN: Final = 4
IMAGE_TOKENS_ESTIMATE: Final = 1600  # a ~1.15 megapixel image (Anthropic: width * height / 750)
MESSAGE_TOKENS_ESTIMATE: Final = 4  # framing of each message


class MessagesError(Exception):
    """The request cannot be read: a 400 `invalid_request_error` naming the field (`param`)."""

    def __init__(self, message: str, *, param: str | None = None, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


@dataclass
class MessagesInput:
    model: str
    messages: tuple[Message, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] | None = None
    user: str | None = None
    stream: bool = False
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    route: RouteControls = field(default_factory=RouteControls)
    # The body for Anthropic, as sent (see `ChatRequest.native`).
    native: dict[str, Any] = field(default_factory=dict)
    # `thinking.display: "omitted"`: reasoning from other providers is not shown either.
    thinking_omitted: bool = False


# ------------------------------------------------------------------------------------ parsing


def _check_keys(obj: dict, allowed: frozenset[str] | set[str], where: str) -> None:
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        name = f"{where}.{unknown[0]}" if where else unknown[0]
        raise MessagesError(f"{name}: Extra inputs are not permitted", param=name, code="unknown_parameter")


def _string(value: Any, where: str, *, allow_empty: bool = True, max_length: int | None = None) -> str:
    if not isinstance(value, str):
        raise MessagesError(f"{where}: Input should be a valid string", param=where)
    if not allow_empty and not value:
        raise MessagesError(f"{where}: String should have at least 1 character", param=where)
    if max_length is not None and len(value) > max_length:
        raise MessagesError(f"{where}: String should have at most {max_length} characters", param=where)
    return value


def _number(body: dict, name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MessagesError(f"{name}: Input should be a valid number", param=name)
    if not low <= value <= high:
        raise MessagesError(f"{name}: Input should be between {low:g} and {high:g}", param=name)
    return float(value)


def _integer(value: Any, where: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MessagesError(f"{where}: Input should be a valid integer", param=where)
    if value < low:
        raise MessagesError(f"{where}: Input should be greater than or equal to {low}", param=where)
    return value


def _block_type(block: Any, where: str) -> str:
    if not isinstance(block, dict):
        raise MessagesError(f"{where}: Input should be a valid dictionary", param=where)
    kind = block.get("type")
    if not isinstance(kind, str):
        raise MessagesError(f"{where}.type: Field required", param=f"{where}.type")
    return kind


def _wrong_block(kind: str, where: str, allowed: frozenset[str]) -> MessagesError:
    if kind in _BLOCK_KEYS or kind in ANTHROPIC_ONLY_BLOCKS:
        message = (
            f"{where}.type: `{kind}` blocks are not allowed here (expected {', '.join(sorted(allowed))})"
        )
    else:
        message = (
            f"{where}.type: Input tag '{kind}' found using 'type' does not match any of the expected tags"
        )
    return MessagesError(message, param=f"{where}.type")


def _text_block(block: dict, where: str) -> str:
    _check_keys(block, _BLOCK_KEYS["text"], where)
    return _string(block.get("text"), f"{where}.text")


def _image_block(block: dict, where: str, requires: set[str]) -> ImagePart | None:
    """An image as the internal part (a data: URL or an https URL); None for a Files API image."""
    _check_keys(block, _BLOCK_KEYS["image"], where)
    source = block.get("source")
    if not isinstance(source, dict):
        raise MessagesError(f"{where}.source: Field required", param=f"{where}.source")
    kind = source.get("type")
    if kind == "base64":
        _check_keys(source, {"type", "media_type", "data"}, f"{where}.source")
        media_type = source.get("media_type")
        if media_type not in IMAGE_MEDIA_TYPES:
            raise MessagesError(
                f"{where}.source.media_type: Input should be "
                + ", ".join(f"'{t}'" for t in IMAGE_MEDIA_TYPES),
                param=f"{where}.source.media_type",
            )
        data = _string(source.get("data"), f"{where}.source.data", allow_empty=False)
        return ImagePart(url=f"data:{media_type};base64,{data}")
    if kind == "url":
        _check_keys(source, {"type", "url"}, f"{where}.source")
        url = _string(source.get("url"), f"{where}.source.url", allow_empty=False)
        if not url.startswith(("https://", "http://")):
            raise MessagesError(
                f"{where}.source.url: Input should be a valid URL", param=f"{where}.source.url"
            )
        return ImagePart(url=url)
    if kind == "file":
        _check_keys(source, {"type", "file_id"}, f"{where}.source")
        _string(source.get("file_id"), f"{where}.source.file_id", allow_empty=False)
        requires.add("content.image.source.file")  # the Files API is Anthropic's
        return None
    raise MessagesError(
        f"{where}.source.type: Input tag '{kind}' found using 'type' does not match any of the expected "
        "tags: 'base64', 'file', 'url'",
        param=f"{where}.source.type",
    )


def _tool_result(block: dict, where: str, requires: set[str]) -> Message:
    _check_keys(block, _BLOCK_KEYS["tool_result"], where)
    call_id = _string(block.get("tool_use_id"), f"{where}.tool_use_id", allow_empty=False)
    content = block.get("content", "")
    texts: list[str] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for index, part in enumerate(content):
            inner = f"{where}.content.{index}"
            kind = _block_type(part, inner)
            if kind == "text":
                texts.append(_text_block(part, inner))
            elif kind == "image":
                _image_block(part, inner, requires)
                requires.add("content.tool_result.image")  # tool messages elsewhere carry text only
            elif kind in ANTHROPIC_ONLY_BLOCKS:
                requires.add(f"content.tool_result.{kind}")
            else:
                raise _wrong_block(kind, inner, frozenset({"text", "image", "document", "search_result"}))
    elif content is not None:
        raise MessagesError(
            f"{where}.content: Input should be a string or a list of blocks", param=f"{where}.content"
        )
    is_error = block.get("is_error")
    if is_error is not None and not isinstance(is_error, bool):
        raise MessagesError(f"{where}.is_error: Input should be a valid boolean", param=f"{where}.is_error")
    text = "\n".join(texts)
    if is_error:
        text = f"Error: {text}"  # other providers have no error flag on a tool result
    return Message("tool", text, tool_call_id=call_id)


def _user_messages(content: Any, where: str, requires: set[str]) -> list[Message]:
    """A user turn: its tool results as `tool` messages, then the rest as one user message."""
    if isinstance(content, str):
        return [Message("user", content)]
    if not isinstance(content, list):
        raise MessagesError(
            f"{where}.content: Input should be a string or a list of blocks", param=f"{where}.content"
        )
    results: list[Message] = []
    parts: list[ContentPart] = []
    others = False
    for index, block in enumerate(content):
        inner = f"{where}.content.{index}"
        kind = _block_type(block, inner)
        if kind == "text":
            parts.append(TextPart(_text_block(block, inner)))
        elif kind == "image":
            image = _image_block(block, inner, requires)
            if image is not None:
                parts.append(image)
        elif kind == "tool_result":
            results.append(_tool_result(block, inner, requires))
        elif kind in ANTHROPIC_ONLY_BLOCKS:
            requires.add(f"content.{kind}")
            others = True
        else:
            raise _wrong_block(kind, inner, _USER_BLOCKS)
    text = "".join(p.text for p in parts if isinstance(p, TextPart))
    if parts or others or not results:
        with_images = tuple(parts) if any(isinstance(p, ImagePart) for p in parts) else ()
        results.append(Message("user", text, parts=with_images))
    return results


def _assistant_message(content: Any, where: str, requires: set[str]) -> Message:
    if isinstance(content, str):
        return Message("assistant", content)
    if not isinstance(content, list):
        raise MessagesError(
            f"{where}.content: Input should be a string or a list of blocks", param=f"{where}.content"
        )
    texts: list[str] = []
    calls: list[ToolCall] = []
    reasoning: list[ReasoningPart] = []
    for index, block in enumerate(content):
        inner = f"{where}.content.{index}"
        kind = _block_type(block, inner)
        if kind == "text":
            texts.append(_text_block(block, inner))
        elif kind == "thinking":
            _check_keys(block, _BLOCK_KEYS["thinking"], inner)
            text = _string(block.get("thinking"), f"{inner}.thinking")
            signature = _string(block.get("signature", ""), f"{inner}.signature")
            # A signature is Anthropic's (replayed verbatim there); the gateway renders other
            # providers' reasoning with an empty one, which DeepSeek-style providers take back as text.
            reasoning.append(
                ReasoningPart(text, signature=signature, protocol=PROTOCOL)
                if signature
                else ReasoningPart(text)
            )
        elif kind == "redacted_thinking":
            _check_keys(block, _BLOCK_KEYS["redacted_thinking"], inner)
            data = _string(block.get("data"), f"{inner}.data", allow_empty=False)
            reasoning.append(ReasoningPart("", redacted=data, protocol=PROTOCOL))
        elif kind == "tool_use":
            _check_keys(block, _BLOCK_KEYS["tool_use"], inner)
            arguments = block.get("input")
            if not isinstance(arguments, dict):
                raise MessagesError(
                    f"{inner}.input: Input should be a valid dictionary", param=f"{inner}.input"
                )
            calls.append(
                ToolCall(
                    id=_string(block.get("id"), f"{inner}.id", allow_empty=False, max_length=256),
                    name=_string(block.get("name"), f"{inner}.name", allow_empty=False, max_length=256),
                    arguments=json.dumps(arguments, separators=(",", ":"), ensure_ascii=False),
                )
            )
        elif kind in ANTHROPIC_ONLY_BLOCKS:
            requires.add(f"content.{kind}")
        else:
            raise _wrong_block(kind, inner, _ASSISTANT_BLOCKS)
    return Message("assistant", "".join(texts), tool_calls=tuple(calls), reasoning=tuple(reasoning))


def _turn_blocks(content: Any) -> list[dict]:
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _check_tool_turns(raw: list[dict]) -> None:
    """Anthropic's rules, checked before any provider is called: consecutive same-role messages are
    one turn; a user turn after `tool_use` blocks begins with one `tool_result` per call, and a
    result answers only a call of the assistant turn right before it."""
    turns: list[tuple[str, int, list[tuple[int, int, dict]]]] = []  # role, first index, blocks
    for i, message in enumerate(raw):
        blocks = [(i, j, b) for j, b in enumerate(_turn_blocks(message["content"]))]
        if turns and turns[-1][0] == message["role"]:
            turns[-1][2].extend(blocks)
        else:
            turns.append((message["role"], i, blocks))
    for position, (role, first, blocks) in enumerate(turns):
        if role != "user":
            continue
        previous = turns[position - 1] if position else None
        calls = [b.get("id") for _, _, b in (previous[2] if previous else []) if b.get("type") == "tool_use"]
        for i, j, block in blocks:
            if block.get("type") == "tool_result" and block.get("tool_use_id") not in calls:
                raise MessagesError(
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                    "`tool_use` block in the previous message.",
                    param=f"messages.{i}.content.{j}.tool_use_id",
                )
        leading = []
        for _, _, block in blocks:
            if block.get("type") != "tool_result":
                break
            leading.append(block.get("tool_use_id"))
        missing = [call for call in calls if call not in leading]
        if missing:
            raise MessagesError(
                f"messages.{first}.content.0: Did not find {len(missing)} tool_result block(s) at the "
                "beginning of this message. Messages following tool_use blocks must begin with a "
                "matching number of tool_result blocks.",
                param=f"messages.{first}.content",
            )


def _messages(value: Any, requires: set[str]) -> list[Message]:
    if not isinstance(value, list) or not value:
        raise MessagesError("messages: Field required (a non-empty list)", param="messages")
    if len(value) > 100_000:
        raise MessagesError("messages: at most 100000 messages", param="messages")
    converted: list[Message] = []
    for index, raw in enumerate(value):
        where = f"messages.{index}"
        if not isinstance(raw, dict):
            raise MessagesError(f"{where}: Input should be a valid dictionary", param=where)
        _check_keys(raw, {"role", "content"}, where)
        role = raw.get("role")
        if role not in ("user", "assistant"):
            raise MessagesError(
                f"{where}.role: Input should be 'user' or 'assistant' (the system prompt is the top-level "
                "`system`)",
                param=f"{where}.role",
            )
        if "content" not in raw:
            raise MessagesError(f"{where}.content: Field required", param=f"{where}.content")
        if role == "user":
            converted += _user_messages(raw["content"], where, requires)
        else:
            converted.append(_assistant_message(raw["content"], where, requires))
    _check_tool_turns(value)
    if value[-1]["role"] == "assistant":
        # Prefill (Anthropic continues the assistant's text); other providers would answer anew.
        requires.add("messages.prefill")
    return converted


def _system(value: Any) -> list[Message]:
    if value is None:
        return []
    if isinstance(value, str):
        return [Message("system", value)] if value else []
    if not isinstance(value, list):
        raise MessagesError("system: Input should be a string or a list of text blocks", param="system")
    texts = []
    for index, block in enumerate(value):
        where = f"system.{index}"
        kind = _block_type(block, where)
        if kind != "text":
            raise _wrong_block(kind, where, frozenset({"text"}))
        texts.append(_text_block(block, where))
    text = "\n\n".join(t for t in texts if t)
    return [Message("system", text)] if text else []


def _tools(value: Any, requires: set[str]) -> tuple[tuple[ToolSpec, ...], set[str]]:
    """The client tools as specs, and every tool name (Anthropic-defined tools included)."""
    if not isinstance(value, list):
        raise MessagesError("tools: Input should be a valid list", param="tools")
    specs: list[ToolSpec] = []
    names: set[str] = set()
    for index, tool in enumerate(value):
        where = f"tools.{index}"
        if not isinstance(tool, dict):
            raise MessagesError(f"{where}: Input should be a valid dictionary", param=where)
        kind = tool.get("type")
        name = tool.get("name")
        if kind not in (None, "custom"):
            if not isinstance(kind, str) or not (_VERSIONED_TOOL_RE.match(kind) or kind == "mcp_toolset"):
                raise MessagesError(
                    f"{where}.type: Input tag '{kind}' found using 'type' does not match any of the expected "
                    "tags ('custom' or an Anthropic tool such as 'web_search_20250305')",
                    param=f"{where}.type",
                )
            requires.add(f"tools.{kind}")  # a server or Anthropic-defined tool: only Anthropic runs it
            if isinstance(name, str):
                names.add(name)
            continue
        _check_keys(tool, _TOOL_KEYS, where)
        if not isinstance(name, str) or not _TOOL_NAME_RE.match(name):
            raise MessagesError(
                f"{where}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'", param=f"{where}.name"
            )
        if name in names:
            raise MessagesError(
                f"tools: Tool names must be unique ({name!r} is declared twice)", param=f"{where}.name"
            )
        names.add(name)
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise MessagesError(f"{where}.input_schema: Field required", param=f"{where}.input_schema")
        description = tool.get("description")
        if description is not None:
            description = _string(description, f"{where}.description")
        strict = tool.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise MessagesError(f"{where}.strict: Input should be a valid boolean", param=f"{where}.strict")
        specs.append(ToolSpec(name=name, description=description, parameters=schema, strict=strict))
    return tuple(specs), names


def _tool_choice(value: Any, names: set[str]) -> tuple[ToolChoice | None, bool | None]:
    """The choice and `parallel_tool_calls` (False when the client disabled parallel tool use)."""
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise MessagesError("tool_choice: Input should be a valid dictionary", param="tool_choice")
    kind = value.get("type")
    keys = {"type", "disable_parallel_tool_use"} | ({"name"} if kind == "tool" else set())
    if kind == "none":
        keys = {"type"}
    if kind not in ("auto", "any", "tool", "none"):
        raise MessagesError(
            f"tool_choice.type: Input tag '{kind}' found using 'type' does not match any of the expected "
            "tags: 'auto', 'any', 'tool', 'none'",
            param="tool_choice.type",
        )
    _check_keys(value, keys, "tool_choice")
    disable = value.get("disable_parallel_tool_use")
    if disable is not None and not isinstance(disable, bool):
        raise MessagesError(
            "tool_choice.disable_parallel_tool_use: Input should be a valid boolean",
            param="tool_choice.disable_parallel_tool_use",
        )
    parallel = False if disable else None
    if kind in ("any", "tool") and not names:
        raise MessagesError(f"tool_choice: `{kind}` needs tools", param="tool_choice")
    if kind == "tool":
        name = value.get("name")
        if name not in names:
            raise MessagesError(
                f"tool_choice.name: Tool '{name}' not found in `tools`", param="tool_choice.name"
            )
        return ToolChoice("function", name), parallel
    mode = {"auto": "auto", "any": "required", "none": "none"}[kind]
    return ToolChoice(mode), parallel  # type: ignore[arg-type]


def _thinking(value: Any, output_effort: str | None, requires: set[str]) -> tuple[str | None, bool]:
    """The reasoning effort other providers get, and whether thinking text is to be omitted."""
    if value is None:
        return None, False
    if not isinstance(value, dict):
        raise MessagesError("thinking: Input should be a valid dictionary", param="thinking")
    kind = value.get("type")
    if kind == "enabled":
        _check_keys(value, {"type", "budget_tokens", "display"}, "thinking")
        if "budget_tokens" not in value:
            raise MessagesError(
                "thinking.enabled.budget_tokens: Field required", param="thinking.budget_tokens"
            )
        budget = _integer(value["budget_tokens"], "thinking.enabled.budget_tokens", 1024)
        # The budgets the Anthropic adapter gives each effort, read the other way round.
        effort = (
            "low" if budget < 4096 else "medium" if budget < 16384 else "high" if budget < 32000 else "xhigh"
        )
    elif kind == "adaptive":
        _check_keys(value, {"type", "display"}, "thinking")
        effort = output_effort or "high"  # Anthropic's default effort
    elif kind == "disabled":
        _check_keys(value, {"type"}, "thinking")
        return None, False
    elif kind == "between_tools":
        _check_keys(value, {"type"}, "thinking")
        requires.add("thinking.between_tools")
        return None, False
    else:
        raise MessagesError(
            f"thinking.type: Input tag '{kind}' found using 'type' does not match any of the expected tags: "
            "'adaptive', 'disabled', 'enabled'",
            param="thinking.type",
        )
    display = value.get("display")
    if display not in (None, "summarized", "omitted"):
        raise MessagesError(
            "thinking.display: Input should be 'summarized' or 'omitted'", param="thinking.display"
        )
    return effort, display == "omitted"


def _output_config(value: Any) -> tuple[ResponseFormat | None, str | None]:
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise MessagesError("output_config: Input should be a valid dictionary", param="output_config")
    _check_keys(value, {"format", "effort"}, "output_config")
    effort = value.get("effort")
    if effort is not None and effort not in EFFORTS:
        raise MessagesError(
            f"output_config.effort: Input should be {', '.join(repr(e) for e in EFFORTS)}",
            param="output_config.effort",
        )
    fmt = value.get("format")
    if fmt is None:
        return None, effort
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        raise MessagesError(
            "output_config.format.type: Input should be 'json_schema'", param="output_config.format.type"
        )
    _check_keys(fmt, {"type", "schema"}, "output_config.format")
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        raise MessagesError(
            "output_config.format.schema: Field required", param="output_config.format.schema"
        )
    return ResponseFormat("json_schema", schema=schema, name="response"), effort


def _metadata(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MessagesError("metadata: Input should be a valid dictionary", param="metadata")
    _check_keys(value, {"user_id"}, "metadata")
    user = value.get("user_id")
    return None if user is None else _string(user, "metadata.user_id", max_length=256)


def _stop_sequences(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise MessagesError(
            "stop_sequences: Input should be a list of non-empty strings", param="stop_sequences"
        )
    return tuple(value) or None


def snapshot_base(model: str) -> str | None:
    """The model a dated Claude snapshot (or `-latest`) names: `claude-haiku-4-5-20251001` ->
    `claude-haiku-4-5`; None for other names."""
    found = _SNAPSHOT_RE.match(model)
    return found.group(1) if found else None


def messages_request_parse(
    body: Any, *, headers: dict[str, str] | None = None, beta: bool = False, count: bool = False
) -> MessagesInput:
    """A `/v1/messages` body (`count`: a `/v1/messages/count_tokens` body) as the internal request;
    MessagesError when it cannot be read. `headers`: the request's `anthropic-*` headers; `beta`:
    the client called the beta endpoint (`?beta=true`)."""
    if not isinstance(body, dict):
        raise MessagesError("the request body must be a JSON object")
    _check_keys(body, (COUNT_FIELDS if count else CREATE_FIELDS) | GATEWAY_FIELDS, "")
    requires: set[str] = set()
    model = _string(body.get("model"), "model", allow_empty=False, max_length=200)
    max_tokens: int | None = None
    if not count:
        if "max_tokens" not in body:
            raise MessagesError("max_tokens: Field required", param="max_tokens")
        max_tokens = _integer(body["max_tokens"], "max_tokens", 0)
        if max_tokens == 0:
            requires.add("max_tokens.0")  # only warms Anthropic's prompt cache
    messages = _system(body.get("system")) + _messages(body.get("messages"), requires)
    tools: tuple[ToolSpec, ...] = ()
    names: set[str] = set()
    if body.get("tools") is not None:
        tools, names = _tools(body["tools"], requires)
    tool_choice, parallel = _tool_choice(body.get("tool_choice"), names)
    response_format, output_effort = _output_config(body.get("output_config"))
    effort, omitted = _thinking(body.get("thinking"), output_effort, requires)
    options: dict[str, Any] = {}
    top_k = body.get("top_k")
    if top_k is not None:
        options["top_k"] = _integer(top_k, "top_k", 0)
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise MessagesError("stream: Input should be a valid boolean", param="stream")
    for name in sorted(ANTHROPIC_ONLY_FIELDS):
        if body.get(name) is not None:
            requires.add(name)
    try:
        route = route_controls_parse(body.get("provider"))
    except DoorError as error:
        raise MessagesError(error.message, param=error.param) from None
    passed = {
        name.lower(): str(value) for name, value in (headers or {}).items() if name.lower() in PASSED_HEADERS
    }
    if passed.get("anthropic-version") not in KNOWN_VERSIONS:
        passed.pop("anthropic-version", None)
    native = {
        "protocol": PROTOCOL,
        "body": {k: v for k, v in body.items() if k not in GATEWAY_FIELDS},
        "headers": passed,
        "beta": beta,
        "requires": sorted(requires),
    }
    return MessagesInput(
        model=model,
        messages=tuple(messages),
        max_tokens=max(max_tokens, 1) if max_tokens is not None else None,
        temperature=_number(body, "temperature", 0.0, 1.0),
        top_p=_number(body, "top_p", 0.0, 1.0),
        stop=_stop_sequences(body.get("stop_sequences")),
        user=_metadata(body.get("metadata")),
        stream=stream,
        tools=tools,
        tool_choice=tool_choice if tools else None,
        parallel_tool_calls=parallel if tools else None,
        response_format=response_format,
        reasoning_effort=effort,
        options=options,
        route=route,
        native=native,
        thinking_omitted=omitted,
    )


def messages_tokens_estimate(body: dict[str, Any]) -> int:
    """The documented estimate of a request's input tokens when Anthropic cannot count them: the
    characters of the system prompt, message texts, tool inputs and results and the JSON of the tool
    definitions, divided by four; 1,600 per image or document; 4 per message. Thinking from earlier
    turns is not counted (Anthropic does not count it either)."""
    chars = 0
    fixed = 0

    def walk(value: Any) -> None:
        nonlocal chars, fixed
        if isinstance(value, str):
            chars += len(value)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            kind = value.get("type")
            if kind in ("image", "document"):
                fixed += IMAGE_TOKENS_ESTIMATE
            elif kind in ("thinking", "redacted_thinking"):
                return
            elif kind == "tool_use":
                chars += len(json.dumps(value.get("input"), ensure_ascii=False)) + len(str(value.get("name")))
            else:
                for key, item in value.items():
                    if key not in ("role", "type", "cache_control", "citations", "id", "tool_use_id"):
                        walk(item)

    walk(body.get("system"))
    messages = body.get("messages") or []
    walk(messages)
    if body.get("tools"):
        chars += len(json.dumps(body["tools"], ensure_ascii=False))
    return math.ceil(chars / CHARS_PER_TOKEN) + fixed + MESSAGE_TOKENS_ESTIMATE * len(messages)


# ------------------------------------------------------------------------------------ rendering


def stop_reason(finish_reason: str | None) -> str:
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
    body: dict[str, Any] = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id:
        body["request_id"] = request_id
    return sse_event(body)


class MessagesStreamRenderer:
    """The chunks of a completion stream as Anthropic's events.

    When the first chunk carries the provider's own event (Anthropic answering a passed-through
    request) every event is forwarded as Anthropic sent it; otherwise the chunks are translated:
    `message_start`, one content block per run of reasoning (`thinking`), text and each tool call
    (`input_json_delta` pieces), then `message_delta` with the stop reason and usage, and
    `message_stop`.
    """

    def __init__(self, *, message_id: str, model: str, thinking_omitted: bool = False) -> None:
        self.message_id = message_id
        self.model = model
        self.thinking_omitted = thinking_omitted
        self.native: bool | None = None
        self.started = False
        self.block = -1  # index of the last block opened
        self.open_kind: str | None = None  # kind of the open block, None when none is open
        self.tool_blocks: dict[int, int] = {}  # tool-call index -> block index

    def chunk(self, chunk) -> list[bytes]:
        if self.native is None:
            self.native = chunk.native is not None
        if self.native:
            if chunk.native is None:
                return []
            out = [sse_event(chunk.native)]
            if chunk.native.get("type") == "message_start":
                out.append(PING)
            return out
        out = self._start()
        if chunk.reasoning and not self.thinking_omitted:
            out += self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            out.append(self._delta(self.block, {"type": "thinking_delta", "thinking": chunk.reasoning}))
        if chunk.delta:
            out += self._open("text", {"type": "text", "text": ""})
            out.append(self._delta(self.block, {"type": "text_delta", "text": chunk.delta}))
        for piece in chunk.tool_call_deltas:
            if piece.index not in self.tool_blocks:
                block = {
                    "type": "tool_use",
                    "id": piece.id or f"toolu_{self.message_id}_{piece.index}",
                    "name": piece.name or "",
                    "input": {},
                }
                out += self._open("tool_use", block, force=True)
                self.tool_blocks[piece.index] = self.block
            if piece.arguments:
                index = self.tool_blocks[piece.index]
                out.append(self._delta(index, {"type": "input_json_delta", "partial_json": piece.arguments}))
        return out

    def finish(self, *, finish_reason: str | None, usage: Usage | None, reasoning_parts=()) -> list[bytes]:
        """The end of a translated stream (nothing for a forwarded one: its own events ended it)."""
        if self.native:
            return []
        out = self._start()
        if self.open_kind == "thinking":
            signature = next(
                (p.signature for p in reasoning_parts if p.signature and p.protocol == PROTOCOL), None
            )
            if signature:
                out.append(self._delta(self.block, {"type": "signature_delta", "signature": signature}))
        out += self._close()
        out.append(
            sse_event(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason(finish_reason), "stop_sequence": None},
                    "usage": usage_render(usage),
                }
            )
        )
        out.append(sse_event({"type": "message_stop"}))
        return out

    def _start(self) -> list[bytes]:
        if self.started:
            return []
        self.started = True
        message = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_render(None),
        }
        return [sse_event({"type": "message_start", "message": message}), PING]

    def _open(self, kind: str, block: dict[str, Any], *, force: bool = False) -> list[bytes]:
        if self.open_kind == kind and not force:
            return []
        out = self._close()
        self.block += 1
        self.open_kind = kind
        out.append(sse_event({"type": "content_block_start", "index": self.block, "content_block": block}))
        return out

    def _close(self) -> list[bytes]:
        if self.open_kind is None:
            return []
        self.open_kind = None
        return [sse_event({"type": "content_block_stop", "index": self.block})]

    @staticmethod
    def _delta(index: int, delta: dict[str, Any]) -> bytes:
        return sse_event({"type": "content_block_delta", "index": index, "delta": delta})
