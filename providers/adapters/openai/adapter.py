"""OpenAI chat completions protocol: OpenAI itself, DeepSeek and any OpenAI-compatible server.

The DeepSeek differences are handled generically because other compatible servers share them:
`reasoning_content` next to `content` (vLLM, SGLang and others use the same field), usage on the
finish chunk instead of a separate `choices: []` chunk, 402 for an empty balance, and context
overflow reported only in the message text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, ClassVar, Final

import httpx2
import openai
import orjson

from ..base import ProviderAdapter
from ..errors import ErrorKind, ProviderError, kind_for_status, looks_like_context_length, parse_retry_after
from ..http import drain, sse_batches
from ..messages import (
    FEATURE_FORCED_TOOL,
    FEATURE_IMAGES,
    FEATURE_JSON_OBJECT,
    FEATURE_JSON_SCHEMA,
    FEATURE_PARALLEL_OFF,
    FEATURE_REASONING,
    FEATURE_TOOLS,
    OPENAI_OPTIONS,
    ChatRequest,
    EmbeddingRequest,
    Message,
)
from ..results import ChatChunk, ChatResponse, EmbeddingResponse, ModelInfo, Usage, estimate_text_tokens
from ..sdk import PooledSdk, create_body, sdk_transport_error
from .request import chat_kwargs
from .response import ChatStreamReader, completion_read

# 429 with one of these is an exhausted balance or spend limit: retrying cannot help.
_QUOTA_CODES: Final[frozenset[str]] = frozenset(
    {
        "insufficient_quota",
        "credit_balance_exhausted",
        "organization_spend_limit_exceeded",
        "project_spend_limit_exceeded",
        "organization_usage_limit_exceeded",
        "billing_hard_limit_reached",
    }
)

# Errors that arrive inside a 200 stream have no status; classify them by code or type.
_CODE_KINDS: Final[dict[str, ErrorKind]] = {
    "rate_limit_exceeded": "rate_limited",
    "slow_down": "rate_limited",
    "tokens": "rate_limited",
    "requests": "rate_limited",
    "invalid_api_key": "authentication",
    "authentication_error": "authentication",
    "model_not_found": "not_found",
    "invalid_request_error": "bad_request",
    "server_error": "unavailable",
    "server_is_overloaded": "unavailable",
    "service_unavailable_error": "unavailable",
}

# Ids in /v1/models that cannot answer a chat completion.
_NON_CHAT_MARKERS: Final[tuple[str, ...]] = (
    "embedding",
    "whisper",
    "tts",
    "dall-e",
    "moderation",
    "transcribe",
    "gpt-image",
    "sora",
)


_CHAT_FEATURES: Final[frozenset[str]] = frozenset(
    {
        FEATURE_TOOLS,
        FEATURE_FORCED_TOOL,
        FEATURE_PARALLEL_OFF,
        FEATURE_IMAGES,
        FEATURE_JSON_OBJECT,
        FEATURE_JSON_SCHEMA,
        FEATURE_REASONING,
    }
)


class OpenAIAdapter(ProviderAdapter):
    """The official OpenAI API (api.openai.com)."""

    kind: ClassVar[str] = "openai"
    supported_features: ClassVar[frozenset[str]] = _CHAT_FEATURES | OPENAI_OPTIONS
    default_base_url: ClassVar[str | None] = "https://api.openai.com/v1"
    # OpenAI deprecated `max_tokens` for chat and rejects it for o-series reasoning models;
    # `max_completion_tokens` works for every current OpenAI model. DeepSeek and most compatible
    # servers only document `max_tokens`, so the subclasses switch back.
    max_tokens_param: ClassVar[str] = "max_completion_tokens"
    # `include_obfuscation: false` drops OpenAI's random padding field from every chunk; other
    # servers may reject the unknown option, so only OpenAI gets it.
    stream_options: ClassVar[dict[str, bool]] = {"include_usage": True, "include_obfuscation": False}
    requires_api_key: ClassVar[bool] = True
    # /v1/embeddings: at most 2,048 inputs and 300,000 tokens a request; token arrays accepted.
    max_batch: ClassVar[int] = 2048
    max_batch_tokens: ClassVar[int | None] = 300_000
    embeds_token_arrays: ClassVar[bool] = True

    # -- client

    def _make_client(self) -> PooledSdk[openai.AsyncOpenAI]:
        base_url = self.config.base_url or self.default_base_url
        if not base_url:
            raise self._error("bad_request", "no base_url configured", retryable=False)
        api_key = self.config.api_key
        if not api_key:
            if self.requires_api_key:
                raise self._error("authentication", "no API key configured")
            api_key = "unused"  # local compatible servers ignore it; the SDK insists on one
        return PooledSdk(
            lambda http_client: openai.AsyncOpenAI(
                api_key=api_key,
                base_url=base_url,
                max_retries=0,  # retries and failover are the router's decision
                timeout=self.config.timeout_s,
                default_headers=self.config.extra_headers or None,
                http_client=http_client,
            ),
            base_url=base_url,
            timeout_s=self.config.timeout_s,
        )

    async def _close_client(self, client: PooledSdk[openai.AsyncOpenAI]) -> None:
        await client.aclose()

    # -- calls

    async def _complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        # The lean call (see sdk.py): the SDK's request pipeline costs more CPU than the exchange.
        kwargs = self._request_kwargs(request)
        raw = await self.client().post_create("chat/completions", kwargs, timeout=timeout)
        return completion_read(self, raw)

    async def _stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[ChatChunk]:
        # The lean call, and the events read as plain dicts (see response.py).
        client = self.client()
        body, headers = create_body(self._request_kwargs(request))
        body["stream"] = True
        body["stream_options"] = self.stream_options
        reader = ChatStreamReader(self)
        async with (
            client.open_stream(
                "chat/completions",
                body,
                headers=headers,
                timeout=timeout,
                read_timeout=self._idle_timeout(timeout),
            ) as response,
            aclosing(sse_batches(response)) as batches,
        ):
            async for batch in batches:
                for _event, data in batch:
                    if data.startswith(b"[DONE]"):
                        break
                    chunk = orjson.loads(data)
                    if type(chunk) is not dict:
                        kind = type(chunk).__name__
                        raise self._error("invalid_response", f"unexpected stream event {kind}")
                    if chunk.get("error"):
                        raise self._stream_error(client, chunk["error"])
                    for out in reader.read(chunk):
                        yield out
                else:
                    continue
                await drain(response)  # [DONE]: the connection goes back to the pool
                break
        yield reader.end()

    async def _embed(self, request: EmbeddingRequest, *, timeout: float) -> EmbeddingResponse:
        # No encoding_format: the SDK asks for base64 (a quarter of the bytes) and decodes it.
        kwargs: dict[str, Any] = {"model": request.model, "input": request.inputs}
        if request.dimensions is not None:
            kwargs["dimensions"] = request.dimensions
        if request.user:
            kwargs["user"] = request.user
        result = await self.client().sdk.embeddings.create(**kwargs, timeout=httpx2.Timeout(timeout))
        data = sorted(result.data, key=lambda item: item.index)
        vectors = [[float(x) for x in item.embedding] for item in data]
        if result.usage is not None and result.usage.prompt_tokens is not None:
            usage = Usage(prompt_tokens=int(result.usage.prompt_tokens))
            return EmbeddingResponse(vectors=vectors, usage=usage, model=result.model)
        estimate = sum(
            estimate_text_tokens(item) if isinstance(item, str) else len(item) for item in request.inputs
        )
        return EmbeddingResponse(
            vectors=vectors, usage=Usage(prompt_tokens=estimate), model=result.model, usage_estimated=True
        )

    async def _list_models(self) -> list[ModelInfo]:
        models: list[ModelInfo] = []
        async for model in self.client().sdk.models.list(timeout=httpx2.Timeout(self.config.timeout_s)):
            if not isinstance(model.id, str):
                raise self._error("invalid_response", "model without an id")
            if not any(marker in model.id for marker in _NON_CHAT_MARKERS):
                models.append(ModelInfo(id=model.id))
        return models

    # -- wire format

    def _request_kwargs(self, request: ChatRequest) -> dict[str, Any]:
        return chat_kwargs(
            request,
            max_tokens_param=self.max_tokens_param,
            reasoning_kwargs=self._reasoning_kwargs,
            replayed_reasoning=self._replayed_reasoning,
        )

    def _reasoning_kwargs(self, effort: str, kwargs: dict[str, Any]) -> None:
        kwargs["reasoning_effort"] = effort

    def _replayed_reasoning(self, message: Message) -> str:
        """Reasoning to send back on an assistant turn; OpenAI takes none."""
        return ""

    # -- errors

    @staticmethod
    def _stream_error(client: PooledSdk[openai.AsyncOpenAI], error: Any) -> openai.APIError:
        """An error event inside a 200 stream, as the SDK's stream raises it."""
        message = error.get("message") if isinstance(error, dict) else None
        if not message or not isinstance(message, str):
            message = "An error occurred during streaming"
        return openai.APIError(message, client.stream_request("chat/completions"), body=error)

    def _map_error(self, exc: Exception) -> ProviderError | None:
        transport = sdk_transport_error(self, exc, openai)
        if transport is not None:
            return transport
        if isinstance(exc, openai.APIError):
            status = exc.status_code if isinstance(exc, openai.APIStatusError) else None
            body = exc.body if isinstance(exc.body, dict) else {}
            message = body.get("message") if isinstance(body.get("message"), str) else exc.message
            code = str(exc.code or "")
            error_type = str(exc.type or "")
            if error_type == "insufficient_quota" or code in _QUOTA_CODES or status == 402:
                kind: ErrorKind = "quota_exceeded"
            elif code == "context_length_exceeded" or (
                status in (400, 413, None) and looks_like_context_length(message)
            ):
                kind = "context_length_exceeded"
            elif code in ("content_filter", "content_policy_violation"):
                kind = "content_filtered"
            elif status is not None:
                kind = kind_for_status(status)
            else:
                kind = _CODE_KINDS.get(code) or _CODE_KINDS.get(error_type) or "unavailable"
            retry_after = None
            if status is not None and isinstance(exc, openai.APIStatusError):
                retry_after = parse_retry_after(exc.response.headers)
            return self._error(kind, message or f"HTTP {status}", retry_after=retry_after, status_code=status)
        if isinstance(exc, openai.OpenAIError):
            return self._error("bad_request", str(exc), retryable=False)
        return None


