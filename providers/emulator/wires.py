"""The four wire formats the emulator speaks: bodies, SSE streams and error envelopes.

Shapes follow the reference fixtures in tests/fixtures/provider_formats (copied from the shared
provider-formats set, which the official SDKs parse); the conformance tests compare them.
"""

from __future__ import annotations

import contextvars
import json
import math
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any, ClassVar, Final

from .content import (
    REPLY_PREFIX,
    TOOL_REPLY_PREFIX,
    Answer,
    calls_answer,
    make_answer,
    reasoning_for,
    reasoning_tokens,
    text_answer,
)
from .embeddings import gemini_embeddings, openai_embeddings
from .faults import Fault, split_model
from .features import (
    ANTHROPIC_THINKING,
    GEMINI_FUNCTION_CALL,
    GEMINI_SKIP_SIGNATURE,
    GEMINI_TEXT,
    IMAGE_MEDIA_TYPES,
    JsonStyle,
    ToolCall,
    ToolChoice,
    ToolSpec,
    canonical_call,
    choose_calls,
    decode_base64,
    dump_json,
    fragments,
    image_suffix,
    parse_data_url,
    random_id,
    schema_instance,
    sign,
    verify,
)

FINGERPRINT: Final = "fp_emulator"
ANTHROPIC_VERSIONS: Final = frozenset({"2023-06-01", "2026-10-21"})
# Under this API version Anthropic removed the sampling parameters.
ANTHROPIC_NO_SAMPLING_VERSION: Final = "2026-10-21"


