"""OpenAI Chat Completions <-> the internal request and result.

`chat_request_parse` reads a `/v1/chat/completions` body into a `ChatInput` (messages of typed
parts, tools, response format, reasoning effort, every other parameter by name, routing controls);
a field it does not know is refused, never ignored. `chat_completion_render` and
`ChatStreamRenderer` turn the internal answer back into OpenAI's shapes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from providers.adapters.base import (
    OPENAI_OPTIONS,
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

REASONING_EFFORTS: Final = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
ROUTE_SORTS: Final = ("price", "latency")

# Known OpenAI parameters the gateway does not carry (yet): refused by name, never dropped.
_NOT_CARRIED: Final[dict[str, str]] = {
    "functions": "the deprecated `functions`; use `tools`",
    "function_call": "the deprecated `function_call`; use `tool_choice`",
    "modalities": "audio output",
    "audio": "audio output",
    "prediction": "predicted outputs",
    "web_search_options": "web search",
    "prompt_cache_options": "prompt cache options",
}
_TOP_LEVEL: Final = OPENAI_OPTIONS | {
    "model",
    "messages",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "stream",
    "stream_options",
    "user",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "reasoning_effort",
    "provider",
}
_MESSAGE_KEYS: Final[dict[str, frozenset[str]]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "tool_calls", "refusal", "reasoning_content"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
}


class DoorError(Exception):
    """The request cannot be read: a 400 naming the parameter (`param`, OpenAI style)."""

    def __init__(self, message: str, *, param: str | None = None, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


@dataclass(frozen=True)
class RouteControls:
    """OpenRouter-style `provider` object: which providers may answer, and in what order."""

    order: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    allow_fallbacks: bool = True
    sort: str | None = None

    @property
    def empty(self) -> bool:
        return self == RouteControls()

    def as_dict(self) -> dict[str, Any]:
        return {
            "order": list(self.order),
            "only": list(self.only),
            "ignore": list(self.ignore),
            "allow_fallbacks": self.allow_fallbacks,
            "sort": self.sort,
        }


@dataclass
class ChatInput:
    model: str
    messages: tuple[Message, ...]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] | None = None
    user: str | None = None
    stream: bool = False
    include_usage: bool = False
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    route: RouteControls = field(default_factory=RouteControls)


# ------------------------------------------------------------------------------------ parsing


def _number(body: dict, name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DoorError(f"{name} must be a number", param=name)
    if not low <= value <= high:
        raise DoorError(f"{name} must be between {low:g} and {high:g}", param=name)
    return float(value)


def _integer(body: dict, name: str, low: int, high: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise DoorError(f"{name} must be an integer", param=name)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise DoorError(f"{name} must be {bound}", param=name)
    return value


def _string(value: Any, param: str, *, max_length: int = 100_000, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise DoorError(f"{param} must be a string", param=param)
    if len(value) > max_length:
        raise DoorError(f"{param} is longer than {max_length} characters", param=param)
    if not allow_empty and not value:
        raise DoorError(f"{param} must not be empty", param=param)
    return value


def _check_keys(obj: dict, allowed: frozenset[str] | set[str], param: str) -> None:
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        where = f"{param}." if param else ""
        raise DoorError(
            f"Unrecognized request argument supplied: {where}{unknown[0]}",
            param=f"{where}{unknown[0]}",
            code="unknown_parameter",
        )


def _text_parts(content: Any, param: str, *, allow_refusal: bool = False) -> str:
    """A string, or a list of text parts joined (system, developer, assistant and tool messages)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise DoorError(f"{param} must be a string or a list of text parts", param=param)
    texts = []
    for index, part in enumerate(content):
        where = f"{param}[{index}]"
        if not isinstance(part, dict):
            raise DoorError(f"{where} must be an object", param=where)
        kind = part.get("type")
        if kind == "text":
            _check_keys(part, {"type", "text"}, where)
            texts.append(_string(part.get("text"), f"{where}.text"))
        elif kind == "refusal" and allow_refusal:
            _check_keys(part, {"type", "refusal"}, where)
            texts.append(_string(part.get("refusal"), f"{where}.refusal"))
        else:
            raise DoorError(
                f"{where}.type {kind!r} is not accepted here (text parts only)",
                param=f"{where}.type",
                code="unsupported_parameter",
            )
    return "".join(texts)


