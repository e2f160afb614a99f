"""The provider adapter interface: the base class every wire protocol's adapter extends.

Django-free on purpose: adapters are imported by the gateway, by Celery workers and by
standalone tools, and they must stay usable outside a configured Django project.
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from .deadline import ChunkDeadline
from .errors import ErrorKind, ProviderError
from .messages import ChatRequest, EmbeddingRequest
from .results import ChatChunk, ChatResponse, EmbeddingResponse, ModelInfo

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """What an adapter needs to reach one configured provider."""

    name: str
    kind: str
    base_url: str | None
    api_key: str | None = field(repr=False)
    timeout_s: float = 30.0
    extra_headers: dict[str, str] | None = None


class ProviderAdapter(ABC):
    """One wire protocol behind the common interface.

    Subclasses implement `_complete`, `_stream`, `_list_models` and `_map_error`; this class owns
    the deadlines and turns every vendor failure into a `ProviderError`. A provider body that is
    not what its protocol promises is detected where it is read (`_require`, JSON decoding) and is
    an `invalid_response`; any other exception is a bug of ours and propagates unchanged, so it
    neither fails over nor counts against the provider's circuit. One instance holds one HTTP
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
        # Not through `_within`: the hot path keeps its single await.
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
        response = await self._within(lambda: self._embed(request, timeout=timeout), timeout)
        if len(response.vectors) != len(request.inputs):
            raise self._error(
                "invalid_response", f"{len(response.vectors)} vectors for {len(request.inputs)} inputs"
            )
        return response

    async def _embed(self, request: EmbeddingRequest, *, timeout: float) -> EmbeddingResponse:
        raise self._error("bad_request", f"the {self.kind} protocol has no embeddings", retryable=False)

    async def list_models(self) -> list[ModelInfo]:
        """The models the provider lists (those that can chat, where the listing says)."""
        return await self._within(self._list_models, self.config.timeout_s)

    async def probe(self) -> None:
        """The cheapest real call that proves the key and the endpoint (by default, listing models)."""
        await self._within(self._probe, self.config.timeout_s)

    async def _probe(self) -> None:
        await self._list_models()

    async def aclose(self) -> None:
        """Close this adapter's client (its connection pool)."""
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

    async def _within(self, call: Callable[[], Awaitable[T]], timeout: float) -> T:
        """`call()` under the deadline, its failures as ProviderErrors (see `_translate`)."""
        try:
            async with asyncio.timeout(timeout):
                return await call()
        except ProviderError:
            raise
        except TimeoutError as exc:
            raise self._deadline_error(timeout) from exc
        except Exception as exc:
            raise self._translate(exc) from exc

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

    def _require(self, mapping: Any, name: str, expected: type | tuple[type, ...] = dict) -> Any:
        """`mapping[name]`, which the wire format requires to be an `expected`; a provider body
        without it is an `invalid_response` (a retryable fault of the provider, not ours)."""
        value = mapping.get(name) if isinstance(mapping, dict) else None
        if not isinstance(value, expected):
            raise self._error("invalid_response", f"response without a valid {name!r}")
        return value

    def _redact(self, text: str) -> str:
        key = self.config.api_key
        if key and key in text:
            text = text.replace(key, "***")
        return text

    def _deadline_error(self, timeout: float) -> ProviderError:
        return self._error("timeout", f"no answer within {timeout:g}s")

    def _translate(self, exc: Exception) -> ProviderError:
        """The ProviderError for a vendor failure; any other exception is re-raised unchanged."""
        mapped = self._map_error(exc)
        if mapped is not None:
            return mapped
        if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
            # Raised only by decoding a provider's body (orjson's error is a JSONDecodeError too):
            # the provider sent something that is not JSON.
            return self._error("invalid_response", f"unreadable response: {type(exc).__name__}: {exc}")
        raise exc
