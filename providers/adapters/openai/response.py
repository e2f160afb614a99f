"""Reading OpenAI chat completions answers, whole or streamed, into the internal results.

A whole answer and a stream share their reading of finish reasons, usage and tool calls. Streamed
events are read as plain dicts: building the SDK's chunk models cost 50 times an event's decoding,
and most of a stream's CPU (bench/stream_chunks.py).
"""

from __future__ import annotations

from typing import Any, Final

from openai._models import construct_type
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion

from ..base import ProviderAdapter
from ..messages import ReasoningPart, ToolCall
from ..results import ChatChoice, ChatChunk, ChatResponse, ToolCallDelta, Usage
from ..sdk import sdk_model

_FINISH_REASONS: Final[dict[str, str]] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


def completion_read(adapter: ProviderAdapter, raw: Any) -> ChatResponse:
    """A chat completion body as a ChatResponse; a body without its choices is an invalid_response."""
    choices = adapter._require(raw, "choices", list)
    if not choices:
        raise adapter._error("invalid_response", "chat completion without choices")
    for choice in choices:
        adapter._require(choice, "message")
    completion = sdk_model(ChatCompletion, raw, construct_type)
    first, *others = completion.choices
    message = first.message
    native_finish = getattr(first, "finish_reason", None)
    details: dict[str, Any] = {"native_finish_reason": native_finish}
    extra = message.model_extra or {}
    reasoning: list[ReasoningPart] = []
    if extra.get("reasoning_content"):
        reasoning.append(ReasoningPart(str(extra["reasoning_content"]), protocol=adapter.kind))
    if getattr(completion, "system_fingerprint", None):
        details["system_fingerprint"] = completion.system_fingerprint
    tool_calls = _tool_calls(message)
    finish = _choice_finish(adapter, native_finish, tool_calls)
    if message.refusal and not message.content:
        finish = "content_filter"
    logprobs = getattr(first, "logprobs", None)
    return ChatResponse(
        content=message.content or "",
        finish_reason=finish,
        usage=usage_read(getattr(completion, "usage", None)),
        model=getattr(completion, "model", None) or "",
        response_id=getattr(completion, "id", None),
        provider_details=details,
        tool_calls=tool_calls,
        reasoning=reasoning,
        refusal=message.refusal,
        logprobs=logprobs.model_dump(mode="json") if logprobs is not None else None,
        more_choices=[_choice(adapter, choice) for choice in sorted(others, key=lambda c: c.index or 0)],
    )


def _choice(adapter: ProviderAdapter, choice: Any) -> ChatChoice:
    tool_calls = _tool_calls(choice.message)
    return ChatChoice(
        content=choice.message.content or "",
        finish_reason=_choice_finish(adapter, getattr(choice, "finish_reason", None), tool_calls),
        tool_calls=tool_calls,
    )


def _choice_finish(adapter: ProviderAdapter, raw: str | None, tool_calls: list[ToolCall]) -> str:
    if tool_calls:
        return "tool_calls"  # OpenAI says "stop" after a named tool_choice
    return finish_reason(adapter, raw or "stop")


def _tool_calls(message: Any) -> list[ToolCall]:
    calls = []
    for call in message.tool_calls or []:
        function = getattr(call, "function", None)
        if function is None:
            continue  # a custom (non-function) tool call: only function tools are declared
        calls.append(ToolCall(id=call.id, name=function.name, arguments=function.arguments or ""))
    return calls


def finish_reason(adapter: ProviderAdapter, raw: str) -> str:
    """The internal finish reason of an OpenAI one (DeepSeek's capacity cut is an error)."""
    if raw == "insufficient_system_resource":
        # DeepSeek cut the answer short for lack of capacity: not a clean stop.
        raise adapter._error("unavailable", "generation interrupted: insufficient_system_resource")
    return _FINISH_REASONS.get(raw, "stop")


