"""A `/v1/responses` body as a `ResponsesInput`: the internal chat request, and what the Response echoes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from providers.adapters.messages import Message
from routing.doors.common import (
    REASONING_EFFORTS,
    DoorError,
    flag_parse,
    identifiers_parse,
    integer_parse,
    keys_check,
    metadata_parse,
    model_parse,
    not_carried_check,
    number_parse,
    service_tier_parse,
    stream_parse,
    string_parse,
    unsupported,
    user_parse,
)
from routing.doors.openai_responses.items import input_messages_parse
from routing.doors.openai_responses.tools import (
    responses_tool_choice_parse,
    responses_tools_parse,
    text_parse,
)
from routing.doors.parsed import ChatInput, route_controls_parse

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


def _stateless_check(body: dict) -> None:
    """What needs state the gateway does not keep (stored responses, background runs, truncation)."""
    # An empty `include` asks for nothing extra: the one not-carried value that is accepted.
    not_carried_check(body, _NOT_CARRIED, empty_accepted=("include",))
    if body.get("store") not in (None, False):
        raise unsupported(
            "store: true is not supported: this gateway keeps no responses (it is stateless). Send "
            "store: false, or leave it out, and send the whole conversation in `input`.",
            "store",
        )
    if body.get("background") not in (None, False):
        raise unsupported("background responses are not supported by this gateway", "background")
    if body.get("truncation") not in (None, "disabled"):
        raise unsupported(
            "truncation 'auto' is not supported: the gateway never drops input items", "truncation"
        )


def _reasoning(value: Any) -> tuple[str | None, dict[str, Any]]:
    """`reasoning`: the effort, and the reasoning config as echoed."""
    if value is None:
        return None, {"effort": None, "summary": None}
    if not isinstance(value, dict):
        raise DoorError("reasoning must be an object (effort, summary)", param="reasoning")
    keys_check(value, {"effort", "summary", "generate_summary"}, "reasoning")
    effort = value.get("effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise DoorError(
            f"reasoning.effort must be one of {', '.join(REASONING_EFFORTS)}", param="reasoning.effort"
        )
    summary = value.get("summary", value.get("generate_summary"))
    if summary is not None and summary not in REASONING_SUMMARIES:
        raise DoorError("reasoning.summary must be auto, concise or detailed", param="reasoning.summary")
    return effort, {"effort": effort, "summary": summary}


def _conversation(body: dict) -> tuple[tuple[Message, ...], str | None]:
    """The messages (the instructions first, as a system message), and the instructions."""
    if body.get("input") is None:
        raise DoorError("input is required", param="input")
    messages = input_messages_parse(body["input"])
    instructions = body.get("instructions")
    if instructions is not None:
        instructions = string_parse(instructions, "instructions")
        if instructions:
            messages = (Message("system", instructions), *messages)
    return messages, instructions


def responses_request_parse(body: Any) -> ResponsesInput:
    """A `/v1/responses` body as the internal request; DoorError when it cannot be read or asks for
    something the gateway does not do."""
    if not isinstance(body, dict):
        raise DoorError("the request body must be a JSON object")
    _stateless_check(body)
    keys_check(body, _TOP_LEVEL, "")
    model = model_parse(body)
    messages, instructions = _conversation(body)
    stream, _ = stream_parse(body, option_keys={"include_obfuscation"})
    tools, echoed_tools = responses_tools_parse(body["tools"]) if body.get("tools") is not None else ((), [])
    tool_choice, narrowed = responses_tool_choice_parse(body.get("tool_choice"), tools)
    parallel = flag_parse(body, "parallel_tool_calls")
    response_format, verbosity, text_echo = text_parse(body.get("text"))
    effort, reasoning_echo = _reasoning(body.get("reasoning"))
    options: dict[str, Any] = {}
    tier = service_tier_parse(body, options)
    identifiers_parse(body, options)
    if verbosity is not None:
        options["verbosity"] = verbosity
    user = user_parse(body)
    chat = ChatInput(
        model=model,
        messages=messages,
        temperature=number_parse(body, "temperature", 0.0, 2.0),
        top_p=number_parse(body, "top_p", 0.0, 1.0),
        max_tokens=integer_parse(body, "max_output_tokens", 1),
        user=user,
        stream=stream,
        tools=narrowed,
        tool_choice=tool_choice if narrowed else None,
        parallel_tool_calls=parallel if narrowed else None,
        response_format=response_format,
        reasoning_effort=effort,
        options=options,
        route=route_controls_parse(body.get("provider")),
    )
    return ResponsesInput(
        chat=chat,
        instructions=instructions,
        tools=echoed_tools,
        tool_choice=body.get("tool_choice") if body.get("tool_choice") is not None else "auto",
        text=text_echo,
        reasoning=reasoning_echo,
        metadata=dict(metadata_parse(body.get("metadata"))),
        parallel_tool_calls=parallel if parallel is not None else True,
        service_tier=tier,
        user=user,
    )
