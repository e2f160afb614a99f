"""Building a Gemini `generateContent` request body from the internal `ChatRequest`.

Translation (see the Gemini section of the provider-formats README): system/developer turns go to
`systemInstruction`, assistant turns are role `model`, and the results of `tool` turns go back as
`functionResponse` parts of one `user` content, in call order; a tool call is a `functionCall`
part whose `thoughtSignature` must be replayed on the same part; Gemini gives calls no id, so the
adapter invents `call_...` ids and never sends those back.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final
from urllib.parse import quote

from ..base import ProviderAdapter
from ..messages import ChatRequest, ImagePart, Message, ToolCall

# Tool call ids the gateway invents (Gemini gives none); they are never sent upstream.
INVENTED_ID_PREFIX: Final = "call_"

_TOOL_CHOICE_MODES: Final[dict[str, str]] = {
    "auto": "AUTO",
    "none": "NONE",
    "required": "ANY",
    "function": "ANY",
}
# reasoning_effort → thinkingLevel (Gemini 3 and later) or thinkingBudget (2.5; -1 = dynamic).
# Gemini's levels are the efforts' names in capitals; it has none above HIGH.
_THINKING_LEVELS: Final[dict[str, str]] = {
    **{effort: effort.upper() for effort in ("minimal", "low", "medium", "high")},
    "xhigh": "HIGH",
    "max": "HIGH",
}
_THINKING_BUDGETS: Final[dict[str, int]] = {
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": -1,
    "max": -1,
}
_MODEL_GENERATION_RE: Final = re.compile(r"gemini-(\d+)")

# OpenAI options Gemini honours, and their generationConfig names. `n` is handled apart: the extra
# candidates come back in `ChatResponse.more_choices`, which a stream cannot carry.
_OPTIONS: Final[dict[str, str]] = {
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}
FEATURE_N: Final = "n"


def model_path(model: str, method: str) -> str:
    """The path of `method` (generateContent, ...) for `model`."""
    return f"models/{quote(model, safe='-._~@=:,')}:{method}"


def request_body(adapter: ProviderAdapter, request: ChatRequest) -> dict[str, Any]:
    """The generateContent body for `request`."""
    system, contents = _contents(adapter, request.messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    config = _generation_config(request)
    if config:
        body["generationConfig"] = config
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(tool) for tool in request.tools]}]
        if request.tool_choice is not None:
            calling: dict[str, Any] = {"mode": _TOOL_CHOICE_MODES[request.tool_choice.mode]}
            if request.tool_choice.mode == "function" and request.tool_choice.name:
                calling["allowedFunctionNames"] = [request.tool_choice.name]
            body["toolConfig"] = {"functionCallingConfig": calling}
    return body


def _contents(
    adapter: ProviderAdapter, messages: list[Message]
) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """The system parts, and the conversation as Gemini contents."""
    system: list[dict[str, str]] = []
    contents: list[dict[str, Any]] = []
    # Every call made so far, by id: a tool result needs its call's name (and position).
    calls: dict[str, tuple[int, ToolCall]] = {}
    i = 0
    while i < len(messages):
        message = messages[i]
        if message.role in ("system", "developer"):
            system.append({"text": message.content})
        elif message.role == "tool":
            run = [message]
            while i + 1 < len(messages) and messages[i + 1].role == "tool":
                i += 1
                run.append(messages[i])
            _append(contents, "user", _function_responses(adapter, run, calls))
        elif message.role == "assistant":
            for position, call in enumerate(message.tool_calls):
                calls[call.id] = (position, call)
            _append(contents, "model", _model_parts(adapter, message))
        else:
            _append(contents, "user", _user_parts(message))
        i += 1
    return system, contents


def _generation_config(request: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.stop:
        config["stopSequences"] = list(request.stop)
    for option, name in _OPTIONS.items():
        if request.options.get(option) is not None:
            config[name] = request.options[option]
    if candidate_count(request) > 1:
        config["candidateCount"] = candidate_count(request)
    response_format = request.response_format
    if response_format is not None and response_format.type in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        if response_format.type == "json_schema" and response_format.schema is not None:
            config["responseJsonSchema"] = response_format.schema
    if request.reasoning_effort is not None:
        config["thinkingConfig"] = _thinking_config(request.model, request.reasoning_effort)
    return config


def _model_parts(adapter: ProviderAdapter, message: Message) -> list[dict[str, Any]]:
    """An assistant turn: its text, then its calls with each signature on its own part.

    Reasoning is not replayed: Gemini only needs the signatures, and foreign reasoning is not
    Gemini's to see as its own."""
    parts: list[dict[str, Any]] = []
    if message.content:
        parts.append({"text": message.content})
    for call in message.tool_calls:
        function: dict[str, Any] = {"name": call.name, "args": _call_args(adapter, call)}
        if upstream_id(call.id):
            function["id"] = call.id
        part: dict[str, Any] = {"functionCall": function}
        if call.signature:
            part["thoughtSignature"] = call.signature  # opaque: sent back exactly as received
        parts.append(part)
    return parts or [{"text": ""}]