@dataclass(slots=True)
class Reply:
    """A whole HTTP answer; `events` (if set) are sent one by one as a streamed body."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    events: list[bytes] | None = None

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(
            status=status,
            headers={"content-type": "application/json", **(headers or {})},
            body=json.dumps(obj).encode(),
        )


@dataclass(slots=True)
class StreamPlan:
    """A stream's events; `terminal` is the index of the first event that ends the answer
    (finish/usage/message_delta), so a cut stream stops before it."""

    events: list[bytes]
    terminal: int
    preamble: bytes = b""


@dataclass(slots=True)
class Plan:
    """What the emulated model answers, before a wire puts it in its protocol's shape.

    A request that uses nothing of the second batch (tools, JSON output, images, reasoning
    options) gets exactly the plain echo answer it always got.
    """

    answer: Answer  # the text (echo, tool-results reply or JSON document) and the token counts
    calls: list[ToolCall] = field(default_factory=list)  # tool calls instead of text, if any
    named: bool = False  # the tool_choice named the function (OpenAI then finishes with "stop")
    reasoning: list[str] = field(default_factory=list)  # visible chain of thought, in pieces
    reasoning_tokens: int = 0  # tokens spent thinking (visible or not)
    thinking: bool = False  # Anthropic: answer with a thinking block (its text may be omitted)
    structured: bool = False  # the answer is a JSON document
    images: int = 0


@dataclass(frozen=True, slots=True)
class Structured:
    """A request for JSON output; `schema` None means JSON mode without a schema."""

    schema: Any = None


# Prompt tokens an image costs (OpenAI's price of a low-detail image).
IMAGE_TOKENS: Final = 85


def _answer_text(
    texts: list[str],
    subject: str,
    limit: int | None,
    *,
    results: bool,
    images: int,
    structured: Structured | None,
    style: JsonStyle,
) -> Answer:
    """The text answer: the echo of `subject` (the last user text, or the tool results when
    `results`), ending with the images seen; or, for JSON output, a document built from it."""
    prefix = TOOL_REPLY_PREFIX if results else REPLY_PREFIX
    extra = images * IMAGE_TOKENS
    suffix = image_suffix(images)
    if structured is None:
        return make_answer(texts, subject, limit, prefix=prefix, suffix=suffix, extra_prompt_tokens=extra)
    if structured.schema is None:
        document: Any = {"reply": make_answer(texts, subject, None, prefix=prefix, suffix=suffix).text}
    else:
        document = schema_instance(structured.schema)
    return text_answer(dump_json(document, style), texts, limit, extra_prompt_tokens=extra)


def _tools_text(tools: list[ToolSpec]) -> list[str]:
    """The tool declarations as prompt text (they count as prompt tokens)."""
    return [json.dumps([{"name": t.name, "parameters": t.schema} for t in tools])] if tools else []


def _blocks(content: Any) -> list[dict[str, Any]]:
    """The dict parts/blocks of a message content (a plain string has none)."""
    return [part for part in content if isinstance(part, dict)] if isinstance(content, list) else []


def _interleave(groups: list[list[bytes]]) -> list[bytes]:
    """Round-robin merge (the choices of an n > 1 stream arrive interleaved)."""
    return [event for row in zip_longest(*groups) for event in row if event is not None]


@dataclass(frozen=True, slots=True)
class Operation:
    name: str  # "chat" or "models"
    path_model: str | None = None  # Gemini names the model in the path
    path_method: str | None = None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_text_of(part.get("text", "")) for part in content if isinstance(part, dict))
    if isinstance(content, dict):
        return _text_of(content.get("text", ""))
    return ""


def _bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization", "")
    if value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


def _mask(key: str) -> str:
    return f"{key[:3]}****{key[-4:]}" if len(key) > 8 else "****"


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


class Wire:
    """One protocol. Subclasses fill in the bodies; the emulator app does the routing."""

    protocol: ClassVar[str] = ""
    stream_error_after: ClassVar[int] = 2

    def __init__(
        self, *, invalid_key_prefixes: tuple[str, ...] = ("invalid", "bad"), models_page_size: int = 2
    ) -> None:
        self.invalid_key_prefixes = invalid_key_prefixes
        # The largest page of a paged model listing (Gemini's), deliberately small so clients
        # must follow nextPageToken.
        self.models_page_size = models_page_size

    def key_is_invalid(self, key: str) -> bool:
        return key.lower().startswith(self.invalid_key_prefixes)

    # Every method below is implemented by the concrete wires.
    def operation(self, method: str, rest: str) -> Operation | None:
        raise NotImplementedError

    def auth_error(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Reply | None:
        raise NotImplementedError

    def request_error(self, body: Any, headers: Mapping[str, str]) -> Reply | None:
        raise NotImplementedError

    def model(self, op: Operation, body: dict[str, Any]) -> str:
        return str(body.get("model") or "")

    def is_stream(self, op: Operation, body: dict[str, Any], query: Mapping[str, str]) -> bool:
        return bool(body.get("stream"))

    def plan(self, body: dict[str, Any], model: str) -> Plan:
        """What the model answers; the request already passed `request_error`."""
        raise NotImplementedError

    def complete(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> Reply:
        raise NotImplementedError

    def stream(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> StreamPlan:
        raise NotImplementedError

    def stream_headers(self, op: Operation, query: Mapping[str, str]) -> dict[str, str]:
        return {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}

    def streams_as_array(self, query: Mapping[str, str]) -> bool:
        """Whether a stream goes out as one JSON array rather than server-sent events."""
        return False

    def json_array(self, events: list[bytes]) -> bytes:
        raise NotImplementedError

    def models(self, query: Mapping[str, str]) -> Reply:
        raise NotImplementedError

    def count_tokens(self, body: Any) -> Reply:
        """The protocol's token counting endpoint (Anthropic's only)."""
        return self.not_found("token counting is not part of this protocol")

    def fault_error(self, fault: Fault, model: str) -> Reply:
        """The error reply for status, rate_limit, quota, context_length and (non-streamed) stream_error."""
        raise NotImplementedError

    def stream_error_event(self) -> bytes:
        raise NotImplementedError

    def bad_request(self, message: str) -> Reply:
        raise NotImplementedError

    def not_found(self, message: str) -> Reply:
        raise NotImplementedError

    def malformed(self, stream: bool) -> Reply:
        if stream:
            events = [
                b'data: {"id": "emu-malformed", "choices": [\n\n',
                b"data: <html>upstream error</html>\n\n",
            ]
            return Reply(headers={"content-type": "text/event-stream"}, events=events)
        return Reply(
            headers={"content-type": "application/json"}, body=b"<html><body>502 Bad Gateway</body></html>"
        )


# --------------------------------------------------------------------------- OpenAI


_OPENAI_STATUS: Final[dict[int, tuple[str, str | None, str]]] = {
    400: ("invalid_request_error", None, "Invalid request (emulated)."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    409: ("invalid_request_error", None, "The request conflicts with another request."),
    422: ("invalid_request_error", None, "Invalid parameters."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests per min (RPM). Please try again later.",
    ),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: (
        "service_unavailable_error",
        "server_is_overloaded",
        "The server is overloaded. Please try again later.",
    ),
    504: ("server_error", None, "Gateway timeout."),
}

_OPENAI_MODELS: Final = ("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", "gpt-4o-mini", "text-embedding-3-small")


# Reasoning tokens an OpenAI reasoning model spends per `reasoning_effort` (never shown as text).
_EFFORT_TOKENS: Final[dict[str, int]] = {
    "minimal": 16,
    "low": 64,
    "medium": 256,
    "high": 1024,
    "xhigh": 2048,
    "max": 4096,
}
# Deterministic runners-up for `top_logprobs`.
_ALTERNATIVE_TOKENS: Final = tuple(
    " the| a|,|.| and| of| to| in| is| it| that| for| on| with| as| at| by| this| be| or".split("|")
)


def _openai_tools(body: Mapping[str, Any]) -> list[ToolSpec]:
    tools = body.get("tools")
    specs = []
    for tool in tools if isinstance(tools, list) else []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and tool.get("type", "function") == "function":
            if isinstance(function.get("name"), str):
                specs.append(ToolSpec(function["name"], function.get("parameters") or {}))
    return specs


def _openai_choice(body: Mapping[str, Any]) -> ToolChoice:
    raw = body.get("tool_choice")
    parallel = body.get("parallel_tool_calls") is not False
    if raw in ("none", "auto", "required"):
        return ToolChoice(raw, parallel=parallel)
    if isinstance(raw, dict) and raw.get("type") == "function":
        return ToolChoice("named", (raw.get("function") or {}).get("name"), parallel)
    if isinstance(raw, dict) and raw.get("type") == "allowed_tools":
        allowed = raw.get("allowed_tools") or {}
        names = tuple(
            (tool.get("function") or {}).get("name", "")
            for tool in allowed.get("tools") or []
            if isinstance(tool, dict)
        )
        return ToolChoice("required" if allowed.get("mode") == "required" else "auto", None, parallel, names)
    return ToolChoice("auto", parallel=parallel)


def _logprob_entry(piece: str, position: int, top: int) -> dict[str, Any]:
    logprob = -round(0.0001 + 0.05 * ((position * 7) % 5), 4)
    tokens = [piece] + [t for t in _ALTERNATIVE_TOKENS if t != piece]
    return {
        "token": piece,
        "logprob": logprob,
        "bytes": list(piece.encode()),
        "top_logprobs": [
            {"token": t, "logprob": round(logprob - 1.5 * j, 4), "bytes": list(t.encode())}
            for j, t in enumerate(tokens[:top])
        ],
    }


class OpenAIWire(Wire):
    protocol: ClassVar[str] = "openai"
    # OpenAI-only options: n, logprobs, reasoning_effort as hidden reasoning tokens, service_tier.
    openai_options: ClassVar[bool] = True
    json_style: ClassVar[JsonStyle] = "compact"  # structured answers
    arguments_style: ClassVar[JsonStyle] = "compact"  # tool-call argument strings

    def operation(self, method: str, rest: str) -> Operation | None:
        path = rest.removeprefix("v1/")
        if method == "POST" and path == "chat/completions":
            return Operation("chat")
        if method == "GET" and path == "models":
            return Operation("models")
        if method == "POST" and path == "embeddings" and self.protocol == "openai":
            return Operation("embeddings")
        return None

    def embeddings(self, op: Operation, body: Any, model: str) -> Reply:
        return openai_embeddings(self, body, model)

    def _error(
        self,
        status: int,
        message: str,
        etype: str,
        code: str | None,
        *,
        param: str | None = None,
        **headers: str,
    ) -> Reply:
        body = {"error": {"message": message, "type": etype, "param": param, "code": code}}
        return Reply.json(body, status, {"x-request-id": f"req_emu{secrets.token_hex(8)}", **headers})

    def auth_error(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Reply | None:
        key = _bearer(headers)
        if key is None:
            return self._error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
                None,
            )
        if self.key_is_invalid(key):
            return self._error(
                401,
                f"Incorrect API key provided: {_mask(key)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        return None

    def request_error(self, body: Any, headers: Mapping[str, str]) -> Reply | None:
        if not isinstance(body, dict):
            return self.bad_request("We could not parse the JSON body of your request.")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return self.bad_request("you must provide a model parameter")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return self.bad_request("[] is too short - 'messages'")
        return (
            self._image_error(body)
            or self._tool_sequence_error(body)
            or self._tool_choice_error(body)
            or self._response_format_error(body)
            or self._options_error(body)
        )

    def bad_request(self, message: str, param: str | None = None) -> Reply:
        return self._error(400, message, "invalid_request_error", None, param=param)

    def not_found(self, message: str) -> Reply:
        return self._error(404, message, "invalid_request_error", None)

    # ---------------------------------------------------------------- validation

    @staticmethod
    def sees_images(model: str) -> bool:
        return not model.startswith("gpt-3.5")

    def vision_refusal(self, index: int, part: int) -> Reply:
        return self.bad_request(
            "Invalid content type. image_url is only supported by certain models.",
            f"messages.[{index}].content.[{part}].type",
        )

    def _image_error(self, body: dict[str, Any]) -> Reply | None:
        model = split_model(body["model"])[0]
        for i, message in enumerate(body["messages"]):
            content = message.get("content") if isinstance(message, dict) else None
            for j, part in enumerate(_blocks(content)):
                if part.get("type") != "image_url":
                    continue
                if not self.sees_images(model):
                    return self.vision_refusal(i, j)
                where = f"messages[{i}].content[{j}].image_url.url"
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, dict) else None
                if not isinstance(url, str) or not url:
                    return self.bad_request(f"Missing required parameter: '{where}'.", where)
                if url.startswith("data:"):
                    if parse_data_url(url) is None:
                        return self.bad_request(
                            f"Invalid '{where}'. Expected a base64-encoded data URL with an image MIME type "
                            "(e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got an invalid value.",
                            where,
                        )
                elif not url.startswith(("https://", "http://")):
                    return self.bad_request(
                        f"Invalid '{where}'. Expected a valid URL, but got a value with an invalid format.",
                        where,
                    )
        return None

    def _tool_sequence_error(self, body: dict[str, Any]) -> Reply | None:
        """Every assistant tool call answered by the `tool` messages right after it, and no others."""
        pending: list[Any] = []  # ids of the last assistant message's calls not answered yet
        caller = 0
        for i, message in enumerate(body["messages"]):
            if not isinstance(message, dict):
                continue
            if message.get("role") == "tool":
                if message.get("tool_call_id") not in pending:
                    return self.bad_request(
                        "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                        "message with 'tool_calls'.",
                        f"messages.[{i}].role",
                    )
                pending.remove(message.get("tool_call_id"))
                continue
            if pending:
                break
            calls = message.get("tool_calls")
            if message.get("role") == "assistant" and isinstance(calls, list) and calls:
                pending, caller = [c.get("id") for c in calls if isinstance(c, dict)], i
        if pending:
            return self.bad_request(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                f"'tool_call_id'. The following tool_call_ids did not have response messages: "
                f"{', '.join(str(p) for p in pending)}",
                f"messages.[{caller}].role",
            )
        return None

    def _tool_choice_error(self, body: dict[str, Any]) -> Reply | None:
        if "tool_choice" in body and body["tool_choice"] is not None and not body.get("tools"):
            return self.bad_request(
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
                "tool_choice",
            )
        choice = _openai_choice(body)
        if choice.mode == "named" and choice.name not in {t.name for t in _openai_tools(body)}:
            return self.bad_request(
                f"Invalid value for 'tool_choice': function '{choice.name}' is not among the 'tools'.",
                "tool_choice",
            )
        return None

    def json_schema_error(self) -> Reply | None:
        """The answer to a `json_schema` response_format this API cannot serve (None: it can)."""
        return None

    def _response_format_error(self, body: dict[str, Any]) -> Reply | None:
        response_format = body.get("response_format")
        if response_format is None:
            return None
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            return self.bad_request(
                f"Invalid value: '{kind}'. Supported values are: 'text', 'json_object', and 'json_schema'.",
                "response_format.type",
            )
        if kind == "json_schema":
            refusal = self.json_schema_error()
            if refusal is not None:
                return refusal
            spec = response_format.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                return self.bad_request(
                    "Missing required parameter: 'response_format.json_schema.name'.",
                    "response_format.json_schema.name",
                )
        return None

    def _options_error(self, body: dict[str, Any]) -> Reply | None:
        if not self.openai_options:
            return None
        n = body.get("n", 1)
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128):
            return self.bad_request(f"Invalid 'n': expected an integer between 1 and 128, got {n!r}.", "n")
        top = body.get("top_logprobs")
        if top is not None and (not isinstance(top, int) or isinstance(top, bool) or not 0 <= top <= 20):
            return self.bad_request(
                f"Invalid 'top_logprobs': expected an integer between 0 and 20, got {top!r}.", "top_logprobs"
            )
        effort = body.get("reasoning_effort")
        if effort is not None and effort != "none" and effort not in _EFFORT_TOKENS:
            return self.bad_request(
                f"Invalid value: '{effort}'. Supported values are: 'none', "
                + ", ".join(f"'{e}'" for e in _EFFORT_TOKENS)
                + ".",
                "reasoning_effort",
            )
        return None

    # ---------------------------------------------------------------- the answer

    def reasoning_pieces(self, body: dict[str, Any], model: str, subject: str) -> list[str]:
        """The visible chain of thought (none on OpenAI's Chat Completions)."""
        return []

    def plan(self, body: dict[str, Any], model: str) -> Plan:
        messages = [m for m in body["messages"] if isinstance(m, dict)]
        tools = _openai_tools(body)
        texts = [_text_of(m.get("content")) for m in messages] + _tools_text(tools)
        users = [_text_of(m.get("content")) for m in messages if m.get("role") == "user"]
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        limit = limit if isinstance(limit, int) else None
        images = sum(
            1 for m in messages for part in _blocks(m.get("content")) if part.get("type") == "image_url"
        )
        last = messages[-1] if messages else {}
        choice = _openai_choice(body)
        if tools and last.get("role") == "user" and choice.mode != "none":
            calls = choose_calls(tools, choice, _text_of(last.get("content")))
            arguments = [dump_json(call.args, self.arguments_style) for call in calls]
            answer = calls_answer(texts, arguments, extra_prompt_tokens=images * IMAGE_TOKENS)
            return Plan(answer, calls, named=choice.mode == "named", images=images)
        # The answer replies to the tool results that end the conversation, else to the last user text.
        trailing = []
        for message in reversed(messages):
            if message.get("role") != "tool":
                break
            trailing.insert(0, _text_of(message.get("content")))
        subject = " ".join(trailing) if trailing else (users[-1] if users else "")
        structured = self.structured(body)
        answer = _answer_text(
            texts,
            subject,
            limit,
            results=bool(trailing),
            images=images,
            structured=structured,
            style=self.json_style,
        )
        reasoning = self.reasoning_pieces(body, model, subject)
        spent = reasoning_tokens(reasoning)
        effort = body.get("reasoning_effort")
        if self.openai_options and effort in _EFFORT_TOKENS:
            # Hidden reasoning, bounded (like the answer) by max_completion_tokens.
            room = limit - answer.completion_tokens if limit is not None else _EFFORT_TOKENS[effort]
            spent = max(1, min(_EFFORT_TOKENS[effort], room))
        return Plan(
            answer,
            reasoning=reasoning,
            reasoning_tokens=spent,
            structured=structured is not None,
            images=images,
        )

    @staticmethod
    def structured(body: Mapping[str, Any]) -> Structured | None:
        response_format = body.get("response_format")
        if not isinstance(response_format, dict):
            return None
        if response_format.get("type") == "json_object":
            return Structured()
        if response_format.get("type") == "json_schema":
            return Structured((response_format.get("json_schema") or {}).get("schema") or {})
        return None

    def usage(self, answer: Answer, reasoning_tokens: int = 0, choices: int = 1) -> dict[str, Any]:
        completion = (answer.completion_tokens + reasoning_tokens) * choices
        return {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": answer.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": answer.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reasoning_tokens * choices,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def response_id(self) -> str:
        return f"chatcmpl-emu{secrets.token_hex(12)}"

    def call_id(self, index: int) -> str:
        return random_id("call_")

    def _call(self, call: ToolCall, index: int) -> dict[str, Any]:
        return {
            "id": self.call_id(index),
            "type": "function",
            "function": {"name": call.name, "arguments": dump_json(call.args, self.arguments_style)},
        }

    @staticmethod
    def _finish(plan: Plan, filtered: bool) -> str:
        if filtered:
            return "content_filter"
        if plan.calls:
            return "stop" if plan.named else "tool_calls"  # OpenAI's trap: "stop" after a named tool_choice
        return "length" if plan.answer.truncated else "stop"

    def _options(self, body: Mapping[str, Any]) -> tuple[int, int | None, str]:
        """(n, top_logprobs if logprobs were asked for, service tier to report)."""
        if not self.openai_options:
            return 1, None, "default"
        n = body.get("n") or 1
        top = int(body.get("top_logprobs") or 0) if body.get("logprobs") is True else None
        tier = body.get("service_tier")
        return n, top, tier if tier in ("flex", "priority", "scale") else "default"

    def complete(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> Reply:
        plan = self.plan(body, model)
        n, top, tier = self._options(body)
        choices = []
        for index in range(n):
            logprobs = None
            if plan.calls and not filtered:
                message: dict[str, Any] = {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [self._call(call, i) for i, call in enumerate(plan.calls)],
                    "refusal": None,
                    "annotations": [],
                }
            else:
                text = "" if filtered else plan.answer.text
                message = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
                if top is not None:
                    pieces = [] if filtered else plan.answer.pieces
                    logprobs = {
                        "content": [_logprob_entry(p, i, top) for i, p in enumerate(pieces)],
                        "refusal": None,
                    }
            choices.append(
                {
                    "index": index,
                    "message": message,
                    "logprobs": logprobs,
                    "finish_reason": self._finish(plan, filtered),
                }
            )
        return Reply.json(
            {
                "id": self.response_id(),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": choices,
                "usage": self.usage(plan.answer, plan.reasoning_tokens, n),
                "service_tier": tier,
                "system_fingerprint": FINGERPRINT,
            },
            headers={"x-request-id": f"req_emu{secrets.token_hex(8)}"},
        )

    def _call_deltas(
        self, plan: Plan, emit: Callable[[dict[str, Any]], bytes], *, first: bool
    ) -> list[bytes]:
        """The tool calls as deltas: per call, a head item (id, type, name, `arguments: ""`), then
        argument fragments cut every few characters. With `first`, the head of call 0 also opens
        the message (role, `content: null`, refusal), as in tools-stream.sse."""
        events = []
        for index, call in enumerate(plan.calls):
            head = self._call(call, index)
            arguments = head["function"]["arguments"]
            head = {"index": index, **head, "function": {"name": call.name, "arguments": ""}}
            if first and index == 0:
                events.append(
                    emit({"role": "assistant", "content": None, "tool_calls": [head], "refusal": None})
                )
            else:
                events.append(emit({"tool_calls": [head]}))
            events += [
                emit({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                for piece in fragments(arguments)
            ]
        return events

    def stream(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> StreamPlan:
        plan = self.plan(body, model)
        n, top, tier = self._options(body)
        options = body.get("stream_options") or {}
        head = {
            "id": self.response_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "service_tier": tier,
            "system_fingerprint": FINGERPRINT,
        }
        pad = options.get("include_obfuscation") is not False  # OpenAI pads chunks unless told not to

        def chunk(
            delta: dict[str, Any], finish: str | None = None, index: int = 0, logprobs: Any = None
        ) -> bytes:
            obj = {
                **head,
                "choices": [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}],
            }
            obj["usage"] = None
            if pad:
                obj["obfuscation"] = secrets.token_urlsafe(6)
            return _sse(obj)

        bodies: list[list[bytes]] = []
        for index in range(n):
            if plan.calls and not filtered:
                bodies.append(self._call_deltas(plan, lambda d, i=index: chunk(d, index=i), first=True))
                continue
            events = [chunk({"role": "assistant", "content": "", "refusal": None}, index=index)]
            if not filtered:
                for position, piece in enumerate(plan.answer.pieces):
                    logprobs = None
                    if top is not None:
                        logprobs = {"content": [_logprob_entry(piece, position, top)], "refusal": None}
                    events.append(chunk({"content": piece}, index=index, logprobs=logprobs))
            bodies.append(events)
        events = _interleave(bodies)
        terminal = len(events)
        events += [chunk({}, self._finish(plan, filtered), index) for index in range(n)]
        if options.get("include_usage"):
            events.append(
                _sse({**head, "choices": [], "usage": self.usage(plan.answer, plan.reasoning_tokens, n)})
            )
        events.append(b"data: [DONE]\n\n")
        return StreamPlan(events, terminal)

    def models(self, query: Mapping[str, str]) -> Reply:
        data = [
            {
                "id": name,
                "object": "model",
                "created": 1744318173,
                "owned_by": "system",
                "shutdown_date": None,
            }
            for name in _OPENAI_MODELS
        ]
        return Reply.json({"object": "list", "data": data})

    def fault_error(self, fault: Fault, model: str) -> Reply:
        if fault.action == "rate_limit":
            seconds = float(fault.arg or 0)
            return self._error(
                429,
                f"Rate limit reached for {model} on requests per min (RPM). "
                f"Please try again in {seconds:g}s.",
                "requests",
                "rate_limit_exceeded",
                **{
                    "retry-after": str(max(math.ceil(seconds), 1)),
                    "retry-after-ms": str(int(seconds * 1000)),
                    "x-ratelimit-limit-requests": "5000",
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": f"{seconds:g}s",
                },
            )
        if fault.action == "quota":
            return self._error(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "credit_balance_exhausted",
            )
        if fault.action == "context_length":
            return self._error(
                400,
                "This model's maximum context length is 1047576 tokens. However, your messages resulted in "
                "1052311 tokens. Please reduce the length of the messages.",
                "invalid_request_error",
                "context_length_exceeded",
            )
        status = 500 if fault.action == "stream_error" else int(fault.arg or 500)
        return self.status_error(status)

    def status_error(self, status: int) -> Reply:
        default = (
            ("server_error", None, "Emulated server error.")
            if status >= 500
            else (
                "invalid_request_error",
                None,
                "Emulated client error.",
            )
        )
        etype, code, message = _OPENAI_STATUS.get(status, default)
        headers = {"retry-after": "1"} if status in (429, 503) else {}
        return self._error(status, message, etype, code, **headers)

    def stream_error_event(self) -> bytes:
        return _sse(
            {
                "error": {
                    "message": "The server had an error while processing your request. Sorry about that!",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
        )


# --------------------------------------------------------------------------- DeepSeek


_DEEPSEEK_STATUS: Final[dict[int, tuple[str, str]]] = {
    400: ("Invalid Format", "invalid_request_error"),
    401: ("Authentication Fails", "authentication_error"),
    402: ("Insufficient Balance", "unknown_error"),
    422: ("Invalid Parameters", "invalid_request_error"),
    429: ("Rate Limit Reached", "rate_limit_error"),
    500: ("Server Error", "api_error"),
    503: ("Server Overloaded", "api_error"),
}


class DeepSeekWire(OpenAIWire):
    """The OpenAI protocol as DeepSeek speaks it: UUID ids, reasoning_content, usage on the finish chunk,
    `call_00_` ids with an `index` on every call, JSON mode only, images only on vision models."""

    protocol: ClassVar[str] = "deepseek"
    openai_options: ClassVar[bool] = False
    json_style: ClassVar[JsonStyle] = "pretty"
    arguments_style: ClassVar[JsonStyle] = "spaced"

    @staticmethod
    def thinking(body: Mapping[str, Any], model: str) -> bool:
        """Thinking mode: `thinking.type` says so, else the model does ("reasoner")."""
        setting = body.get("thinking")
        kind = setting.get("type") if isinstance(setting, dict) else None
        if kind in ("enabled", "disabled"):
            return kind == "enabled"
        return "reasoner" in model

    def response_id(self) -> str:
        return str(uuid.uuid4())

    def call_id(self, index: int) -> str:
        return random_id(f"call_{index:02d}_")

    def _deepseek_error(self, status: int, message: str, etype: str, **headers: str) -> Reply:
        # DeepSeek puts "invalid_request_error" in `code` for most failures.
        return self._error(status, message, etype, "invalid_request_error", **headers)

    def auth_error(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Reply | None:
        key = _bearer(headers)
        if key is None or self.key_is_invalid(key):
            shown = _mask(key) if key else "(missing)"
            return self._deepseek_error(
                401, f"Authentication Fails, Your api key: {shown} is invalid", "authentication_error"
            )
        return None

    def request_error(self, body: Any, headers: Mapping[str, str]) -> Reply | None:
        error = super().request_error(body, headers)
        if error is not None or not self.thinking(body, split_model(body["model"])[0]):
            return error
        if body.get("tools") and _openai_choice(body).mode in ("required", "named"):
            return self.bad_request("Thinking mode does not support this tool_choice")
        for message in body["messages"]:
            if (
                isinstance(message, dict)
                and message.get("role") == "assistant"
                and message.get("tool_calls")
                and message.get("reasoning_content") is None
            ):
                return self.bad_request(
                    "The reasoning_content in the thinking mode must be passed back to the API"
                )
        return None

    def json_schema_error(self) -> Reply | None:
        return self.bad_request("This response_format type is unavailable now")

    @staticmethod
    def sees_images(model: str) -> bool:
        return "flash" in model or "vision" in model

    def vision_refusal(self, index: int, part: int) -> Reply:
        # What DeepSeek's text-only models say about an image part.
        return self.bad_request(
            f"Failed to deserialize the JSON body into the target type: messages[{index}]: "
            "unknown variant `image_url`, expected `text`"
        )

    def usage(self, answer: Answer, reasoning_tokens: int = 0, choices: int = 1) -> dict[str, Any]:
        return {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens + reasoning_tokens,
            "total_tokens": answer.prompt_tokens + answer.completion_tokens + reasoning_tokens,
            "prompt_tokens_details": {"cached_tokens": answer.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "prompt_cache_hit_tokens": answer.cached_tokens,
            "prompt_cache_miss_tokens": answer.prompt_tokens - answer.cached_tokens,
        }

    def reasoning_pieces(self, body: dict[str, Any], model: str, subject: str) -> list[str]:
        return reasoning_for(subject) if self.thinking(body, model) else []

    def plan(self, body: dict[str, Any], model: str) -> Plan:
        plan = super().plan(body, model)
        if plan.calls:  # the model thinks before it calls tools too (about the user text that asked)
            last = [m for m in body["messages"] if isinstance(m, dict)][-1]
            subject = _text_of(last.get("content"))
            plan.reasoning = self.reasoning_pieces(body, model, subject)
            plan.reasoning_tokens = reasoning_tokens(plan.reasoning)
        return plan

    def complete(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> Reply:
        plan = self.plan(body, model)
        message: dict[str, Any] = {"role": "assistant", "content": "" if filtered else plan.answer.text}
        if plan.reasoning:
            message["reasoning_content"] = "".join(plan.reasoning)
        if plan.calls and not filtered:
            message["tool_calls"] = [{"index": i, **self._call(call, i)} for i, call in enumerate(plan.calls)]
        finish = "tool_calls" if plan.calls and not filtered else self._finish(plan, filtered)
        return Reply.json(
            {
                "id": self.response_id(),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                "usage": self.usage(plan.answer, plan.reasoning_tokens),
                "system_fingerprint": FINGERPRINT,
            }
        )

    def stream(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> StreamPlan:
        plan = self.plan(body, model)
        calls = bool(plan.calls) and not filtered
        head = {
            "id": self.response_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": FINGERPRINT,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            if calls:  # the recorded tool-call stream has `"usage": null` on every other chunk
                extra.setdefault("usage", None)
            return _sse({**head, "choices": [choice], **extra})

        if plan.reasoning:
            events = [chunk({"role": "assistant", "content": None, "reasoning_content": ""})]
            events += [chunk({"content": None, "reasoning_content": piece}) for piece in plan.reasoning]
        else:
            events = [chunk({"role": "assistant", "content": ""})]
        if calls:
            events += self._call_deltas(plan, chunk, first=False)
        elif not filtered:
            events += [chunk({"content": piece, "reasoning_content": None}) for piece in plan.answer.pieces]
        terminal = len(events)
        finish = "tool_calls" if calls else self._finish(plan, filtered)
        usage = self.usage(plan.answer, plan.reasoning_tokens)
        events.append(chunk({"content": "", "reasoning_content": None}, finish, usage=usage))
        events.append(b"data: [DONE]\n\n")
        # Under load DeepSeek holds the connection with SSE comments before inference starts.
        keep_alive = plan.reasoning and not calls
        return StreamPlan(events, terminal, preamble=b": keep-alive\n\n" if keep_alive else b"")

    def models(self, query: Mapping[str, str]) -> Reply:
        data = [
            {"id": name, "object": "model", "owned_by": "deepseek"}
            for name in ("deepseek-chat", "deepseek-reasoner")
        ]
        return Reply.json({"object": "list", "data": data})

    def fault_error(self, fault: Fault, model: str) -> Reply:
        if fault.action == "rate_limit":
            seconds = float(fault.arg or 0)
            return self._deepseek_error(
                429, "Rate Limit Reached", "rate_limit_error", **{"retry-after": f"{seconds:g}"}
            )
        if fault.action == "quota":
            return self._deepseek_error(402, "Insufficient Balance", "unknown_error")
        if fault.action == "context_length":
            return self._deepseek_error(
                400,
                "This model's maximum context length is 131072 tokens. However, you requested 140233 tokens "
                "(139233 in the messages, 1000 in the completion). Please reduce the length of the messages "
                "or completion.",
                "invalid_request_error",
            )
        status = 500 if fault.action == "stream_error" else int(fault.arg or 500)
        return self.status_error(status)

    def status_error(self, status: int) -> Reply:
        message, etype = _DEEPSEEK_STATUS.get(
            status, ("Server Error" if status >= 500 else "Invalid Request", "api_error")
        )
        headers = {"retry-after": "1"} if status == 429 else {}
        return self._deepseek_error(status, message, etype, **headers)


# --------------------------------------------------------------------------- Anthropic


_ANTHROPIC_STATUS: Final[dict[int, tuple[str, str]]] = {
    400: ("invalid_request_error", "Invalid request (emulated)."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "This request would exceed your organization's rate limit."),
    500: ("api_error", "Internal server error"),
    503: ("api_error", "Service unavailable"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}

_ANTHROPIC_MODELS: Final = (
    ("claude-opus-4-6", "Claude Opus 4.6", "opus"),
    ("claude-sonnet-4-6", "Claude Sonnet 4.6", "sonnet"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "haiku"),
)


class AnthropicWire(Wire):
    protocol: ClassVar[str] = "anthropic"
    stream_error_after: ClassVar[int] = 4  # message_start, content_block_start, ping, one delta

    def operation(self, method: str, rest: str) -> Operation | None:
        if method == "POST" and rest == "v1/messages":
            return Operation("chat")
        if method == "POST" and rest == "v1/messages/count_tokens":
            return Operation("count_tokens")
        if method == "GET" and rest == "v1/models":
            return Operation("models")
        return None

    def _error(
        self, status: int, etype: str, message: str, details: dict | None = None, **headers: str
    ) -> Reply:
        request_id = f"req_emu{secrets.token_hex(10)}"
        error: dict[str, Any] = {"type": etype, "message": message}
        if details:
            error["details"] = details
        should_retry = "true" if status in (408, 409, 429) or status >= 500 else "false"
        return Reply.json(
            {"type": "error", "error": error, "request_id": request_id},
            status,
            {"request-id": request_id, "x-should-retry": should_retry, **headers},
        )

    def auth_error(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Reply | None:
        key = headers.get("x-api-key") or _bearer(headers)
        if not key:
            return self._error(401, "authentication_error", "x-api-key header is required")
        if self.key_is_invalid(key):
            return self._error(401, "authentication_error", "invalid x-api-key")
        version = headers.get("anthropic-version")
        if not version:
            return self._error(400, "invalid_request_error", "anthropic-version: header is required")
        if version not in ANTHROPIC_VERSIONS:
            return self._error(
                400, "invalid_request_error", f"anthropic-version: unknown version {version!r}"
            )
        return None

    def request_error(self, body: Any, headers: Mapping[str, str]) -> Reply | None:
        if not isinstance(body, dict):
            return self.bad_request("request body is not valid JSON")
        if headers.get("anthropic-version") == ANTHROPIC_NO_SAMPLING_VERSION:
            for name in ("temperature", "top_p", "top_k"):
                if name in body:
                    return self.bad_request(f"{name}: Extra inputs are not permitted")
        if "max_tokens" not in body:
            return self.bad_request("max_tokens: Field required")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return self.bad_request("model: Field required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self.bad_request("messages: Field required")
        if any(not isinstance(m, dict) or m.get("role") not in ("user", "assistant") for m in messages):
            return self.bad_request("messages: roles must be 'user' or 'assistant'")
        return (
            self._thinking_error(body)
            or self._tool_choice_error(body)
            or self._output_error(body)
            or self._image_error(messages)
            or self._tool_sequence_error(messages)
            or self._replay_error(body)
        )

    def bad_request(self, message: str) -> Reply:
        return self._error(400, "invalid_request_error", message)

    def not_found(self, message: str) -> Reply:
        return self._error(404, "not_found_error", message)

    # ---------------------------------------------------------------- request fields

    @staticmethod
    def tools(body: Mapping[str, Any]) -> list[ToolSpec]:
        """The client tools (server tools such as web search carry a versioned `type`)."""
        tools = body.get("tools")
        return [
            ToolSpec(tool["name"], tool.get("input_schema") or {})
            for tool in (tools if isinstance(tools, list) else [])
            if isinstance(tool, dict)
            and tool.get("type", "custom") == "custom"
            and isinstance(tool.get("name"), str)
        ]

    @staticmethod
    def tool_choice(body: Mapping[str, Any]) -> ToolChoice:
        raw = body.get("tool_choice")
        raw = raw if isinstance(raw, dict) else {}
        parallel = not raw.get("disable_parallel_tool_use")
        kind = raw.get("type", "auto")
        if kind == "any":
            return ToolChoice("required", parallel=parallel)
        if kind == "tool":
            return ToolChoice("named", raw.get("name"), parallel)
        return ToolChoice("none" if kind == "none" else "auto", parallel=parallel)

    @staticmethod
    def thinking(body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The thinking config when thinking is on (adaptive or enabled), else None."""
        setting = body.get("thinking")
        if isinstance(setting, dict) and setting.get("type") in ("adaptive", "enabled"):
            return setting
        return None

    @staticmethod
    def structured(body: Mapping[str, Any]) -> Structured | None:
        config = body.get("output_config")
        # `output_format` is the beta-era spelling, still accepted during the transition.
        fmt = config.get("format") if isinstance(config, dict) else body.get("output_format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            return Structured(fmt.get("schema") or {})
        return None

    # ---------------------------------------------------------------- validation

    def _thinking_error(self, body: dict[str, Any]) -> Reply | None:
        setting = body.get("thinking")
        if setting is None:
            return None
        kind = setting.get("type") if isinstance(setting, dict) else None
        if kind not in ("adaptive", "enabled", "disabled"):
            return self.bad_request(
                f"thinking: Input tag '{kind}' found using 'type' does not match any of the expected tags: "
                "'adaptive', 'disabled', 'enabled'"
            )
        if kind == "enabled":
            budget = setting.get("budget_tokens")
            if not isinstance(budget, int) or isinstance(budget, bool):
                return self.bad_request("thinking.enabled.budget_tokens: Field required")
            if budget < 1024:
                return self.bad_request(
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
                )
            max_tokens = body.get("max_tokens")
            if isinstance(max_tokens, int) and budget >= max_tokens:
                return self.bad_request(
                    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
                    "documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
                    "#max-tokens-and-context-window-size"
                )
        return None

    def _tool_choice_error(self, body: dict[str, Any]) -> Reply | None:
        choice = self.tool_choice(body)
        if choice.mode in ("required", "named") and self.thinking(body) is not None:
            return self.bad_request("Thinking may not be enabled when tool_choice forces tool use.")
        if choice.mode == "named" and choice.name not in {tool.name for tool in self.tools(body)}:
            return self.bad_request(f"tool_choice.name: Tool '{choice.name}' not found in `tools`")
        return None

    def _output_error(self, body: dict[str, Any]) -> Reply | None:
        config = body.get("output_config")
        fmt = config.get("format") if isinstance(config, dict) else None
        if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") != "json_schema"):
            return self.bad_request("output_config.format.type: Input should be 'json_schema'")
        if isinstance(fmt, dict) and not isinstance(fmt.get("schema"), dict):
            return self.bad_request("output_config.format.schema: Field required")
        return None

    def _image_error(self, messages: list[dict[str, Any]]) -> Reply | None:
        for i, message in enumerate(messages):
            for j, block in enumerate(_blocks(message.get("content"))):
                if block.get("type") != "image":
                    continue
                where = f"messages.{i}.content.{j}.image.source"
                source = block.get("source") if isinstance(block.get("source"), dict) else {}
                kind = source.get("type")
                if kind == "base64":
                    if source.get("media_type") not in IMAGE_MEDIA_TYPES:
                        return self.bad_request(
                            f"{where}.base64.media_type: Input should be 'image/jpeg', 'image/png', "
                            "'image/gif' or 'image/webp'"
                        )
                    data = source.get("data")
                    if not isinstance(data, str) or not decode_base64(data, url_safe=False):
                        return self.bad_request(f"{where}.base64.data: The image data is not valid base64.")
                elif kind == "url":
                    url = source.get("url")
                    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                        return self.bad_request(f"{where}.url.url: Input should be a valid URL")
                elif kind == "file":
                    if not isinstance(source.get("file_id"), str):
                        return self.bad_request(f"{where}.file.file_id: Field required")
                else:
                    return self.bad_request(
                        f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected "
                        "tags: 'base64', 'file', 'url'"
                    )
        return None

    def _tool_sequence_error(self, messages: list[dict[str, Any]]) -> Reply | None:
        """A user turn after `tool_use` blocks begins with one `tool_result` per call; results answer
        only the calls of the assistant turn right before them."""
        for i, message in enumerate(messages):
            if message.get("role") != "user":
                continue
            previous = messages[i - 1] if i else {}
            calls = [
                block.get("id")
                for block in _blocks(previous.get("content"))
                if previous.get("role") == "assistant" and block.get("type") == "tool_use"
            ]
            blocks = _blocks(message.get("content"))
            for j, block in enumerate(blocks):
                if block.get("type") == "tool_result" and block.get("tool_use_id") not in calls:
                    return self.bad_request(
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                        "`tool_use` block in the previous message."
                    )
            leading = []
            for block in blocks:
                if block.get("type") != "tool_result":
                    break
                leading.append(block.get("tool_use_id"))
            missing = [call for call in calls if call not in leading]
            if missing:
                return self.bad_request(
                    f"messages.{i}.content.0: Did not find {len(missing)} tool_result block(s) at the "
                    "beginning of this message. Messages following tool_use blocks must begin with a "
                    "matching number of tool_result blocks."
                )
        return None

    def _replay_error(self, body: dict[str, Any]) -> Reply | None:
        """With thinking on, the last assistant turn, if it called tools, must open with its thinking
        block, signature intact (a block the emulator signed, or a redacted one)."""
        if self.thinking(body) is None:
            return None
        messages = body["messages"]
        index = next(
            (i for i in range(len(messages) - 1, -1, -1) if messages[i]["role"] == "assistant"), None
        )
        if index is None:
            return None
        blocks = _blocks(messages[index].get("content"))
        if not any(block.get("type") == "tool_use" for block in blocks):
            return None
        first = blocks[0].get("type") if blocks else "text"
        if first not in ("thinking", "redacted_thinking"):
            return self.bad_request(
                f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
                f"`{first}`. When `thinking` is enabled, a final `assistant` message must start with a "
                "thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We "
                "recommend you include thinking blocks from previous turns. To avoid this requirement, "
                "disable `thinking`. Please consult our documentation at "
                "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
            )
        for j, block in enumerate(blocks):
            if block.get("type") == "thinking" and not verify(
                ANTHROPIC_THINKING, str(block.get("thinking", "")), block.get("signature")
            ):
                return self.bad_request(
                    f"messages.{index}.content.{j}: Invalid `signature` in `thinking` block"
                )
        return None

    # ---------------------------------------------------------------- the answer

    def plan(self, body: dict[str, Any], model: str) -> Plan:
        messages = body["messages"]
        tools = self.tools(body)
        texts = [_text_of(body.get("system"))] if body.get("system") else []
        texts += [_text_of(m.get("content")) for m in messages] + _tools_text(tools)
        users = [_text_of(m.get("content")) for m in messages if m.get("role") == "user"]
        limit = body.get("max_tokens")
        limit = limit if isinstance(limit, int) else None
        images = sum(1 for m in messages for b in _blocks(m.get("content")) if b.get("type") == "image")
        last = messages[-1]
        results = [b for b in _blocks(last.get("content")) if b.get("type") == "tool_result"]
        results = results if last.get("role") == "user" else []
        thinking = self.thinking(body)
        choice = self.tool_choice(body)
        structured = self.structured(body)
        if tools and last.get("role") == "user" and not results and choice.mode != "none":
            subject = _text_of(last.get("content"))
            calls = choose_calls(tools, choice, subject)
            arguments = [dump_json(call.args, "spaced") for call in calls]
            answer = calls_answer(texts, arguments, extra_prompt_tokens=images * IMAGE_TOKENS)
            plan = Plan(answer, calls, named=choice.mode == "named", images=images)
        else:
            subject = (
                " ".join(_text_of(b.get("content")) for b in results)
                if results
                else (users[-1] if users else "")
            )
            answer = _answer_text(
                texts,
                subject,
                limit,
                results=bool(results),
                images=images,
                structured=structured,
                style="compact",
            )
            plan = Plan(answer, structured=structured is not None, images=images)
        if thinking is not None:
            pieces = reasoning_for(subject)
            plan.thinking = True
            plan.reasoning = [] if thinking.get("display") == "omitted" else pieces
            plan.reasoning_tokens = reasoning_tokens(pieces)
        return plan

    def count_tokens(self, body: Any) -> Reply:
        """`{"input_tokens": n}`: the whole input a message with this body reports (`input_tokens`
        plus cache reads), as POST /v1/messages/count_tokens answers."""
        if not isinstance(body, dict):
            return self.bad_request("request body is not valid JSON")
        for name in ("max_tokens", "stream", "metadata", "stop_sequences", "temperature"):
            if name in body:
                return self.bad_request(f"{name}: Extra inputs are not permitted")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return self.bad_request("model: Field required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            return self.bad_request("messages: Field required")
        texts = [_text_of(body.get("system"))] if body.get("system") else []
        texts += [_text_of(m.get("content")) for m in messages] + _tools_text(self.tools(body))
        images = sum(1 for m in messages for b in _blocks(m.get("content")) if b.get("type") == "image")
        answer = calls_answer(texts, [], extra_prompt_tokens=images * IMAGE_TOKENS)
        return Reply.json({"input_tokens": answer.prompt_tokens})

    @staticmethod
    def usage(answer: Answer, output_tokens: int, thinking_tokens: int | None = None) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "input_tokens": answer.prompt_tokens - answer.cached_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": answer.cached_tokens,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": output_tokens,
        }
        if thinking_tokens is not None:
            usage["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
        usage.update({"service_tier": "standard", "inference_geo": "not_available"})
        return usage

    @staticmethod
    def stop_reason(plan: Plan, filtered: bool) -> str:
        if filtered:
            return "refusal"
        if plan.calls:
            return "tool_use"
        return "max_tokens" if plan.answer.truncated else "end_turn"

    @staticmethod
    def _tool_use(call: ToolCall, streamed: bool = False) -> dict[str, Any]:
        return {
            "type": "tool_use",
            "id": random_id("toolu_01", 22),
            "name": call.name,
            "input": {} if streamed else call.args,  # a stream starts the block empty, then sends JSON
            "caller": {"type": "direct"},
        }

    def _output_tokens(self, plan: Plan) -> tuple[int, int | None]:
        """(output tokens, thinking tokens or None): output_tokens includes the thinking."""
        thinking = plan.reasoning_tokens if plan.thinking else None
        return plan.answer.completion_tokens + (thinking or 0), thinking

    def complete(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> Reply:
        plan = self.plan(body, model)
        request_id = f"req_emu{secrets.token_hex(10)}"
        content: list[dict[str, Any]] = []
        if not filtered:
            if plan.thinking:
                text = "".join(plan.reasoning)
                content.append(
                    {"type": "thinking", "thinking": text, "signature": sign(ANTHROPIC_THINKING, text)}
                )
            if plan.calls:
                content += [self._tool_use(call) for call in plan.calls]
            else:
                content.append({"type": "text", "text": plan.answer.text})
        output_tokens, thinking_tokens = self._output_tokens(plan)
        return Reply.json(
            {
                "id": f"msg_emu{secrets.token_hex(10)}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": self.stop_reason(plan, filtered),
                "stop_sequence": None,
                "usage": self.usage(plan.answer, output_tokens, thinking_tokens),
            },
            headers={"request-id": request_id},
        )

    def _stream_blocks(self, plan: Plan, filtered: bool) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """Each content block as (its `content_block_start` form, its deltas)."""
        if filtered:
            return [({"type": "text", "text": ""}, [])]
        blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        if plan.thinking:
            signature = sign(ANTHROPIC_THINKING, "".join(plan.reasoning))
            deltas = [{"type": "thinking_delta", "thinking": piece} for piece in plan.reasoning]
            # As recorded: an empty thinking_delta, then the signature just before the block ends.
            deltas += [
                {"type": "thinking_delta", "thinking": ""},
                {"type": "signature_delta", "signature": signature},
            ]
            blocks.append(({"type": "thinking", "thinking": "", "signature": ""}, deltas))
        if not plan.calls:
            text = [{"type": "text_delta", "text": piece} for piece in plan.answer.pieces]
            return [*blocks, ({"type": "text", "text": ""}, text)]
        for call in plan.calls:
            arguments = dump_json(call.args, "spaced")
            deltas = [
                {"type": "input_json_delta", "partial_json": piece}
                for piece in ["", *fragments(arguments, 9)]
            ]
            blocks.append((self._tool_use(call, streamed=True), deltas))
        return blocks

    def stream(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> StreamPlan:
        plan = self.plan(body, model)

        def event(name: str, data: dict[str, Any]) -> bytes:
            return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()

        message = {
            "model": model,
            "id": f"msg_emu{secrets.token_hex(10)}",
            "type": "message",
            "role": "assistant",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self.usage(plan.answer, 1),
        }
        events = [event("message_start", {"message": message})]
        for index, (start, deltas) in enumerate(self._stream_blocks(plan, filtered)):
            events.append(event("content_block_start", {"index": index, "content_block": start}))
            if index == 0:
                events.append(event("ping", {}))
            events += [event("content_block_delta", {"index": index, "delta": delta}) for delta in deltas]
            events.append(event("content_block_stop", {"index": index}))
        terminal = len(events)
        output_tokens, thinking_tokens = self._output_tokens(plan)
        final_usage = self.usage(plan.answer, output_tokens, thinking_tokens)
        for key in ("cache_creation", "service_tier", "inference_geo"):
            final_usage.pop(key)
        events.append(
            event(
                "message_delta",
                {
                    "delta": {"stop_reason": self.stop_reason(plan, filtered), "stop_sequence": None},
                    "usage": final_usage,
                },
            )
        )
        events.append(event("message_stop", {}))
        return StreamPlan(events, terminal)

    def models(self, query: Mapping[str, str]) -> Reply:
        entries = [
            {
                "type": "model",
                "id": model_id,
                "display_name": display,
                "created_at": "2026-02-17T00:00:00Z",
                "lifecycle": "active",
                "line": line,
                "deprecated_at": None,
                "retires_at": None,
                "max_input_tokens": 200000,
                "max_tokens": 64000,
            }
            for model_id, display, line in _ANTHROPIC_MODELS
        ]
        ids = [entry["id"] for entry in entries]
        start = ids.index(query["after_id"]) + 1 if query.get("after_id") in ids else 0
        limit = int(query.get("limit") or 20)
        page = entries[start : start + limit]
        return Reply.json(
            {
                "data": page,
                "has_more": start + limit < len(entries),
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
            }
        )

    def fault_error(self, fault: Fault, model: str) -> Reply:
        if fault.action == "rate_limit":
            seconds = float(fault.arg or 0)
            return self._error(
                429,
                "rate_limit_error",
                f"This request would exceed your organization's rate limit (model: {model}).",
                **{"retry-after": f"{seconds:g}"},
            )
        if fault.action == "quota":
            return self._error(
                429,
                "rate_limit_error",
                "You have reached your specified API usage limits. "
                "You will regain access on the 1st of next month.",
                {"error_code": "enforced_spend_limit_reached"},
            )
        if fault.action == "context_length":
            return self._error(
                400, "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"
            )
        status = 529 if fault.action == "stream_error" else int(fault.arg or 500)
        return self.status_error(status)

    def status_error(self, status: int) -> Reply:
        default = (
            ("api_error", "Internal server error") if status >= 500 else ("invalid_request_error", "Error")
        )
        etype, message = _ANTHROPIC_STATUS.get(status, default)
        headers = {"retry-after": "1"} if status == 429 else {}
        return self._error(status, etype, message, **headers)

    def stream_error_event(self) -> bytes:
        data = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return f"event: error\ndata: {json.dumps(data)}\n\n".encode()

    def malformed(self, stream: bool) -> Reply:
        if stream:
            events = [b'event: message_start\ndata: {"type": "message_start", "message": {\n\n']
            return Reply(headers={"content-type": "text/event-stream"}, events=events)
        return super().malformed(stream)


# --------------------------------------------------------------------------- Gemini


_GEMINI_STATUS: Final[dict[int, tuple[str, str]]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    402: ("RESOURCE_EXHAUSTED", "Your prepaid credits are exhausted."),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    ),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "The request timed out. Please try again."),
}

_GEMINI_MODELS: Final = (
    ("gemini-2.5-flash", "Gemini 2.5 Flash", 1048576, 65536, ["generateContent", "countTokens"]),
    ("gemini-2.5-pro", "Gemini 2.5 Pro", 1048576, 65536, ["generateContent", "countTokens"]),
    ("gemini-2.0-flash", "Gemini 2.0 Flash", 1048576, 8192, ["generateContent", "countTokens"]),
    ("gemini-embedding-001", "Gemini Embedding 001", 2048, 1, ["embedContent"]),
)

_SAFETY_CATEGORIES: Final = (
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
)


# The model named in the path of the request being handled (set per asyncio task by operation()).
_GEMINI_MODEL: Final[contextvars.ContextVar[str | None]] = contextvars.ContextVar(
    "gemini_model", default=None
)


def _pick(obj: Any, camel: str, snake: str) -> Any:
    """A field under its lowerCamelCase or snake_case name (protobuf JSON accepts both)."""
    if not isinstance(obj, Mapping):
        return None
    return obj[camel] if camel in obj else obj.get(snake)


def _response_text(response: Any) -> str:
    """A functionResponse as text: its `output` (or `error`) when that is all it holds, else its JSON."""
    value = response.get("response") if isinstance(response, Mapping) else None
    if isinstance(value, Mapping) and len(value) == 1 and ("output" in value or "error" in value):
        value = next(iter(value.values()))
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _gemini_json(obj: Any) -> bytes:
    # The separators copy a recorded live stream: ": " after keys, no space after commas.
    return json.dumps(obj, separators=(",", ": ")).encode()


class GeminiWire(Wire):
    protocol: ClassVar[str] = "gemini"
    stream_error_after: ClassVar[int] = 1

    def operation(self, method: str, rest: str) -> Operation | None:
        path = rest.removeprefix("v1beta/").removeprefix("v1/")
        if method == "GET" and path == "models":
            return Operation("models")
        if method == "POST" and path.startswith("models/") and ":" in path:
            model, _, verb = path.removeprefix("models/").rpartition(":")
            if verb in ("generateContent", "streamGenerateContent") and model:
                # request_error() needs the model, which Gemini names only in the path; the app
                # calls operation() and request_error() for one request in one task.
                _GEMINI_MODEL.set(model)
                return Operation("chat", path_model=model, path_method=verb)
            if verb in ("batchEmbedContents", "embedContent") and model:
                return Operation("embeddings", path_model=model, path_method=verb)
        return None

    def embeddings(self, op: Operation, body: Any, model: str) -> Reply:
        return gemini_embeddings(self, op, body, model)

    def _error(self, status: int, rpc_status: str, message: str, details: list | None = None) -> Reply:
        error: dict[str, Any] = {"code": status, "message": message, "status": rpc_status}
        if details:
            error["details"] = details
        return Reply.json({"error": error}, status)

    def auth_error(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Reply | None:
        key = headers.get("x-goog-api-key") or query.get("key")
        if not key:
            return self._error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        if self.key_is_invalid(key):
            message = "API key not valid. Please pass a valid API key."
            return self._error(
                400,
                "INVALID_ARGUMENT",
                message,
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    },
                    {
                        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                        "locale": "en-US",
                        "message": message,
                    },
                ],
            )
        return None

    def request_error(self, body: Any, headers: Mapping[str, str]) -> Reply | None:
        if not isinstance(body, dict):
            return self.bad_request("Invalid JSON payload received.")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return self.bad_request("* GenerateContentRequest.contents: contents is not specified")
        for content in contents:
            if not isinstance(content, dict) or content.get("role", "user") not in ("user", "model"):
                return self.bad_request("Please use a valid role: user, model.")
        model = split_model(_GEMINI_MODEL.get() or "")[0]
        return (
            self._thinking_error(body)
            or self._tool_config_error(body)
            or self._part_error(contents)
            or self._function_turn_error(contents)
            or self._signature_error(contents, model)
        )

    def bad_request(self, message: str) -> Reply:
        return self._error(400, "INVALID_ARGUMENT", message)

    def not_found(self, message: str) -> Reply:
        return self._error(404, "NOT_FOUND", message)

    def model(self, op: Operation, body: dict[str, Any]) -> str:
        return op.path_model or ""

    def is_stream(self, op: Operation, body: dict[str, Any], query: Mapping[str, str]) -> bool:
        return op.path_method == "streamGenerateContent"

    def stream_headers(self, op: Operation, query: Mapping[str, str]) -> dict[str, str]:
        if query.get("alt") == "sse":
            return {"content-type": "text/event-stream"}
        return {"content-type": "application/json; charset=UTF-8"}

    # ---------------------------------------------------------------- request fields

    @staticmethod
    def thinks(model: str) -> bool:
        """Thinking models (2.5, 3.x): they count thought tokens and sign their function calls."""
        return "2.5" in model or "thinking" in model or re.search(r"(?:^|-)3(?:[.-]|$)", model) is not None

    @staticmethod
    def config(body: Mapping[str, Any]) -> Mapping[str, Any]:
        config = _pick(body, "generationConfig", "generation_config")
        return config if isinstance(config, Mapping) else {}

    @staticmethod
    def tools(body: Mapping[str, Any]) -> list[ToolSpec]:
        specs = []
        for tool in body.get("tools") or []:
            for declaration in _pick(tool, "functionDeclarations", "function_declarations") or []:
                if isinstance(declaration, dict) and isinstance(declaration.get("name"), str):
                    # parametersJsonSchema is JSON Schema; parameters is Gemini's upper-case Schema.
                    schema = _pick(declaration, "parametersJsonSchema", "parameters_json_schema")
                    specs.append(ToolSpec(declaration["name"], schema or declaration.get("parameters") or {}))
        return specs

    @staticmethod
    def tool_choice(body: Mapping[str, Any]) -> ToolChoice:
        config = _pick(
            _pick(body, "toolConfig", "tool_config"), "functionCallingConfig", "function_calling_config"
        )
        mode = str(_pick(config, "mode", "mode") or "AUTO").upper()
        names = _pick(config, "allowedFunctionNames", "allowed_function_names") or []
        if mode == "NONE":
            return ToolChoice("none")
        if mode == "ANY":
            if len(names) == 1:
                return ToolChoice("named", names[0])
            return ToolChoice("required", allowed=tuple(names) if names else None)
        return ToolChoice("auto")  # AUTO, VALIDATED

    @staticmethod
    def structured(config: Mapping[str, Any]) -> Structured | None:
        if _pick(config, "responseMimeType", "response_mime_type") != "application/json":
            return None
        schema = _pick(config, "responseJsonSchema", "response_json_schema")
        if schema is None:
            schema = _pick(config, "responseSchema", "response_schema")
        return Structured(schema)

    # ---------------------------------------------------------------- validation

    def _thinking_error(self, body: dict[str, Any]) -> Reply | None:
        thinking = _pick(self.config(body), "thinkingConfig", "thinking_config")
        if isinstance(thinking, Mapping) and (
            _pick(thinking, "thinkingBudget", "thinking_budget") is not None
            and _pick(thinking, "thinkingLevel", "thinking_level") is not None
        ):
            return self.bad_request(
                "thinking_budget and thinking_level are not supported together. Please use only one of them."
            )
        return None

    def _tool_config_error(self, body: dict[str, Any]) -> Reply | None:
        declared = {tool.name for tool in self.tools(body)}
        choice = self.tool_choice(body)
        for name in ([choice.name] if choice.mode == "named" else []) + list(choice.allowed or ()):
            if name not in declared:
                return self.bad_request(
                    "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
                    f"function '{name}' is not declared in tools."
                )
        return None

    def _part_error(self, contents: list[dict[str, Any]]) -> Reply | None:
        for i, content in enumerate(contents):
            for j, part in enumerate(_blocks(content.get("parts"))):
                inline = _pick(part, "inlineData", "inline_data")
                if inline is not None:
                    mime = _pick(inline, "mimeType", "mime_type")
                    data = inline.get("data") if isinstance(inline, Mapping) else None
                    if not isinstance(mime, str) or not mime:
                        return self.bad_request(
                            f"* GenerateContentRequest.contents[{i}].parts[{j}].inline_data.mime_type: "
                            "mime_type is not specified"
                        )
                    if not isinstance(data, str) or not decode_base64(data):
                        shown = str(data)[:32]
                        return self.bad_request(
                            f"Invalid value at 'contents[{i}].parts[{j}].inline_data.data' (TYPE_BYTES), "
                            f'Base64 decoding failed for "{shown}"'
                        )
                file = _pick(part, "fileData", "file_data")
                if file is not None and not _pick(file, "fileUri", "file_uri"):
                    return self.bad_request(
                        f"* GenerateContentRequest.contents[{i}].parts[{j}].file_data.file_uri: "
                        "file_uri is not specified"
                    )
        return None

    @staticmethod
    def _count(content: Mapping[str, Any], camel: str, snake: str) -> int:
        return sum(1 for part in _blocks(content.get("parts")) if _pick(part, camel, snake))

    def _function_turn_error(self, contents: list[dict[str, Any]]) -> Reply | None:
        """Calls come after a user or function-response turn; responses right after their calls, one each."""
        for i, content in enumerate(contents):
            calls = self._count(content, "functionCall", "function_call")
            responses = self._count(content, "functionResponse", "function_response")
            previous = contents[i - 1] if i else {}
            if calls and (not i or previous.get("role") == "model"):
                return self.bad_request(
                    "Please ensure that function call turn comes immediately after a user turn or after a "
                    "function response turn."
                )
            if responses:
                asked = (
                    self._count(previous, "functionCall", "function_call")
                    if previous.get("role") == "model"
                    else 0
                )
                if not asked:
                    return self.bad_request(
                        "Please ensure that function response turn comes immediately after a function call "
                        "turn."
                    )
                if responses != asked:
                    return self.bad_request(
                        "Please ensure that the number of function response parts is equal to the number of "
                        "function call parts of the function call turn."
                    )
            if calls and i + 1 < len(contents):
                if not self._count(contents[i + 1], "functionResponse", "function_response"):
                    return self.bad_request(
                        "Please ensure that the number of function response parts is equal to the number of "
                        "function call parts of the function call turn."
                    )
        return None

    def _signature_error(self, contents: list[dict[str, Any]], model: str) -> Reply | None:
        """Thinking models: in the current turn (since the last user text), the first functionCall part
        of each model step carries the signature the emulator issued for it."""
        if not self.thinks(model):
            return None
        start = 0
        for i, content in enumerate(contents):
            if content.get("role", "user") == "user" and not self._count(
                content, "functionResponse", "function_response"
            ):
                start = i + 1
        for i in range(start, len(contents)):
            if contents[i].get("role") != "model":
                continue
            parts = [
                p for p in _blocks(contents[i].get("parts")) if _pick(p, "functionCall", "function_call")
            ]
            if not parts:
                continue
            call = _pick(parts[0], "functionCall", "function_call")
            call = call if isinstance(call, Mapping) else {}
            signature = _pick(parts[0], "thoughtSignature", "thought_signature")
            if not signature:
                return self.bad_request(
                    "Function call is missing a thought_signature in functionCall parts. This is required "
                    "for tools to work correctly, and missing thought_signature may lead to degraded model "
                    f"performance. Additional data, function call `default_api:{call.get('name')}` , "
                    f"position {i + 1}. Please refer to "
                    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
                )
            skip = isinstance(signature, str) and decode_base64(signature) == GEMINI_SKIP_SIGNATURE
            issued = canonical_call(str(call.get("name")), call.get("args", {}))
            if not skip and not verify(GEMINI_FUNCTION_CALL, issued, signature):
                return self.bad_request("Corrupted thought signature.")
        return None

    # ---------------------------------------------------------------- the answer

    def plan(self, body: dict[str, Any], model: str) -> Plan:
        system = _pick(body, "systemInstruction", "system_instruction") or {}
        config = self.config(body)
        contents = body["contents"]
        tools = self.tools(body)
        texts = [_text_of(system.get("parts"))] if system else []
        texts += [_text_of(c.get("parts")) for c in contents] + _tools_text(tools)
        users = [_text_of(c.get("parts")) for c in contents if c.get("role", "user") == "user"]
        limit = _pick(config, "maxOutputTokens", "max_output_tokens")
        limit = limit if isinstance(limit, int) else None
        images = sum(
            1
            for c in contents
            for part in _blocks(c.get("parts"))
            if _pick(part, "inlineData", "inline_data") or _pick(part, "fileData", "file_data")
        )
        last = contents[-1]
        responses = [
            _pick(part, "functionResponse", "function_response")
            for part in _blocks(last.get("parts"))
            if last.get("role", "user") == "user" and _pick(part, "functionResponse", "function_response")
        ]
        choice = self.tool_choice(body)
        if tools and last.get("role", "user") == "user" and not responses and choice.mode != "none":
            subject = _text_of(last.get("parts"))
            calls = choose_calls(tools, choice, subject)
            arguments = [canonical_call(call.name, call.args) for call in calls]
            answer = calls_answer(texts, arguments, extra_prompt_tokens=images * IMAGE_TOKENS)
            plan = Plan(answer, calls, named=choice.mode == "named", images=images)
        else:
            results = [_response_text(response) for response in responses]
            subject = " ".join(results) if results else (users[-1] if users else "")
            structured = self.structured(config)
            answer = _answer_text(
                texts,
                subject,
                limit,
                results=bool(results),
                images=images,
                structured=structured,
                style="pretty",
            )
            plan = Plan(answer, structured=structured is not None, images=images)
        thinking = _pick(config, "thinkingConfig", "thinking_config")
        thinking = thinking if isinstance(thinking, Mapping) else {}
        if self.thinks(model) and _pick(thinking, "thinkingBudget", "thinking_budget") != 0:
            plan.reasoning_tokens = 2 * answer.completion_tokens
            if _pick(thinking, "includeThoughts", "include_thoughts"):
                plan.reasoning = reasoning_for(subject)
        return plan

    def usage(
        self, answer: Answer, candidates_tokens: int, thoughts: int, *, candidates: bool = True
    ) -> dict[str, Any]:
        """`candidates=False`: while thoughts stream there is no candidatesTokenCount yet."""
        usage: dict[str, Any] = {"promptTokenCount": answer.prompt_tokens}
        if candidates:
            usage["candidatesTokenCount"] = candidates_tokens
        usage["totalTokenCount"] = answer.prompt_tokens + (candidates_tokens if candidates else 0) + thoughts
        if answer.cached_tokens:
            usage["cachedContentTokenCount"] = answer.cached_tokens
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": answer.prompt_tokens}]
        if answer.cached_tokens:
            usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": answer.cached_tokens}]
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        return usage

    def blocked(self, answer: Answer, model: str) -> dict[str, Any]:
        ratings: list[dict[str, Any]] = [
            {"category": c, "probability": "NEGLIGIBLE"} for c in _SAFETY_CATEGORIES
        ]
        ratings[-1] = {"category": _SAFETY_CATEGORIES[-1], "probability": "HIGH", "blocked": True}
        usage = {
            "promptTokenCount": answer.prompt_tokens,
            "totalTokenCount": answer.prompt_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": answer.prompt_tokens}],
        }
        return {
            "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": ratings},
            "usageMetadata": usage,
            "modelVersion": model,
            "responseId": self.response_id(),
        }

    @staticmethod
    def response_id() -> str:
        return f"emu{secrets.token_urlsafe(16)}"

    def _call_parts(self, plan: Plan, model: str) -> list[dict[str, Any]]:
        """functionCall parts (no ids); a thinking model signs the first one only."""
        parts = []
        for index, call in enumerate(plan.calls):
            part: dict[str, Any] = {"functionCall": {"name": call.name, "args": call.args}}
            if index == 0 and self.thinks(model):
                part["thoughtSignature"] = sign(GEMINI_FUNCTION_CALL, canonical_call(call.name, call.args))
            parts.append(part)
        return parts

    def complete(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> Reply:
        plan = self.plan(body, model)
        answer = plan.answer
        if filtered:
            return Reply(
                headers={"content-type": "application/json"}, body=_gemini_json(self.blocked(answer, model))
            )
        parts: list[dict[str, Any]] = []
        if plan.reasoning:
            parts.append({"text": "".join(plan.reasoning), "thought": True})
        if plan.calls:
            parts += self._call_parts(plan, model)
            candidate: dict[str, Any] = {
                "content": {"parts": parts, "role": "model"},
                "finishReason": "STOP",  # also after function calls: clients look at the parts
                "finishMessage": "Model generated function call(s).",
                "index": 0,
            }
        else:
            part: dict[str, Any] = {"text": answer.text}
            if plan.reasoning:  # as recorded: the signature rides on the answer's last part
                part["thoughtSignature"] = sign(GEMINI_TEXT, answer.text)
            parts.append(part)
            candidate = {
                "content": {"parts": parts, "role": "model"},
                "finishReason": "MAX_TOKENS" if answer.truncated else "STOP",
                "index": 0,
            }
            if not plan.reasoning and not plan.structured:
                candidate["safetyRatings"] = [
                    {"category": c, "probability": "NEGLIGIBLE"} for c in _SAFETY_CATEGORIES
                ]
        obj = {
            "candidates": [candidate],
            "usageMetadata": self.usage(answer, answer.completion_tokens, plan.reasoning_tokens),
            "modelVersion": model,
            "responseId": self.response_id(),
        }
        return Reply(headers={"content-type": "application/json"}, body=_gemini_json(obj))

    def stream(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> StreamPlan:
        plan = self.plan(body, model)
        answer = plan.answer
        if filtered:
            return StreamPlan([b"data: " + _gemini_json(self.blocked(answer, model)) + b"\r\n\r\n"], 0)
        response_id = self.response_id()

        def event(candidate: dict[str, Any], usage: dict[str, Any]) -> bytes:
            obj = {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": response_id,
            }
            return b"data: " + _gemini_json(obj) + b"\r\n\r\n"

        thoughts = plan.reasoning_tokens
        events = []
        for i in range(0, len(plan.reasoning), 3):
            text = "".join(plan.reasoning[i : i + 3])
            candidate = {"content": {"parts": [{"text": text, "thought": True}], "role": "model"}, "index": 0}
            events.append(event(candidate, self.usage(answer, 0, thoughts, candidates=False)))
        if plan.calls:
            # The calls come whole in one chunk; a last chunk with an empty text part finishes.
            usage = self.usage(answer, answer.completion_tokens, thoughts)
            events.append(
                event(
                    {"content": {"parts": self._call_parts(plan, model), "role": "model"}, "index": 0}, usage
                )
            )
            terminal = len(events)
            last = {"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": "STOP", "index": 0}
            events.append(event(last, usage))
            return StreamPlan(events, terminal)
        words = answer.pieces
        groups = ["".join(words[i : i + 3]) for i in range(0, len(words), 3)]
        for i, text in enumerate(groups):
            last_group = i == len(groups) - 1
            part: dict[str, Any] = {"text": text}
            if i == 0 and plan.reasoning:  # as recorded: the signature rides on the first answer chunk
                part["thoughtSignature"] = sign(GEMINI_TEXT, answer.text)
            candidate = {"content": {"parts": [part], "role": "model"}}
            if last_group:
                candidate["finishReason"] = "MAX_TOKENS" if answer.truncated else "STOP"
            candidate["index"] = 0
            so_far = (
                answer.completion_tokens if last_group else math.ceil(min(3 * (i + 1), len(words)) * 4 / 3)
            )
            events.append(
                event(candidate, self.usage(answer, min(so_far, answer.completion_tokens), thoughts))
            )
        return StreamPlan(events, len(events) - 1)

    def streams_as_array(self, query: Mapping[str, str]) -> bool:
        return query.get("alt") != "sse"

    def json_array(self, events: list[bytes]) -> bytes:
        """The stream as one JSON array, which is what Gemini sends without `alt=sse`."""
        items = [event.removeprefix(b"data: ").rstrip(b"\r\n") for event in events]
        return b"[" + b",\r\n".join(items) + b"]"

    def models(self, query: Mapping[str, str]) -> Reply:
        entries = [
            {
                "name": f"models/{model_id}",
                "version": "001",
                "displayName": display,
                "inputTokenLimit": input_limit,
                "outputTokenLimit": output_limit,
                "supportedGenerationMethods": methods,
            }
            for model_id, display, input_limit, output_limit, methods in _GEMINI_MODELS
        ]
        start = int(query["pageToken"]) if query.get("pageToken", "").isdigit() else 0
        size = min(int(query.get("pageSize") or 50), self.models_page_size)
        obj: dict[str, Any] = {"models": entries[start : start + size]}
        if start + size < len(entries):
            obj["nextPageToken"] = str(start + size)
        return Reply.json(obj)

    def fault_error(self, fault: Fault, model: str) -> Reply:
        if fault.action in ("rate_limit", "quota"):
            per_day = fault.action == "quota"
            seconds = 3600.0 if per_day else float(fault.arg or 0)
            quota_id = (
                "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
                if per_day
                else "GenerateContentPaidTierInputTokensPerModelPerMinute"
            )
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                            "quotaId": quota_id,
                            "quotaDimensions": {"location": "global", "model": model},
                            "quotaValue": "250" if per_day else "4000000",
                        }
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds:g}s"},
            ]
            return self._error(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details. "
                f"Please retry in {seconds:g}s.",
                details,
            )
        if fault.action == "context_length":
            return self._error(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1052311) exceeds the maximum number of tokens allowed (1048576).",
            )
        status = 503 if fault.action == "stream_error" else int(fault.arg or 500)
        return self.status_error(status)

    def status_error(self, status: int) -> Reply:
        rpc_status, message = _GEMINI_STATUS.get(
            status, ("INTERNAL" if status >= 500 else "INVALID_ARGUMENT", "Error")
        )
        details = None
        if status == 429:
            details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]
        return self._error(status, rpc_status, message, details)

    def stream_error_event(self) -> bytes:
        # After the 200, Gemini writes the error as plain (pretty-printed) JSON, without `data:`.
        error = {
            "error": {
                "code": 503,
                "message": "The model is overloaded. Please try again later.",
                "status": "UNAVAILABLE",
            }
        }
        return json.dumps(error, indent=2).encode().replace(b"\n", b"\r\n") + b"\r\n"

    def malformed(self, stream: bool) -> Reply:
        if stream:
            events = [b'data: {"candidates": [{"content": \r\n\r\n']
            return Reply(headers={"content-type": "text/event-stream"}, events=events)
        return super().malformed(stream)
