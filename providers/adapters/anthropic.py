"""Anthropic Messages API through the official `anthropic` SDK."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, ClassVar, Final

import anthropic
import httpx2
import orjson
from anthropic._models import construct_type
from anthropic.types import Message as AnthropicMessage

from .base import ProviderAdapter
from .errors import (
    ErrorKind,
    ProviderError,
    kind_for_status,
    looks_like_context_length,
    parse_retry_after,
)
from .http import sse_batches
from .messages import (
    FEATURE_FORCED_TOOL,
    FEATURE_IMAGES,
    FEATURE_JSON_SCHEMA,
    FEATURE_PARALLEL_OFF,
    FEATURE_REASONING,
    FEATURE_TOOLS,
    ChatRequest,
    ImagePart,
    Message,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolSpec,
)
from .results import ChatChunk, ChatResponse, ModelInfo, ToolCallDelta, Usage
from .sdk import PooledSdk, create_body, sdk_model, sdk_transport_error

_STOP_REASONS: Final[dict[str, str]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

_ERROR_TYPE_KINDS: Final[dict[str, ErrorKind]] = {
    "invalid_request_error": "bad_request",
    "authentication_error": "authentication",
    "billing_error": "quota_exceeded",
    "permission_error": "permission",
    "not_found_error": "not_found",
    "request_too_large": "bad_request",
    "rate_limit_error": "rate_limited",
    "api_error": "unavailable",
    "timeout_error": "timeout",
    "overloaded_error": "unavailable",
}

# A 429 carrying one of these is a monthly spend limit, not a rate limit: retrying cannot help.
_SPEND_LIMIT_CODES: Final[frozenset[str]] = frozenset(
    {"enforced_spend_limit_reached", "contract_spend_limit_reached"}
)

# The API version the 2.x SDK speaks (2026-10-21) rejects temperature/top_p/top_k; the previous one
# still takes them, so a request that sets them is pinned to it.
SAMPLING_API_VERSION: Final = "2023-06-01"
_SAMPLING_FIELDS: Final = ("temperature", "top_p", "top_k")
# What the count_tokens endpoint takes of a Messages request (it refuses the rest); the Anthropic
# door accepts the same.
COUNT_TOKENS_FIELDS: Final = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "thinking",
        "output_config",
        "cache_control",
        "speed",
        "context_management",
        "mcp_servers",
    }
)

# OpenAI's reasoning_effort as Anthropic's output_config.effort (adaptive thinking, Claude 4.6+).
_ADAPTIVE_EFFORT: Final[dict[str, str]] = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "max",
}
# ... and as a manual thinking budget (`enabled` + budget_tokens, Claude 4.5 and older).
_THINKING_BUDGET: Final[dict[str, int]] = {
    "minimal": 1024,
    "low": 1024,
    "medium": 4096,
    "high": 16384,
    "xhigh": 32000,
    "max": 32000,
}

# claude-<family>-<major>[-<minor>]: the minor is one or two digits, so the date snapshot of
# `claude-opus-4-20250514` is not read as a version.
_MODEL_VERSION_RE: Final = re.compile(
    r"claude-(?:opus|sonnet|haiku)-(\d+)(?:-(\d{1,2}))?(?!\d)", re.IGNORECASE
)


def takes_adaptive_thinking(model: str) -> bool:
    """Claude 4.6 and later think adaptively (`enabled` + budget is deprecated there, or a 400)."""
    found = _MODEL_VERSION_RE.search(model)
    if found is None:
        return False
    major, minor = int(found.group(1)), int(found.group(2) or 0)
    return (major, minor) >= (4, 6)


class AnthropicAdapter(ProviderAdapter):
    """Claude models via the Messages API.

    The 2.x SDK speaks API version 2026-10-21, which rejects `temperature`, `top_p` and `top_k`;
    a request that sets temperature or top_p is pinned to API version 2023-06-01 and carries them
    in the body, so they are honoured rather than dropped.
    """

    kind: ClassVar[str] = "anthropic"
    default_base_url: ClassVar[str] = "https://api.anthropic.com"
    # `max_tokens` is required by the API; this is used when the caller sets none.
    default_max_tokens: ClassVar[int] = 4096
    # No OpenAI-only options (seed, n, logprobs, penalties, metadata, service_tier, ...), and no
    # json_object: Anthropic has structured output only with a schema.
    supported_features: ClassVar[frozenset[str]] = frozenset(
        {
            FEATURE_TOOLS,
            FEATURE_FORCED_TOOL,
            FEATURE_PARALLEL_OFF,
            FEATURE_IMAGES,
            FEATURE_JSON_SCHEMA,
            FEATURE_REASONING,
        }
    )

    def unsupported(self, request: ChatRequest) -> set[str]:
        if _native(request, self.kind) is not None:
            return set()  # the client's own Anthropic request: Anthropic judges it
        missing = super().unsupported(request)
        thinking = request.reasoning_effort is not None and request.reasoning_effort != "none"
        if thinking and FEATURE_FORCED_TOOL in request.features():
            # 400 "Thinking may not be enabled when tool_choice forces tool use."
            missing.add(FEATURE_FORCED_TOOL)
        return missing

    def _make_client(self) -> PooledSdk[anthropic.AsyncAnthropic]:
        if not self.config.api_key:
            raise self._error("authentication", "no API key configured")
        api_key = self.config.api_key
        return PooledSdk(
            lambda http_client: anthropic.AsyncAnthropic(
                api_key=api_key,
                base_url=self.config.base_url or self.default_base_url,
                max_retries=0,  # retries and failover are the router's decision
                timeout=self.config.timeout_s,
                default_headers=self.config.extra_headers or None,
                http_client=http_client,
            ),
            base_url=self.config.base_url or self.default_base_url,
            timeout_s=self.config.timeout_s,
        )

    async def _close_client(self, client: PooledSdk[anthropic.AsyncAnthropic]) -> None:
        await client.aclose()

    # -- calls

    async def _complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        # The lean call (see sdk.py): the SDK's request pipeline costs more CPU than the exchange.
        if _native(request, self.kind) is not None:
            body, options = self._native_call(request, stream=False)
            raw = await self.client().post_json(
                "v1/messages",
                body,
                headers=options["headers"],
                params=options.get("params"),
                timeout=timeout,
            )
            if not isinstance(raw, dict):
                raise self._error("invalid_response", "response body is not a message")
            response = self._response_from(sdk_model(AnthropicMessage, raw, construct_type))
            response.provider_details["native"] = raw  # returned to an Anthropic client as is
            return response
        raw = await self.client().post_create("v1/messages", self._request_kwargs(request), timeout=timeout)
        return self._response_from(sdk_model(AnthropicMessage, raw, construct_type))

    async def _stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[ChatChunk]:
        # The lean call, and the events read here as plain dicts: the SDK's per-event parsing and
        # model building cost several times the event's decoding (bench/stream_chunks.py).
        native = _native(request, self.kind) is not None
        client = self.client()
        params = None
        if native:
            # Raw events, forwarded to an Anthropic client as they came.
            body, options = self._native_call(request, stream=True)
            headers, params = options["headers"], options.get("params")
        else:
            body, headers = create_body(self._request_kwargs(request))
            body["stream"] = True
        model: str | None = None
        response_id: str | None = None
        stop_reason: str | None = None
        start_usage: Any = None
        final_usage: Any = None
        stopped = False
        # Per content-block index: the tool call ordinal, or the reasoning being collected.
        tool_ordinal: dict[int, int] = {}
        calls: list[dict[str, str]] = []
        thinking: dict[int, dict[str, Any]] = {}
        async with (
            client.open_stream(
                "v1/messages",
                body,
                headers=headers,
                params=params,
                timeout=timeout,
                read_timeout=self._idle_timeout(timeout),
            ) as response,
            aclosing(sse_batches(response)) as batches,
        ):
            async for batch in batches:
                for name, data in batch:
                    # As the SDK reads them: events without a name and pings are skipped.
                    if not name or name == b"ping":
                        continue
                    if name == b"error":
                        raise self._stream_error(client, response, data)
                    event = orjson.loads(data)
                    if not isinstance(event, dict):
                        raise self._error(
                            "invalid_response", f"unexpected stream event {type(event).__name__}"
                        )
                    event_type = event.get("type")
                    out: ChatChunk | None = None  # at most one chunk per event
                    if event_type == "message_start":
                        message = event["message"]
                        model, response_id = message.get("model"), message.get("id")
                        start_usage = message.get("usage")
                        out = ChatChunk(model=model, response_id=response_id)
                    elif event_type == "content_block_start":
                        block, index = event["content_block"], event["index"]
                        block_type = block.get("type")
                        if block_type == "tool_use":
                            tool_ordinal[index] = len(calls)
                            call_id, call_name = block.get("id") or "", block.get("name") or ""
                            calls.append({"id": call_id, "name": call_name, "arguments": ""})
                            start = ToolCallDelta(index=tool_ordinal[index], id=call_id, name=call_name)
                            out = ChatChunk(tool_call_deltas=[start], model=model, response_id=response_id)
                        elif block_type == "thinking":
                            text = block.get("thinking") or ""
                            thinking[index] = {"text": [text], "signature": block.get("signature") or ""}
                            if text:
                                out = ChatChunk(reasoning=text, model=model, response_id=response_id)
                        elif block_type == "redacted_thinking":
                            thinking[index] = {"redacted": block.get("data")}
                        elif block_type == "text" and block.get("text"):
                            out = ChatChunk(delta=block["text"], model=model, response_id=response_id)
                    elif event_type == "content_block_delta":
                        delta, index = event["delta"], event["index"]
                        delta_type = delta.get("type")
                        if delta_type == "text_delta":
                            out = ChatChunk(
                                delta=delta.get("text") or "", model=model, response_id=response_id
                            )
                        elif delta_type == "thinking_delta":
                            text = delta.get("thinking") or ""
                            part = thinking.setdefault(index, {"text": [], "signature": ""})
                            part["text"].append(text)
                            if text:
                                out = ChatChunk(reasoning=text, model=model, response_id=response_id)
                        elif delta_type == "signature_delta":
                            part = thinking.setdefault(index, {"text": [], "signature": ""})
                            part["signature"] = part.get("signature", "") + (delta.get("signature") or "")
                        elif delta_type == "input_json_delta" and index in tool_ordinal:
                            ordinal = tool_ordinal[index]
                            fragment = delta.get("partial_json") or ""
                            calls[ordinal]["arguments"] += fragment
                            if fragment:
                                piece = ToolCallDelta(index=ordinal, arguments=fragment)
                                out = ChatChunk(
                                    tool_call_deltas=[piece], model=model, response_id=response_id
                                )
                    elif event_type == "message_delta":
                        stop_reason = (event.get("delta") or {}).get("stop_reason") or stop_reason
                        final_usage = event.get("usage")
                    elif event_type == "message_stop":
                        stopped = True
                    # Unknown events (and citations, server tools) are ignored, as the versioning policy
                    # asks; a pass-through request still gets every event.
                    if native:
                        out = out or ChatChunk(model=model, response_id=response_id)
                        out.native = event
                    if out is not None:
                        yield out
        if not stopped:
            raise self._error("connection", "stream ended before message_stop")
        tool_calls = [
            # An empty input streams no JSON at all; the SDK's accumulator reads that as {}.
            ToolCall(id=c["id"], name=c["name"], arguments=c["arguments"] or "{}")
            for c in calls
        ]
        reasoning = [self._reasoning_part(thinking[index]) for index in sorted(thinking)]
        yield ChatChunk(
            finish_reason=self._finish(stop_reason, tool_calls),
            usage=self._usage(start_usage, final_usage),
            model=model,
            response_id=response_id,
            tool_calls=tool_calls,
            reasoning_parts=reasoning,
        )

    def _reasoning_part(self, collected: dict[str, Any]) -> ReasoningPart:
        if "redacted" in collected:
            return ReasoningPart("", redacted=collected["redacted"], protocol=self.kind)
        return ReasoningPart(
            "".join(collected["text"]), signature=collected["signature"] or None, protocol=self.kind
        )

    async def _list_models(self) -> list[ModelInfo]:
        models: list[ModelInfo] = []
        page = self.client().sdk.models.list(limit=1000, timeout=httpx2.Timeout(self.config.timeout_s))
        async for model in page:
            models.append(
                ModelInfo(
                    id=model.id,
                    context_window=getattr(model, "max_input_tokens", None),
                    max_output_tokens=getattr(model, "max_tokens", None),
                )
            )
        return models

    async def count_tokens(self, request: ChatRequest) -> int:
        """Anthropic's own count of the request's input tokens (POST /v1/messages/count_tokens)."""
        timeout = self.config.timeout_s
        try:
            async with asyncio.timeout(timeout):
                if _native(request, self.kind) is not None:
                    body, options = self._native_call(request, count=True)
                else:
                    kwargs = self._request_kwargs(request)
                    body = {k: v for k, v in kwargs.items() if k in COUNT_TOKENS_FIELDS}
                    options = {"headers": kwargs.get("extra_headers") or {}}
                raw = await self.client().sdk.post(
                    "/v1/messages/count_tokens",
                    body=body,
                    cast_to=object,
                    options={**options, "timeout": httpx2.Timeout(timeout)},
                )
        except ProviderError:
            raise
        except TimeoutError as exc:
            raise self._deadline_error(timeout) from exc
        except Exception as exc:
            raise self._translate(exc) from exc
        count = raw.get("input_tokens") if isinstance(raw, dict) else None
        if not isinstance(count, int) or isinstance(count, bool):
            raise self._error("invalid_response", "count_tokens answered without input_tokens")
        return count

    # -- wire format

    def _native_call(
        self, request: ChatRequest, *, stream: bool = False, count: bool = False
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The client's own Messages body (and its `anthropic-*` headers) for this candidate: only
        the model, `max_tokens` (the gateway's cap, with room for a thinking budget) and the stream
        flag change; the API version is pinned to one that takes sampling parameters if they are set."""
        native = _native(request, self.kind) or {}
        body = dict(native.get("body") or {})
        # A dated snapshot of the model the client named is kept (`claude-haiku-4-5-20251001`).
        snapshot = native.get("snapshot") or {}
        body["model"] = snapshot["model"] if snapshot.get("base") == request.model else request.model
        if count:
            body = {k: v for k, v in body.items() if k in COUNT_TOKENS_FIELDS}
        else:
            asked = body.get("max_tokens")
            allowed = request.max_tokens if request.max_tokens is not None else self.default_max_tokens
            max_tokens = min(asked, allowed) if isinstance(asked, int) else allowed
            thinking = body.get("thinking")
            budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
            if isinstance(budget, int) and budget >= max_tokens and isinstance(asked, int) and asked > 0:
                # The thinking counts against max_tokens: the cap bounds the answer after it.
                max_tokens = min(asked, budget + allowed)
            body["max_tokens"] = max_tokens
            body.pop("stream", None)
            if stream:
                body["stream"] = True
        headers = {k: v for k, v in (native.get("headers") or {}).items() if v}
        if any(body.get(name) is not None for name in _SAMPLING_FIELDS):
            headers["anthropic-version"] = SAMPLING_API_VERSION
        options: dict[str, Any] = {"headers": headers}
        if native.get("beta"):
            options["params"] = {"beta": "true"}
        return body, options

    def _request_kwargs(self, request: ChatRequest) -> dict[str, Any]:
        system: list[str] = []
        messages: list[dict[str, Any]] = []
        for message in request.messages:
            if message.role in ("system", "developer"):
                system.append(message.content)
                continue
            role = "assistant" if message.role == "assistant" else "user"
            content = self._content(message)
            if messages and messages[-1]["role"] == role:
                # The API only alternates user/assistant; same-role turns are combined into one
                # (tool results become user turns, so consecutive ones land in one message).
                messages[-1]["content"] = _merge(messages[-1]["content"], content)
            else:
                messages.append({"role": role, "content": content})
        for turn in messages:
            if turn["role"] == "user" and isinstance(turn["content"], list):
                # tool_result blocks must open the user turn; text may only follow them.
                blocks = turn["content"]
                results = [b for b in blocks if b.get("type") == "tool_result"]
                turn["content"] = results + [b for b in blocks if b.get("type") != "tool_result"]
        max_tokens = request.max_tokens or self.default_max_tokens
        kwargs: dict[str, Any] = {"model": request.model, "max_tokens": max_tokens, "messages": messages}
        if system:
            kwargs["system"] = "\n\n".join(system)
        if request.stop:
            kwargs["stop_sequences"] = list(request.stop)
        if request.user:
            kwargs["metadata"] = {"user_id": request.user}
        if request.tools:
            kwargs["tools"] = [_tool(tool) for tool in request.tools]
            tool_choice = self._tool_choice(request)
            if tool_choice is not None:
                kwargs["tool_choice"] = tool_choice
        output_config: dict[str, Any] = {}
        response_format = request.response_format
        if response_format is not None and response_format.type == "json_schema":
            if response_format.schema is not None:
                output_config["format"] = {"type": "json_schema", "schema": response_format.schema}
        # json_object has no Anthropic equivalent and is not in supported_features: the router
        # never sends it here.
        if request.reasoning_effort is not None:
            effort = request.reasoning_effort
            if effort == "none":
                kwargs["thinking"] = {"type": "disabled"}
            elif effort not in _ADAPTIVE_EFFORT:
                raise self._error("bad_request", f"unknown reasoning_effort {effort!r}", retryable=False)
            elif takes_adaptive_thinking(request.model):
                kwargs["thinking"] = {"type": "adaptive"}
                output_config["effort"] = _ADAPTIVE_EFFORT[effort]
            else:
                budget = _THINKING_BUDGET[effort]
                kwargs["thinking"] = {"type": "enabled", "budget_tokens": budget}
                # budget_tokens must stay below max_tokens, and the thinking counts against it:
                # the client's max_tokens bounds the answer, so the thinking comes on top.
                kwargs["max_tokens"] = budget + max_tokens
        if output_config:
            kwargs["output_config"] = output_config
        sampling = {
            name: value
            for name, value in (("temperature", request.temperature), ("top_p", request.top_p))
            if value is not None
        }
        if sampling:
            # The SDK has no sampling parameters and its API version rejects them: pin the version
            # that still takes them and send them as raw body fields.
            kwargs["extra_headers"] = {"anthropic-version": SAMPLING_API_VERSION}
            kwargs["extra_body"] = sampling
        return kwargs

    def _content(self, message: Message) -> str | list[dict[str, Any]]:
        """One internal message as Anthropic content: a plain string when it is only text."""
        if message.role == "tool":
            if not message.tool_call_id:
                raise self._error("bad_request", "a tool message without tool_call_id", retryable=False)
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
            if message.content:
                result["content"] = message.content
            return [result]
        if message.role == "assistant":
            if not message.tool_calls:
                return message.content
            blocks: list[dict[str, Any]] = [
                _thinking_block(part)
                for part in message.reasoning
                if part.protocol == self.kind and (part.redacted or part.signature)
            ]
            if message.content:
                blocks.append({"type": "text", "text": message.content})
            blocks += [self._tool_use(call) for call in message.tool_calls]
            return blocks
        if message.parts:
            return [block for part in message.parts if (block := _user_block(part)) is not None]
        return message.content

    def _tool_use(self, call: ToolCall) -> dict[str, Any]:
        # Anthropic needs the input as an object. An OpenAI model may have produced arguments that
        # are not JSON; replacing them with {} would silently rewrite the conversation the model
        # sees, so refuse the request instead (no other attempt can make it valid here).
        if not call.arguments.strip():
            arguments: Any = {}
        else:
            try:
                arguments = json.loads(call.arguments)
            except ValueError:
                arguments = None
        if not isinstance(arguments, dict):
            raise self._error(
                "bad_request",
                f"tool call {call.id} ({call.name}): arguments are not a JSON object, "
                "which Anthropic requires as tool input",
                retryable=False,
            )
        return {"type": "tool_use", "id": call.id, "name": call.name, "input": arguments}

    @staticmethod
    def _tool_choice(request: ChatRequest) -> dict[str, Any] | None:
        choice = request.tool_choice
        if choice is None:
            if request.parallel_tool_calls is False:
                return {"type": "auto", "disable_parallel_tool_use": True}
            return None
        if choice.mode == "none":
            return {"type": "none"}  # takes no disable_parallel_tool_use
        converted: dict[str, Any]
        if choice.mode == "required":
            converted = {"type": "any"}
        elif choice.mode == "function":
            converted = {"type": "tool", "name": choice.name}
        else:
            converted = {"type": "auto"}
        if request.parallel_tool_calls is False:
            converted["disable_parallel_tool_use"] = True
        return converted

    def _response_from(self, message: object) -> ChatResponse:
        if not isinstance(message, AnthropicMessage) or not isinstance(message.content, list):
            raise self._error("invalid_response", "response body is not a message")
        texts: list[str] = []
        tool_calls: list[ToolCall] = []
        reasoning: list[ReasoningPart] = []
        details: dict[str, Any] = {"native_finish_reason": message.stop_reason}
        for block in message.content:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "thinking":
                reasoning.append(ReasoningPart(block.thinking, signature=block.signature, protocol=self.kind))
            elif block.type == "redacted_thinking":
                reasoning.append(ReasoningPart("", redacted=block.data, protocol=self.kind))
            elif block.type == "tool_use":
                arguments = json.dumps(block.input, separators=(",", ":"))
                tool_calls.append(ToolCall(id=block.id, name=block.name, arguments=arguments))
        refusal = None
        stop_details = getattr(message, "stop_details", None)
        if stop_details is not None:
            details["stop_details"] = stop_details.model_dump(mode="json")
            if message.stop_reason == "refusal":
                refusal = stop_details.explanation
        return ChatResponse(
            content="".join(texts),
            finish_reason=self._finish(message.stop_reason, tool_calls),
            usage=self._usage(message.usage, None),
            model=message.model,
            response_id=message.id,
            provider_details=details,
            tool_calls=tool_calls,
            reasoning=reasoning,
            refusal=refusal,
        )

    @classmethod
    def _finish(cls, raw: str | None, tool_calls: list[ToolCall]) -> str:
        finish = cls._finish_reason(raw)
        # A turn cut short (max_tokens) or stopped by the classifiers keeps saying so: its tool
        # input may be incomplete.
        if tool_calls and finish not in ("length", "content_filter"):
            return "tool_calls"
        return finish

    @staticmethod
    def _finish_reason(raw: str | None) -> str:
        return _STOP_REASONS.get(raw or "", "stop")

    @staticmethod
    def _usage(start: Any, final: Any) -> Usage:
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

    # -- errors

    @staticmethod
    def _stream_error(
        client: PooledSdk[anthropic.AsyncAnthropic], response: Any, data: bytes
    ) -> anthropic.APIStatusError:
        """An `error` event inside a 200 stream, as the SDK's stream raises it (status 200)."""
        body: Any
        try:
            body = orjson.loads(data)
            message = f"{body}"
        except orjson.JSONDecodeError:
            body = data.decode("utf-8", errors="replace")
            message = body or f"Error code: {response.status}"
        answer = httpx2.Response(
            response.status, headers=response.raw_headers, request=client.stream_request("v1/messages")
        )
        sdk: Any = client.sdk
        return sdk._make_status_error(message, body=body, response=answer)

    def _map_error(self, exc: Exception) -> ProviderError | None:
        transport = sdk_transport_error(self, exc, anthropic)
        if transport is not None:
            return transport
        if isinstance(exc, anthropic.APIStatusError):
            # An `error` event inside a 200 stream arrives here with status 200: classify by type.
            in_stream = exc.status_code < 400
            status = None if in_stream else exc.status_code
            error_type = exc.type if isinstance(exc.type, str) else ""
            message = exc.api_message or (f"HTTP {status}" if status else "error event in stream")
            kind: ErrorKind
            if exc.error_code in _SPEND_LIMIT_CODES:
                kind = "quota_exceeded"
            elif error_type in _ERROR_TYPE_KINDS:
                kind = _ERROR_TYPE_KINDS[error_type]
            else:
                kind = kind_for_status(status) if status is not None else "unavailable"
            if kind == "bad_request" and looks_like_context_length(message):
                kind = "context_length_exceeded"
            retry_after = None if in_stream else parse_retry_after(exc.response.headers)
            return self._error(kind, message, retry_after=retry_after, status_code=status)
        if isinstance(exc, anthropic.AnthropicError):
            return self._error("bad_request", str(exc), retryable=False)
        return None


