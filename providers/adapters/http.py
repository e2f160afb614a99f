"""The HTTP layer every adapter shares: one aiohttp connection pool per provider, an httpx2 transport
that puts the official SDKs on that pool, and what a transport failure means.

Why aiohttp: 1,000 simultaneous completions against an upstream that answers in 1 s cost the
adapters 3.7-4.6 s of CPU on the SDKs' default httpx2 transport and 11-25 s on httpx (Gemini), so
the burst's p99 was 4-7 s and 18-37 s; on this pool (and the lean call of sdk.py) 0.25 s with the
pool warm and 0.5-0.7 s cold, less than a bare aiohttp client on a cold session, for a p99 of
1.2-1.8 s on a loaded 2-core machine (bench/pool_burst.py). The pool is sized for bursts by
`PoolLimits`: a call beyond the limit waits for a free connection within its own deadline, it is
never refused.

Django-free, like every adapter module.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import httpx2

from .errors import ErrorKind


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """One provider's connection pool in one event loop: at most `max_connections` open at once
    (0: no limit), and an idle one kept `keepalive_s` seconds for the next call."""

    max_connections: int = 1000
    keepalive_s: float = 15.0

    def __post_init__(self) -> None:
        if self.max_connections < 0 or self.keepalive_s < 0:
            raise ValueError(f"pool limits must not be negative: {self}")


_limits = PoolLimits()


def pool_limits_set(limits: PoolLimits) -> None:
    """The limits of every pool created from now on (the gateway sets them from its settings)."""
    global _limits
    _limits = limits


def pool_limits() -> PoolLimits:
    return _limits


_NO_BODY: Final = object()


class ProviderHttp:
    """One provider's connection pool with its base URL and default headers.

    Created in, and bound to, the event loop that first uses the adapter; `aclose` closes every
    connection. The headers may hold the provider's key: they are sent, never logged or shown.
    """

    def __init__(self, *, base_url: str, headers: Mapping[str, str] | None = None) -> None:
        limits = _limits
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections,
            limit_per_host=0,  # one provider, usually one host: the pool's limit is the host's
            keepalive_timeout=limits.keepalive_s,
        )
        # A proxy from HTTP(S)_PROXY/NO_PROXY is honoured, as httpx honoured it, but looked up once
        # here: aiohttp's trust_env looks it (and ~/.netrc) up in a thread on every request.
        self.session = aiohttp.ClientSession(connector=connector, proxy=env_proxy(base_url))
        self.base_url = base_url.rstrip("/") + "/"
        self.headers: dict[str, str] = dict(headers or {})

    def url(self, path: str) -> str:
        return path if "://" in path else self.base_url + path.lstrip("/")

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = _NO_BODY,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float,
        read_timeout: float | None = None,
    ) -> aiohttp.client._RequestContextManager:
        """A request on the pool (`async with` it). `timeout` bounds waiting for a pooled
        connection and connecting; `read_timeout` (default `timeout`) each wait for data."""
        sent = {**self.headers, **headers} if headers else self.headers
        data = None
        if body is not _NO_BODY:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            sent = {**sent, "Content-Type": "application/json"}
        return self.session.request(
            method,
            self.url(path),
            data=data,
            params=params,
            headers=sent,
            timeout=_timeout(timeout, read_timeout),
        )

    @property
    def closed(self) -> bool:
        return self.session.closed

    async def aclose(self) -> None:
        await self.session.close()

    def __del__(self) -> None:
        # A pool dropped unclosed (its event loop ended first: a task's own loop, a test's): close
        # its sockets now, where they can still be closed, and forget it quietly. aiohttp would
        # log an error for each such session and connector.
        session = getattr(self, "session", None)
        if session is None or session.closed:
            return
        try:
            connector = session.connector
            session.detach()
            if connector is not None:
                connector._close()  # the synchronous part of `close()`; nothing left to await
        except Exception:  # noqa: S110 - a finaliser must not raise (interpreter shutdown)
            pass


def env_proxy(url: str) -> str | None:
    """The proxy the environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) names for `url`, if any."""
    parts = urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def _timeout(timeout: float | None, read_timeout: float | None = None) -> aiohttp.ClientTimeout:
    # No total: the adapter's own deadline (asyncio.timeout) bounds the whole call, streams included.
    return aiohttp.ClientTimeout(
        total=None,
        connect=timeout,
        sock_connect=timeout,
        sock_read=read_timeout if read_timeout is not None else timeout,
    )


async def lines(response: aiohttp.ClientResponse) -> AsyncIterator[str]:
    """The body as text lines, as they arrive. No line length limit: a Gemini SSE event carrying an
    image is one very long `data:` line."""
    buffer = b""
    async for chunk in response.content.iter_any():
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", errors="replace")
    if buffer:
        yield buffer.decode("utf-8", errors="replace")


async def sse_batches(response: aiohttp.ClientResponse) -> AsyncIterator[list[tuple[bytes, bytes]]]:
    """The body's server-sent events as `(event, data)` pairs, in batches: every event complete in
    what one read brought, so a fast stream costs one step of this generator per read, not per event.

    `event` is empty when the event named none; `data` joins the event's `data:` lines with a
    newline. Comments (`: keep-alive`), `id:`, `retry:` and events without data are skipped, and an
    event the body ends in the middle of is dropped, as the SSE spec (and the SDKs) do. Lines may
    end in LF, CRLF or CR; no line length limit (an event carrying an image is one long line).
    """
    cutter = _SseCutter()
    async for received in response.content.iter_any():
        batch = cutter.feed(received)
        if batch:
            yield batch
    batch = cutter.finish()
    if batch:
        yield batch


class _SseCutter:
    __slots__ = ("data", "event", "held_cr", "pending")

    def __init__(self) -> None:
        self.pending: list[bytes] = []  # the start of a line that has not ended yet
        self.held_cr = False
        self.event = b""
        self.data: list[bytes] = []

    def feed(self, received: bytes) -> list[tuple[bytes, bytes]]:
        if self.held_cr:
            received = b"\r" + received
            self.held_cr = False
        if b"\r" in received:
            # A CR at the very end may be the first half of a CRLF split across two reads.
            if received.endswith(b"\r"):
                self.held_cr = True
                received = received[:-1]
            received = received.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        pending = self.pending
        if b"\n" not in received:
            pending.append(received)  # joined once the line ends: no quadratic re-concatenation
            return []
        if pending:
            pending.append(received)
            received = b"".join(pending)
            pending.clear()
        *lines, rest = received.split(b"\n")
        if rest:
            pending.append(rest)
        batch: list[tuple[bytes, bytes]] = []
        data = self.data
        for line in lines:
            if not line:  # the blank line that ends an event
                if data:
                    batch.append((self.event, data[0] if len(data) == 1 else b"\n".join(data)))
                    self.data = data = []
                self.event = b""
            elif line.startswith(b"data:"):
                data.append(line[6:] if line.startswith(b"data: ") else line[5:])
            elif line.startswith(b"event:"):
                self.event = line[6:].strip()
        return batch

    def finish(self) -> list[tuple[bytes, bytes]]:
        """The body ended: a CR held back was a line end after all."""
        if not self.held_cr:
            return []
        self.held_cr = False
        return self.feed(b"\n")


async def drain(response: aiohttp.ClientResponse, *, within: float = 0.1) -> None:
    """Read what is left of a body the caller is done with (the end of a chunked stream after its
    last event), so the connection goes back to the pool instead of being closed; a body that
    does not end within `within` seconds is left to be closed."""
    try:
        async with asyncio.timeout(within):
            while await response.content.readany():
                pass
    except (TimeoutError, aiohttp.ClientError):
        pass


def transport_failure(exc: BaseException) -> tuple[ErrorKind, str] | None:
    """What an aiohttp exception says about the call: a timeout, or a failed connection."""
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts are TimeoutErrors
        return "timeout", "read timed out"
    if isinstance(exc, aiohttp.ClientError):
        return "connection", f"connection failed: {type(exc).__name__}"
    return None


# --------------------------------------------------------------------------- the SDKs on the pool


class AiohttpTransport(httpx2.AsyncBaseTransport):
    """httpx2 requests (the official SDKs' own) sent over a provider's aiohttp pool.

    aiohttp failures come out as the httpx2 exceptions the SDKs expect, so a dropped connection is
    a connection error, not a timeout. Closing the pool is the owner's business, not this one's.
    """

    def __init__(self, http: ProviderHttp) -> None:
        self._http = http

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        timeout = request.extensions.get("timeout") or {}
        try:
            data: Any = request.content or None
        except httpx2.RequestNotRead:
            data = request.stream  # an upload the SDK streams: aiohttp frames it itself
            request.headers.pop("transfer-encoding", None)
        try:
            response = await self._http.session.request(
                request.method,
                str(request.url),
                data=data,
                headers=request.headers.multi_items(),
                allow_redirects=False,  # httpx2 follows them itself
                auto_decompress=False,  # ...and decodes the body
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        except Exception as exc:
            mapped = _httpx2_error(exc, connecting=True)
            if mapped is exc:
                raise
            raise mapped from exc
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        return httpx2.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseBody(response),
            request=request,
            extensions=extensions,
        )


class _ResponseBody(httpx2.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except Exception as exc:
            mapped = _httpx2_error(exc, connecting=False)
            if mapped is exc:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        # Back to the pool when the body was read to its end; closed otherwise.
        self._response.release()


def _httpx2_error(exc: Exception, *, connecting: bool) -> Exception:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx2.ConnectTimeout(message)
    if isinstance(exc, TimeoutError):
        return httpx2.ReadTimeout(message)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx2.UnsupportedProtocol(message)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx2.ConnectError(message)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx2.RemoteProtocolError(message)
    if isinstance(exc, aiohttp.ClientError):
        return httpx2.ConnectError(message) if connecting else httpx2.ReadError(message)
    return exc
