"""The `messages` of a Chat Completions body as internal messages: roles, content parts, tool calls."""

from __future__ import annotations

from typing import Any, Final

from providers.adapters.messages import ContentPart, Message, ReasoningPart, TextPart, ToolCall
from routing.doors.common import (
    DoorError,
    image_part_parse,
    keys_check,
    objects_each,
    string_parse,
    text_content_parse,
    tool_result_unanswered,
    unsupported,
    user_content_parse,
)

MAX_MESSAGES: Final = 1000
_MESSAGE_KEYS: Final[dict[str, frozenset[str]]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "tool_calls", "refusal", "reasoning_content"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
}


def _text_parts(content: Any, param: str, *, allow_refusal: bool = False) -> str:
    """A string, or a list of text parts joined (system, developer, assistant and tool messages)."""
    if isinstance(content, str):
        return content  # the common case, read without building a part reader

    def part_text(part: dict, where: str) -> str:
        kind = part.get("type")
        if kind == "text":
            keys_check(part, {"type", "text"}, where)
            return string_parse(part.get("text"), f"{where}.text")
        if kind == "refusal" and allow_refusal:
            keys_check(part, {"type", "refusal"}, where)
            return string_parse(part.get("refusal"), f"{where}.refusal")
        raise unsupported(f"{where}.type {kind!r} is not accepted here (text parts only)", f"{where}.type")

    return text_content_parse(content, param, listed="text parts", part_text=part_text)


def _user_part(part: dict, where: str) -> ContentPart:
    kind = part.get("type")
    if kind == "text":
        keys_check(part, {"type", "text"}, where)
        return TextPart(string_parse(part.get("text"), f"{where}.text"))
    if kind == "image_url":
        keys_check(part, {"type", "image_url"}, where)
        image = part.get("image_url")
        if isinstance(image, str):
            image = {"url": image}
        if not isinstance(image, dict):
            raise DoorError(f"{where}.image_url must be an object with a url", param=f"{where}.image_url")
        keys_check(image, {"url", "detail"}, f"{where}.image_url")
        return image_part_parse(
            image.get("url"),
            image.get("detail"),
            url_param=f"{where}.image_url.url",
            detail_param=f"{where}.image_url.detail",
        )
    raise unsupported(
        f"{where}.type {kind!r} is not supported (text and image_url parts are)", f"{where}.type"
    )


def _tool_calls(value: Any, param: str) -> tuple[ToolCall, ...]:
    if not isinstance(value, list):
        raise DoorError(f"{param} must be a list", param=param)
    calls = []
    for where, call in objects_each(value, param):
        keys_check(call, {"id", "type", "function", "index"}, where)
        if call.get("type", "function") != "function":
            raise unsupported(f"{where}.type must be 'function'", f"{where}.type")
        function = call.get("function")
        if not isinstance(function, dict):
            raise DoorError(f"{where}.function must be an object", param=f"{where}.function")
        keys_check(function, {"name", "arguments"}, f"{where}.function")
        calls.append(
            ToolCall(
                id=string_parse(call.get("id"), f"{where}.id", max_length=256, allow_empty=False),
                name=string_parse(
                    function.get("name"), f"{where}.function.name", max_length=256, allow_empty=False
                ),
                arguments=string_parse(function.get("arguments", ""), f"{where}.function.arguments"),
            )
        )
    return tuple(calls)


def _assistant_message(raw: dict, param: str, name: str | None) -> Message:
    content = raw.get("content")
    calls = _tool_calls(raw["tool_calls"], f"{param}.tool_calls") if raw.get("tool_calls") else ()
    text = "" if content is None else _text_parts(content, f"{param}.content", allow_refusal=True)
    refusal = raw.get("refusal")
    if refusal and not text:
        text = string_parse(refusal, f"{param}.refusal")
    if content is None and not calls and not refusal:
        raise DoorError(f"{param}.content is required unless tool_calls is set", param=f"{param}.content")
    reasoning: tuple[ReasoningPart, ...] = ()
    if raw.get("reasoning_content"):
        reasoning = (ReasoningPart(string_parse(raw["reasoning_content"], f"{param}.reasoning_content")),)
    return Message("assistant", text, tool_calls=calls, name=name, reasoning=reasoning)


def _message(raw: Any, index: int) -> Message:
    param = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise DoorError(f"{param} must be an object", param=param)
    role = raw.get("role")
    if role == "function":
        raise unsupported(f"{param}.role 'function' is deprecated; send 'tool' messages", f"{param}.role")
    if role not in _MESSAGE_KEYS:
        raise DoorError(
            f"{param}.role must be one of system, developer, user, assistant, tool", param=f"{param}.role"
        )
    keys_check(raw, _MESSAGE_KEYS[role], param)
    name = raw.get("name")
    if name is not None:
        name = string_parse(name, f"{param}.name", max_length=256)
    content = raw.get("content")
    if role == "assistant":
        return _assistant_message(raw, param, name)
    if role == "tool":
        call_id = string_parse(
            raw.get("tool_call_id"), f"{param}.tool_call_id", max_length=256, allow_empty=False
        )
        text = _text_parts(content if content is not None else "", f"{param}.content")
        return Message("tool", text, tool_call_id=call_id)
    if content is None:
        raise DoorError(f"{param}.content is required", param=f"{param}.content")
    if role == "user":
        text, parts = user_content_parse(content, f"{param}.content", part_parse=_user_part)
        return Message("user", text, parts=parts, name=name)
    return Message(role, _text_parts(content, f"{param}.content"), name=name)


def chat_messages_parse(value: Any) -> tuple[Message, ...]:
    """The conversation; every tool result answers a call made earlier in it."""
    if not isinstance(value, list) or not value:
        raise DoorError("messages must be a non-empty list", param="messages")
    if len(value) > MAX_MESSAGES:
        raise DoorError(f"messages holds more than {MAX_MESSAGES} messages", param="messages")
    messages = tuple(_message(raw, index) for index, raw in enumerate(value))
    index = tool_result_unanswered(messages)
    if index is not None:
        raise DoorError(
            f"messages[{index}] answers tool_call_id {messages[index].tool_call_id!r}, which no earlier "
            "assistant message called",
            param=f"messages[{index}].tool_call_id",
        )
    if not any(m.role != "tool" for m in messages):
        raise DoorError("messages must hold at least one non-tool message", param="messages")
    return messages