def image_part(url: Any, detail: Any, *, url_param: str, detail_param: str) -> ImagePart:
    """An image reference as the OpenAI protocols send it: an http(s) URL or a base64 data URL."""
    url = _string(url, url_param, max_length=50_000_000, allow_empty=False)
    if not url.startswith(("https://", "http://", "data:image/")) or (
        url.startswith("data:") and ";base64," not in url[:100]
    ):
        raise DoorError(
            f"{url_param} must be an https:// URL or a data:image/...;base64, URL",
            param=url_param,
            code="invalid_image_url",
        )
    if detail is not None and detail not in ("auto", "low", "high", "original"):
        raise DoorError(f"{detail_param} must be auto, low, high or original", param=detail_param)
    return ImagePart(url=url, detail=detail)


def _user_parts(content: Any, param: str) -> tuple[str, tuple[ContentPart, ...]]:
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
        if kind == "text":
            _check_keys(part, {"type", "text"}, where)
            parts.append(TextPart(_string(part.get("text"), f"{where}.text")))
        elif kind == "image_url":
            _check_keys(part, {"type", "image_url"}, where)
            image = part.get("image_url")
            if isinstance(image, str):
                image = {"url": image}
            if not isinstance(image, dict):
                raise DoorError(f"{where}.image_url must be an object with a url", param=f"{where}.image_url")
            _check_keys(image, {"url", "detail"}, f"{where}.image_url")
            parts.append(
                image_part(
                    image.get("url"),
                    image.get("detail"),
                    url_param=f"{where}.image_url.url",
                    detail_param=f"{where}.image_url.detail",
                )
            )
        else:
            raise DoorError(
                f"{where}.type {kind!r} is not supported (text and image_url parts are)",
                param=f"{where}.type",
                code="unsupported_parameter",
            )
    if not any(isinstance(p, ImagePart) for p in parts):
        return "".join(p.text for p in parts if isinstance(p, TextPart)), ()
    return "".join(p.text for p in parts if isinstance(p, TextPart)), tuple(parts)


def _tool_calls(value: Any, param: str) -> tuple[ToolCall, ...]:
    if not isinstance(value, list):
        raise DoorError(f"{param} must be a list", param=param)
    calls = []
    for index, call in enumerate(value):
        where = f"{param}[{index}]"
        if not isinstance(call, dict):
            raise DoorError(f"{where} must be an object", param=where)
        _check_keys(call, {"id", "type", "function", "index"}, where)
        if call.get("type", "function") != "function":
            raise DoorError(
                f"{where}.type must be 'function'", param=f"{where}.type", code="unsupported_parameter"
            )
        function = call.get("function")
        if not isinstance(function, dict):
            raise DoorError(f"{where}.function must be an object", param=f"{where}.function")
        _check_keys(function, {"name", "arguments"}, f"{where}.function")
        calls.append(
            ToolCall(
                id=_string(call.get("id"), f"{where}.id", max_length=256, allow_empty=False),
                name=_string(
                    function.get("name"), f"{where}.function.name", max_length=256, allow_empty=False
                ),
                arguments=_string(function.get("arguments", ""), f"{where}.function.arguments"),
            )
        )
    return tuple(calls)


