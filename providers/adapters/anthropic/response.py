"""Reading Anthropic Messages answers, whole or streamed, into the internal results.

A whole answer and a stream share their reading of stop reasons, usage and reasoning blocks.
Streamed events are read as plain dicts: the SDK's per-event parsing and model building cost
several times the event's decoding (bench/stream_chunks.py).
"""

from __future__ import annotations

import json
from typing import Any, Final

from anthropic.types import Message as AnthropicMessage

from ..base import ProviderAdapter
from ..messages import ReasoningPart, ToolCall
from ..results import ChatChunk, ChatResponse, ToolCallDelta, Usage

_STOP_REASONS: Final[dict[str, str]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def message_read(adapter: ProviderAdapter, message: object) -> ChatResponse:
    """A Messages answer (the SDK's model) as a ChatResponse."""
    content = getattr(message, "content", None)
    if not isinstance(message, AnthropicMessage) or not isinstance(content, list):
        raise adapter._error("invalid_response", "response body is not a message")
    texts: list[str] = []
    tool_calls: list[ToolCall] = []
    reasoning: list[ReasoningPart] = []
    stop_reason = getattr(message, "stop_reason", None)
    details: dict[str, Any] = {"native_finish_reason": stop_reason}
    for block in content:
        block_type = getattr(block, "type", None)
        if block_type == "text":
            texts.append(block.text)
        elif block_type == "thinking":
            reasoning.append(ReasoningPart(block.thinking, signature=block.signature, protocol=adapter.kind))
        elif block_type == "redacted_thinking":
            reasoning.append(ReasoningPart("", redacted=block.data, protocol=adapter.kind))
        elif block_type == "tool_use":
            arguments = json.dumps(block.input, separators=(",", ":"))
            tool_calls.append(ToolCall(id=block.id, name=block.name, arguments=arguments))
    refusal = None
    stop_details = getattr(message, "stop_details", None)
    if stop_details is not None:
        details["stop_details"] = stop_details.model_dump(mode="json")
        if stop_reason == "refusal":
            refusal = stop_details.explanation
    return ChatResponse(
        content="".join(texts),
        finish_reason=finish(stop_reason, tool_calls),
        usage=usage_read(getattr(message, "usage", None), None),
        model=getattr(message, "model", None) or "",
        response_id=getattr(message, "id", None),
        provider_details=details,
        tool_calls=tool_calls,
        reasoning=reasoning,
        refusal=refusal,
    )


def finish(raw: str | None, tool_calls: list[ToolCall]) -> str:
    """The internal finish reason of a stop reason, given the answer's tool calls."""
    reason = _STOP_REASONS.get(raw or "", "stop")
    # A turn cut short (max_tokens) or stopped by the classifiers keeps saying so: its tool
    # input may be incomplete.
    if tool_calls and reason not in ("length", "content_filter"):
        return "tool_calls"
    return reason


def usage_read(start: Any, final: Any) -> Usage:
    """Usage from `message.usage`, or from message_start overlaid with the final message_delta."""

    def pick(name: str) -> int:
        for source in (final, start):
            value = _field(source, name)
            if value is not None:
                return int(value)
        return 0

    def nested(name: str, field: str) -> int:
        for source in (final, start):
            value = _field(_field(source, name), field)
            if value is not None:
                return int(value)
        return 0

    cache_read = pick("cache_read_input_tokens")
    cache_write = pick("cache_creation_input_tokens")
    return Usage(
        # input_tokens excludes cached input, unlike OpenAI's prompt_tokens.
        prompt_tokens=pick("input_tokens") + cache_read + cache_write,
        completion_tokens=pick("output_tokens"),
        cached_tokens=cache_read,
        reasoning_tokens=nested("output_tokens_details", "thinking_tokens"),
        # cache_creation splits the write by TTL; without it every write is a 5-minute one.
        cache_write_tokens=cache_write,
        cache_write_1h_tokens=min(cache_write, nested("cache_creation", "ephemeral_1h_input_tokens")),
    )


def _field(source: Any, name: str) -> Any:
    """A field of a usage read from a stream (a dict) or of an answer (the SDK's model)."""
    if source is None:
        return None
    if isinstance(source, dict):
        return source.get(name)
    return getattr(source, name, None)


class MessagesStreamReader:
    """The state of one streamed Messages answer: `read` turns each event into at most one chunk,
    `end` gives the terminal chunk once the stream is over."""

    def __init__(self, adapter: ProviderAdapter) -> None:
        self.adapter = adapter
        self.model: str | None = None
        self.response_id: str | None = None
        self.stop_reason: str | None = None
        self.start_usage: Any = None
        self.final_usage: Any = None
        self.stopped = False
        # Per content-block index: the tool call ordinal, or the reasoning being collected.
        self.tool_ordinal: dict[int, int] = {}
        self.calls: list[dict[str, str]] = []
        self.thinking: dict[int, dict[str, Any]] = {}

    def read(self, event: dict[str, Any]) -> ChatChunk | None:
        """The chunk of one decoded event, if it carries anything. Unknown events (and citations,
        server tools) are ignored, as the versioning policy asks."""
        event_type = event.get("type")
        if event_type == "message_start":
            message = self.adapter._require(event, "message")
            self.model, self.response_id = message.get("model"), message.get("id")
            self.start_usage = message.get("usage")
            return ChatChunk(model=self.model, response_id=self.response_id)
        if event_type == "content_block_start":
            index = self.adapter._require(event, "index", int)
            return self._block_start(self.adapter._require(event, "content_block"), index)
        if event_type == "content_block_delta":
            index = self.adapter._require(event, "index", int)
            return self._block_delta(self.adapter._require(event, "delta"), index)
        if event_type == "message_delta":
            self.stop_reason = (event.get("delta") or {}).get("stop_reason") or self.stop_reason
            self.final_usage = event.get("usage")
        elif event_type == "message_stop":
            self.stopped = True
        return None

    def _chunk(self, **fields: Any) -> ChatChunk:
        return ChatChunk(model=self.model, response_id=self.response_id, **fields)

    def _block_start(self, block: dict[str, Any], index: int) -> ChatChunk | None:
        block_type = block.get("type")
        if block_type == "tool_use":
            self.tool_ordinal[index] = len(self.calls)
            call_id, call_name = block.get("id") or "", block.get("name") or ""
            self.calls.append({"id": call_id, "name": call_name, "arguments": ""})
            start = ToolCallDelta(index=self.tool_ordinal[index], id=call_id, name=call_name)
            return self._chunk(tool_call_deltas=[start])
        if block_type == "thinking":
            text = block.get("thinking") or ""
            self.thinking[index] = {"text": [text], "signature": block.get("signature") or ""}
            return self._chunk(reasoning=text) if text else None
        if block_type == "redacted_thinking":
            self.thinking[index] = {"redacted": block.get("data")}
        elif block_type == "text" and block.get("text"):
            return self._chunk(delta=block["text"])
        return None

    def _block_delta(self, delta: dict[str, Any], index: int) -> ChatChunk | None:
        delta_type = delta.get("type")
        if delta_type == "text_delta":
            return self._chunk(delta=delta.get("text") or "")
        if delta_type == "thinking_delta":
            text = delta.get("thinking") or ""
            self.thinking.setdefault(index, {"text": [], "signature": ""})["text"].append(text)
            return self._chunk(reasoning=text) if text else None
        if delta_type == "signature_delta":
            part = self.thinking.setdefault(index, {"text": [], "signature": ""})
            part["signature"] = part.get("signature", "") + (delta.get("signature") or "")
        elif delta_type == "input_json_delta" and index in self.tool_ordinal:
            ordinal = self.tool_ordinal[index]
            fragment = delta.get("partial_json") or ""
            self.calls[ordinal]["arguments"] += fragment
            if fragment:
                return self._chunk(tool_call_deltas=[ToolCallDelta(index=ordinal, arguments=fragment)])
        return None

    def end(self) -> ChatChunk:
        """The terminal chunk; a stream that ended before message_stop was cut."""
        if not self.stopped:
            raise self.adapter._error("connection", "stream ended before message_stop")
        tool_calls = [
            # An empty input streams no JSON at all; the SDK's accumulator reads that as {}.
            ToolCall(id=c["id"], name=c["name"], arguments=c["arguments"] or "{}")
            for c in self.calls
        ]
        return self._chunk(
            finish_reason=finish(self.stop_reason, tool_calls),
            usage=usage_read(self.start_usage, self.final_usage),
            tool_calls=tool_calls,
            reasoning_parts=[self._reasoning_part(self.thinking[index]) for index in sorted(self.thinking)],
        )

    def _reasoning_part(self, collected: dict[str, Any]) -> ReasoningPart:
        kind = self.adapter.kind
        if "redacted" in collected:
            return ReasoningPart("", redacted=collected["redacted"], protocol=kind)
        signature = collected["signature"] or None
        return ReasoningPart("".join(collected["text"]), signature=signature, protocol=kind)
