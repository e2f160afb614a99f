"""OpenAI Responses API (`POST /v1/responses`) <-> the internal request and result. Pure functions.

`responses_request_parse` reads a Responses body into the same `ChatInput` the Chat Completions
door produces (so routing, translation, caching and accounting are shared), plus what the Response
object echoes back (`ResponsesInput`). `response_render` turns a `CompletionResult` into a Response
object; `ResponseStreamRenderer` turns the stream's chunks into the Responses event sequence
(`response.created` ... `response.completed`).

The gateway is stateless: `previous_response_id`, `store: true`, `conversation` and item references
are refused with a 400 naming the parameter, as are OpenAI's built-in tools (web search, file
search, computer use, ...), which only OpenAI runs. Field names and shapes follow the official
`openai` SDK's `openai.types.responses` types.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any, Final

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
from providers.adapters.results import ToolCallDelta, Usage
from routing.doors.openai_chat import (
    REASONING_EFFORTS,
    ChatInput,
    DoorError,
    _check_keys,
    _integer,
    _number,
    _route,
    _string,
    image_part,
)

REASONING_SUMMARIES: Final = ("auto", "concise", "detailed")

# Known Responses parameters the gateway does not carry: refused by name, never ignored.
_NOT_CARRIED: Final[dict[str, str]] = {
    "previous_response_id": "stored responses: the gateway keeps no responses, send the whole "
    "conversation in `input` (the output items of earlier responses included)",
    "conversation": "conversations: the gateway keeps no state, send the whole conversation in `input`",
    "prompt": "stored prompt templates",
    "max_tool_calls": "a cap on built-in tool calls",
    "top_logprobs": "log probabilities",
    "include": "extra output data (`include`)",
    "context_management": "server-side context management",
    "prompt_cache_options": "prompt cache options",
    "prompt_cache_retention": "prompt cache retention",
    "moderation": "moderation",
    "image": "image options",
    "access_programs": "access programs",
    "background_options": "background responses",
}
_TOP_LEVEL: Final = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "text",
        "reasoning",
        "max_output_tokens",
        "temperature",
        "top_p",
        "stream",
        "stream_options",
        "store",
        "background",
        "truncation",
        "metadata",
        "user",
        "safety_identifier",
        "prompt_cache_key",
        "service_tier",
        "provider",
        *_NOT_CARRIED,
    }
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


@dataclass
class ResponsesInput:
    """A parsed Responses request: the internal chat request, and what the Response echoes."""

    chat: ChatInput
    instructions: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)  # as the Response object lists them
    tool_choice: Any = "auto"
    text: dict[str, Any] = field(default_factory=lambda: {"format": {"type": "text"}})
    reasoning: dict[str, Any] = field(default_factory=lambda: {"effort": None, "summary": None})
    metadata: dict[str, str] = field(default_factory=dict)
    parallel_tool_calls: bool = True
    service_tier: str | None = None
    user: str | None = None


# ------------------------------------------------------------------------------------ parsing


def _unsupported(message: str, param: str) -> DoorError:
    return DoorError(message, param=param, code="unsupported_parameter")


def _input_text_parts(content: Any, param: str, *, kinds: tuple[str, ...]) -> str:
    """A string, or text parts of the given types joined."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise DoorError(f"{param} must be a string or a list of content parts", param=param)
    texts = []
    for index, part in enumerate(content):
        where = f"{param}[{index}]"
        if not isinstance(part, dict):
            raise DoorError(f"{where} must be an object", param=where)
        kind = part.get("type")
        if kind not in kinds:
            raise _unsupported(
                f"{where}.type {kind!r} is not accepted here ({', '.join(kinds)} parts are)", f"{where}.type"
            )
        if kind == "refusal":
            _check_keys(part, {"type", "refusal"}, where)
            texts.append(_string(part.get("refusal"), f"{where}.refusal"))
        else:
            _check_keys(part, {"type", "text", "annotations", "logprobs"}, where)
            texts.append(_string(part.get("text"), f"{where}.text"))
    return "".join(texts)


