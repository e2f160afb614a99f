"""The tools, tool choice and response format of a Chat Completions body."""

from __future__ import annotations

from typing import Any

from providers.adapters.messages import ResponseFormat, ToolChoice, ToolSpec
from routing.doors.common import (
    DoorError,
    function_tool_parse,
    keys_check,
    objects_each,
    string_parse,
    tools_list_check,
    unsupported,
)


def _tools(value: Any) -> tuple[ToolSpec, ...]:
    specs = []
    names: set[str] = set()
    for where, tool in objects_each(tools_list_check(value), "tools"):
        if tool.get("type") != "function":
            raise unsupported(
                f"{where}.type {tool.get('type')!r} is not supported (function tools are)", f"{where}.type"
            )
        keys_check(tool, {"type", "function"}, where)
        function = tool.get("function")
        if not isinstance(function, dict):
            raise DoorError(f"{where}.function must be an object", param=f"{where}.function")
        keys_check(function, {"name", "description", "parameters", "strict"}, f"{where}.function")
        specs.append(function_tool_parse(function, f"{where}.function", names=names))
    return tuple(specs)


def _allowed_tools(value: dict, tools: tuple[ToolSpec, ...]) -> tuple[ToolChoice, tuple[ToolSpec, ...]]:
    allowed = value.get("allowed_tools") or {}
    mode = allowed.get("mode")
    names = {(t.get("function") or {}).get("name") for t in allowed.get("tools") or [] if isinstance(t, dict)}
    if mode not in ("auto", "required") or not names:
        raise DoorError("tool_choice.allowed_tools needs a mode and a list of tools", param="tool_choice")
    narrowed = tuple(t for t in tools if t.name in names)
    if len(narrowed) != len(names):
        raise DoorError(
            "tool_choice.allowed_tools names a function that is not in tools", param="tool_choice"
        )
    return ToolChoice(mode), narrowed


def _tool_choice(value: Any, tools: tuple[ToolSpec, ...]) -> tuple[ToolChoice | None, tuple[ToolSpec, ...]]:
    """The choice, and the tools left once an `allowed_tools` choice has narrowed them."""
    if value is None:
        return None, tools
    if value in ("auto", "none", "required"):
        return ToolChoice(value), tools
    if isinstance(value, dict) and value.get("type") == "function":
        function = value.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or name not in {t.name for t in tools}:
            raise DoorError("tool_choice names a function that is not in tools", param="tool_choice")
        return ToolChoice("function", name), tools
    if isinstance(value, dict) and value.get("type") == "allowed_tools":
        return _allowed_tools(value, tools)
    raise DoorError("tool_choice must be 'auto', 'none', 'required' or a named function", param="tool_choice")


def chat_tools_parse(body: dict) -> tuple[tuple[ToolSpec, ...], ToolChoice | None]:
    """The tools the model may call (narrowed by an `allowed_tools` choice) and the tool choice."""
    tools = _tools(body["tools"]) if body.get("tools") is not None else ()
    tool_choice, tools = _tool_choice(body.get("tool_choice"), tools) if tools else (None, tools)
    if body.get("tool_choice") not in (None, "none", "auto") and not tools:
        raise DoorError("tool_choice needs tools", param="tool_choice")
    return tools, tool_choice


def response_format_parse(value: Any) -> ResponseFormat | None:
    """`response_format`: JSON mode or a JSON Schema; None for plain text (the default)."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in ("text", "json_object", "json_schema"):
        raise DoorError(
            "response_format.type must be text, json_object or json_schema", param="response_format.type"
        )
    kind = value["type"]
    if kind == "text":
        keys_check(value, {"type"}, "response_format")
        return None  # the default: nothing to ask of a provider
    if kind == "json_object":
        keys_check(value, {"type"}, "response_format")
        return ResponseFormat("json_object")
    keys_check(value, {"type", "json_schema"}, "response_format")
    spec = value.get("json_schema")
    if not isinstance(spec, dict):
        raise DoorError("response_format.json_schema must be an object", param="response_format.json_schema")
    keys_check(spec, {"name", "description", "schema", "strict"}, "response_format.json_schema")
    schema = spec.get("schema")
    if schema is not None and not isinstance(schema, dict):
        raise DoorError(
            "response_format.json_schema.schema must be an object", param="response_format.json_schema.schema"
        )
    name = string_parse(
        spec.get("name"), "response_format.json_schema.name", max_length=64, allow_empty=False
    )
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise DoorError(
            "response_format.json_schema.strict must be a boolean", param="response_format.json_schema.strict"
        )
    return ResponseFormat(
        "json_schema", schema=schema, name=name, description=spec.get("description"), strict=strict
    )
