"""Google Gemini Developer API (REST, v1beta) over the provider's aiohttp pool (see http.py).

Translation to `generateContent` (see the Gemini section of the provider-formats README):
- system/developer turns go to `systemInstruction`, assistant turns are role `model`, and the
  results of `tool` turns go back as `functionResponse` parts of one `user` content, in call order;
- a tool call is a `functionCall` part whose `thoughtSignature` must be replayed on the same part;
  Gemini gives calls no id, so the adapter invents `call_...` ids and never sends those back;
- thought summaries (`thought: true` parts) are reasoning, never answer text.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final
from urllib.parse import quote

import orjson

from .base import ProviderAdapter
from .errors import (
    ErrorKind,
    ProviderError,
    kind_for_status,
    looks_like_context_length,
    parse_duration,
    parse_retry_after,
)
from .http import ProviderHttp, lines, transport_failure
from .messages import (
    FEATURE_FORCED_TOOL,
    FEATURE_IMAGES,
    FEATURE_JSON_OBJECT,
    FEATURE_JSON_SCHEMA,
    FEATURE_REASONING,
    FEATURE_TOOLS,
    ChatRequest,
    EmbeddingRequest,
    ImagePart,
    Message,
    ReasoningPart,
    ToolCall,
)
from .results import (
    ChatChoice,
    ChatChunk,
    ChatResponse,
    EmbeddingResponse,
    ModelInfo,
    ToolCallDelta,
    Usage,
    estimate_text_tokens,
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

# Tool call ids the gateway invents (Gemini gives none); they are never sent upstream.
INVENTED_ID_PREFIX: Final = "call_"

_TOOL_CHOICE_MODES: Final[dict[str, str]] = {
    "auto": "AUTO",
    "none": "NONE",
    "required": "ANY",
    "function": "ANY",
}
# reasoning_effort → thinkingLevel (Gemini 3 and later) or thinkingBudget (2.5; -1 = dynamic).
_THINKING_LEVELS: Final[dict[str, str]] = {
    "minimal": "MINIMAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
    "xhigh": "HIGH",
    "max": "HIGH",
}
_THINKING_BUDGETS: Final[dict[str, int]] = {
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": -1,
    "max": -1,
}
_MODEL_GENERATION_RE: Final = re.compile(r"gemini-(\d+)")

# OpenAI options Gemini honours, and their generationConfig names. `n` is handled apart: the extra
# candidates come back in `ChatResponse.more_choices`, which a stream cannot carry.
_OPTIONS: Final[dict[str, str]] = {
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}
FEATURE_N: Final = "n"


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
        if stream and _candidate_count(request) > 1:
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
            _raise_for_status(response.status, raw, response.headers)
        return json.loads(raw)

    # -- calls

    async def _complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        data = await self._call(
            "POST",
            self._model_path(request.model, "generateContent"),
            body=self._request_body(request),
            timeout=timeout,
        )
        piece = self._piece(data)
        first = piece.first
        if first.finish is None and piece.usage is None:
            raise self._error("invalid_response", "response without candidates or usage")
        return ChatResponse(
            content=first.text,
            finish_reason=self._finish_reason(first.finish, first.tool_calls),
            usage=piece.usage or Usage(),
            model=piece.model or request.model,
            response_id=piece.response_id,
            provider_details={"native_finish_reason": first.finish},
            tool_calls=first.tool_calls,
            reasoning=_reasoning(first.thoughts),
            more_choices=[
                ChatChoice(
                    content=c.text,
                    finish_reason=self._finish_reason(c.finish, c.tool_calls),
                    tool_calls=c.tool_calls,
                )
                for c in piece.candidates[1:]
            ],
        )

    async def _stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[ChatChunk]:
        if _candidate_count(request) > 1:
            # `unsupported(request, stream=True)` reports this; never drop the extra choices silently.
            raise self._error("bad_request", "n > 1 cannot be streamed from Gemini", retryable=False)
        finish: str | None = None
        usage: Usage | None = None
        model: str | None = None
        response_id: str | None = None
        tool_calls: list[ToolCall] = []
        thoughts: list[str] = []
        http: ProviderHttp = self.client()
        async with http.request(
            "POST",
            self._model_path(request.model, "streamGenerateContent"),
            params={"alt": "sse"},
            body=self._request_body(request),
            timeout=timeout,
            read_timeout=self._idle_timeout(timeout),
        ) as response:
            if response.status >= 400:
                _raise_for_status(response.status, await response.read(), response.headers)
            async for payload in _sse_payloads(lines(response)):
                piece = self._piece(payload)
                candidate = piece.first
                model = piece.model or model or request.model
                response_id = piece.response_id or response_id
                usage = piece.usage or usage  # cumulative: the last one is final
                finish = candidate.finish or finish
                # Gemini sends each functionCall whole, in one chunk: one delta per call.
                deltas = [
                    ToolCallDelta(
                        index=len(tool_calls) + i, id=call.id, name=call.name, arguments=call.arguments
                    )
                    for i, call in enumerate(candidate.tool_calls)
                ]
                tool_calls.extend(candidate.tool_calls)
                if candidate.thoughts:
                    thoughts.append(candidate.thoughts)
                yield ChatChunk(
                    delta=candidate.text,
                    reasoning=candidate.thoughts,
                    tool_call_deltas=deltas,
                    model=model,
                    response_id=response_id,
                )
        if finish is None:
            # Gemini has no end marker: the stream simply closes after the finishReason chunk.
            raise self._error("connection", "stream ended before a finishReason")
        yield ChatChunk(
            finish_reason=self._finish_reason(finish, tool_calls),
            usage=usage,
            model=model,
            response_id=response_id,
            tool_calls=tool_calls,
            reasoning_parts=_reasoning("".join(thoughts)),
        )

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
            self._model_path(request.model, "batchEmbedContents"),
            body={"requests": requests},
            timeout=timeout,
        )
        embeddings = data.get("embeddings") if isinstance(data, dict) else None
        if not isinstance(embeddings, list):
            raise self._error("invalid_response", "batchEmbedContents answer without embeddings")
        vectors = [[float(value) for value in embedding["values"]] for embedding in embeddings]
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

    # -- wire format: requests

    @staticmethod
    def _model_path(model: str, method: str) -> str:
        return f"models/{quote(model, safe='-._~@=:,')}:{method}"

    def _request_body(self, request: ChatRequest) -> dict[str, Any]:
        system: list[dict[str, str]] = []
        contents: list[dict[str, Any]] = []
        # Every call made so far, by id: a tool result needs its call's name (and position).
        calls: dict[str, tuple[int, ToolCall]] = {}
        messages = request.messages
        i = 0
        while i < len(messages):
            message = messages[i]
            if message.role in ("system", "developer"):
                system.append({"text": message.content})
            elif message.role == "tool":
                run = [message]
                while i + 1 < len(messages) and messages[i + 1].role == "tool":
                    i += 1
                    run.append(messages[i])
                _append(contents, "user", self._function_responses(run, calls))
            elif message.role == "assistant":
                for position, call in enumerate(message.tool_calls):
                    calls[call.id] = (position, call)
                _append(contents, "model", self._model_parts(message))
            else:
                _append(contents, "user", _user_parts(message))
            i += 1
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": system}
        config = self._generation_config(request)
        if config:
            body["generationConfig"] = config
        if request.tools:
            body["tools"] = [{"functionDeclarations": [_declaration(tool) for tool in request.tools]}]
            if request.tool_choice is not None:
                calling: dict[str, Any] = {"mode": _TOOL_CHOICE_MODES[request.tool_choice.mode]}
                if request.tool_choice.mode == "function" and request.tool_choice.name:
                    calling["allowedFunctionNames"] = [request.tool_choice.name]
                body["toolConfig"] = {"functionCallingConfig": calling}
        return body

    @staticmethod
    def _generation_config(request: ChatRequest) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.top_p is not None:
            config["topP"] = request.top_p
        if request.max_tokens is not None:
            config["maxOutputTokens"] = request.max_tokens
        if request.stop:
            config["stopSequences"] = list(request.stop)
        for option, name in _OPTIONS.items():
            if request.options.get(option) is not None:
                config[name] = request.options[option]
        if _candidate_count(request) > 1:
            config["candidateCount"] = _candidate_count(request)
        response_format = request.response_format
        if response_format is not None and response_format.type in ("json_object", "json_schema"):
            config["responseMimeType"] = "application/json"
            if response_format.type == "json_schema" and response_format.schema is not None:
                config["responseJsonSchema"] = response_format.schema
        if request.reasoning_effort is not None:
            config["thinkingConfig"] = _thinking_config(request.model, request.reasoning_effort)
        return config

    def _model_parts(self, message: Message) -> list[dict[str, Any]]:
        """An assistant turn: its text, then its calls with each signature on its own part.

        Reasoning is not replayed: Gemini only needs the signatures, and foreign reasoning is not
        Gemini's to see as its own."""
        parts: list[dict[str, Any]] = []
        if message.content:
            parts.append({"text": message.content})
        for call in message.tool_calls:
            function: dict[str, Any] = {"name": call.name, "args": self._call_args(call)}
            if _upstream_id(call.id):
                function["id"] = call.id
            part: dict[str, Any] = {"functionCall": function}
            if call.signature:
                part["thoughtSignature"] = call.signature  # opaque: sent back exactly as received
            parts.append(part)
        return parts or [{"text": ""}]

    def _call_args(self, call: ToolCall) -> dict[str, Any]:
        if not call.arguments.strip():
            return {}
        try:
            args = json.loads(call.arguments)
        except ValueError:
            args = None
        if not isinstance(args, dict):
            raise self._error(
                "bad_request", f"tool call {call.id!r} arguments are not a JSON object", retryable=False
            )
        return args

    def _function_responses(
        self, run: list[Message], calls: dict[str, tuple[int, ToolCall]]
    ) -> list[dict[str, Any]]:
        """Consecutive tool results as functionResponse parts, in the order of their calls."""
        answered: list[tuple[int, int, dict[str, Any]]] = []
        for arrival, message in enumerate(run):
            call_id = message.tool_call_id or ""
            position, call = calls.get(call_id, (len(calls) + arrival, None))
            name = call.name if call is not None else message.name
            if not name:
                raise self._error(
                    "bad_request", f"tool result for unknown tool_call_id {call_id!r}", retryable=False
                )
            response: dict[str, Any] = {"name": name, "response": _result_object(message.content)}
            if _upstream_id(call_id):
                response["id"] = call_id
            answered.append((position, arrival, {"functionResponse": response}))
        return [part for _, _, part in sorted(answered, key=lambda item: item[:2])]

    # -- wire format: responses

    def _piece(self, data: object) -> _Piece:
        """Read one GenerateContentResponse; shared by completions and stream chunks."""
        if not isinstance(data, dict):
            raise self._error("invalid_response", "response body is not a JSON object")
        feedback = data.get("promptFeedback") or {}
        if feedback.get("blockReason") and not data.get("candidates"):
            raise self._error("content_filtered", f"prompt blocked: {feedback['blockReason']}")
        piece = _Piece(model=data.get("modelVersion"), response_id=data.get("responseId"))
        candidates = sorted(data.get("candidates") or [], key=lambda c: int(c.get("index") or 0))
        piece.candidates = [self._candidate(candidate) for candidate in candidates]
        metadata = data.get("usageMetadata")
        if metadata is not None:
            piece.usage = self._usage(metadata)
        return piece

    @staticmethod
    def _usage(metadata: dict[str, Any]) -> Usage:
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

    @staticmethod
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

    @staticmethod
    def _finish_reason(raw: str | None, tool_calls: list[ToolCall]) -> str:
        if tool_calls and raw in (None, "STOP"):
            return "tool_calls"  # Gemini says STOP when it returns a functionCall
        return _FINISH_REASONS.get(raw or "STOP", "stop")

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