def _user_content(content: Any, param: str) -> tuple[str, tuple[ContentPart, ...]]:
    if isinstance(content, str):
        return content, ()
    if not isinstance(content, list) or not content:
        raise DoorError(f"{param} must be a string or a non-empty list of content parts", param=param)
    parts: list[ContentPart] = []
    for index, part in enumerate(content):
        where = f"{param}[{index}]"
        if not isinstance(part, dict):
            raise DoorError(f"{where} must be an object", param=where)
        kind = part.get("type")
        if kind == "input_text":
            _check_keys(part, {"type", "text"}, where)
            parts.append(TextPart(_string(part.get("text"), f"{where}.text")))
        elif kind == "input_image":
            _check_keys(part, {"type", "image_url", "file_id", "detail"}, where)
            if part.get("file_id") is not None:
                raise _unsupported(
                    f"{where}.file_id: uploaded files are not supported; send image_url", f"{where}.file_id"
                )
            parts.append(
                image_part(
                    part.get("image_url"),
                    part.get("detail"),
                    url_param=f"{where}.image_url",
                    detail_param=f"{where}.detail",
                )
            )
        elif kind in ("input_file", "input_audio"):
            raise _unsupported(
                f"{where}.type {kind!r}: file and audio inputs are not supported", f"{where}.type"
            )
        else:
            raise _unsupported(
                f"{where}.type {kind!r} is not supported (input_text and input_image parts are)",
                f"{where}.type",
            )
    text = "".join(p.text for p in parts if isinstance(p, TextPart))
    return text, (tuple(parts) if any(isinstance(p, ImagePart) for p in parts) else ())


def _reasoning_item(item: dict, where: str) -> list[ReasoningPart]:
    """What a reasoning item the client sends back says (its text; providers that need signed
    reasoning get it from the gateway's replay store, keyed by the calls that followed)."""
    _check_keys(item, {"type", "id", "summary", "content", "encrypted_content", "status"}, where)
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
            texts.append(_string(part.get("text"), f"{part_where}.text"))
        if texts:
            break  # the full reasoning text when present, else its summary
    text = "\n".join(texts)
    return [ReasoningPart(text)] if text else []


def _input_messages(value: Any) -> tuple[Message, ...]:
    if isinstance(value, str):
        return (Message("user", value),)
    if not isinstance(value, list) or not value:
        raise DoorError("input must be a string or a non-empty list of items", param="input")
    if len(value) > 2000:
        raise DoorError("input holds more than 2000 items", param="input")
    messages: list[Message] = []
    reasoning: list[ReasoningPart] = []  # waiting for the assistant turn it preceded
    for index, item in enumerate(value):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise DoorError(f"{where} must be an object", param=where)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            _check_keys(item, _MESSAGE_KEYS, where)
            role = item.get("role")
            content = item.get("content")
            if content is None:
                raise DoorError(f"{where}.content is required", param=f"{where}.content")
            if role == "user":
                text, parts = _user_content(content, f"{where}.content")
                messages.append(Message("user", text, parts=parts))
            elif role in ("system", "developer"):
                messages.append(
                    Message(role, _input_text_parts(content, f"{where}.content", kinds=("input_text",)))
                )
            elif role == "assistant":
                text = _input_text_parts(
                    content, f"{where}.content", kinds=("output_text", "input_text", "refusal")
                )
                messages.append(Message("assistant", text, reasoning=tuple(reasoning)))
                reasoning = []
            else:
                raise DoorError(
                    f"{where}.role must be one of user, assistant, system, developer", param=f"{where}.role"
                )
        elif kind == "function_call":
            _check_keys(item, {"type", "call_id", "name", "arguments", "id", "status"}, where)
            call = ToolCall(
                id=_string(item.get("call_id"), f"{where}.call_id", max_length=256, allow_empty=False),
                name=_string(item.get("name"), f"{where}.name", max_length=256, allow_empty=False),
                arguments=_string(item.get("arguments", ""), f"{where}.arguments"),
            )
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant" and not reasoning:
                messages[-1] = replace(last, tool_calls=(*last.tool_calls, call))
            else:
                messages.append(Message("assistant", "", tool_calls=(call,), reasoning=tuple(reasoning)))
                reasoning = []
        elif kind == "function_call_output":
            _check_keys(item, {"type", "call_id", "output", "id", "status"}, where)
            call_id = _string(item.get("call_id"), f"{where}.call_id", max_length=256, allow_empty=False)
            output = item.get("output")
            if output is None:
                raise DoorError(f"{where}.output is required", param=f"{where}.output")
            text = _input_text_parts(output, f"{where}.output", kinds=("input_text",))
            messages.append(Message("tool", text, tool_call_id=call_id))
        elif kind == "reasoning":
            reasoning += _reasoning_item(item, where)
        elif kind in _UNSUPPORTED_ITEMS:
            raise _unsupported(
                f"{where}.type {kind!r}: {_UNSUPPORTED_ITEMS[kind]} are not supported by this gateway",
                f"{where}.type",
            )
        else:
            raise DoorError(
                f"{where}.type must be message, function_call, function_call_output or reasoning",
                param=f"{where}.type",
            )
    _check_calls_answered(messages, value)
    return tuple(messages)


