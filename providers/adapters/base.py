"""The provider adapter interface: typed requests and responses, errors, and the base class.

Django-free on purpose: adapters are imported by the gateway, by Celery workers and by
standalone tools, and they must stay usable outside a configured Django project.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import re
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Final, Literal, get_args

from .deadline import ChunkDeadline

logger = logging.getLogger(__name__)

FinishReason = Literal["stop", "length", "content_filter", "tool_calls"]

ErrorKind = Literal[
    "authentication",
    "permission",
    "rate_limited",
    "timeout",
    "connection",
    "unavailable",
    "bad_request",
    "context_length_exceeded",
    "content_filtered",
    "not_found",
    "invalid_response",
    "quota_exceeded",
]

ERROR_KINDS: Final[frozenset[str]] = frozenset(get_args(ErrorKind))

# Worth trying again (later, or on another provider). Quota exhaustion is deliberately absent:
# retrying an empty balance only burns the deadline.
RETRYABLE_KINDS: Final[frozenset[str]] = frozenset(
    {"rate_limited", "timeout", "connection", "unavailable", "invalid_response"}
)

# Fallback when a vendor error carries nothing more specific than its HTTP status.
_STATUS_KINDS: Final[dict[int, ErrorKind]] = {
    400: "bad_request",
    401: "authentication",
    402: "quota_exceeded",
    403: "permission",
    404: "not_found",
    408: "timeout",
    409: "unavailable",
    413: "bad_request",
    422: "bad_request",
    429: "rate_limited",
    504: "timeout",
}

_CONTEXT_LENGTH_RE: Final = re.compile(
    r"maximum context length|context[ _]length|context window|prompt is too long"
    r"|input token count.*exceeds|exceeds the maximum number of tokens",
    re.IGNORECASE,
)


def kind_for_status(status: int) -> ErrorKind:
    """The error kind an HTTP status implies when the body says nothing more specific."""
    if status in _STATUS_KINDS:
        return _STATUS_KINDS[status]
    return "unavailable" if status >= 500 else "bad_request"


def looks_like_context_length(message: str | None) -> bool:
    """DeepSeek, Anthropic and Gemini report an over-long prompt as a plain 400: detect it by text."""
    return bool(message) and bool(_CONTEXT_LENGTH_RE.search(message or ""))


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or an HTTP date)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms:
        try:
            return max(float(raw_ms) / 1000.0, 0.0)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def parse_duration(value: object) -> float | None:
    """A protobuf Duration string such as "47s" or "0.5s" in seconds."""
    if not isinstance(value, str) or not value.endswith("s"):
        return None
    try:
        return max(float(value[:-1]), 0.0)
    except ValueError:
        return None


# --------------------------------------------------------------------------- types


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image in a user message: an `https://` URL or a `data:<mime>;base64,...` URL."""

    url: str
    detail: str | None = None

    @property
    def is_data(self) -> bool:
        return self.url.startswith("data:")

    def data(self) -> tuple[str, str]:
        """(media type, base64 data) of a `data:` URL."""
        head, _, data = self.url.partition(",")
        media_type = head.removeprefix("data:").split(";")[0] or "application/octet-stream"
        return media_type, data

    def media_type(self) -> str:
        """The media type of a data URL, or the one an https URL's extension suggests."""
        if self.is_data:
            return self.data()[0]
        path = self.url.split("?")[0].lower()
        for ext, mime in (
            (".png", "image/png"),
            (".gif", "image/gif"),
            (".webp", "image/webp"),
            (".heic", "image/heic"),
        ):
            if path.endswith(ext):
                return mime
        return "image/jpeg"


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