def usage_read(usage: Any) -> Usage:
    """`prompt_tokens` includes the cached, cache-written, audio and image parts that
    `prompt_tokens_details` reports; `completion_tokens` includes reasoning and audio."""
    if usage is None:
        return Usage()
    prompt_details = usage.prompt_tokens_details
    completion_details = usage.completion_tokens_details
    cached = _detail(prompt_details, "cached_tokens")
    if cached is None:
        cached = (usage.model_extra or {}).get("prompt_cache_hit_tokens")  # DeepSeek
    return Usage(
        prompt_tokens=int(usage.prompt_tokens or 0),
        completion_tokens=int(usage.completion_tokens or 0),
        cached_tokens=int(cached or 0),
        reasoning_tokens=_detail(completion_details, "reasoning_tokens") or 0,
        cache_write_tokens=_detail(prompt_details, "cache_write_tokens") or 0,
        input_audio_tokens=_detail(prompt_details, "audio_tokens") or 0,
        input_image_tokens=_detail(prompt_details, "image_tokens") or 0,
        output_audio_tokens=_detail(completion_details, "audio_tokens") or 0,
    )


def _detail(details: Any, name: str) -> int | None:
    if details is None:
        return None
    value = getattr(details, name, None)
    if value is None:  # a field this SDK version does not type
        value = (getattr(details, "model_extra", None) or {}).get(name)
    return int(value) if value is not None else None


class ChatStreamReader:
    """The state of one streamed chat completion: `read` turns each event into chunks, `end` gives
    the terminal chunk once the stream is over."""

    def __init__(self, adapter: ProviderAdapter) -> None:
        self.adapter = adapter
        self.model: str | None = None
        self.response_id: str | None = None
        self.finish: str | None = None
        self.usage: Usage | None = None
        self.calls: dict[int, dict[str, str]] = {}
        self.reasoning: list[str] = []

    def read(self, chunk: dict[str, Any]) -> list[ChatChunk]:
        """The chunks of one decoded event (one per choice-0 delta)."""
        get = chunk.get
        self.model = get("model") or self.model
        self.response_id = get("id") or self.response_id
        if (raw_usage := get("usage")) is not None:
            self.usage = usage_read(sdk_model(CompletionUsage, raw_usage, construct_type))
        out = []
        for choice in get("choices") or ():
            if not isinstance(choice, dict):
                raise self.adapter._error("invalid_response", "a stream choice that is not an object")
            if choice.get("index") != 0:
                continue
            if reason := choice.get("finish_reason"):
                self.finish = finish_reason(self.adapter, reason)
            out.append(self._delta(choice.get("delta") or {}))
        return out

    def _delta(self, delta: dict[str, Any]) -> ChatChunk:
        thought = delta.get("reasoning_content") or ""
        if thought:
            self.reasoning.append(thought)
        pieces = [self._tool_piece(item) for item in delta.get("tool_calls") or ()]
        return ChatChunk(
            delta=delta.get("content") or "",
            reasoning=thought,
            tool_call_deltas=pieces,
            model=self.model,
            response_id=self.response_id,
        )

    def _tool_piece(self, item: Any) -> ToolCallDelta:
        index = self.adapter._require(item, "index", int)
        buffer = self.calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
        function = item.get("function") or {}
        call_id = item.get("id")
        name = function.get("name")
        if call_id:
            buffer["id"] = call_id
        if name:
            buffer["name"] = name
        fragment = function.get("arguments") or ""
        buffer["arguments"] += fragment
        return ToolCallDelta(index=index, id=call_id or None, name=name or None, arguments=fragment)

    def end(self) -> ChatChunk:
        """The terminal chunk; a stream that ended without a finish reason was cut."""
        if self.finish is None:
            raise self.adapter._error("connection", "stream ended before a finish reason")
        calls = sorted(self.calls.items())
        tool_calls = [ToolCall(id=c["id"], name=c["name"], arguments=c["arguments"]) for _, c in calls]
        thought = "".join(self.reasoning)
        reasoning = [ReasoningPart(thought, protocol=self.adapter.kind)] if thought else []
        return ChatChunk(
            finish_reason=_choice_finish(self.adapter, self.finish, tool_calls),
            usage=self.usage,
            model=self.model,
            response_id=self.response_id,
            tool_calls=tool_calls,
            reasoning_parts=reasoning,
        )