def _check_calls_answered(messages: list[Message], items: list) -> None:
    """Every function_call_output answers a function_call made earlier in the input."""
    called: set[str] = set()
    for message in messages:
        called.update(call.id for call in message.tool_calls)
        if message.role == "tool" and message.tool_call_id not in called:
            index = next(
                i
                for i, item in enumerate(items)
                if isinstance(item, dict)
                and item.get("type") == "function_call_output"
                and item.get("call_id") == message.tool_call_id
            )
            raise DoorError(
                f"input[{index}] answers call_id {message.tool_call_id!r}, which no earlier "
                "function_call made",
                param=f"input[{index}].call_id",
            )
    if not any(m.role != "tool" for m in messages):
        raise DoorError("input must hold at least one message", param="input")


def _tools(value: Any) -> tuple[tuple[ToolSpec, ...], list[dict[str, Any]]]:
    if not isinstance(value, list):
        raise DoorError("tools must be a list", param="tools")
    if len(value) > 512:
        raise DoorError("tools holds more than 512 tools", param="tools")
    specs: list[ToolSpec] = []
    echoed: list[dict[str, Any]] = []
    for index, tool in enumerate(value):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise DoorError(f"{where} must be an object", param=where)
        kind = tool.get("type")
        if kind != "function":
            what = _BUILT_IN_TOOLS.get(str(kind))
            detail = f"{what} is an OpenAI built-in tool that" if what else "it is a tool type"
            raise _unsupported(
                f"{where}.type {kind!r} is not supported: {detail} this gateway does not run. "
                "Declare function tools and run them yourself.",
                f"{where}.type",
            )
        _check_keys(tool, {"type", "name", "description", "parameters", "strict"}, where)
        name = _string(tool.get("name"), f"{where}.name", max_length=64, allow_empty=False)
        if name in {s.name for s in specs}:
            raise DoorError(f"tool name {name!r} is declared twice", param=f"{where}.name")
        parameters = tool.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise DoorError(f"{where}.parameters must be a JSON Schema object", param=f"{where}.parameters")
        strict = tool.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise DoorError(f"{where}.strict must be a boolean", param=f"{where}.strict")
        description = tool.get("description")
        if description is not None:
            description = _string(description, f"{where}.description")
        specs.append(ToolSpec(name=name, description=description, parameters=parameters, strict=strict))
        echoed.append(
            {
                "type": "function",
                "name": name,
                "description": description,
                "parameters": parameters,
                "strict": strict,
            }
        )
    return tuple(specs), echoed


