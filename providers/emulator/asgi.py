"""The emulator's ASGI plumbing: reading requests, and sending replies whole, as events, paced,
truncated or cut off (the faults' transport behaviours)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from .faults import MODEL_FAULT_MARKER
from .wires.base import Reply

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

EMULATOR_HEADER: Final = ("x-emulator", "ai-provider-service")
# First path segments that belong to a real provider path rather than a provider-name prefix.
_REAL_PATH_ROOTS: Final = frozenset({"v1", "v1beta", "chat", "models"})
_HANG_LIMIT_S: Final = 600.0
# What `decode_json` answers for a body that is not JSON (an empty body reads as {}).
INVALID_JSON: Final = object()


def split_path(path: str) -> tuple[str | None, str]:
    stripped = path.strip("/")
    first, _, rest = stripped.partition("/")
    if first in _REAL_PATH_ROOTS:
        return None, stripped
    return first or None, rest


def without_fault(rest: str) -> str:
    """The path with a `@fault=` model suffix removed (Gemini names the model in the path)."""
    if MODEL_FAULT_MARKER not in rest:
        return rest
    head, _, tail = rest.partition(MODEL_FAULT_MARKER)
    verb = tail.rpartition(":")[2]
    return f"{head}:{verb}" if verb in ("generateContent", "streamGenerateContent") else head


def decode_json(raw: bytes) -> Any:
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return INVALID_JSON


def split_events(raw: bytes) -> list[bytes]:
    """Split an SSE body after each blank line (LF or CRLF), keeping the bytes exact."""
    events: list[bytes] = []
    start = 0
    for index in range(len(raw)):
        if raw.startswith(b"\n\n", index) or raw.startswith(b"\r\n\r\n", index):
            end = index + (2 if raw.startswith(b"\n\n", index) else 4)
            if end > start:
                events.append(raw[start:end])
                start = end
    if start < len(raw):
        events.append(raw[start:])
    return events


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _header_list(headers: Mapping[str, str], length: int | None = None) -> list[tuple[bytes, bytes]]:
    items = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()]
    items.append((EMULATOR_HEADER[0].encode(), EMULATOR_HEADER[1].encode()))
    if length is not None:
        items.append((b"content-length", str(length).encode()))
    return items


async def send_reply(send: Send, reply: Reply, *, abort_at_end: bool = False) -> None:
    if reply.events is None:
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": _header_list(reply.headers, len(reply.body)),
            }
        )
        await send({"type": "http.response.body", "body": reply.body, "more_body": False})
        return
    await send(
        {"type": "http.response.start", "status": reply.status, "headers": _header_list(reply.headers)}
    )
    for event in reply.events:
        await send({"type": "http.response.body", "body": event, "more_body": True})
        await asyncio.sleep(0)  # let each event go out as its own write, as a real server's would
    if abort_at_end:
        await asyncio.sleep(0.01)  # make sure the events are on the wire before the reset
        await drop(send, started=True)
        return
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def send_paced(send: Send, receive: Receive, reply: Reply, pace_s: float, on_abort) -> None:
    """Send the events `pace_s` apart, stopping (and counting it) when the client disconnects."""
    gone = asyncio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    watcher = asyncio.ensure_future(watch())
    try:
        await send(
            {"type": "http.response.start", "status": reply.status, "headers": _header_list(reply.headers)}
        )
        for event in reply.events or []:
            if gone.is_set():
                on_abort()
                return
            await send({"type": "http.response.body", "body": event, "more_body": True})
            try:
                async with asyncio.timeout(pace_s):
                    await gone.wait()
            except TimeoutError:
                continue
            on_abort()
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        watcher.cancel()


async def send_truncated(send: Send, reply: Reply) -> None:
    """Announce the full length, send half the body, then drop the connection."""
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": _header_list(reply.headers, len(reply.body)),
        }
    )
    await send({"type": "http.response.body", "body": reply.body[: len(reply.body) // 2], "more_body": True})
    await drop(send, started=True)


class _ConnectionDropped(Exception):
    """Raised to make a server that we cannot reach into close the connection."""


async def drop(send: Send, *, started: bool = False) -> None:
    # uvicorn's `send` is a bound method of the request cycle, which holds the transport: abort it
    # so the client sees the connection close with no (further) bytes. Elsewhere, fall back to
    # failing mid-response, which servers answer by closing the connection.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        transport.abort()
        await asyncio.sleep(0.01)  # let the server notice the disconnect before we return
        return
    if not started:
        await send({"type": "http.response.start", "status": 200, "headers": _header_list({}, 1000)})
    raise _ConnectionDropped("emulated dropped connection")


async def wait_for_disconnect(receive: Receive) -> None:
    try:
        async with asyncio.timeout(_HANG_LIMIT_S):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        pass


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