def _raise_for_status(status: int, raw: bytes, headers: Mapping[str, str]) -> None:
    """A GeminiAPIError for an error status, with the decoded error body (or its text)."""
    if status < 400:
        return
    try:
        body: object = json.loads(raw)
    except ValueError:
        body = raw.decode("utf-8", errors="replace")
    raise GeminiAPIError(status, body, headers)


async def _sse_payloads(lines: AsyncIterator[str]) -> AsyncIterator[Any]:
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


# --------------------------------------------------------------------------- translation helpers


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    """Add a turn, merging it into the previous one when the role repeats."""
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _user_parts(message: Message) -> list[dict[str, Any]]:
    if not message.parts:
        return [{"text": message.content}]
    parts: list[dict[str, Any]] = []
    for part in message.parts:
        if not isinstance(part, ImagePart):
            parts.append({"text": part.text})
        elif part.is_data:
            media_type, data = part.data()
            parts.append({"inlineData": {"mimeType": media_type, "data": data}})
        else:
            parts.append({"fileData": {"mimeType": part.media_type(), "fileUri": part.url}})
    return parts


def _declaration(tool: Any) -> dict[str, Any]:
    """A function declaration; the JSON Schema goes across unchanged as `parametersJsonSchema`."""
    declaration: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        declaration["description"] = tool.description
    if tool.parameters is not None:
        declaration["parametersJsonSchema"] = tool.parameters
    return declaration