def _tool_choice(value: Any, tools: tuple[ToolSpec, ...]) -> tuple[ToolChoice | None, tuple[ToolSpec, ...]]:
    if value is None:
        return None, tools
    if value in ("auto", "none", "required"):
        if value == "required" and not tools:
            raise DoorError("tool_choice 'required' needs tools", param="tool_choice")
        return ToolChoice(value), tools
    if not isinstance(value, dict):
        raise DoorError("tool_choice must be 'auto', 'none', 'required' or an object", param="tool_choice")
    kind = value.get("type")
    names = {t.name for t in tools}
    if kind == "function":
        _check_keys(value, {"type", "name"}, "tool_choice")
        if value.get("name") not in names:
            raise DoorError("tool_choice names a function that is not in tools", param="tool_choice.name")
        return ToolChoice("function", value["name"]), tools
    if kind == "allowed_tools":
        _check_keys(value, {"type", "mode", "tools"}, "tool_choice")
        mode = value.get("mode")
        listed = value.get("tools")
        if mode not in ("auto", "required") or not isinstance(listed, list) or not listed:
            raise DoorError("tool_choice.allowed_tools needs a mode and a list of tools", param="tool_choice")
        allowed = set()
        for index, entry in enumerate(listed):
            if not isinstance(entry, dict) or entry.get("type") != "function":
                raise _unsupported(
                    "tool_choice.tools may only list function tools", f"tool_choice.tools[{index}]"
                )
            allowed.add(entry.get("name"))
        if not allowed <= names:
            raise DoorError(
                "tool_choice.tools names a function that is not in tools", param="tool_choice.tools"
            )
        return ToolChoice(mode), tuple(t for t in tools if t.name in allowed)
    if kind in _BUILT_IN_TOOLS:
        raise _unsupported(
            f"tool_choice type {kind!r} is not supported: {_BUILT_IN_TOOLS[kind]} is an OpenAI built-in tool "
            "this gateway does not run",
            "tool_choice.type",
        )
    raise DoorError(
        "tool_choice must be 'auto', 'none', 'required', a function or allowed_tools", param="tool_choice"
    )


def _text(value: Any) -> tuple[ResponseFormat | None, str | None, dict[str, Any]]:
    """(response format, verbosity, the text config as echoed)."""
    if value is None:
        return None, None, {"format": {"type": "text"}}
    if not isinstance(value, dict):
        raise DoorError("text must be an object (format, verbosity)", param="text")
    _check_keys(value, {"format", "verbosity"}, "text")
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
        _check_keys(spec, {"type"}, "text.format")
        return None, verbosity, echoed
    if kind == "json_object":
        _check_keys(spec, {"type"}, "text.format")
        echoed["format"] = {"type": "json_object"}
        return ResponseFormat("json_object"), verbosity, echoed
    _check_keys(spec, {"type", "name", "schema", "description", "strict"}, "text.format")
    name = _string(spec.get("name"), "text.format.name", max_length=64, allow_empty=False)
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise DoorError("text.format.schema must be a JSON Schema object", param="text.format.schema")
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise DoorError("text.format.strict must be a boolean", param="text.format.strict")
    description = spec.get("description")
    if description is not None:
        description = _string(description, "text.format.description")
    echoed["format"] = {
        "type": "json_schema",
        "name": name,
        "schema": schema,
        "strict": strict,
        **({"description": description} if description is not None else {}),
    }
    response_format = ResponseFormat(
        "json_schema", schema=schema, name=name, description=description, strict=strict
    )
    return response_format, verbosity, echoed


def _reasoning(value: Any) -> tuple[str | None, dict[str, Any]]:
    if value is None:
        return None, {"effort": None, "summary": None}
    if not isinstance(value, dict):
        raise DoorError("reasoning must be an object (effort, summary)", param="reasoning")
    _check_keys(value, {"effort", "summary", "generate_summary"}, "reasoning")
    effort = value.get("effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise DoorError(
            f"reasoning.effort must be one of {', '.join(REASONING_EFFORTS)}", param="reasoning.effort"
        )
    summary = value.get("summary", value.get("generate_summary"))
    if summary is not None and summary not in REASONING_SUMMARIES:
        raise DoorError("reasoning.summary must be auto, concise or detailed", param="reasoning.summary")
    return effort, {"effort": effort, "summary": summary}


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if (
        not isinstance(value, dict)
        or len(value) > 16
        or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512
            for k, v in value.items()
        )
    ):
        raise DoorError("metadata must map up to 16 string keys to string values", param="metadata")
    return dict(value)


