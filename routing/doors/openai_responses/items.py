"""The `input` of a Responses body as internal messages: message, function-call and reasoning items."""

from __future__ import annotations

from dataclasses import replace
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

MAX_ITEMS: Final = 2000
# Input items that only exist with OpenAI's built-in tools or its stored state.
_UNSUPPORTED_ITEMS: Final[dict[str, str]] = {
    "item_reference": "item references (they point at stored items; the gateway keeps none)",
    "file_search_call": "file search calls",
    "computer_call": "computer use calls",
    "computer_call_output": "computer use calls",
    "web_search_call": "web search calls",
    "image_generation_call": "image generation calls",
    "code_interpreter_call": "code interpreter calls",
    "local_shell_call": "local shell calls",
    "local_shell_call_output": "local shell calls",
    "shell_call": "shell calls",
    "shell_call_output": "shell calls",
    "apply_patch_call": "apply_patch calls",
    "apply_patch_call_output": "apply_patch calls",
    "mcp_list_tools": "MCP items",
    "mcp_approval_request": "MCP items",
    "mcp_approval_response": "MCP items",
    "mcp_call": "MCP items",
    "custom_tool_call": "custom tool calls",
    "custom_tool_call_output": "custom tool calls",
    "tool_search_call": "tool search",
    "tool_search_output": "tool search",
    "additional_tools": "additional tools",
    "compaction": "compaction items",
    "compaction_trigger": "compaction items",
    "configuration_update": "configuration updates",
    "program": "programmatic tool calling",
    "program_output": "programmatic tool calling",
}
_MESSAGE_KEYS: Final = frozenset({"type", "role", "content", "id", "status", "phase"})


def _input_text_parts(content: Any, param: str, *, kinds: tuple[str, ...]) -> str:
    """A string, or text parts of the given types joined."""
    if isinstance(content, str):
        return content  # the common case, read without building a part reader

    def part_text(part: dict, where: str) -> str:
        kind = part.get("type")
        if kind not in kinds:
            raise unsupported(
                f"{where}.type {kind!r} is not accepted here ({', '.join(kinds)} parts are)", f"{where}.type"
            )
        if kind == "refusal":
            keys_check(part, {"type", "refusal"}, where)
            return string_parse(part.get("refusal"), f"{where}.refusal")
        keys_check(part, {"type", "text", "annotations", "logprobs"}, where)
        return string_parse(part.get("text"), f"{where}.text")

    return text_content_parse(content, param, listed="content parts", part_text=part_text)


def _user_part(part: dict, where: str) -> ContentPart:
    kind = part.get("type")
    if kind == "input_text":
        keys_check(part, {"type", "text"}, where)
        return TextPart(string_parse(part.get("text"), f"{where}.text"))
    if kind == "input_image":
        keys_check(part, {"type", "image_url", "file_id", "detail"}, where)
        if part.get("file_id") is not None:
            raise unsupported(
                f"{where}.file_id: uploaded files are not supported; send image_url", f"{where}.file_id"
            )
        return image_part_parse(
            part.get("image_url"),
            part.get("detail"),
            url_param=f"{where}.image_url",
            detail_param=f"{where}.detail",
        )
    if kind in ("input_file", "input_audio"):
        raise unsupported(f"{where}.type {kind!r}: file and audio inputs are not supported", f"{where}.type")
    raise unsupported(
        f"{where}.type {kind!r} is not supported (input_text and input_image parts are)", f"{where}.type"
    )


def _reasoning_item(item: dict, where: str) -> list[ReasoningPart]:
    """What a reasoning item the client sends back says (its text; providers that need signed
    reasoning get it from the gateway's replay store, keyed by the calls that followed)."""
    keys_check(item, {"type", "id", "summary", "content", "encrypted_content", "status"}, where)
    texts = []
    for key, kind in (("content", "reasoning_text"), ("summary", "summary_text")):
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            raise DoorError(f"{where}.{key} must be a list", param=f"{where}.{key}")
        for index, part in enumerate(value):
            part_where = f"{where}.{key}[{index}]"
            if not isinstance(part, dict) or part.get("type") != kind:
                raise DoorError(f"{part_where} must be a {kind} part", param=part_where)
            texts.append(string_parse(part.get("text"), f"{part_where}.text"))
        if texts:
            break  # the full reasoning text when present, else its summary
    text = "\n".join(texts)
    return [ReasoningPart(text)] if text else []