ContentPart = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model made. `arguments` is the JSON text (OpenAI's convention);
    `signature` is an opaque provider token that must go back with the call (Gemini)."""

    id: str
    name: str
    arguments: str
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class ReasoningPart:
    """Reasoning that came with an answer: DeepSeek's `reasoning_content`, an Anthropic thinking
    block with its signature (or a redacted one, `redacted` holding its data), a Gemini thought.

    `protocol` names the adapter kind that produced it: signatures are only valid there."""

    text: str
    signature: str | None = None
    redacted: str | None = None
    protocol: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    """One turn. `content` is always the text (parts joined); `parts` is set when the client sent
    a list of parts and one of them is not text (images).

    Assistant turns may carry `tool_calls` (then `content` may be empty) and the `reasoning` that
    preceded them; a `tool` turn answers the call named by `tool_call_id`."""

    role: str
    content: str
    parts: tuple[ContentPart, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    reasoning: tuple[ReasoningPart, ...] = ()

    @property
    def images(self) -> tuple[ImagePart, ...]:
        return tuple(p for p in self.parts if isinstance(p, ImagePart))


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function tool: `parameters` is a JSON Schema object."""

    name: str
    description: str | None = None
    parameters: dict | None = None
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """`auto`, `none`, `required`, or `function` with the `name` the model must call."""

    mode: Literal["auto", "none", "required", "function"]
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """`text`, `json_object`, or `json_schema` with its schema (OpenAI's Structured Outputs)."""

    type: Literal["text", "json_object", "json_schema"]
    schema: dict | None = None
    name: str | None = None
    description: str | None = None
    strict: bool | None = None

    def as_openai(self) -> dict[str, Any]:
        if self.type != "json_schema":
            return {"type": self.type}
        spec: dict[str, Any] = {"name": self.name or "response"}
        if self.description:
            spec["description"] = self.description
        if self.schema is not None:
            spec["schema"] = self.schema
        if self.strict is not None:
            spec["strict"] = self.strict
        return {"type": "json_schema", "json_schema": spec}


# Request features an adapter may or may not carry (see `ProviderAdapter.unsupported`). Options
# (seed, logprobs, ...) are named by their OpenAI parameter name.
FEATURE_TOOLS: Final = "tools"
FEATURE_IMAGES: Final = "image_url"
FEATURE_JSON_OBJECT: Final = "response_format.json_object"
FEATURE_JSON_SCHEMA: Final = "response_format.json_schema"
FEATURE_REASONING: Final = "reasoning_effort"
FEATURE_PARALLEL_OFF: Final = "parallel_tool_calls"
FEATURE_FORCED_TOOL: Final = "tool_choice"

# OpenAI chat parameters the internal request carries by name in `ChatRequest.options`.
OPENAI_OPTIONS: Final[frozenset[str]] = frozenset(
    {
        "seed",
        "n",
        "logprobs",
        "top_logprobs",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "metadata",
        "service_tier",
        "store",
        "prompt_cache_key",
        "safety_identifier",
        "verbosity",
    }
)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: list[Message]
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    user: str | None = None
    tools: list[ToolSpec] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None
    # Every other OpenAI parameter the client sent (seed, n, logprobs, top_logprobs,
    # presence_penalty, frequency_penalty, metadata, service_tier, logit_bias, ...), by name.
    options: dict[str, Any] = field(default_factory=dict)
    # The client's request in a provider's own protocol, for adapters of that protocol to send as
    # is (pass-through): {"protocol": "anthropic", "body": {...}, "headers": {...}, "beta": bool,
    # "requires": [...]}. `requires` names what only that protocol can carry (features of the
    # request for every other adapter); the fields above are the translation the others send.
    native: dict[str, Any] | None = None

    def features(self) -> set[str]:
        """What this request asks of a provider beyond plain text chat."""
        wanted: set[str] = set(self.options)
        if self.native:
            wanted.update(self.native.get("requires") or ())
        if self.tools:
            wanted.add(FEATURE_TOOLS)
            if self.tool_choice is not None and self.tool_choice.mode in ("required", "function"):
                wanted.add(FEATURE_FORCED_TOOL)
            if self.parallel_tool_calls is False:
                wanted.add(FEATURE_PARALLEL_OFF)
        if any(m.images for m in self.messages):
            wanted.add(FEATURE_IMAGES)
        if self.response_format is not None and self.response_format.type == "json_object":
            wanted.add(FEATURE_JSON_OBJECT)
        if self.response_format is not None and self.response_format.type == "json_schema":
            wanted.add(FEATURE_JSON_SCHEMA)
        if self.reasoning_effort is not None:
            wanted.add(FEATURE_REASONING)
        return wanted

    def without(self, features: set[str]) -> ChatRequest:
        """This request with `features` left out (the client's documented opt-in to drop them)."""
        if not features:
            return self
        changes: dict[str, Any] = {"options": {k: v for k, v in self.options.items() if k not in features}}
        if FEATURE_TOOLS in features:
            changes.update(tools=None, tool_choice=None, parallel_tool_calls=None)
        if FEATURE_FORCED_TOOL in features and self.tool_choice is not None:
            changes["tool_choice"] = ToolChoice("auto")
        if FEATURE_PARALLEL_OFF in features:
            changes["parallel_tool_calls"] = None
        if features & {FEATURE_JSON_OBJECT, FEATURE_JSON_SCHEMA}:
            changes["response_format"] = None
        if FEATURE_REASONING in features:
            changes["reasoning_effort"] = None
        if FEATURE_IMAGES in features:
            changes["messages"] = [
                replace(m, parts=tuple(p for p in m.parts if not isinstance(p, ImagePart)))
                for m in self.messages
            ]
        return replace(self, **changes)


@dataclass(slots=True)
class Usage:
    """What one answer used, normalised across providers: every token class the provider reports.

    `prompt_tokens` is ALL input (cached reads, cache writes, tool results and every modality
    included) and `completion_tokens` ALL output (reasoning included); the other fields are parts
    of one of those two, so `total_tokens` is their sum and nothing is counted twice. Text is
    whatever remains after the parts named here.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Part of prompt_tokens read from the provider's prompt cache.
    cached_tokens: int = 0
    # Part of completion_tokens spent on reasoning / thinking.
    reasoning_tokens: int = 0
    # Part of prompt_tokens written to the prompt cache (all TTLs), and the part of that kept for
    # one hour (Anthropic bills 5-minute and 1-hour writes differently).
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    # Parts of prompt_tokens by modality (images include documents, as Gemini bills them), and the
    # part of each served from the cache (part of cached_tokens too).
    input_audio_tokens: int = 0
    input_image_tokens: int = 0
    input_video_tokens: int = 0
    cached_audio_tokens: int = 0
    cached_image_tokens: int = 0
    cached_video_tokens: int = 0
    # Part of prompt_tokens that is tool output fed back by the provider itself (Gemini).
    tool_input_tokens: int = 0
    # Parts of completion_tokens by modality.
    output_audio_tokens: int = 0
    output_image_tokens: int = 0

    def __post_init__(self) -> None:
        # The adapter boundary: whatever a provider reports, every count is an int within
        # [0, MAX_REPORTED_TOKENS], so a bogus figure is cut here instead of failing a record later.
        for name in USAGE_FIELDS:
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= MAX_REPORTED_TOKENS:
                setattr(self, name, _sane_token_count(name, value))

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self, *, nonzero: bool = False) -> dict[str, int]:
        """The counts by field name (for caches and queues); `nonzero` leaves zeros out."""
        values = {name: getattr(self, name) for name in USAGE_FIELDS}
        return {k: v for k, v in values.items() if v} if nonzero else values

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Usage:
        """Counts stored by field name; names this version does not know are ignored, so an entry
        written by a newer or older version still reads."""
        known = {name: int(value or 0) for name, value in (data or {}).items() if name in USAGE_FIELDS}
        return cls(**known)


USAGE_FIELDS: Final[tuple[str, ...]] = tuple(f for f in Usage.__dataclass_fields__)
# The most tokens one answer may report in any class: far beyond any context window (a few million
# tokens), so only a provider's bogus count is ever cut, and small enough that a record's token
# columns (PostgreSQL integer) and its cost at any list price fit their database types.
MAX_REPORTED_TOKENS: Final = 100_000_000


def _sane_token_count(name: str, value: Any) -> int:
    """A reported count as an int in [0, MAX_REPORTED_TOKENS]; logged, as it means a provider bug."""
    try:
        count = int(value or 0)
    except (TypeError, ValueError, OverflowError):
        count = 0
    sane = min(max(count, 0), MAX_REPORTED_TOKENS)
    if value is not None and sane != value:  # None: not reported, which is fine
        logger.warning("usage count %s=%r reported by a provider was taken as %d", name, value, sane)
    return sane


@dataclass(slots=True)
class ChatChoice:
    """An extra choice when the client asked for `n > 1` (the first one is the response itself)."""

    content: str
    finish_reason: str
    tool_calls: list[ToolCall] = field(default_factory=list)


@dataclass(slots=True)
class ChatResponse:
    content: str
    finish_reason: str
    usage: Usage
    model: str
    response_id: str | None
    provider_details: dict[str, Any] = field(default_factory=dict)
    tool_calls: list[ToolCall] = field(default_factory=list)
    # The reasoning as the provider returned it; `reasoning_text` is what clients are shown.
    reasoning: list[ReasoningPart] = field(default_factory=list)
    refusal: str | None = None
    logprobs: dict[str, Any] | None = None
    more_choices: list[ChatChoice] = field(default_factory=list)

    @property
    def reasoning_text(self) -> str:
        return "".join(part.text for part in self.reasoning)


@dataclass(slots=True)
class ToolCallDelta:
    """A streamed piece of a tool call, OpenAI style: the first piece for an `index` brings `id`
    and `name`, later ones only argument fragments. Adapters whose provider sends whole calls
    send them as one piece."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True)
class ChatChunk:
    """One piece of a stream.

    Adapters yield exactly one terminal chunk, last, carrying `finish_reason` and (when the
    provider reports it) `usage`, plus the complete `tool_calls` and `reasoning_parts` of the
    answer (for replay bookkeeping); earlier chunks carry text in `delta`, reasoning text in
    `reasoning` and tool-call pieces in `tool_call_deltas`, any of them possibly empty.
    """

    delta: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    response_id: str | None = None
    reasoning: str = ""
    tool_call_deltas: list[ToolCallDelta] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning_parts: list[ReasoningPart] = field(default_factory=list)
    # The provider's own stream event this chunk came from, when the request was sent in that
    # provider's protocol (`ChatRequest.native`): the door of that protocol forwards it as is.
    native: dict[str, Any] | None = None


def estimate_text_tokens(text: str) -> int:
    """A provider-independent token estimate without a tokenizer: about four ASCII characters a
    token, and a token for every other character (CJK and the like are roughly one each)."""
    if text.isascii():  # the common case, without a pass over the characters in Python
        return max(1, math.ceil(len(text) / 4))
    ascii_chars = sum(1 for ch in text if ch < "\x80")
    return max(1, math.ceil(ascii_chars / 4) + (len(text) - ascii_chars))


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    """One call's worth of embedding inputs (at most the adapter's `max_batch`): texts, or token
    arrays (lists of token ids, OpenAI protocol only). `dimensions`: a shorter vector than the
    model's default, where the model can give one."""

    model: str
    inputs: list[str | list[int]]
    dimensions: int | None = None
    user: str | None = None


@dataclass(slots=True)
class EmbeddingResponse:
    """One vector per input, in input order; `usage_estimated` when the provider reported no token
    count and `usage` is the gateway's estimate."""

    vectors: list[list[float]]
    usage: Usage
    model: str
    usage_estimated: bool = False


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    context_window: int | None = None
    max_output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """What an adapter needs to reach one configured provider."""

    name: str
    kind: str
    base_url: str | None
    api_key: str | None = field(repr=False)
    timeout_s: float = 30.0
    extra_headers: dict[str, str] | None = None


# --------------------------------------------------------------------------- errors


class ProviderError(Exception):
    """A provider call failed; `kind` says how, `retryable` whether another attempt may succeed."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        provider: str,
        retryable: bool | None = None,
        retry_after: float | None = None,
        status_code: int | None = None,
    ) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown provider error kind {kind!r}")
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.provider = provider
        self.retryable = kind in RETRYABLE_KINDS if retryable is None else retryable
        self.retry_after = retry_after
        self.status_code = status_code

    def __str__(self) -> str:
        return f"{self.provider}: {self.kind}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"ProviderError(kind={self.kind!r}, provider={self.provider!r}, retryable={self.retryable!r}, "
            f"retry_after={self.retry_after!r}, status_code={self.status_code!r}, message={self.message!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments do not survive the default pickling (Celery results, multiprocessing).
        return (
            _rebuild_provider_error,
            (self.kind, self.message, self.provider, self.retryable, self.retry_after, self.status_code),
        )


def _rebuild_provider_error(
    kind: ErrorKind,
    message: str,
    provider: str,
    retryable: bool,
    retry_after: float | None,
    status_code: int | None,
) -> ProviderError:
    return ProviderError(
        kind,
        message,
        provider=provider,
        retryable=retryable,
        retry_after=retry_after,
        status_code=status_code,
    )


# --------------------------------------------------------------------------- adapter


class ProviderAdapter(ABC):
    """One wire protocol behind the common interface.

    Subclasses implement `_complete`, `_stream`, `_list_models` and `_map_error`; this class owns
    the deadlines and turns every failure into a `ProviderError`. One instance holds one HTTP
    client bound to the event loop it was first used in (see `registry.AdapterPool`).
    """

    kind: ClassVar[str] = ""
    # What this protocol can carry beyond plain chat (`ChatRequest.features` names); a request
    # that needs more is not sent here unless the client opted into dropping it.
    supported_features: ClassVar[frozenset[str]] = frozenset()
    # Embeddings (`embed`): the most inputs one call may carry (0: the protocol has none), the most
    # (estimated) tokens one call may carry, and whether inputs may be token arrays.
    max_batch: ClassVar[int] = 0
    max_batch_tokens: ClassVar[int | None] = None
    embeds_token_arrays: ClassVar[bool] = False

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.name = config.name
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    # -- public interface

    def unsupported(self, request: ChatRequest) -> set[str]:
        """The features of `request` this provider cannot honour (empty when it can take it)."""
        return request.features() - self.supported_features

    async def complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse:
        """One chat completion; `timeout` is the total deadline in seconds."""
        try:
            async with asyncio.timeout(timeout):
                return await self._complete(request, timeout=timeout)
        except ProviderError:
            raise
        except TimeoutError as exc:
            raise self._deadline_error(timeout) from exc
        except Exception as exc:
            raise self._translate(exc) from exc

    async def stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[ChatChunk]:
        """Stream a chat completion.

        `timeout` bounds the wait for the first chunk (connection and headers included), so a
        provider that never starts fails over in time; afterwards each gap between chunks is
        bounded by the larger of `timeout` and the configured `timeout_s`.
        """
        inner = self._stream(request, timeout=timeout)
        limit = timeout
        idle = self._idle_timeout(timeout)
        deadline = ChunkDeadline()  # not asyncio.timeout per chunk: see deadline.py
        try:
            while True:
                try:
                    chunk = await deadline.next_of(inner, limit)
                except StopAsyncIteration:
                    return
                except ProviderError:
                    raise
                except TimeoutError as exc:
                    raise self._deadline_error(limit) from exc
                except Exception as exc:
                    raise self._translate(exc) from exc
                limit = idle
                yield chunk
        finally:
            deadline.close()
            await inner.aclose()

    async def embed(self, request: EmbeddingRequest, *, timeout: float) -> EmbeddingResponse:
        """Embed one batch (at most `max_batch` inputs); `timeout` is the total deadline in seconds."""
        try:
            async with asyncio.timeout(timeout):
                response = await self._embed(request, timeout=timeout)
        except ProviderError:
            raise
        except TimeoutError as exc:
            raise self._deadline_error(timeout) from exc
        except Exception as exc:
            raise self._translate(exc) from exc
        if len(response.vectors) != len(request.inputs):
            raise self._error(
                "invalid_response", f"{len(response.vectors)} vectors for {len(request.inputs)} inputs"
            )
        return response

    async def _embed(self, request: EmbeddingRequest, *, timeout: float) -> EmbeddingResponse:
        raise self._error("bad_request", f"the {self.kind} protocol has no embeddings", retryable=False)

    async def list_models(self) -> list[ModelInfo]:
        try:
            async with asyncio.timeout(self.config.timeout_s):
                return await self._list_models()
        except ProviderError:
            raise
        except TimeoutError as exc:
            raise self._deadline_error(self.config.timeout_s) from exc
        except Exception as exc:
            raise self._translate(exc) from exc

    async def probe(self) -> None:
        """The cheapest real call that proves the key and the endpoint (by default, listing models)."""
        try:
            async with asyncio.timeout(self.config.timeout_s):
                await self._probe()
        except ProviderError:
            raise
        except TimeoutError as exc:
            raise self._deadline_error(self.config.timeout_s) from exc
        except Exception as exc:
            raise self._translate(exc) from exc

    async def _probe(self) -> None:
        await self._list_models()

    async def aclose(self) -> None:
        client, self._client, self._client_loop = self._client, None, None
        if client is not None:
            await self._close_client(client)

    # -- for subclasses

    @abstractmethod
    async def _complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse: ...

    @abstractmethod
    def _stream(self, request: ChatRequest, *, timeout: float) -> AsyncIterator[ChatChunk]: ...

    @abstractmethod
    async def _list_models(self) -> list[ModelInfo]: ...

    @abstractmethod
    def _map_error(self, exc: Exception) -> ProviderError | None:
        """Map a vendor (SDK or HTTP) exception to a ProviderError; None if it is not one."""

    @abstractmethod
    def _make_client(self) -> Any: ...

    async def _close_client(self, client: Any) -> None:
        await client.aclose()

    def client(self) -> Any:
        """The HTTP/SDK client for the running event loop, created on first use.

        A client is bound to the loop its connections were opened in; reusing it from another
        loop (or after that loop closed) fails in confusing ways, so a new loop gets a new client.
        """
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = self._make_client()
            self._client_loop = loop
        return self._client

    def _idle_timeout(self, timeout: float) -> float:
        return max(timeout, self.config.timeout_s)

    def _error(
        self,
        kind: ErrorKind,
        message: str,
        *,
        retryable: bool | None = None,
        retry_after: float | None = None,
        status_code: int | None = None,
    ) -> ProviderError:
        return ProviderError(
            kind,
            self._redact(message),
            provider=self.name,
            retryable=retryable,
            retry_after=retry_after,
            status_code=status_code,
        )

    def _redact(self, text: str) -> str:
        key = self.config.api_key
        if key and key in text:
            text = text.replace(key, "***")
        return text

    def _deadline_error(self, timeout: float) -> ProviderError:
        return self._error("timeout", f"no answer within {timeout:g}s")

    def _translate(self, exc: Exception) -> ProviderError:
        mapped = self._map_error(exc)
        if mapped is not None:
            return mapped
        if isinstance(exc, ValueError | KeyError | TypeError | AttributeError | IndexError):
            # JSON decoding and missing or mistyped fields: the provider sent something we cannot read.
            logger.debug("unreadable response from %s", self.name, exc_info=exc)
            return self._error("invalid_response", f"unreadable response: {type(exc).__name__}: {exc}")
        raise exc