def responses_request_parse(body: Any) -> ResponsesInput:
    """A `/v1/responses` body as the internal request; DoorError when it cannot be read or asks for
    something the gateway does not do."""
    if not isinstance(body, dict):
        raise DoorError("the request body must be a JSON object")
    for name, what in _NOT_CARRIED.items():
        if body.get(name) is not None and not (name == "include" and body[name] == []):
            raise _unsupported(f"{name} is not supported by this gateway ({what})", name)
    if body.get("store") not in (None, False):
        raise _unsupported(
            "store: true is not supported: this gateway keeps no responses (it is stateless). Send "
            "store: false, or leave it out, and send the whole conversation in `input`.",
            "store",
        )
    if body.get("background") not in (None, False):
        raise _unsupported("background responses are not supported by this gateway", "background")
    truncation = body.get("truncation")
    if truncation not in (None, "disabled"):
        raise _unsupported(
            "truncation 'auto' is not supported: the gateway never drops input items", "truncation"
        )
    _check_keys(body, _TOP_LEVEL, "")
    model = _string(body.get("model"), "model", max_length=200, allow_empty=False)
    if body.get("input") is None:
        raise DoorError("input is required", param="input")
    messages = _input_messages(body["input"])
    instructions = body.get("instructions")
    if instructions is not None:
        instructions = _string(instructions, "instructions")
        if instructions:
            messages = (Message("system", instructions), *messages)

    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise DoorError("stream must be a boolean", param="stream")
    stream_options = body.get("stream_options")
    if stream_options is not None:
        if not isinstance(stream_options, dict):
            raise DoorError("stream_options must be an object", param="stream_options")
        _check_keys(stream_options, {"include_obfuscation"}, "stream_options")

    tools, echoed_tools = _tools(body["tools"]) if body.get("tools") is not None else ((), [])
    tool_choice, narrowed = _tool_choice(body.get("tool_choice"), tools)
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise DoorError("parallel_tool_calls must be a boolean", param="parallel_tool_calls")
    response_format, verbosity, text_echo = _text(body.get("text"))
    effort, reasoning_echo = _reasoning(body.get("reasoning"))

    options: dict[str, Any] = {}
    tier = body.get("service_tier")
    if tier is not None:
        if tier not in ("auto", "default", "flex", "scale", "priority"):
            raise DoorError(
                "service_tier must be auto, default, flex, scale or priority", param="service_tier"
            )
        if tier not in ("auto", "default"):
            options["service_tier"] = tier
    for name in ("prompt_cache_key", "safety_identifier"):
        if body.get(name) is not None:
            options[name] = _string(body[name], name, max_length=512)
    if verbosity is not None:
        options["verbosity"] = verbosity
    user = body.get("user")
    if user is not None:
        user = _string(user, "user", max_length=256)

    chat = ChatInput(
        model=model,
        messages=messages,
        temperature=_number(body, "temperature", 0.0, 2.0),
        top_p=_number(body, "top_p", 0.0, 1.0),
        max_tokens=_integer(body, "max_output_tokens", 1),
        user=user,
        stream=stream,
        tools=narrowed,
        tool_choice=tool_choice if narrowed else None,
        parallel_tool_calls=parallel if narrowed else None,
        response_format=response_format,
        reasoning_effort=effort,
        options=options,
        route=_route(body.get("provider")),
    )
    return ResponsesInput(
        chat=chat,
        instructions=instructions,
        tools=echoed_tools,
        tool_choice=body.get("tool_choice") if body.get("tool_choice") is not None else "auto",
        text=text_echo,
        reasoning=reasoning_echo,
        metadata=_metadata(body.get("metadata")),
        parallel_tool_calls=parallel if parallel is not None else True,
        service_tier=tier,
        user=user,
    )


