"""What the official `openai` and `anthropic` SDK adapters share: the SDK client on the provider's
aiohttp pool, the lean call that answers a completion without the SDK's request pipeline, and
the mapping of the SDKs' transport exceptions.

Why a lean call: per completion the SDK spends about 1 ms of CPU building the request (its params
transform, httpx2 request and URL objects) and reading the answer, while the whole adapter call
costs 0.25 ms this way (bench/pool_burst.py). In a burst of 1,000 that CPU is the queue. So a
non-streamed completion goes out as plain JSON with the SDK's own headers and comes back as the
SDK's own types, and a status error is the SDK's own exception: the adapters' reading of answers
and errors is the same on both paths. Streams take the same way (`open_stream`): the adapters read
the server-sent events themselves, since the SDK's per-event parsing and model building cost 30
to 100 times the event's own decoding (bench/stream_chunks.py). Embeddings and model listings go
through the SDK, on the same pool.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any, Generic, TypeVar

import aiohttp
import httpx2

from .base import ProviderAdapter
from .errors import ProviderError
from .http import AiohttpTransport, ProviderHttp, transport_failure

ClientT = TypeVar("ClientT")
ModelT = TypeVar("ModelT")

# Keyword arguments of an SDK `create` call that are not body fields.
_EXTRA_HEADERS = "extra_headers"
_EXTRA_BODY = "extra_body"


class PooledSdk(Generic[ClientT]):
    """An official SDK client whose HTTP goes through one provider's aiohttp pool (`http`)."""

    def __init__(self, make_sdk: Callable[[httpx2.AsyncClient], ClientT], *, base_url: str, timeout_s: float):
        self.http = ProviderHttp(base_url=base_url)
        http_client = httpx2.AsyncClient(
            transport=AiohttpTransport(self.http),
            timeout=timeout_s,
            follow_redirects=True,  # as the SDKs' own default client
        )
        self.sdk: ClientT = make_sdk(http_client)
        # The headers the SDK sends on every request (its key, API version, organisation...).
        sdk: Any = self.sdk
        self.http.base_url = str(sdk.base_url).rstrip("/") + "/"
        headers = {**sdk.default_headers, **sdk.auth_headers}
        self.http.headers = {name: value for name, value in headers.items() if isinstance(value, str)}

    async def post_create(self, path: str, kwargs: Mapping[str, Any], *, timeout: float) -> Any:
        """`post_json` with the keyword arguments of an SDK `create` call: `extra_headers` and
        `extra_body` are merged as the SDK merges them."""
        body, headers = create_body(kwargs)
        return await self.post_json(path, body, headers=headers, timeout=timeout)

    async def post_json(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        timeout: float,
    ) -> Any:
        """POST `body` as JSON with the SDK's headers and return the decoded answer; an error
        status raises the SDK's own `APIStatusError`."""
        async with self.http.request(
            "POST", path, body=body, headers=headers, params=params, timeout=timeout
        ) as response:
            raw = await response.read()
            if response.status >= 400:
                raise self._status_error(response.status, response.raw_headers, raw, path)
        return json.loads(raw)

    @asynccontextmanager
    async def open_stream(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        timeout: float,
        read_timeout: float,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST `body` with the SDK's headers and hand over the streaming response once its
        status is known; an error status raises the SDK's own `APIStatusError`, as the SDK's
        stream would. `timeout` bounds connecting, `read_timeout` each wait for data."""
        async with self.http.request(
            "POST",
            path,
            body=body,
            headers=headers,
            params=params,
            timeout=timeout,
            read_timeout=read_timeout,
        ) as response:
            if response.status >= 400:
                raw = await response.read()
                raise self._status_error(response.status, response.raw_headers, raw, path)
            yield response

    def stream_request(self, path: str) -> httpx2.Request:
        """The request of a stream as the SDK's exceptions carry it (for an error event in it)."""
        return httpx2.Request("POST", self.http.url(path))

    def _status_error(self, status: int, headers: Any, raw: bytes, path: str) -> Exception:
        response = httpx2.Response(
            status, headers=headers, content=raw, request=httpx2.Request("POST", self.http.url(path))
        )
        # The SDK's own reading of an error body (its subclass per status, code, type, message).
        sdk: Any = self.sdk
        return sdk._make_status_error_from_response(response)

    @property
    def closed(self) -> bool:
        return self.http.closed

    async def aclose(self) -> None:
        sdk: Any = self.sdk
        try:
            await sdk.close()
        finally:
            await self.http.aclose()


def create_body(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], Mapping[str, str] | None]:
    """The JSON body and the extra headers of an SDK `create` call's keyword arguments:
    `extra_headers` and `extra_body` merged as the SDK merges them."""
    body = {k: v for k, v in kwargs.items() if k not in (_EXTRA_HEADERS, _EXTRA_BODY)}
    body.update(kwargs.get(_EXTRA_BODY) or {})
    return body, kwargs.get(_EXTRA_HEADERS)


def sdk_model(model: type[ModelT], raw: Any, construct: Callable[..., Any]) -> ModelT | Any:
    """An answer as the SDK's `model`: validated by pydantic-core (25 times faster than the SDK's
    own building in Python), else built leniently by the SDK's `construct` (its `construct_type`),
    as the SDK itself would, so a field or value newer than the SDK still reads."""
    try:
        return model.model_validate(raw)  # type: ignore[attr-defined]
    except ValueError:  # pydantic's ValidationError
        return construct(type_=model, value=raw)


def sdk_transport_error(adapter: ProviderAdapter, exc: Exception, sdk: ModuleType) -> ProviderError | None:
    """Timeouts and connection failures raised by `sdk` (openai or anthropic) or by the pool, or None."""
    if isinstance(exc, sdk.APITimeoutError):
        return adapter._error("timeout", "request timed out")
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__
        detail = f": {type(cause).__name__}" if cause is not None else ""
        return adapter._error("connection", f"connection failed{detail}")
    if isinstance(exc, httpx2.TimeoutException):
        return adapter._error("timeout", "read timed out")
    if isinstance(exc, httpx2.TransportError):
        # The SDK wraps transport errors of the request itself, not those raised while a
        # stream's body is being read (a connection reset mid-stream).
        return adapter._error("connection", f"connection failed: {type(exc).__name__}")
    if isinstance(exc, sdk.APIResponseValidationError):
        return adapter._error("invalid_response", exc.message, status_code=exc.status_code)
    failure = transport_failure(exc)  # the lean call's own (aiohttp) failures
    if failure is not None:
        return adapter._error(*failure)
    return None
