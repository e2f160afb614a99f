"""A `/v1/messages` (or count_tokens) body as a `MessagesInput`: the translation and the native body."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from providers.adapters.anthropic.request import COUNT_TOKENS_FIELDS
from routing.doors.anthropic_messages.blocks import PROTOCOL
from routing.doors.anthropic_messages.tools import (
    output_config_parse,
    thinking_parse,
    tool_choice_parse,
    tools_parse,
)
from routing.doors.anthropic_messages.turns import messages_parse, system_parse
from routing.doors.anthropic_messages.validation import (
    MessagesError,
    integer_parse,
    keys_check,
    number_parse,
    string_parse,
)
from routing.doors.common import DoorError
from routing.doors.parsed import ChatInput, RouteControls, route_controls_parse

# The headers of Anthropic's protocol that travel with a passed-through request; a version the
# gateway does not know is accepted but not passed on (Anthropic gets its SDK's current one).
PASSED_HEADERS: Final = ("anthropic-version", "anthropic-beta")
KNOWN_VERSIONS: Final = frozenset({"2023-01-01", "2023-06-01", "2026-10-21"})

# Cost and capacity hints: carried to Anthropic, left out for the other providers (they do not
# change what the answer says). `cache_control` on blocks and tools is the same kind of hint.
HINT_FIELDS: Final = frozenset({"cache_control", "service_tier", "speed", "diagnostics"})
# Top-level fields only Anthropic can honour: a request that sets one is answered by Anthropic only
# (unless the client sends X-Drop-Params: true).
ANTHROPIC_ONLY_FIELDS: Final = frozenset(
    {
        "container",
        "inference_geo",
        "mcp_servers",
        "context_management",
        "compaction",
        "thread",
        "fallbacks",
        "fallback_credit_token",
        "billing_policy",
    }
)
CREATE_FIELDS: Final = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "system",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "thinking",
        "tools",
        "tool_choice",
        "output_config",
        *HINT_FIELDS,
        *ANTHROPIC_ONLY_FIELDS,
    }
)
COUNT_FIELDS: Final = COUNT_TOKENS_FIELDS
# The gateway's own field (routing controls, as at /v1/chat/completions); never sent upstream.
GATEWAY_FIELDS: Final = frozenset({"provider"})
# A dated snapshot or `-latest` of a Claude model: `claude-haiku-4-5-20251001`.
_SNAPSHOT_RE: Final = re.compile(r"^(claude-[a-z0-9.-]+?)-(?:\d{8}|latest)$")


@dataclass
class MessagesInput(ChatInput):
    """A parsed Messages request: the internal chat request, and the body for Anthropic."""

    # The body for Anthropic, as sent (see `ChatRequest.native`).
    native: dict[str, Any] = field(default_factory=dict)
    # `thinking.display: "omitted"`: reasoning from other providers is not shown either.
    thinking_omitted: bool = False


def _metadata(value: Any) -> str | None:
    """The end user `metadata.user_id` names."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MessagesError("metadata: Input should be a valid dictionary", param="metadata")
    keys_check(value, {"user_id"}, "metadata")
    user = value.get("user_id")
    return None if user is None else string_parse(user, "metadata.user_id", max_length=256)


def _stop_sequences(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise MessagesError(
            "stop_sequences: Input should be a list of non-empty strings", param="stop_sequences"
        )
    return tuple(value) or None


def _stream(body: dict) -> bool:
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise MessagesError("stream: Input should be a valid boolean", param="stream")
    return stream


def _route(value: Any) -> RouteControls:
    """The gateway's `provider` field, its errors in this door's type."""
    try:
        return route_controls_parse(value)
    except DoorError as error:
        raise MessagesError(error.message, param=error.param) from None


def _native(body: dict, headers: dict[str, str] | None, *, beta: bool, requires: set[str]) -> dict[str, Any]:
    """The request for Anthropic: the body without the gateway's fields, the protocol headers, and
    what only Anthropic can carry."""
    for name in sorted(ANTHROPIC_ONLY_FIELDS):
        if body.get(name) is not None:
            requires.add(name)
    passed = {
        name.lower(): str(value) for name, value in (headers or {}).items() if name.lower() in PASSED_HEADERS
    }
    if passed.get("anthropic-version") not in KNOWN_VERSIONS:
        passed.pop("anthropic-version", None)
    return {
        "protocol": PROTOCOL,
        "body": {k: v for k, v in body.items() if k not in GATEWAY_FIELDS},
        "headers": passed,
        "beta": beta,
        "requires": sorted(requires),
    }


def snapshot_base(model: str) -> str | None:
    """The model a dated Claude snapshot (or `-latest`) names: `claude-haiku-4-5-20251001` ->
    `claude-haiku-4-5`; None for other names."""
    found = _SNAPSHOT_RE.match(model)
    return found.group(1) if found else None


def _max_tokens(body: dict, requires: set[str]) -> int | None:
    if "max_tokens" not in body:
        raise MessagesError("max_tokens: Field required", param="max_tokens")
    max_tokens = integer_parse(body["max_tokens"], "max_tokens", 0)
    if max_tokens == 0:
        requires.add("max_tokens.0")  # only warms Anthropic's prompt cache
    return max(max_tokens, 1)


def messages_request_parse(
    body: Any, *, headers: dict[str, str] | None = None, beta: bool = False, count: bool = False
) -> MessagesInput:
    """A `/v1/messages` body (`count`: a `/v1/messages/count_tokens` body) as the internal request;
    MessagesError when it cannot be read. `headers`: the request's `anthropic-*` headers; `beta`:
    the client called the beta endpoint (`?beta=true`)."""
    if not isinstance(body, dict):
        raise MessagesError("the request body must be a JSON object")
    keys_check(body, (COUNT_FIELDS if count else CREATE_FIELDS) | GATEWAY_FIELDS, "")
    requires: set[str] = set()
    model = string_parse(body.get("model"), "model", allow_empty=False, max_length=200)
    max_tokens = None if count else _max_tokens(body, requires)
    messages = system_parse(body.get("system")) + messages_parse(body.get("messages"), requires)
    tools, names = tools_parse(body["tools"], requires) if body.get("tools") is not None else ((), set())
    tool_choice, parallel = tool_choice_parse(body.get("tool_choice"), names)
    response_format, output_effort = output_config_parse(body.get("output_config"))
    effort, omitted = thinking_parse(body.get("thinking"), output_effort, requires)
    options: dict[str, Any] = {}
    if body.get("top_k") is not None:
        options["top_k"] = integer_parse(body["top_k"], "top_k", 0)
    stream = _stream(body)
    route = _route(body.get("provider"))
    native = _native(body, headers, beta=beta, requires=requires)
    return MessagesInput(
        model=model,
        messages=tuple(messages),
        max_tokens=max_tokens,
        temperature=number_parse(body, "temperature", 0.0, 1.0),
        top_p=number_parse(body, "top_p", 0.0, 1.0),
        stop=_stop_sequences(body.get("stop_sequences")),
        user=_metadata(body.get("metadata")),
        stream=stream,
        tools=tools,
        tool_choice=tool_choice if tools else None,
        parallel_tool_calls=parallel if tools else None,
        response_format=response_format,
        reasoning_effort=effort,
        options=options,
        route=route,
        native=native,
        thinking_omitted=omitted,
    )
