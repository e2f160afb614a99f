"""The tools, tool choice, thinking and output config of a Messages body."""

from __future__ import annotations

import re
from typing import Any, Final

from providers.adapters.messages import ResponseFormat, ToolChoice, ToolSpec
from routing.doors.anthropic_messages.validation import (
    MessagesError,
    integer_parse,
    keys_check,
    string_parse,
    unknown_tag,
)

EFFORTS: Final = ("low", "medium", "high", "xhigh", "max")
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


def _client_tool(tool: dict, where: str, names: set[str]) -> ToolSpec:
    keys_check(tool, _TOOL_KEYS, where)
    name = tool.get("name")
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
        description = string_parse(description, f"{where}.description")
    strict = tool.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise MessagesError(f"{where}.strict: Input should be a valid boolean", param=f"{where}.strict")
    return ToolSpec(name=name, description=description, parameters=schema, strict=strict)


def tools_parse(value: Any, requires: set[str]) -> tuple[tuple[ToolSpec, ...], set[str]]:
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
        if kind in (None, "custom"):
            specs.append(_client_tool(tool, where, names))
            continue
        if not isinstance(kind, str) or not (_VERSIONED_TOOL_RE.match(kind) or kind == "mcp_toolset"):
            raise unknown_tag(
                f"{where}.type", kind, " ('custom' or an Anthropic tool such as 'web_search_20250305')"
            )
        requires.add(f"tools.{kind}")  # a server or Anthropic-defined tool: only Anthropic runs it
        if isinstance(tool.get("name"), str):
            names.add(tool["name"])
    return tuple(specs), names


def tool_choice_parse(value: Any, names: set[str]) -> tuple[ToolChoice | None, bool | None]:
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
        raise unknown_tag("tool_choice.type", kind, ": 'auto', 'any', 'tool', 'none'")
    keys_check(value, keys, "tool_choice")
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


def _budget_effort(value: dict) -> str:
    """The effort an `enabled` thinking budget stands for: the budgets the Anthropic adapter gives
    each effort, read the other way round."""
    if "budget_tokens" not in value:
        raise MessagesError("thinking.enabled.budget_tokens: Field required", param="thinking.budget_tokens")
    budget = integer_parse(value["budget_tokens"], "thinking.enabled.budget_tokens", 1024)
    return "low" if budget < 4096 else "medium" if budget < 16384 else "high" if budget < 32000 else "xhigh"


def thinking_parse(value: Any, output_effort: str | None, requires: set[str]) -> tuple[str | None, bool]:
    """The reasoning effort other providers get, and whether thinking text is to be omitted."""
    if value is None:
        return None, False
    if not isinstance(value, dict):
        raise MessagesError("thinking: Input should be a valid dictionary", param="thinking")
    kind = value.get("type")
    if kind == "enabled":
        keys_check(value, {"type", "budget_tokens", "display"}, "thinking")
        effort = _budget_effort(value)
    elif kind == "adaptive":
        keys_check(value, {"type", "display"}, "thinking")
        effort = output_effort or "high"  # Anthropic's default effort
    elif kind == "disabled":
        keys_check(value, {"type"}, "thinking")
        return None, False
    elif kind == "between_tools":
        keys_check(value, {"type"}, "thinking")
        requires.add("thinking.between_tools")
        return None, False
    else:
        raise unknown_tag("thinking.type", kind, ": 'adaptive', 'disabled', 'enabled'")
    display = value.get("display")
    if display not in (None, "summarized", "omitted"):
        raise MessagesError(
            "thinking.display: Input should be 'summarized' or 'omitted'", param="thinking.display"
        )
    return effort, display == "omitted"


def output_config_parse(value: Any) -> tuple[ResponseFormat | None, str | None]:
    """`output_config`: a JSON Schema format, and the effort."""
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise MessagesError("output_config: Input should be a valid dictionary", param="output_config")
    keys_check(value, {"format", "effort"}, "output_config")
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
    keys_check(fmt, {"type", "schema"}, "output_config.format")
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        raise MessagesError(
            "output_config.format.schema: Field required", param="output_config.format.schema"
        )
    return ResponseFormat("json_schema", schema=schema, name="response"), effort