# ------------------------------------------------------------------------------------ rendering


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


def usage_render(usage: Usage | None) -> dict[str, Any] | None:
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


_INCOMPLETE_REASONS: Final[dict[str, str]] = {
    "length": "max_output_tokens",
    "content_filter": "content_filter",
}


def _status(finish_reason: str | None) -> tuple[str, dict[str, str] | None]:
    reason = _INCOMPLETE_REASONS.get(finish_reason or "")
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(item_id: str, text: str, *, status: str, refusal: str | None = None) -> dict[str, Any]:
    content = [{"type": "refusal", "refusal": refusal}] if refusal and not text else [_text_part(text)]
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": content}


def _reasoning_output(item_id: str, text: str, *, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "reasoning",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}],
        "status": status,
    }


def _call_item(item_id: str, call: ToolCall, *, status: str = "completed") -> dict[str, Any]:
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
    status, incomplete = _status(finish_reason)
    output: list[dict[str, Any]] = []
    if reasoning:
        output.append(_reasoning_output(new_id("rs"), reasoning))
    if content or refusal or not tool_calls:
        output.append(_message_item(new_id("msg"), content, status=status, refusal=refusal))
    output += [_call_item(new_id("fc"), call) for call in tool_calls]
    return shape.body(
        model=model, status=status, output=output, usage=usage, provider=provider, incomplete=incomplete
    )