def _message(raw: Any, index: int) -> Message:
    param = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise DoorError(f"{param} must be an object", param=param)
    role = raw.get("role")
    if role == "function":
        raise DoorError(
            f"{param}.role 'function' is deprecated; send 'tool' messages",
            param=f"{param}.role",
            code="unsupported_parameter",
        )
    if role not in _MESSAGE_KEYS:
        raise DoorError(
            f"{param}.role must be one of system, developer, user, assistant, tool", param=f"{param}.role"
        )
    _check_keys(raw, _MESSAGE_KEYS[role], param)
    name = raw.get("name")
    if name is not None:
        name = _string(name, f"{param}.name", max_length=256)
    content = raw.get("content")
    if role == "user":
        if content is None:
            raise DoorError(f"{param}.content is required", param=f"{param}.content")
        text, parts = _user_parts(content, f"{param}.content")
        return Message("user", text, parts=parts, name=name)
    if role == "tool":
        call_id = _string(raw.get("tool_call_id"), f"{param}.tool_call_id", max_length=256, allow_empty=False)
        text = _text_parts(content if content is not None else "", f"{param}.content")
        return Message("tool", text, tool_call_id=call_id)
    if role == "assistant":
        calls = _tool_calls(raw["tool_calls"], f"{param}.tool_calls") if raw.get("tool_calls") else ()
        text = "" if content is None else _text_parts(content, f"{param}.content", allow_refusal=True)
        refusal = raw.get("refusal")
        if refusal and not text:
            text = _string(refusal, f"{param}.refusal")
        if content is None and not calls and not refusal:
            raise DoorError(f"{param}.content is required unless tool_calls is set", param=f"{param}.content")
        reasoning: tuple[ReasoningPart, ...] = ()
        if raw.get("reasoning_content"):
            reasoning = (ReasoningPart(_string(raw["reasoning_content"], f"{param}.reasoning_content")),)
        return Message("assistant", text, tool_calls=calls, name=name, reasoning=reasoning)
    if content is None:
        raise DoorError(f"{param}.content is required", param=f"{param}.content")
    return Message(role, _text_parts(content, f"{param}.content"), name=name)


def _tools(value: Any) -> tuple[ToolSpec, ...]:
    if not isinstance(value, list):
        raise DoorError("tools must be a list", param="tools")
    if len(value) > 512:
        raise DoorError("tools holds more than 512 tools", param="tools")
    specs = []
    names: set[str] = set()
    for index, tool in enumerate(value):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise DoorError(f"{where} must be an object", param=where)
        if tool.get("type") != "function":
            raise DoorError(
                f"{where}.type {tool.get('type')!r} is not supported (function tools are)",
                param=f"{where}.type",
                code="unsupported_parameter",
            )
        _check_keys(tool, {"type", "function"}, where)
        function = tool.get("function")
        if not isinstance(function, dict):
            raise DoorError(f"{where}.function must be an object", param=f"{where}.function")
        _check_keys(function, {"name", "description", "parameters", "strict"}, f"{where}.function")
        name = _string(function.get("name"), f"{where}.function.name", max_length=64, allow_empty=False)
        if name in names:
            raise DoorError(f"tool name {name!r} is declared twice", param=f"{where}.function.name")
        names.add(name)
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise DoorError(
                f"{where}.function.parameters must be a JSON Schema object",
                param=f"{where}.function.parameters",
            )
        strict = function.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise DoorError(f"{where}.function.strict must be a boolean", param=f"{where}.function.strict")
        description = function.get("description")
        specs.append(
            ToolSpec(
                name=name,
                description=_string(description, f"{where}.function.description")
                if description is not None
                else None,
                parameters=parameters,
                strict=strict,
            )
        )
    return tuple(specs)


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
        allowed = value.get("allowed_tools") or {}
        mode = allowed.get("mode")
        names = {
            (t.get("function") or {}).get("name") for t in allowed.get("tools") or [] if isinstance(t, dict)
        }
        if mode not in ("auto", "required") or not names:
            raise DoorError("tool_choice.allowed_tools needs a mode and a list of tools", param="tool_choice")
        narrowed = tuple(t for t in tools if t.name in names)
        if len(narrowed) != len(names):
            raise DoorError(
                "tool_choice.allowed_tools names a function that is not in tools", param="tool_choice"
            )
        return ToolChoice(mode), narrowed
    raise DoorError("tool_choice must be 'auto', 'none', 'required' or a named function", param="tool_choice")


def _response_format(value: Any) -> ResponseFormat | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in ("text", "json_object", "json_schema"):
        raise DoorError(
            "response_format.type must be text, json_object or json_schema", param="response_format.type"
        )
    kind = value["type"]
    if kind == "text":
        _check_keys(value, {"type"}, "response_format")
        return None  # the default: nothing to ask of a provider
    if kind == "json_object":
        _check_keys(value, {"type"}, "response_format")
        return ResponseFormat("json_object")
    _check_keys(value, {"type", "json_schema"}, "response_format")
    spec = value.get("json_schema")
    if not isinstance(spec, dict):
        raise DoorError("response_format.json_schema must be an object", param="response_format.json_schema")
    _check_keys(spec, {"name", "description", "schema", "strict"}, "response_format.json_schema")
    schema = spec.get("schema")
    if schema is not None and not isinstance(schema, dict):
        raise DoorError(
            "response_format.json_schema.schema must be an object", param="response_format.json_schema.schema"
        )
    name = _string(spec.get("name"), "response_format.json_schema.name", max_length=64, allow_empty=False)
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise DoorError(
            "response_format.json_schema.strict must be a boolean", param="response_format.json_schema.strict"
        )
    return ResponseFormat(
        "json_schema", schema=schema, name=name, description=spec.get("description"), strict=strict
    )