def _result_object(text: str) -> dict[str, Any]:
    """`functionResponse.response` must be an object whose "output" key holds the result (as the
    google-genai SDK sends it): JSON results as their value, anything else as the text."""
    try:
        value = json.loads(text)
    except ValueError:
        return {"output": text}
    return {"output": value}


def _upstream_id(call_id: str | None) -> bool:
    """Whether a tool call id came from Gemini (sent back) rather than from the gateway (not sent)."""
    return bool(call_id) and not str(call_id).startswith(INVENTED_ID_PREFIX)


def _candidate_count(request: ChatRequest) -> int:
    n = request.options.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) else 1


def _thinking_config(model: str, effort: str) -> dict[str, Any]:
    if effort == "none":
        return {"thinkingBudget": 0}
    config: dict[str, Any] = {"includeThoughts": True}
    match = _MODEL_GENERATION_RE.search(model.lower())
    if match and int(match.group(1)) >= 3:
        if effort in _THINKING_LEVELS:
            config["thinkingLevel"] = _THINKING_LEVELS[effort]
    elif effort in _THINKING_BUDGETS:
        config["thinkingBudget"] = _THINKING_BUDGETS[effort]
    return config


def _reasoning(thoughts: str) -> list[ReasoningPart]:
    return [ReasoningPart(thoughts, protocol=GeminiAdapter.kind)] if thoughts else []
