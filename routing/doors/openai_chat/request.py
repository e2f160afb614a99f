"""A `/v1/chat/completions` body as a `ChatInput`."""

from __future__ import annotations

from typing import Any, Final

from providers.adapters.messages import OPENAI_OPTIONS
from routing.doors.common import (
    REASONING_EFFORTS,
    DoorError,
    flag_parse,
    integer_parse,
    keys_check,
    model_parse,
    not_carried_check,
    number_parse,
    stream_parse,
    user_parse,
)
from routing.doors.openai_chat.messages import chat_messages_parse
from routing.doors.openai_chat.options import chat_options_parse
from routing.doors.openai_chat.tools import chat_tools_parse, response_format_parse
from routing.doors.parsed import ChatInput, route_controls_parse

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


def _stop(value: Any) -> tuple[str, ...] | None:
    stop = [value] if isinstance(value, str) else value
    if stop is not None and (
        not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) and s for s in stop)
    ):
        raise DoorError("stop must be a string or a list of up to 4 strings", param="stop")
    return tuple(stop) if stop else None


def _reasoning_effort(value: Any) -> str | None:
    if value is not None and value not in REASONING_EFFORTS:
        raise DoorError(
            f"reasoning_effort must be one of {', '.join(REASONING_EFFORTS)}", param="reasoning_effort"
        )
    return value


def chat_request_parse(body: Any) -> ChatInput:
    """A `/v1/chat/completions` body as the internal request; DoorError when it cannot be read."""
    if not isinstance(body, dict):
        raise DoorError("the request body must be a JSON object")
    not_carried_check(body, _NOT_CARRIED)
    keys_check(body, _TOP_LEVEL, "")
    model = model_parse(body)
    messages = chat_messages_parse(body.get("messages"))
    stop = _stop(body.get("stop"))
    max_tokens = integer_parse(body, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = integer_parse(body, "max_tokens", 1)
    stream, stream_options = stream_parse(body, option_keys={"include_usage", "include_obfuscation"})
    tools, tool_choice = chat_tools_parse(body)
    parallel = flag_parse(body, "parallel_tool_calls")
    effort = _reasoning_effort(body.get("reasoning_effort"))
    options = chat_options_parse(body)
    if stream and options.get("n"):
        raise DoorError(
            "n above 1 is not supported with stream: true", param="n", code="unsupported_parameter"
        )
    return ChatInput(
        model=model,
        messages=messages,
        temperature=number_parse(body, "temperature", 0.0, 2.0),
        top_p=number_parse(body, "top_p", 0.0, 1.0),
        max_tokens=max_tokens,
        stop=stop,
        user=user_parse(body),
        stream=stream,
        include_usage=bool(stream_options.get("include_usage")),
        tools=tools,
        tool_choice=tool_choice if tools else None,
        parallel_tool_calls=parallel if tools else None,
        response_format=response_format_parse(body.get("response_format")),
        reasoning_effort=effort,
        options=options,
        route=route_controls_parse(body.get("provider")),
    )
