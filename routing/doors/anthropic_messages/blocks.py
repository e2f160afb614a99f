"""Anthropic content blocks as internal messages: text, images, tool use and results, thinking."""

from __future__ import annotations

import json
from typing import Any, Final

from providers.adapters.messages import ContentPart, ImagePart, Message, ReasoningPart, TextPart, ToolCall
from routing.doors.anthropic_messages.validation import (
    MessagesError,
    block_type,
    content_refusal,
    keys_check,
    string_parse,
    unknown_tag,
)

PROTOCOL: Final = "anthropic"
IMAGE_MEDIA_TYPES: Final = ("image/jpeg", "image/png", "image/gif", "image/webp")
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
_TOOL_RESULT_BLOCKS: Final = frozenset({"text", "image", "document", "search_result"})
_BLOCK_KEYS: Final[dict[str, frozenset[str]]] = {
    "text": frozenset({"type", "text", "cache_control", "citations"}),
    "image": frozenset({"type", "source", "cache_control"}),
    "tool_result": frozenset({"type", "tool_use_id", "content", "is_error", "cache_control"}),
    "thinking": frozenset({"type", "thinking", "signature"}),
    "redacted_thinking": frozenset({"type", "data"}),
    "tool_use": frozenset({"type", "id", "name", "input", "cache_control", "caller"}),
}


def wrong_block(kind: str, where: str, allowed: frozenset[str]) -> MessagesError:
    """A block where it may not stand (a known type), or of a type Anthropic does not know."""
    if kind in _BLOCK_KEYS or kind in ANTHROPIC_ONLY_BLOCKS:
        return MessagesError(
            f"{where}.type: `{kind}` blocks are not allowed here (expected {', '.join(sorted(allowed))})",
            param=f"{where}.type",
        )
    return unknown_tag(f"{where}.type", kind)


def text_block(block: dict, where: str) -> str:
    """A `text` block's text."""
    keys_check(block, _BLOCK_KEYS["text"], where)
    return string_parse(block.get("text"), f"{where}.text")


def _image_block(block: dict, where: str, requires: set[str]) -> ImagePart | None:
    """An image as the internal part (a data: URL or an https URL); None for a Files API image."""
    keys_check(block, _BLOCK_KEYS["image"], where)
    source = block.get("source")
    if not isinstance(source, dict):
        raise MessagesError(f"{where}.source: Field required", param=f"{where}.source")
    kind = source.get("type")
    if kind == "base64":
        keys_check(source, {"type", "media_type", "data"}, f"{where}.source")
        media_type = source.get("media_type")
        if media_type not in IMAGE_MEDIA_TYPES:
            raise MessagesError(
                f"{where}.source.media_type: Input should be "
                + ", ".join(f"'{t}'" for t in IMAGE_MEDIA_TYPES),
                param=f"{where}.source.media_type",
            )
        data = string_parse(source.get("data"), f"{where}.source.data", allow_empty=False)
        return ImagePart(url=f"data:{media_type};base64,{data}")
    if kind == "url":
        keys_check(source, {"type", "url"}, f"{where}.source")
        url = string_parse(source.get("url"), f"{where}.source.url", allow_empty=False)
        if not url.startswith(("https://", "http://")):
            raise MessagesError(
                f"{where}.source.url: Input should be a valid URL", param=f"{where}.source.url"
            )
        return ImagePart(url=url)
    if kind == "file":
        keys_check(source, {"type", "file_id"}, f"{where}.source")
        string_parse(source.get("file_id"), f"{where}.source.file_id", allow_empty=False)
        requires.add("content.image.source.file")  # the Files API is Anthropic's
        return None
    raise unknown_tag(f"{where}.source.type", kind, ": 'base64', 'file', 'url'")


def _tool_result_texts(content: Any, where: str, requires: set[str]) -> list[str]:
    if isinstance(content, str):
        return [content]
    if content is None:
        return []
    if not isinstance(content, list):
        raise content_refusal(where)
    texts: list[str] = []
    for index, part in enumerate(content):
        inner = f"{where}.content.{index}"
        kind = block_type(part, inner)
        if kind == "text":
            texts.append(text_block(part, inner))
        elif kind == "image":
            _image_block(part, inner, requires)
            requires.add("content.tool_result.image")  # tool messages elsewhere carry text only
        elif kind in ANTHROPIC_ONLY_BLOCKS:
            requires.add(f"content.tool_result.{kind}")
        else:
            raise wrong_block(kind, inner, _TOOL_RESULT_BLOCKS)
    return texts


