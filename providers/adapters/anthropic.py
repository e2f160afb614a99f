"""Anthropic Messages API through the official `anthropic` SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar, Final

import anthropic
import httpx2
from anthropic.types import Message as AnthropicMessage

from .base import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    ErrorKind,
    ModelInfo,
    ProviderAdapter,
    ProviderError,
    Usage,
    kind_for_status,
    looks_like_context_length,
    parse_retry_after,
)
from .sdk import sdk_transport_error

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


class AnthropicAdapter(ProviderAdapter):
    """Claude models via the Messages API.

    The 2.x SDK speaks API version 2026-10-21, which rejects `temperature`, `top_p` and `top_k`,
    so those request fields are dropped rather than sent.
    """

    kind: ClassVar[str] = "anthropic"
    default_base_url: ClassVar[str] = "https://api.anthropic.com"
    # `max_tokens` is required by the API; this is used when the caller sets none.
    default_max_tokens: ClassVar[int] = 4096

    def _make_client(self) -> anthropic.AsyncAnthropic:
        if not self.config.api_key:
            raise self._error("authentication", "no API key configured")
        return anthropic.AsyncAnthropic(
            api_key=self.config.api_key,
            base_url=self.config.base_url or self.default_base_url,
            max_retries=0,  # retries and failover are the router's decision
            timeout=self.config.timeout_s,
            default_headers=self.config.extra_headers or None,
            http_client=anthropic.DefaultAsyncHttpxClient(timeout=self.config.timeout_s),
        )

    async def _close_client(self, client: anthropic.AsyncAnthropic) -> None:
        await client.close()

    # -- calls

    async def _complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        message = await self.client().messages.create(
            **self._request_kwargs(request), timeout=httpx2.Timeout(timeout)
        )
        return self._response_from(message)

    async def _stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[ChatChunk]:
        stream = await self.client().messages.create(
            **self._request_kwargs(request),
            stream=True,
            timeout=httpx2.Timeout(self._idle_timeout(timeout), connect=timeout),
        )
        model: str | None = None
        response_id: str | None = None
        stop_reason: str | None = None
        start_usage: Any = None
        final_usage: Any = None
        stopped = False
        async with stream:
            async for event in stream:
                event_type = getattr(event, "type", None)
                if event_type == "message_start":
                    model, response_id = event.message.model, event.message.id
                    start_usage = event.message.usage
                    yield ChatChunk(model=model, response_id=response_id)
                elif event_type == "content_block_delta":
                    if event.delta.type == "text_delta":
                        yield ChatChunk(delta=event.delta.text, model=model, response_id=response_id)
                elif event_type == "message_delta":
                    stop_reason = event.delta.stop_reason or stop_reason
                    final_usage = event.usage
                elif event_type == "message_stop":
                    stopped = True
                # Unknown and non-text events are ignored, as the versioning policy asks.
        if not stopped:
            raise self._error("connection", "stream ended before message_stop")
        yield ChatChunk(
            finish_reason=self._finish_reason(stop_reason),
            usage=self._usage(start_usage, final_usage),
            model=model,
            response_id=response_id,
        )

    async def _list_models(self) -> list[ModelInfo]:
        models: list[ModelInfo] = []
        page = self.client().models.list(limit=1000, timeout=httpx2.Timeout(self.config.timeout_s))
        async for model in page:
            models.append(
                ModelInfo(
                    id=model.id,
                    context_window=getattr(model, "max_input_tokens", None),
                    max_output_tokens=getattr(model, "max_tokens", None),
                )
            )
        return models

    # -- wire format

    def _request_kwargs(self, request: ChatRequest) -> dict[str, Any]:
        system: list[str] = []
        messages: list[dict[str, str]] = []
        for message in request.messages:
            if message.role in ("system", "developer"):
                system.append(message.content)
                continue
            role = "assistant" if message.role == "assistant" else "user"
            if messages and messages[-1]["role"] == role:
                # The API only alternates user/assistant; same-role turns are combined into one.
                messages[-1]["content"] += "\n\n" + message.content
            else:
                messages.append({"role": role, "content": message.content})
        kwargs: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens or self.default_max_tokens,
            "messages": messages,
        }
        if system:
            kwargs["system"] = "\n\n".join(system)
        if request.stop:
            kwargs["stop_sequences"] = list(request.stop)
        if request.user:
            kwargs["metadata"] = {"user_id": request.user}
        if request.tools:
            kwargs["tools"] = [_tool_from_openai(tool) for tool in request.tools]
        schema = _json_schema(request.response_format)
        if schema is not None:
            kwargs["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        return kwargs

    def _response_from(self, message: object) -> ChatResponse:
        if not isinstance(message, AnthropicMessage) or not isinstance(message.content, list):
            raise self._error("invalid_response", "response body is not a message")
        texts: list[str] = []
        details: dict[str, Any] = {"native_finish_reason": message.stop_reason}
        for block in message.content:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "thinking":
                details["thinking"] = details.get("thinking", "") + block.thinking
            elif block.type == "tool_use":
                function = {"name": block.name, "arguments": block.input}
                call = {"id": block.id, "type": "function", "function": function}
                details.setdefault("tool_calls", []).append(call)
        return ChatResponse(
            content="".join(texts),
            finish_reason=self._finish_reason(message.stop_reason),
            usage=self._usage(message.usage, None),
            model=message.model,
            response_id=message.id,
            provider_details=details,
        )

    @staticmethod
    def _finish_reason(raw: str | None) -> str:
        return _STOP_REASONS.get(raw or "", "stop")

    @staticmethod
    def _usage(start: Any, final: Any) -> Usage:
        """Usage from `message.usage`, or from message_start overlaid with the final message_delta."""

        def pick(name: str) -> int:
            for source in (final, start):
                value = getattr(source, name, None) if source is not None else None
                if value is not None:
                    return int(value)
            return 0

        cache_read = pick("cache_read_input_tokens")
        details = getattr(final, "output_tokens_details", None) or getattr(
            start, "output_tokens_details", None
        )
        return Usage(
            # input_tokens excludes cached input, unlike OpenAI's prompt_tokens.
            prompt_tokens=pick("input_tokens") + cache_read + pick("cache_creation_input_tokens"),
            completion_tokens=pick("output_tokens"),
            cached_tokens=cache_read,
            reasoning_tokens=int(getattr(details, "thinking_tokens", 0) or 0),
        )

    # -- errors

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


def _tool_from_openai(tool: dict[str, Any]) -> dict[str, Any]:
    """OpenAI-style `{"type": "function", "function": {...}}` tools to Anthropic's shape."""
    function = tool.get("function") if tool.get("type") == "function" else None
    if not isinstance(function, dict):
        return tool  # already Anthropic-shaped, or a server tool: pass through
    converted = {"name": function["name"], "input_schema": function.get("parameters") or {"type": "object"}}
    if function.get("description"):
        converted["description"] = function["description"]
    return converted


def _json_schema(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    if not response_format or response_format.get("type") != "json_schema":
        return None
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema")
    return schema if isinstance(schema, dict) else None
