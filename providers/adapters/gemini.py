"""Google Gemini Developer API (REST, v1beta) over plain httpx."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final
from urllib.parse import quote

import httpx

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
    parse_duration,
    parse_retry_after,
)

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

_TYPE_PREFIX: Final = "type.googleapis.com/google.rpc."
_MAX_MODEL_PAGES: Final = 100


class GeminiAPIError(Exception):
    """A Gemini error body, from an HTTP error status or from inside a 200 stream."""

    def __init__(self, status_code: int, body: object, headers: httpx.Headers | None = None) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code
        self.body = body
        self.headers = headers


@dataclass(slots=True)
class _Piece:
    """What one GenerateContentResponse (a whole answer, or one stream chunk) contributes."""

    text: str = ""
    finish: str | None = None
    usage: Usage | None = None
    model: str | None = None
    response_id: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


class GeminiAdapter(ProviderAdapter):
    """Gemini models via `models/{model}:generateContent` and `:streamGenerateContent?alt=sse`."""

    kind: ClassVar[str] = "gemini"
    default_base_url: ClassVar[str] = "https://generativelanguage.googleapis.com/v1beta"

    def _make_client(self) -> httpx.AsyncClient:
        if not self.config.api_key:
            raise self._error("authentication", "no API key configured")
        base_url = (self.config.base_url or self.default_base_url).rstrip("/") + "/"
        # The key travels in a header, never in the URL, so it cannot leak into logged URLs.
        headers = {**(self.config.extra_headers or {}), "x-goog-api-key": self.config.api_key}
        return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=self.config.timeout_s)

    # -- calls

    async def _complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        response = await self.client().post(
            self._model_path(request.model, "generateContent"),
            json=self._request_body(request),
            timeout=httpx.Timeout(timeout),
        )
        data = _json_or_raise(response)
        piece = self._piece(data)
        if piece.finish is None and piece.usage is None:
            raise self._error("invalid_response", "response without candidates or usage")
        details: dict[str, Any] = {"native_finish_reason": piece.finish}
        if piece.tool_calls:
            details["tool_calls"] = piece.tool_calls
        return ChatResponse(
            content=piece.text,
            finish_reason=self._finish_reason(piece.finish, piece.tool_calls),
            usage=piece.usage or Usage(),
            model=piece.model or request.model,
            response_id=piece.response_id,
            provider_details=details,
        )

    async def _stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[ChatChunk]:
        finish: str | None = None
        usage: Usage | None = None
        model: str | None = None
        response_id: str | None = None
        tool_calls: list[dict[str, Any]] = []
        async with self.client().stream(
            "POST",
            self._model_path(request.model, "streamGenerateContent"),
            params={"alt": "sse"},
            json=self._request_body(request),
            timeout=httpx.Timeout(self._idle_timeout(timeout), connect=timeout),
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                _json_or_raise(response)
            async for payload in _sse_payloads(response.aiter_lines()):
                piece = self._piece(payload)
                model = piece.model or model or request.model
                response_id = piece.response_id or response_id
                usage = piece.usage or usage  # cumulative: the last one is final
                finish = piece.finish or finish
                tool_calls.extend(piece.tool_calls)
                yield ChatChunk(delta=piece.text, model=model, response_id=response_id)
        if finish is None:
            # Gemini has no end marker: the stream simply closes after the finishReason chunk.
            raise self._error("connection", "stream ended before a finishReason")
        yield ChatChunk(
            finish_reason=self._finish_reason(finish, tool_calls),
            usage=usage,
            model=model,
            response_id=response_id,
        )

    async def _probe(self) -> None:
        # One page of one model proves the key and the endpoint; the full list may take several.
        data = _json_or_raise(await self.client().get("models", params={"pageSize": 1}))
        if not isinstance(data, dict) or not isinstance(data.get("models", []), list):
            raise self._error("invalid_response", "model list is not a list")

    async def _list_models(self) -> list[ModelInfo]:
        models: list[ModelInfo] = []
        params: dict[str, Any] = {"pageSize": 1000}
        seen_tokens: set[str] = set()
        for _ in range(_MAX_MODEL_PAGES):
            data = _json_or_raise(await self.client().get("models", params=params))
            if not isinstance(data, dict) or not isinstance(data.get("models", []), list):
                raise self._error("invalid_response", "model list is not a list")
            for model in data.get("models", []):
                if "generateContent" not in (model.get("supportedGenerationMethods") or []):
                    continue
                models.append(
                    ModelInfo(
                        id=str(model["name"]).removeprefix("models/"),
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

    # -- wire format

    @staticmethod
    def _model_path(model: str, method: str) -> str:
        return f"models/{quote(model, safe='-._~@=:,')}:{method}"

    @staticmethod
    def _request_body(request: ChatRequest) -> dict[str, Any]:
        system: list[dict[str, str]] = []
        contents: list[dict[str, Any]] = []
        for message in request.messages:
            if message.role in ("system", "developer"):
                system.append({"text": message.content})
                continue
            role = "model" if message.role == "assistant" else "user"
            if contents and contents[-1]["role"] == role:
                contents[-1]["parts"].append({"text": message.content})
            else:
                contents.append({"role": role, "parts": [{"text": message.content}]})
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": system}
        config: dict[str, Any] = {}
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.top_p is not None:
            config["topP"] = request.top_p
        if request.max_tokens is not None:
            config["maxOutputTokens"] = request.max_tokens
        if request.stop:
            config["stopSequences"] = list(request.stop)
        response_format = request.response_format or {}
        if response_format.get("type") in ("json_object", "json_schema"):
            config["responseMimeType"] = "application/json"
            schema = (response_format.get("json_schema") or {}).get("schema")
            if isinstance(schema, dict):
                config["responseJsonSchema"] = schema
        if config:
            body["generationConfig"] = config
        if request.tools:
            declarations = [
                {k: v for k, v in tool["function"].items() if k in ("name", "description", "parameters")}
                for tool in request.tools
                if tool.get("type") == "function" and isinstance(tool.get("function"), dict)
            ]
            if declarations:
                body["tools"] = [{"functionDeclarations": declarations}]
        return body

    def _piece(self, data: object) -> _Piece:
        """Read one GenerateContentResponse; shared by completions and stream chunks."""
        if not isinstance(data, dict):
            raise self._error("invalid_response", "response body is not a JSON object")
        feedback = data.get("promptFeedback") or {}
        if feedback.get("blockReason") and not data.get("candidates"):
            raise self._error("content_filtered", f"prompt blocked: {feedback['blockReason']}")
        piece = _Piece(model=data.get("modelVersion"), response_id=data.get("responseId"))
        candidates = data.get("candidates") or []
        if candidates:
            candidate = candidates[0]
            for part in (candidate.get("content") or {}).get("parts") or []:
                if part.get("thought"):
                    continue  # thought summaries are not answer text
                if "text" in part:
                    piece.text += part["text"]
                elif "functionCall" in part:
                    call = part["functionCall"]
                    function = {"name": call.get("name"), "arguments": call.get("args")}
                    piece.tool_calls.append({"type": "function", "function": function})
            piece.finish = candidate.get("finishReason")
        metadata = data.get("usageMetadata")
        if metadata is not None:
            thoughts = int(metadata.get("thoughtsTokenCount") or 0)
            piece.usage = Usage(
                prompt_tokens=int(metadata.get("promptTokenCount") or 0),
                completion_tokens=int(metadata.get("candidatesTokenCount") or 0) + thoughts,
                cached_tokens=int(metadata.get("cachedContentTokenCount") or 0),
                reasoning_tokens=thoughts,
            )
        return piece

    @staticmethod
    def _finish_reason(raw: str | None, tool_calls: list[dict[str, Any]]) -> str:
        if tool_calls and raw in (None, "STOP"):
            return "tool_calls"  # Gemini says STOP when it returns a functionCall
        return _FINISH_REASONS.get(raw or "STOP", "stop")

    # -- errors

    def _map_error(self, exc: Exception) -> ProviderError | None:
        if isinstance(exc, httpx.TimeoutException):
            return self._error("timeout", "request timed out")
        if isinstance(exc, httpx.TransportError):
            return self._error("connection", f"connection failed: {type(exc).__name__}")
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


def _json_or_raise(response: httpx.Response) -> Any:
    """The decoded body of a successful response; a GeminiAPIError for an error status."""
    if response.status_code >= 400:
        try:
            body: object = response.json()
        except ValueError:
            body = response.text
        raise GeminiAPIError(response.status_code, body, response.headers)
    return response.json()


async def _sse_payloads(lines: AsyncIterator[str]) -> AsyncIterator[Any]:
    """Decoded `data:` payloads of an SSE body (LF or CRLF framed).

    Gemini sends an error that happens after the 200 as bare JSON without a `data:` prefix,
    possibly over several lines; it is collected until it parses and raised as GeminiAPIError.
    """
    data: list[str] = []
    bare: list[str] = []
    async for line in lines:
        line = line.rstrip("\r\n")
        if bare or line.lstrip().startswith(("{", "[")):
            bare.append(line)
            try:
                payload = json.loads("\n".join(bare))
            except ValueError:
                continue
            bare = []
            _raise_if_error(payload)
            yield payload
            continue
        if not line:
            if data:
                payload = json.loads("\n".join(data))
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
        payload = json.loads("\n".join(data))
        _raise_if_error(payload)
        yield payload
    if bare:
        json.loads("\n".join(bare))  # raises: the body ended inside a JSON document


def _raise_if_error(payload: Any) -> None:
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        raise GeminiAPIError(200, payload)
