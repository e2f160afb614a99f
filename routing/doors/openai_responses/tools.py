"""The tools, tool choice and text format of a Responses body, with what the Response echoes of them."""

from __future__ import annotations

from typing import Any, Final

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

# OpenAI's built-in tools, by type: OpenAI runs them on its side, so no other provider can.
_BUILT_IN_TOOLS: Final[dict[str, str]] = {
    "web_search": "web search",
    "web_search_preview": "web search",
    "web_search_2025_08_26": "web search",
    "web_search_preview_2025_03_11": "web search",
    "file_search": "file search",
    "computer": "computer use",
    "computer_use": "computer use",
    "computer_use_preview": "computer use",
    "code_interpreter": "the code interpreter",
    "image_generation": "image generation",
    "mcp": "remote MCP servers",
    "local_shell": "the local shell tool",
    "shell": "the shell tool",
    "apply_patch": "the apply_patch tool",
    "custom": "custom (free-form) tools",
    "namespace": "tool namespaces",
    "tool_search": "tool search",
    "programmatic_tool_calling": "programmatic tool calling",
}


def responses_tools_parse(value: Any) -> tuple[tuple[ToolSpec, ...], list[dict[str, Any]]]:
    """The function tools, and the tools as the Response object lists them."""
    specs: list[ToolSpec] = []
    names: set[str] = set()
    for where, tool in objects_each(tools_list_check(value), "tools"):
        kind = tool.get("type")
        if kind != "function":
            what = _BUILT_IN_TOOLS.get(str(kind))
            detail = f"{what} is an OpenAI built-in tool that" if what else "it is a tool type"
            raise unsupported(
                f"{where}.type {kind!r} is not supported: {detail} this gateway does not run. "
                "Declare function tools and run them yourself.",
                f"{where}.type",
            )
        keys_check(tool, {"type", "name", "description", "parameters", "strict"}, where)
        specs.append(function_tool_parse(tool, where, names=names))
    echoed = [
        {
            "type": "function",
            "name": spec.name,
            "description": spec.description,
            "parameters": spec.parameters,
            "strict": spec.strict,
        }
        for spec in specs
    ]
    return tuple(specs), echoed


def _allowed_tools(value: dict, tools: tuple[ToolSpec, ...]) -> tuple[ToolChoice, tuple[ToolSpec, ...]]:
    keys_check(value, {"type", "mode", "tools"}, "tool_choice")
    mode = value.get("mode")
    listed = value.get("tools")
    if mode not in ("auto", "required") or not isinstance(listed, list) or not listed:
        raise DoorError("tool_choice.allowed_tools needs a mode and a list of tools", param="tool_choice")
    allowed = set()
    for index, entry in enumerate(listed):
        if not isinstance(entry, dict) or entry.get("type") != "function":
            raise unsupported("tool_choice.tools may only list function tools", f"tool_choice.tools[{index}]")
        allowed.add(entry.get("name"))
    if not allowed <= {t.name for t in tools}:
        raise DoorError("tool_choice.tools names a function that is not in tools", param="tool_choice.tools")
    return ToolChoice(mode), tuple(t for t in tools if t.name in allowed)


def responses_tool_choice_parse(
    value: Any, tools: tuple[ToolSpec, ...]
) -> tuple[ToolChoice | None, tuple[ToolSpec, ...]]:
    """The choice, and the tools left once an `allowed_tools` choice has narrowed them."""
    if value is None:
        return None, tools
    if value in ("auto", "none", "required"):
        if value == "required" and not tools:
            raise DoorError("tool_choice 'required' needs tools", param="tool_choice")
        return ToolChoice(value), tools
    if not isinstance(value, dict):
        raise DoorError("tool_choice must be 'auto', 'none', 'required' or an object", param="tool_choice")
    kind = value.get("type")
    if kind == "function":
        keys_check(value, {"type", "name"}, "tool_choice")
        if value.get("name") not in {t.name for t in tools}:
            raise DoorError("tool_choice names a function that is not in tools", param="tool_choice.name")
        return ToolChoice("function", value["name"]), tools
    if kind == "allowed_tools":
        return _allowed_tools(value, tools)
    if kind in _BUILT_IN_TOOLS:
        raise unsupported(
            f"tool_choice type {kind!r} is not supported: {_BUILT_IN_TOOLS[kind]} is an OpenAI built-in tool "
            "this gateway does not run",
            "tool_choice.type",
        )
    raise DoorError(
        "tool_choice must be 'auto', 'none', 'required', a function or allowed_tools", param="tool_choice"
    )


def _json_schema_format(spec: dict) -> tuple[ResponseFormat, dict[str, Any]]:
    """A `json_schema` text format, and its echo."""
    keys_check(spec, {"type", "name", "schema", "description", "strict"}, "text.format")
    name = string_parse(spec.get("name"), "text.format.name", max_length=64, allow_empty=False)
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise DoorError("text.format.schema must be a JSON Schema object", param="text.format.schema")
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise DoorError("text.format.strict must be a boolean", param="text.format.strict")
    description = spec.get("description")
    if description is not None:
        description = string_parse(description, "text.format.description")
    echoed = {
        "type": "json_schema",
        "name": name,
        "schema": schema,
        "strict": strict,
        **({"description": description} if description is not None else {}),
    }
    return ResponseFormat(
        "json_schema", schema=schema, name=name, description=description, strict=strict
    ), echoed


def text_parse(value: Any) -> tuple[ResponseFormat | None, str | None, dict[str, Any]]:
    """`text`: (response format, verbosity, the text config as echoed)."""
    if value is None:
        return None, None, {"format": {"type": "text"}}
    if not isinstance(value, dict):
        raise DoorError("text must be an object (format, verbosity)", param="text")
    keys_check(value, {"format", "verbosity"}, "text")
    verbosity = value.get("verbosity")
    if verbosity is not None and verbosity not in ("low", "medium", "high"):
        raise DoorError("text.verbosity must be low, medium or high", param="text.verbosity")
    spec = value.get("format")
    echoed: dict[str, Any] = {"format": {"type": "text"}}
    if verbosity is not None:
        echoed["verbosity"] = verbosity
    if spec is None:
        return None, verbosity, echoed
    if not isinstance(spec, dict) or spec.get("type") not in ("text", "json_object", "json_schema"):
        raise DoorError("text.format.type must be text, json_object or json_schema", param="text.format.type")
    kind = spec["type"]
    if kind == "text":
        keys_check(spec, {"type"}, "text.format")
        return None, verbosity, echoed
    if kind == "json_object":
        keys_check(spec, {"type"}, "text.format")
        echoed["format"] = {"type": "json_object"}
        return ResponseFormat("json_object"), verbosity, echoed
    response_format, echoed["format"] = _json_schema_format(spec)
    return response_format, verbosity, echoed