def _call_args(adapter: ProviderAdapter, call: ToolCall) -> dict[str, Any]:
    if not call.arguments.strip():
        return {}
    try:
        args = json.loads(call.arguments)
    except ValueError:
        args = None
    if not isinstance(args, dict):
        raise adapter._error(
            "bad_request", f"tool call {call.id!r} arguments are not a JSON object", retryable=False
        )
    return args


def _function_responses(
    adapter: ProviderAdapter, run: list[Message], calls: dict[str, tuple[int, ToolCall]]
) -> list[dict[str, Any]]:
    """Consecutive tool results as functionResponse parts, in the order of their calls."""
    answered: list[tuple[int, int, dict[str, Any]]] = []
    for arrival, message in enumerate(run):
        call_id = message.tool_call_id or ""
        position, call = calls.get(call_id, (len(calls) + arrival, None))
        name = call.name if call is not None else message.name
        if not name:
            raise adapter._error(
                "bad_request", f"tool result for unknown tool_call_id {call_id!r}", retryable=False
            )
        response: dict[str, Any] = {"name": name, "response": _result_object(message.content)}
        if upstream_id(call_id):
            response["id"] = call_id
        answered.append((position, arrival, {"functionResponse": response}))
    return [part for _, _, part in sorted(answered, key=lambda item: item[:2])]


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    """Add a turn, merging it into the previous one when the role repeats."""
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _user_parts(message: Message) -> list[dict[str, Any]]:
    if not message.parts:
        return [{"text": message.content}]
    parts: list[dict[str, Any]] = []
    for part in message.parts:
        if not isinstance(part, ImagePart):
            parts.append({"text": part.text})
        elif part.is_data:
            media_type, data = part.data()
            parts.append({"inlineData": {"mimeType": media_type, "data": data}})
        else:
            parts.append({"fileData": {"mimeType": part.media_type(), "fileUri": part.url}})
    return parts


def _declaration(tool: Any) -> dict[str, Any]:
    """A function declaration; the JSON Schema goes across unchanged as `parametersJsonSchema`."""
    declaration: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        declaration["description"] = tool.description
    if tool.parameters is not None:
        declaration["parametersJsonSchema"] = tool.parameters
    return declaration


def _result_object(text: str) -> dict[str, Any]:
    """`functionResponse.response` must be an object whose "output" key holds the result (as the
    google-genai SDK sends it): JSON results as their value, anything else as the text."""
    try:
        value = json.loads(text)
    except ValueError:
        return {"output": text}
    return {"output": value}


def upstream_id(call_id: str | None) -> bool:
    """Whether a tool call id came from Gemini (sent back) rather than from the gateway (not sent)."""
    return bool(call_id) and not str(call_id).startswith(INVENTED_ID_PREFIX)


def candidate_count(request: ChatRequest) -> int:
    n = request.options.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) else 1


def _thinking_config(model: str, effort: str) -> dict[str, Any]:
    if effort == "none":
        return {"thinkingBudget": 0}
    config: dict[str, Any] = {"includeThoughts": True}
    match = _MODEL_GENERATION_RE.search(model.lower())
    if match and int(match.group(1)) >= 3:
        if effort in _THINKING_LEVELS:
            config["thinkingLevel"] = _THINKING_LEVELS[effort]
    elif effort in _THINKING_BUDGETS:
        config["thinkingBudget"] = _THINKING_BUDGETS[effort]
    return config