def _message_item(item: dict, where: str, reasoning: list[ReasoningPart]) -> Message:
    """A message item; an assistant message takes the reasoning items that preceded it."""
    keys_check(item, _MESSAGE_KEYS, where)
    role = item.get("role")
    content = item.get("content")
    if content is None:
        raise DoorError(f"{where}.content is required", param=f"{where}.content")
    if role == "user":
        text, parts = user_content_parse(content, f"{where}.content", part_parse=_user_part)
        return Message("user", text, parts=parts)
    if role in ("system", "developer"):
        return Message(role, _input_text_parts(content, f"{where}.content", kinds=("input_text",)))
    if role == "assistant":
        text = _input_text_parts(content, f"{where}.content", kinds=("output_text", "input_text", "refusal"))
        return Message("assistant", text, reasoning=tuple(reasoning))
    raise DoorError(f"{where}.role must be one of user, assistant, system, developer", param=f"{where}.role")


def _function_call(item: dict, where: str) -> ToolCall:
    keys_check(item, {"type", "call_id", "name", "arguments", "id", "status"}, where)
    return ToolCall(
        id=string_parse(item.get("call_id"), f"{where}.call_id", max_length=256, allow_empty=False),
        name=string_parse(item.get("name"), f"{where}.name", max_length=256, allow_empty=False),
        arguments=string_parse(item.get("arguments", ""), f"{where}.arguments"),
    )


def _function_call_output(item: dict, where: str) -> Message:
    keys_check(item, {"type", "call_id", "output", "id", "status"}, where)
    call_id = string_parse(item.get("call_id"), f"{where}.call_id", max_length=256, allow_empty=False)
    output = item.get("output")
    if output is None:
        raise DoorError(f"{where}.output is required", param=f"{where}.output")
    text = _input_text_parts(output, f"{where}.output", kinds=("input_text",))
    return Message("tool", text, tool_call_id=call_id)


def _item_refusal(kind: Any, where: str) -> DoorError:
    if kind in _UNSUPPORTED_ITEMS:
        return unsupported(
            f"{where}.type {kind!r}: {_UNSUPPORTED_ITEMS[kind]} are not supported by this gateway",
            f"{where}.type",
        )
    return DoorError(
        f"{where}.type must be message, function_call, function_call_output or reasoning",
        param=f"{where}.type",
    )


def _items_read(items: list) -> list[Message]:
    """The items in order; a function call joins the assistant message right before it (unless
    reasoning came between), and reasoning waits for the assistant turn it preceded."""
    messages: list[Message] = []
    reasoning: list[ReasoningPart] = []
    for where, item in objects_each(items, "input"):
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            message = _message_item(item, where, reasoning)
            if message.role == "assistant":
                reasoning = []
            messages.append(message)
        elif kind == "function_call":
            call = _function_call(item, where)
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant" and not reasoning:
                messages[-1] = replace(last, tool_calls=(*last.tool_calls, call))
            else:
                messages.append(Message("assistant", "", tool_calls=(call,), reasoning=tuple(reasoning)))
                reasoning = []
        elif kind == "function_call_output":
            messages.append(_function_call_output(item, where))
        elif kind == "reasoning":
            reasoning += _reasoning_item(item, where)
        else:
            raise _item_refusal(kind, where)
    return messages


def input_messages_parse(value: Any) -> tuple[Message, ...]:
    """`input` (a string, or a list of items) as the conversation; every function_call_output
    answers a function_call made earlier in it."""
    if isinstance(value, str):
        return (Message("user", value),)
    if not isinstance(value, list) or not value:
        raise DoorError("input must be a string or a non-empty list of items", param="input")
    if len(value) > MAX_ITEMS:
        raise DoorError(f"input holds more than {MAX_ITEMS} items", param="input")
    messages = _items_read(value)
    position = tool_result_unanswered(messages)
    if position is not None:
        call_id = messages[position].tool_call_id
        index = next(
            i
            for i, item in enumerate(value)
            if isinstance(item, dict)
            and item.get("type") == "function_call_output"
            and item.get("call_id") == call_id
        )
        raise DoorError(
            f"input[{index}] answers call_id {call_id!r}, which no earlier function_call made",
            param=f"input[{index}].call_id",
        )
    if not any(m.role != "tool" for m in messages):
        raise DoorError("input must hold at least one message", param="input")
    return tuple(messages)