def _field(source: Any, name: str) -> Any:
    """A field of a usage read from a stream (a dict) or of an answer (the SDK's model)."""
    if source is None:
        return None
    if isinstance(source, dict):
        return source.get(name)
    return getattr(source, name, None)


def _native(request: ChatRequest, kind: str) -> dict[str, Any] | None:
    """The client's request in this adapter's own protocol, if it came in that protocol."""
    native = request.native
    return native if native and native.get("protocol") == kind and native.get("body") else None


def _merge(first: str | list[dict[str, Any]], second: str | list[dict[str, Any]]) -> Any:
    """Two same-role contents as one: strings joined by a blank line, otherwise blocks concatenated."""
    if isinstance(first, str) and isinstance(second, str):
        return f"{first}\n\n{second}"
    return _blocks(first) + _blocks(second)


def _blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return content
    return [{"type": "text", "text": content}] if content else []


def _tool(tool: ToolSpec) -> dict[str, Any]:
    schema = tool.parameters or {"type": "object", "properties": {}}
    converted: dict[str, Any] = {"name": tool.name}
    if tool.description:
        converted["description"] = tool.description
    converted["input_schema"] = schema
    if tool.strict is not None:
        converted["strict"] = tool.strict
    return converted


def _thinking_block(part: ReasoningPart) -> dict[str, Any]:
    if part.redacted:
        return {"type": "redacted_thinking", "data": part.redacted}
    return {"type": "thinking", "thinking": part.text, "signature": part.signature}


def _user_block(part: TextPart | ImagePart) -> dict[str, Any] | None:
    if isinstance(part, ImagePart):
        if part.is_data:
            media_type, data = part.data()
            return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    # The API rejects empty text blocks.
    return {"type": "text", "text": part.text} if part.text else None