def _route(value: Any) -> RouteControls:
    if value is None:
        return RouteControls()
    if not isinstance(value, dict):
        raise DoorError(
            "provider must be an object (order, only, ignore, allow_fallbacks, sort)", param="provider"
        )
    _check_keys(value, {"order", "only", "ignore", "allow_fallbacks", "sort"}, "provider")

    def names(key: str) -> tuple[str, ...]:
        items = value.get(key)
        if items is None:
            return ()
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise DoorError(f"provider.{key} must be a list of provider names", param=f"provider.{key}")
        return tuple(items)

    allow = value.get("allow_fallbacks", True)
    if not isinstance(allow, bool):
        raise DoorError("provider.allow_fallbacks must be a boolean", param="provider.allow_fallbacks")
    sort = value.get("sort")
    if sort is not None and sort not in ROUTE_SORTS:
        raise DoorError("provider.sort must be 'price' or 'latency'", param="provider.sort")
    return RouteControls(names("order"), names("only"), names("ignore"), allow, sort)


def _options(body: dict) -> dict[str, Any]:
    """The other OpenAI parameters, checked, without the ones that only restate a default."""
    options: dict[str, Any] = {}
    seed = _integer(body, "seed", -(2**63), 2**63 - 1)
    if seed is not None:
        options["seed"] = seed
    n = _integer(body, "n", 1, 128)
    if n is not None and n > 1:
        options["n"] = n
    logprobs = body.get("logprobs")
    if logprobs is not None and not isinstance(logprobs, bool):
        raise DoorError("logprobs must be a boolean", param="logprobs")
    top = _integer(body, "top_logprobs", 0, 20)
    if top is not None and not logprobs:
        raise DoorError("top_logprobs requires logprobs: true", param="top_logprobs")
    if logprobs:
        options["logprobs"] = True
        if top is not None:
            options["top_logprobs"] = top
    for name in ("presence_penalty", "frequency_penalty"):
        value = _number(body, name, -2.0, 2.0)
        if value:
            options[name] = value
    bias = body.get("logit_bias")
    if bias is not None:
        if not isinstance(bias, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and -100 <= v <= 100 for v in bias.values()
        ):
            raise DoorError(
                "logit_bias must map token ids to numbers between -100 and 100", param="logit_bias"
            )
        if bias:
            options["logit_bias"] = bias
    metadata = body.get("metadata")
    if metadata is not None:
        if (
            not isinstance(metadata, dict)
            or len(metadata) > 16
            or not all(
                isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512
                for k, v in metadata.items()
            )
        ):
            raise DoorError("metadata must map up to 16 string keys to string values", param="metadata")
        if metadata:
            options["metadata"] = metadata
    tier = body.get("service_tier")
    if tier is not None:
        if tier not in ("auto", "default", "flex", "scale", "priority"):
            raise DoorError(
                "service_tier must be auto, default, flex, scale or priority", param="service_tier"
            )
        if tier not in ("auto", "default"):
            options["service_tier"] = tier
    store = body.get("store")
    if store is not None:
        if not isinstance(store, bool):
            raise DoorError("store must be a boolean", param="store")
        if store:
            options["store"] = True
    for name in ("prompt_cache_key", "safety_identifier"):
        if body.get(name) is not None:
            options[name] = _string(body[name], name, max_length=512)
    verbosity = body.get("verbosity")
    if verbosity is not None:
        if verbosity not in ("low", "medium", "high"):
            raise DoorError("verbosity must be low, medium or high", param="verbosity")
        options["verbosity"] = verbosity
    return options