class OpenAICompatibleAdapter(OpenAIAdapter):
    """Any server speaking the OpenAI chat protocol at its own base_url (vLLM, Ollama, LiteLLM...).

    Such servers read `reasoning_content` the way DeepSeek does, so it is replayed on assistant turns.
    """

    kind: ClassVar[str] = "openai_compatible"
    default_base_url: ClassVar[str | None] = None
    max_tokens_param: ClassVar[str] = "max_tokens"
    stream_options: ClassVar[dict[str, bool]] = {"include_usage": True}
    requires_api_key: ClassVar[bool] = False

    def _replayed_reasoning(self, message: Message) -> str:
        if not message.tool_calls:
            return ""  # reasoning of turns without tool calls is ignored upstream
        return "".join(p.text for p in message.reasoning if p.protocol in (self.kind, "") and not p.signature)


class DeepSeekAdapter(OpenAICompatibleAdapter):
    """DeepSeek: OpenAI protocol at api.deepseek.com; its quirks are handled by the parent."""

    kind: ClassVar[str] = "deepseek"
    default_base_url: ClassVar[str | None] = "https://api.deepseek.com"
    requires_api_key: ClassVar[bool] = True
    max_batch: ClassVar[int] = 0  # DeepSeek has no embeddings endpoint
    # No json_schema mode, no parallel_tool_calls switch, no n/seed/metadata/service_tier.
    supported_features: ClassVar[frozenset[str]] = frozenset(
        {
            FEATURE_TOOLS,
            FEATURE_FORCED_TOOL,
            FEATURE_IMAGES,
            FEATURE_JSON_OBJECT,
            FEATURE_REASONING,
            "logprobs",
            "top_logprobs",
            "presence_penalty",
            "frequency_penalty",
        }
    )

    @staticmethod
    def thinking(request: ChatRequest) -> bool:
        """Thinking mode: the reasoner model, or a reasoning effort other than "none"."""
        if request.reasoning_effort is not None:
            return request.reasoning_effort != "none"
        return "reasoner" in request.model

    def unsupported(self, request: ChatRequest) -> set[str]:
        missing = super().unsupported(request)
        features = request.features()
        if self.thinking(request) and FEATURE_FORCED_TOOL in features:
            missing.add(FEATURE_FORCED_TOOL)  # "Thinking mode does not support this tool_choice"
        if "reasoner" in request.model:
            missing |= features & {"logprobs", "top_logprobs"}  # an error on the reasoning model
        return missing

    def _reasoning_kwargs(self, effort: str, kwargs: dict[str, Any]) -> None:
        # DeepSeek switches thinking with its own field and knows low/high/max as depths.
        extra = kwargs.setdefault("extra_body", {})
        if effort == "none":
            extra["thinking"] = {"type": "disabled"}
            return
        extra["thinking"] = {"type": "enabled"}
        kwargs["reasoning_effort"] = {"minimal": "low", "low": "low", "medium": "high"}.get(effort, effort)
        if kwargs["reasoning_effort"] == "xhigh":
            kwargs["reasoning_effort"] = "max"

