"""The Gemini Developer API adapter (REST, v1beta) over the provider's aiohttp pool (see http.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Final

from ..base import ProviderAdapter
from ..errors import (
    ErrorKind,
    ProviderError,
    kind_for_status,
    looks_like_context_length,
    parse_duration,
    parse_retry_after,
)
from ..http import ProviderHttp, lines, transport_failure
from ..messages import (
    FEATURE_FORCED_TOOL,
    FEATURE_IMAGES,
    FEATURE_JSON_OBJECT,
    FEATURE_JSON_SCHEMA,
    FEATURE_REASONING,
    FEATURE_TOOLS,
    ChatRequest,
    EmbeddingRequest,
)
from ..results import ChatChunk, ChatResponse, EmbeddingResponse, ModelInfo, Usage, estimate_text_tokens
from .request import _OPTIONS, FEATURE_N, candidate_count, model_path, request_body
from .response import GeminiAPIError, GeminiStreamReader, raise_for_status, response_from, sse_payloads

_TYPE_PREFIX: Final = "type.googleapis.com/google.rpc."
_MAX_MODEL_PAGES: Final = 100


class GeminiAdapter(ProviderAdapter):
    """Gemini models via `models/{model}:generateContent` and `:streamGenerateContent?alt=sse`."""

    kind: ClassVar[str] = "gemini"
    default_base_url: ClassVar[str] = "https://generativelanguage.googleapis.com/v1beta"
    # No `parallel_tool_calls`: Gemini has no switch limiting an answer to one call.
    supported_features: ClassVar[frozenset[str]] = frozenset(
        {
            FEATURE_TOOLS,
            FEATURE_FORCED_TOOL,
            FEATURE_IMAGES,
            FEATURE_JSON_OBJECT,
            FEATURE_JSON_SCHEMA,
            FEATURE_REASONING,
            FEATURE_N,
            *_OPTIONS,
        }
    )
    # batchEmbedContents takes at most 100 requests; texts only (no token arrays).
    max_batch: ClassVar[int] = 100

    def unsupported(self, request: ChatRequest, *, stream: bool = False) -> set[str]:
        missing = super().unsupported(request)
        if stream and candidate_count(request) > 1:
            missing.add(FEATURE_N)  # the extra candidates cannot be streamed as choices
        return missing

    def _make_client(self) -> ProviderHttp:
        if not self.config.api_key:
            raise self._error("authentication", "no API key configured")
        # The key travels in a header, never in the URL, so it cannot leak into logged URLs.
        headers = {**(self.config.extra_headers or {}), "x-goog-api-key": self.config.api_key}
        return ProviderHttp(base_url=self.config.base_url or self.default_base_url, headers=headers)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        timeout: float,
    ) -> Any:
        """One request on the pool: the decoded answer, or a GeminiAPIError for an error status."""
        http: ProviderHttp = self.client()
        kwargs: dict[str, Any] = {} if body is None else {"body": body}
        async with http.request(method, path, params=params, timeout=timeout, **kwargs) as response:
            raw = await response.read()
            raise_for_status(response.status, raw, response.headers)
        return json.loads(raw)

    # -- calls

    async def _complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        path = model_path(request.model, "generateContent")
        data = await self._call("POST", path, body=request_body(self, request), timeout=timeout)
        return response_from(self, data, request)

    async def _stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[ChatChunk]:
        if candidate_count(request) > 1:
            # `unsupported(request, stream=True)` reports this; never drop the extra choices silently.
            raise self._error("bad_request", "n > 1 cannot be streamed from Gemini", retryable=False)
        reader = GeminiStreamReader(self, request)
        http: ProviderHttp = self.client()
        async with http.request(
            "POST",
            model_path(request.model, "streamGenerateContent"),
            params={"alt": "sse"},
            body=request_body(self, request),
            timeout=timeout,
            read_timeout=self._idle_timeout(timeout),
        ) as response:
            if response.status >= 400:
                raise_for_status(response.status, await response.read(), response.headers)
            async for payload in sse_payloads(lines(response)):
                yield reader.read(payload)
        yield reader.end()

    async def _embed(self, request: EmbeddingRequest, *, timeout: float) -> EmbeddingResponse:
        """`batchEmbedContents`, one request per input. Gemini reports no token count for
        embeddings, so usage is the gateway's estimate (unless a `usageMetadata` comes back)."""
        if not all(isinstance(item, str) for item in request.inputs):
            raise self._error("bad_request", "Gemini embeds text only, not token arrays", retryable=False)
        requests = []
        model = f"models/{request.model}"
        for text in request.inputs:
            item: dict[str, Any] = {"model": model, "content": {"parts": [{"text": text}]}}
            if request.dimensions is not None:
                item["outputDimensionality"] = request.dimensions
            requests.append(item)
        data = await self._call(
            "POST",
            model_path(request.model, "batchEmbedContents"),
            body={"requests": requests},
            timeout=timeout,
        )
        embeddings = data.get("embeddings") if isinstance(data, dict) else None
        if not isinstance(embeddings, list):
            raise self._error("invalid_response", "batchEmbedContents answer without embeddings")
        vectors = [[float(value) for value in self._require(item, "values", list)] for item in embeddings]
        reported = (data.get("usageMetadata") or {}).get("promptTokenCount")
        if isinstance(reported, int):
            usage = Usage(prompt_tokens=reported)
            return EmbeddingResponse(vectors=vectors, usage=usage, model=request.model)
        estimate = sum(estimate_text_tokens(str(text)) for text in request.inputs)
        return EmbeddingResponse(
            vectors=vectors, usage=Usage(prompt_tokens=estimate), model=request.model, usage_estimated=True
        )

    async def _probe(self) -> None:
        # One page of one model proves the key and the endpoint; the full list may take several.
        data = await self._call("GET", "models", params={"pageSize": 1}, timeout=self.config.timeout_s)
        if not isinstance(data, dict) or not isinstance(data.get("models", []), list):
            raise self._error("invalid_response", "model list is not a list")

    async def _list_models(self) -> list[ModelInfo]:
        models: list[ModelInfo] = []
        params: dict[str, Any] = {"pageSize": 1000}
        seen_tokens: set[str] = set()
        for _ in range(_MAX_MODEL_PAGES):
            data = await self._call("GET", "models", params=params, timeout=self.config.timeout_s)
            if not isinstance(data, dict) or not isinstance(data.get("models", []), list):
                raise self._error("invalid_response", "model list is not a list")
            for model in data.get("models", []):
                name = self._require(model, "name", str)
                if "generateContent" not in (model.get("supportedGenerationMethods") or []):
                    continue
                models.append(
                    ModelInfo(
                        id=name.removeprefix("models/"),
                        context_window=model.get("inputTokenLimit"),
                        max_output_tokens=model.get("outputTokenLimit"),
                    )
                )
            token = data.get("nextPageToken")
            if not token or token in seen_tokens:
                break
            seen_tokens.add(token)
            params = {"pageSize": 1000, "pageToken": token}
        return models

    # -- errors

    def _map_error(self, exc: Exception) -> ProviderError | None:
        failure = transport_failure(exc)
        if failure is not None:
            return self._error(*failure)
        if not isinstance(exc, GeminiAPIError):
            return None
        error = exc.body.get("error") if isinstance(exc.body, dict) else None
        if not isinstance(error, dict):
            text = (exc.body if isinstance(exc.body, str) else "")[:200] or f"HTTP {exc.status_code}"
            return self._error(kind_for_status(exc.status_code), text, status_code=exc.status_code)
        status = exc.status_code
        if status < 400 and isinstance(error.get("code"), int):
            status = error["code"]  # an error inside a 200 stream carries its own code
        message = str(error.get("message") or f"HTTP {status}")
        details = [d for d in error.get("details") or [] if isinstance(d, dict)]
        by_type = {str(d.get("@type", "")).removeprefix(_TYPE_PREFIX): d for d in details}
        reason = (by_type.get("ErrorInfo") or {}).get("reason")
        quota_ids = [
            str(v.get("quotaId", "")) for v in (by_type.get("QuotaFailure") or {}).get("violations") or []
        ]
        retry_after = parse_duration((by_type.get("RetryInfo") or {}).get("retryDelay"))
        if retry_after is None:
            retry_after = parse_retry_after(exc.headers)
        kind: ErrorKind
        if reason == "API_KEY_INVALID" or (status == 403 and "unregistered callers" in message):
            kind = "authentication"
        elif status == 402 or (status == 429 and any("PerDay" in quota_id for quota_id in quota_ids)):
            kind = "quota_exceeded"  # a daily quota or empty credits will not recover in seconds
        elif status == 400 and looks_like_context_length(message):
            kind = "context_length_exceeded"
        elif error.get("status") == "FAILED_PRECONDITION":
            kind = "permission"  # free tier unavailable in the region: billing must be set up
        else:
            kind = kind_for_status(status)
        if kind == "quota_exceeded":
            retry_after = None
        return self._error(kind, message, retry_after=retry_after, status_code=status)
