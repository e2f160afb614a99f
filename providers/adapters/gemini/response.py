"""Reading Gemini answers, whole or streamed, into the internal results.

A whole answer and each stream chunk are the same GenerateContentResponse, read by `piece_read`;
thought summaries (`thought: true` parts) are reasoning, never answer text.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from ..base import ProviderAdapter
from ..messages import ChatRequest, ReasoningPart, ToolCall
from ..results import ChatChoice, ChatChunk, ChatResponse, ToolCallDelta, Usage
from .request import INVENTED_ID_PREFIX

_FILTER_REASONS: Final[frozenset[str]] = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
_FINISH_REASONS: Final[dict[str, str]] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "MALFORMED_FUNCTION_CALL": "tool_calls",
    "UNEXPECTED_TOOL_CALL": "tool_calls",
    "TOO_MANY_TOOL_CALLS": "tool_calls",
    **{reason: "content_filter" for reason in _FILTER_REASONS},
}


class GeminiAPIError(Exception):
    """A Gemini error body, from an HTTP error status or from inside a 200 stream."""

    def __init__(self, status_code: int, body: object, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code
        self.body = body
        self.headers = headers


@dataclass(slots=True)
class _Candidate:
    """What one candidate of a GenerateContentResponse (or of one stream chunk) contributes."""

    text: str = ""
    thoughts: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish: str | None = None


@dataclass(slots=True)
class _Piece:
    """What one GenerateContentResponse (a whole answer, or one stream chunk) contributes."""

    candidates: list[_Candidate] = field(default_factory=list)
    usage: Usage | None = None
    model: str | None = None
    response_id: str | None = None

    @property
    def first(self) -> _Candidate:
        return self.candidates[0] if self.candidates else _Candidate()


def piece_read(adapter: ProviderAdapter, data: object) -> _Piece:
    """Read one GenerateContentResponse; shared by completions and stream chunks."""
    if not isinstance(data, dict):
        raise adapter._error("invalid_response", "response body is not a JSON object")
    feedback = data.get("promptFeedback") or {}
    if feedback.get("blockReason") and not data.get("candidates"):
        raise adapter._error("content_filtered", f"prompt blocked: {feedback['blockReason']}")
    piece = _Piece(model=data.get("modelVersion"), response_id=data.get("responseId"))
    candidates = data.get("candidates") or []
    if not isinstance(candidates, list) or not all(isinstance(c, dict) for c in candidates):
        raise adapter._error("invalid_response", "candidates that are not a list of objects")
    candidates = sorted(candidates, key=lambda c: int(c.get("index") or 0))
    piece.candidates = [_candidate(candidate) for candidate in candidates]
    metadata = data.get("usageMetadata")
    if metadata is not None:
        piece.usage = usage_read(metadata)
    return piece


def usage_read(metadata: dict[str, Any]) -> Usage:
    """`usageMetadata`: thoughts are outside candidatesTokenCount and tool-use prompt tokens
    outside promptTokenCount, so both are added; per-modality details give the audio, image
    (documents included) and video parts of the prompt, the cache and the answer."""

    def count(name: str) -> int:
        value = metadata.get(name)
        return int(value) if isinstance(value, int | float) else 0

    def modality(name: str, *kinds: str) -> int:
        details = metadata.get(name)
        if not isinstance(details, list):
            return 0
        return sum(
            int(item.get("tokenCount") or 0)
            for item in details
            if isinstance(item, dict) and item.get("modality") in kinds
        )

    def prompt_modality(*kinds: str) -> int:
        return modality("promptTokensDetails", *kinds) + modality("toolUsePromptTokensDetails", *kinds)

    thoughts = count("thoughtsTokenCount")
    tool_input = count("toolUsePromptTokenCount")
    return Usage(
        prompt_tokens=count("promptTokenCount") + tool_input,
        completion_tokens=count("candidatesTokenCount") + thoughts,
        cached_tokens=count("cachedContentTokenCount"),
        reasoning_tokens=thoughts,
        input_audio_tokens=prompt_modality("AUDIO"),
        input_image_tokens=prompt_modality("IMAGE", "DOCUMENT"),
        input_video_tokens=prompt_modality("VIDEO"),
        cached_audio_tokens=modality("cacheTokensDetails", "AUDIO"),
        cached_image_tokens=modality("cacheTokensDetails", "IMAGE", "DOCUMENT"),
        cached_video_tokens=modality("cacheTokensDetails", "VIDEO"),
        tool_input_tokens=tool_input,
        output_audio_tokens=modality("candidatesTokensDetails", "AUDIO"),
        output_image_tokens=modality("candidatesTokensDetails", "IMAGE", "DOCUMENT"),
    )


def _candidate(candidate: dict[str, Any]) -> _Candidate:
    out = _Candidate(finish=candidate.get("finishReason"))
    for part in (candidate.get("content") or {}).get("parts") or []:
        if "functionCall" in part:
            call = part["functionCall"]
            out.tool_calls.append(
                ToolCall(
                    id=call.get("id") or INVENTED_ID_PREFIX + secrets.token_hex(12),
                    name=str(call.get("name") or ""),
                    arguments=json.dumps(call.get("args") or {}, separators=(",", ":")),
                    signature=part.get("thoughtSignature"),
                )
            )
        elif "text" in part:
            # A thoughtSignature on a text part is not kept: only calls need theirs back.
            if part.get("thought"):
                out.thoughts += part["text"]  # a thought summary, not answer text
            else:
                out.text += part["text"]
    return out


def finish_reason(raw: str | None, tool_calls: list[ToolCall]) -> str:
    if tool_calls and raw in (None, "STOP"):
        return "tool_calls"  # Gemini says STOP when it returns a functionCall
    return _FINISH_REASONS.get(raw or "STOP", "stop")


def response_from(adapter: ProviderAdapter, data: object, request: ChatRequest) -> ChatResponse:
    """A whole generateContent answer as a ChatResponse."""
    piece = piece_read(adapter, data)
    first = piece.first
    if first.finish is None and piece.usage is None:
        raise adapter._error("invalid_response", "response without candidates or usage")
    return ChatResponse(
        content=first.text,
        finish_reason=finish_reason(first.finish, first.tool_calls),
        usage=piece.usage or Usage(),
        model=piece.model or request.model,
        response_id=piece.response_id,
        provider_details={"native_finish_reason": first.finish},
        tool_calls=first.tool_calls,
        reasoning=reasoning_parts(first.thoughts, adapter.kind),
        more_choices=[
            ChatChoice(
                content=c.text, finish_reason=finish_reason(c.finish, c.tool_calls), tool_calls=c.tool_calls
            )
            for c in piece.candidates[1:]
        ],
    )


class GeminiStreamReader:
    """The state of one streamed answer: `read` turns each chunk into a ChatChunk, `end` gives the
    terminal chunk once the stream is over."""

    def __init__(self, adapter: ProviderAdapter, request: ChatRequest) -> None:
        self.adapter = adapter
        self.finish: str | None = None
        self.usage: Usage | None = None
        self.model: str | None = request.model
        self.response_id: str | None = None
        self.tool_calls: list[ToolCall] = []
        self.thoughts: list[str] = []

    def read(self, payload: object) -> ChatChunk:
        piece = piece_read(self.adapter, payload)
        candidate = piece.first
        self.model = piece.model or self.model
        self.response_id = piece.response_id or self.response_id
        self.usage = piece.usage or self.usage  # cumulative: the last one is final
        self.finish = candidate.finish or self.finish
        # Gemini sends each functionCall whole, in one chunk: one delta per call.
        start = len(self.tool_calls)
        deltas = [
            ToolCallDelta(index=start + i, id=call.id, name=call.name, arguments=call.arguments)
            for i, call in enumerate(candidate.tool_calls)
        ]
        self.tool_calls.extend(candidate.tool_calls)
        if candidate.thoughts:
            self.thoughts.append(candidate.thoughts)
        return ChatChunk(
            delta=candidate.text,
            reasoning=candidate.thoughts,
            tool_call_deltas=deltas,
            model=self.model,
            response_id=self.response_id,
        )

    def end(self) -> ChatChunk:
        """The terminal chunk. Gemini has no end marker: the stream simply closes after the
        finishReason chunk, so a stream without one was cut."""
        if self.finish is None:
            raise self.adapter._error("connection", "stream ended before a finishReason")
        return ChatChunk(
            finish_reason=finish_reason(self.finish, self.tool_calls),
            usage=self.usage,
            model=self.model,
            response_id=self.response_id,
            tool_calls=self.tool_calls,
            reasoning_parts=reasoning_parts("".join(self.thoughts), self.adapter.kind),
        )


def reasoning_parts(thoughts: str, kind: str) -> list[ReasoningPart]:
    return [ReasoningPart(thoughts, protocol=kind)] if thoughts else []


def raise_for_status(status: int, raw: bytes, headers: Mapping[str, str]) -> None:
    """A GeminiAPIError for an error status, with the decoded error body (or its text)."""
    if status < 400:
        return
    try:
        body: object = json.loads(raw)
    except ValueError:
        body = raw.decode("utf-8", errors="replace")
    raise GeminiAPIError(status, body, headers)


async def sse_payloads(lines: AsyncIterator[str]) -> AsyncIterator[Any]:
    """Decoded `data:` payloads of an SSE body (LF or CRLF framed).

    Gemini sends an error that happens after the 200 as bare JSON without a `data:` prefix,
    possibly over several lines; it is collected until it parses and raised as GeminiAPIError.
    Decoded by orjson, three times the standard library's pace on a stream's small events.
    """
    data: list[str] = []
    bare: list[str] = []
    async for line in lines:
        line = line.rstrip("\r\n")
        if bare or line.lstrip().startswith(("{", "[")):
            bare.append(line)
            try:
                payload = orjson.loads("\n".join(bare))
            except ValueError:
                continue
            bare = []
            _raise_if_error(payload)
            yield payload
            continue
        if not line:
            if data:
                payload = orjson.loads("\n".join(data))
                data = []
                _raise_if_error(payload)
                yield payload
            continue
        if line.startswith(":"):
            continue  # comment / keep-alive
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
        # `event:`, `id:` and `retry:` carry nothing Gemini uses.
    if data:
        payload = orjson.loads("\n".join(data))
        _raise_if_error(payload)
        yield payload
    if bare:
        orjson.loads("\n".join(bare))  # raises: the body ended inside a JSON document


def _raise_if_error(payload: Any) -> None:
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        raise GeminiAPIError(200, payload)
