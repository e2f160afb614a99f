"""The provider adapter interface: typed requests and responses, errors, and the base class.

Django-free on purpose: adapters are imported by the gateway, by Celery workers and by
standalone tools, and they must stay usable outside a configured Django project.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Literal, get_args

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
class Message:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: list[Message]
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    user: str | None = None
    tools: list | None = None
    response_format: dict | None = None


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class ChatResponse:
    content: str
    finish_reason: str
    usage: Usage
    model: str
    response_id: str | None
    provider_details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ChatChunk:
    """One piece of a stream.

    Adapters yield exactly one terminal chunk, last, carrying `finish_reason` and (when the
    provider reports it) `usage`; earlier chunks carry text in `delta`, possibly empty.
    """

    delta: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    response_id: str | None = None


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

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.name = config.name
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    # -- public interface

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
        try:
            while True:
                try:
                    async with asyncio.timeout(limit):
                        chunk = await anext(inner)
                except StopAsyncIteration:
                    return
                except ProviderError:
                    raise
                except TimeoutError as exc:
                    raise self._deadline_error(limit) from exc
                except Exception as exc:
                    raise self._translate(exc) from exc
                limit = self._idle_timeout(timeout)
                yield chunk
        finally:
            await inner.aclose()

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