def chat_request_parse(body: Any) -> ChatInput:
    """A `/v1/chat/completions` body as the internal request; DoorError when it cannot be read."""
    if not isinstance(body, dict):
        raise DoorError("the request body must be a JSON object")
    for name, what in _NOT_CARRIED.items():
        if body.get(name) is not None:
            raise DoorError(
                f"{name} is not supported by this gateway ({what})", param=name, code="unsupported_parameter"
            )
    _check_keys(body, _TOP_LEVEL, "")
    model = _string(body.get("model"), "model", max_length=200, allow_empty=False)
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise DoorError("messages must be a non-empty list", param="messages")
    if len(raw_messages) > 1000:
        raise DoorError("messages holds more than 1000 messages", param="messages")
    messages = tuple(_message(raw, index) for index, raw in enumerate(raw_messages))
    _check_tool_turns(messages)

    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and (
        not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) and s for s in stop)
    ):
        raise DoorError("stop must be a string or a list of up to 4 strings", param="stop")

    max_tokens = _integer(body, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = _integer(body, "max_tokens", 1)
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise DoorError("stream must be a boolean", param="stream")
    stream_options = body.get("stream_options")
    include_usage = False
    if stream_options is not None:
        if not isinstance(stream_options, dict):
            raise DoorError("stream_options must be an object", param="stream_options")
        _check_keys(stream_options, {"include_usage", "include_obfuscation"}, "stream_options")
        include_usage = bool(stream_options.get("include_usage"))

    tools = _tools(body["tools"]) if body.get("tools") is not None else ()
    tool_choice, tools = _tool_choice(body.get("tool_choice"), tools) if tools else (None, tools)
    if body.get("tool_choice") not in (None, "none", "auto") and not tools:
        raise DoorError("tool_choice needs tools", param="tool_choice")
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise DoorError("parallel_tool_calls must be a boolean", param="parallel_tool_calls")
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise DoorError(
            f"reasoning_effort must be one of {', '.join(REASONING_EFFORTS)}", param="reasoning_effort"
        )
    user = body.get("user")
    options = _options(body)
    if stream and options.get("n"):
        raise DoorError(
            "n above 1 is not supported with stream: true", param="n", code="unsupported_parameter"
        )
    return ChatInput(
        model=model,
        messages=messages,
        temperature=_number(body, "temperature", 0.0, 2.0),
        top_p=_number(body, "top_p", 0.0, 1.0),
        max_tokens=max_tokens,
        stop=tuple(stop) if stop else None,
        user=_string(user, "user", max_length=256) if user is not None else None,
        stream=stream,
        include_usage=include_usage,
        tools=tools,
        tool_choice=tool_choice if tools else None,
        parallel_tool_calls=parallel if tools else None,
        response_format=_response_format(body.get("response_format")),
        reasoning_effort=effort,
        options=options,
        route=_route(body.get("provider")),
    )


def _check_tool_turns(messages: tuple[Message, ...]) -> None:
    """Every tool result answers a call made earlier in the conversation."""
    called: set[str] = set()
    for index, message in enumerate(messages):
        called.update(call.id for call in message.tool_calls)
        if message.role == "tool" and message.tool_call_id not in called:
            raise DoorError(
                f"messages[{index}] answers tool_call_id {message.tool_call_id!r}, which no earlier "
                "assistant message called",
                param=f"messages[{index}].tool_call_id",
            )
    if not any(m.role != "tool" for m in messages):
        raise DoorError("messages must hold at least one non-tool message", param="messages")


# ------------------------------------------------------------------------------------ rendering


def tool_call_body(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def assistant_message(content: str, tool_calls, *, refusal: str | None = None, reasoning: str = "") -> dict:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if tool_calls and not content else content,
        "refusal": refusal,
    }
    if tool_calls:
        message["tool_calls"] = [tool_call_body(call) for call in tool_calls]
    if reasoning:
        message["reasoning_content"] = reasoning
    return message


def usage_body(usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def json_bytes(obj: Any) -> bytes:
    """Compact UTF-8 JSON for answers and stream events (orjson; the standard library for what
    orjson refuses, e.g. a lone surrogate a provider sent escaped)."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, separators=(",", ":")).encode()


def sse_data(obj: Any) -> bytes:
    return b"data: " + json_bytes(obj) + b"\n\n"
