"""What every wire of the emulator shares: the reply, plan and operation shapes, the `Wire` base
class the protocol modules fill in, and the helpers they build answers with.

Shapes follow the reference fixtures in tests/fixtures/provider_formats (copied from the shared
provider-formats set, which the official SDKs parse); the conformance tests compare them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any, ClassVar, Final

from ..content import (
    REPLY_PREFIX,
    TOOL_REPLY_PREFIX,
    Answer,
    make_answer,
    text_answer,
)
from ..faults import Fault
from ..features import (
    JsonStyle,
    ToolCall,
    ToolSpec,
    dump_json,
    image_suffix,
    schema_instance,
)


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


def answer_text(
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


def tools_text(tools: list[ToolSpec]) -> list[str]:
    """The tool declarations as prompt text (they count as prompt tokens)."""
    return [json.dumps([{"name": t.name, "parameters": t.schema} for t in tools])] if tools else []


def dict_blocks(content: Any) -> list[dict[str, Any]]:
    """The dict parts/blocks of a message content (a plain string has none)."""
    return [part for part in content if isinstance(part, dict)] if isinstance(content, list) else []


def interleave(groups: list[list[bytes]]) -> list[bytes]:
    """Round-robin merge (the choices of an n > 1 stream arrive interleaved)."""
    return [event for row in zip_longest(*groups) for event in row if event is not None]


@dataclass(frozen=True, slots=True)
class Operation:
    """What a request asks of a wire, as its method and path name it."""

    name: str  # "chat" or "models"
    path_model: str | None = None  # Gemini names the model in the path
    path_method: str | None = None


def text_of(content: Any) -> str:
    """The text of a message content: a string, or the `text` of its parts joined by spaces."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(text_of(part.get("text", "")) for part in content if isinstance(part, dict))
    if isinstance(content, dict):
        return text_of(content.get("text", ""))
    return ""


def bearer_key(headers: Mapping[str, str]) -> str | None:
    """The key of an `Authorization: Bearer` header, None when there is none."""
    value = headers.get("authorization", "")
    if value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


def mask_key(key: str) -> str:
    """A key as error messages show it: its first three and last four characters."""
    return f"{key[:3]}****{key[-4:]}" if len(key) > 8 else "****"


def sse_event(obj: Any) -> bytes:
    """`obj` as one server-sent `data:` event."""
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


class Wire:
    """One protocol. Subclasses fill in the bodies; the emulator app does the routing."""

    protocol: ClassVar[str] = ""
    stream_error_after: ClassVar[int] = 2
    # The events of a malformed stream: a cut-off first event, then what no protocol parses.
    malformed_events: ClassVar[tuple[bytes, ...]] = (
        b'data: {"id": "emu-malformed", "choices": [\n\n',
        b"data: <html>upstream error</html>\n\n",
    )

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
        """The `malformed` fault's answer: a stream of broken events, or an HTML page as JSON."""
        if stream:
            return Reply(headers={"content-type": "text/event-stream"}, events=list(self.malformed_events))
        return Reply(
            headers={"content-type": "application/json"}, body=b"<html><body>502 Bad Gateway</body></html>"
        )