class ResponseStreamRenderer:
    """A stream's chunks as the Responses event sequence.

    `start()` gives response.created and response.in_progress; `chunk()` the output item, content
    part and delta events of one chunk (reasoning text, answer text, function-call argument
    pieces); `finish()` closes every open item (`*.done` events, response.output_item.done) and ends
    with response.completed (response.incomplete when the answer was cut short); `fail()` gives an
    `error` event and response.failed.
    """

    def __init__(self, shape: ResponseShape, *, model: str, provider: str) -> None:
        self.shape = shape
        self.model = model
        self.provider = provider
        self.sequence = 0
        self.items: list[dict[str, Any]] = []  # output items, by output index, as they stand
        self.texts: dict[int, list[str]] = {}  # text of open message and reasoning items
        self.done: set[int] = set()
        self.open_message: int | None = None
        self.open_reasoning: int | None = None
        self.calls: dict[int, int] = {}  # a tool call's stream index -> its output index

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, **fields, "sequence_number": self.sequence}
        self.sequence += 1
        return event

    def _body(self, status: str, **extra: Any) -> dict[str, Any]:
        return self.shape.body(model=self.model, status=status, provider=self.provider, **extra)

    def start(self) -> list[dict[str, Any]]:
        return [
            self._event("response.created", response=self._body("in_progress", output=[])),
            self._event("response.in_progress", response=self._body("in_progress", output=[])),
        ]

    def _add(self, item: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
        index = len(self.items)
        self.items.append(item)
        return index, [self._event("response.output_item.added", output_index=index, item=dict(item))]

    def _open_text_item(self, kind: str) -> list[dict[str, Any]]:
        if kind == "message":
            item = {
                "id": new_id("msg"),
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }
            part: dict[str, Any] = _text_part("")
        else:
            item = {
                "id": new_id("rs"),
                "type": "reasoning",
                "summary": [],
                "content": [],
                "status": "in_progress",
            }
            part = {"type": "reasoning_text", "text": ""}
        index, events = self._add(item)
        self.texts[index] = []
        events.append(
            self._event(
                "response.content_part.added",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=part,
            )
        )
        if kind == "message":
            self.open_message = index
        else:
            self.open_reasoning = index
        return events

    def _close_text_item(self, index: int | None, *, status: str = "completed") -> list[dict[str, Any]]:
        if index is None or index in self.done:
            return []
        self.done.add(index)
        item = self.items[index]
        text = "".join(self.texts.pop(index, []))
        if item["type"] == "message":
            self.open_message = None
            part = _text_part(text)
            events = [
                self._event(
                    "response.output_text.done",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    text=text,
                    logprobs=[],
                )
            ]
            item.update(content=[part], status=status)
        else:
            self.open_reasoning = None
            part = {"type": "reasoning_text", "text": text}
            events = [
                self._event(
                    "response.reasoning_text.done",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    text=text,
                )
            ]
            item.update(content=[part], status="completed")
        events.append(
            self._event(
                "response.content_part.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=part,
            )
        )
        events.append(self._event("response.output_item.done", output_index=index, item=dict(item)))
        return events

    def chunk(self, *, delta: str = "", reasoning: str = "", tool_call_deltas=()) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if reasoning:
            if self.open_reasoning is None:
                events += self._close_text_item(self.open_message)
                events += self._open_text_item("reasoning")
            index = self.open_reasoning
            self.texts[index].append(reasoning)
            events.append(
                self._event(
                    "response.reasoning_text.delta",
                    item_id=self.items[index]["id"],
                    output_index=index,
                    content_index=0,
                    delta=reasoning,
                )
            )
        if delta:
            if self.open_message is None:
                events += self._close_text_item(self.open_reasoning)
                events += self._open_text_item("message")
            index = self.open_message
            self.texts[index].append(delta)
            events.append(
                self._event(
                    "response.output_text.delta",
                    item_id=self.items[index]["id"],
                    output_index=index,
                    content_index=0,
                    delta=delta,
                    logprobs=[],
                )
            )
        for piece in tool_call_deltas:
            if piece.index not in self.calls:
                events += self._close_text_item(self.open_reasoning)
                events += self._close_text_item(self.open_message)
                call = ToolCall(id=piece.id or new_id("call"), name=piece.name or "", arguments="")
                index, added = self._add(_call_item(new_id("fc"), call, status="in_progress"))
                self.calls[piece.index] = index
                events += added
            index = self.calls[piece.index]
            item = self.items[index]
            if piece.arguments:
                item["arguments"] += piece.arguments
                events.append(
                    self._event(
                        "response.function_call_arguments.delta",
                        item_id=item["id"],
                        output_index=index,
                        delta=piece.arguments,
                    )
                )
        return events

    def finish(
        self, *, finish_reason: str | None, usage: Usage | None, tool_calls: list[ToolCall]
    ) -> list[dict[str, Any]]:
        status, incomplete = _status(finish_reason)
        events: list[dict[str, Any]] = []
        events += self._close_text_item(self.open_reasoning)
        events += self._close_text_item(self.open_message, status=status)
        # The complete calls of the terminal chunk are authoritative; a call no piece announced
        # (an adapter that sends whole calls only at the end) gets its item now.
        final = {call.id: call for call in tool_calls}
        announced = {self.items[i]["call_id"] for i in self.calls.values()}
        for position, call in enumerate(c for c in tool_calls if c.id not in announced):
            events += self.chunk(
                tool_call_deltas=[
                    ToolCallDelta(index=-1 - position, id=call.id, name=call.name, arguments=call.arguments)
                ]
            )
        for index in sorted(self.calls.values()):
            item = self.items[index]
            if call := final.get(item["call_id"]):
                item.update(name=call.name or item["name"], arguments=call.arguments)
            item["status"] = "completed"
            events.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    name=item["name"],
                    arguments=item["arguments"],
                )
            )
            events.append(self._event("response.output_item.done", output_index=index, item=dict(item)))
            self.done.add(index)
        if not self.items:
            events += self._open_text_item("message")
            events += self._close_text_item(self.open_message, status=status)
        body = self._body(status, output=list(self.items), usage=usage or Usage(), incomplete=incomplete)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        events.append(self._event(kind, response=body))
        return events

    def fail(self, message: str, *, code: str = "server_error") -> list[dict[str, Any]]:
        """The provider failed mid-stream: an `error` event, then response.failed."""
        error = {"code": code, "message": message}
        body = self._body(
            "failed", output=[i for n, i in enumerate(self.items) if n in self.done], error=error
        )
        return [
            self._event("error", code=code, message=message, param=None),
            self._event("response.failed", response=body),
        ]
