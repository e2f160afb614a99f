"""Anthropic Messages API through the official `anthropic` SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, ClassVar, Final

import anthropic
import httpx2
import orjson
from anthropic._models import construct_type
from anthropic.types import Message as AnthropicMessage

from ..base import ProviderAdapter
from ..errors import ErrorKind, ProviderError, kind_for_status, looks_like_context_length, parse_retry_after
from ..http import sse_batches
from ..messages import (
    FEATURE_FORCED_TOOL,
    FEATURE_IMAGES,
    FEATURE_JSON_SCHEMA,
    FEATURE_PARALLEL_OFF,
    FEATURE_REASONING,
    FEATURE_TOOLS,
    ChatRequest,
)
from ..results import ChatChunk, ChatResponse, ModelInfo
from ..sdk import PooledSdk, create_body, sdk_model, sdk_transport_error
from .request import COUNT_TOKENS_FIELDS, messages_kwargs, native_call, native_of
from .response import MessagesStreamReader, message_read

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
        if native_of(request, self.kind) is not None:
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
        if native_of(request, self.kind) is not None:
            body, options = self._native_call(request, stream=False)
            raw = await self.client().post_json(
                "v1/messages",
                body,
                headers=options["headers"],
                params=options.get("params"),
                timeout=timeout,
            )
            response = self._message_read(raw)
            response.provider_details["native"] = raw  # returned to an Anthropic client as is
            return response
        raw = await self.client().post_create("v1/messages", self._request_kwargs(request), timeout=timeout)
        return self._message_read(raw)

    def _message_read(self, raw: Any) -> ChatResponse:
        self._require(raw, "content", list)  # what the rest of a message means hangs on it
        return self._response_from(sdk_model(AnthropicMessage, raw, construct_type))

    async def _stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[ChatChunk]:
        # The lean call, and the events read as plain dicts (see response.py).
        native = native_of(request, self.kind) is not None
        client = self.client()
        params = None
        if native:
            # Raw events, forwarded to an Anthropic client as they came.
            body, options = self._native_call(request, stream=True)
            headers, params = options["headers"], options.get("params")
        else:
            body, headers = create_body(self._request_kwargs(request))
            body["stream"] = True
        reader = MessagesStreamReader(self)
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
                        kind = type(event).__name__
                        raise self._error("invalid_response", f"unexpected stream event {kind}")
                    out = reader.read(event)
                    if native:  # a pass-through request gets every event
                        out = out or ChatChunk(model=reader.model, response_id=reader.response_id)
                        out.native = event
                    if out is not None:
                        yield out
        yield reader.end()

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
        if native_of(request, self.kind) is not None:
            body, options = self._native_call(request, count=True)
        else:
            kwargs = self._request_kwargs(request)
            body = {k: v for k, v in kwargs.items() if k in COUNT_TOKENS_FIELDS}
            options = {"headers": kwargs.get("extra_headers") or {}}
        raw = await self._within(
            lambda: self.client().sdk.post(
                "/v1/messages/count_tokens",
                body=body,
                cast_to=object,
                options={**options, "timeout": httpx2.Timeout(timeout)},
            ),
            timeout,
        )
        count = raw.get("input_tokens") if isinstance(raw, dict) else None
        if not isinstance(count, int) or isinstance(count, bool):
            raise self._error("invalid_response", "count_tokens answered without input_tokens")
        return count

    # -- wire format

    def _native_call(
        self, request: ChatRequest, *, stream: bool = False, count: bool = False
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        return native_call(
            request, kind=self.kind, default_max_tokens=self.default_max_tokens, stream=stream, count=count
        )

    def _request_kwargs(self, request: ChatRequest) -> dict[str, Any]:
        return messages_kwargs(self, request, default_max_tokens=self.default_max_tokens)

    def _response_from(self, message: object) -> ChatResponse:
        return message_read(self, message)

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