def _tool_result(block: dict, where: str, requires: set[str]) -> Message:
    keys_check(block, _BLOCK_KEYS["tool_result"], where)
    call_id = string_parse(block.get("tool_use_id"), f"{where}.tool_use_id", allow_empty=False)
    texts = _tool_result_texts(block.get("content", ""), where, requires)
    is_error = block.get("is_error")
    if is_error is not None and not isinstance(is_error, bool):
        raise MessagesError(f"{where}.is_error: Input should be a valid boolean", param=f"{where}.is_error")
    text = "\n".join(texts)
    if is_error:
        text = f"Error: {text}"  # other providers have no error flag on a tool result
    return Message("tool", text, tool_call_id=call_id)


def user_messages(content: Any, where: str, requires: set[str]) -> list[Message]:
    """A user turn: its tool results as `tool` messages, then the rest as one user message."""
    if isinstance(content, str):
        return [Message("user", content)]
    if not isinstance(content, list):
        raise content_refusal(where)
    results: list[Message] = []
    parts: list[ContentPart] = []
    others = False
    for index, block in enumerate(content):
        inner = f"{where}.content.{index}"
        kind = block_type(block, inner)
        if kind == "text":
            parts.append(TextPart(text_block(block, inner)))
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
            raise wrong_block(kind, inner, _USER_BLOCKS)
    text = "".join(p.text for p in parts if isinstance(p, TextPart))
    if parts or others or not results:
        with_images = tuple(parts) if any(isinstance(p, ImagePart) for p in parts) else ()
        results.append(Message("user", text, parts=with_images))
    return results


def _thinking_block(block: dict, where: str) -> ReasoningPart:
    keys_check(block, _BLOCK_KEYS["thinking"], where)
    text = string_parse(block.get("thinking"), f"{where}.thinking")
    signature = string_parse(block.get("signature", ""), f"{where}.signature")
    # A signature is Anthropic's (replayed verbatim there); the gateway renders other providers'
    # reasoning with an empty one, which DeepSeek-style providers take back as text.
    return ReasoningPart(text, signature=signature, protocol=PROTOCOL) if signature else ReasoningPart(text)


def _tool_use_block(block: dict, where: str) -> ToolCall:
    keys_check(block, _BLOCK_KEYS["tool_use"], where)
    arguments = block.get("input")
    if not isinstance(arguments, dict):
        raise MessagesError(f"{where}.input: Input should be a valid dictionary", param=f"{where}.input")
    return ToolCall(
        id=string_parse(block.get("id"), f"{where}.id", allow_empty=False, max_length=256),
        name=string_parse(block.get("name"), f"{where}.name", allow_empty=False, max_length=256),
        arguments=json.dumps(arguments, separators=(",", ":"), ensure_ascii=False),
    )


def assistant_message(content: Any, where: str, requires: set[str]) -> Message:
    """An assistant turn: its text, tool calls and reasoning as one message."""
    if isinstance(content, str):
        return Message("assistant", content)
    if not isinstance(content, list):
        raise content_refusal(where)
    texts: list[str] = []
    calls: list[ToolCall] = []
    reasoning: list[ReasoningPart] = []
    for index, block in enumerate(content):
        inner = f"{where}.content.{index}"
        kind = block_type(block, inner)
        if kind == "text":
            texts.append(text_block(block, inner))
        elif kind == "thinking":
            reasoning.append(_thinking_block(block, inner))
        elif kind == "redacted_thinking":
            keys_check(block, _BLOCK_KEYS["redacted_thinking"], inner)
            data = string_parse(block.get("data"), f"{inner}.data", allow_empty=False)
            reasoning.append(ReasoningPart("", redacted=data, protocol=PROTOCOL))
        elif kind == "tool_use":
            calls.append(_tool_use_block(block, inner))
        elif kind in ANTHROPIC_ONLY_BLOCKS:
            requires.add(f"content.{kind}")
        else:
            raise wrong_block(kind, inner, _ASSISTANT_BLOCKS)
    return Message("assistant", "".join(texts), tool_calls=tuple(calls), reasoning=tuple(reasoning))
