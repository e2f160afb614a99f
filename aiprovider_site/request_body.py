"""Request bodies measured at the ASGI edge, before Django reads them.

Django's ASGI handler reads the whole body (into a temporary file) before any middleware runs, and
takes a body sent without Content-Length (`Transfer-Encoding: chunked`) for an empty one. So the
size limit (API_MAX_BODY_BYTES) is applied here, for every path:

- a declared Content-Length above the limit is answered 413 before a byte of the body is read;
- a chunked body is read up to the limit (in memory up to FILE_UPLOAD_MAX_MEMORY_SIZE, then in a
  temporary file), answered 413 as soon as it passes it, and otherwise handed to Django with its
  length, exactly as if the client had sent a Content-Length.

A 413 closes the connection (`Connection: close`), so the rest of an oversized body is never read.
"""

from __future__ import annotations

import tempfile
import uuid

import structlog
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from aiprovider_site.middleware import VALID_REQUEST_ID
from core.errors import error_body, shaped_error_body

logger = structlog.get_logger(__name__)

_CONTENT_LENGTH = b"content-length"
_TRANSFER_ENCODING = b"transfer-encoding"
# Pieces the buffered body is handed to Django in: the size of uvicorn's own reads.
_REPLAY_CHUNK = 64 * 1024


def _request_id(headers) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            supplied = value.decode("latin-1")
            if VALID_REQUEST_ID.match(supplied):
                return supplied
    return uuid.uuid4().hex


async def _refuse(scope, send, *, limit: int, received: int | None) -> None:
    request_id = _request_id(scope.get("headers", ()))
    if received is None:
        message = f"Request body is too large: the limit is {limit} bytes."
        context = {"limit_bytes": limit}
    else:
        message = f"Request body is too large: {received} bytes, the limit is {limit}."
        context = {"limit_bytes": limit, "received_bytes": received}
    body = error_body(message=message, error_code="PAYLOAD_TOO_LARGE", request_id=request_id, context=context)
    payload = DjangoJSONEncoder().encode(shaped_error_body(scope["path"], body, 413)).encode()
    logger.warning("request_body_too_large", path=scope["path"], limit_bytes=limit, received_bytes=received)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"x-request-id", request_id.encode()),
                (b"x-content-type-options", b"nosniff"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def body_limited(app):
    """Wrap an ASGI app so that no HTTP request body above API_MAX_BODY_BYTES reaches it."""

    async def limited(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        limit = settings.API_MAX_BODY_BYTES
        length = None
        chunked = False
        for name, value in scope.get("headers", ()):
            if name == _CONTENT_LENGTH:
                length = value
            elif name == _TRANSFER_ENCODING:
                chunked = b"chunked" in value.lower()
        if length is not None:
            # An unparsable length never gets here: the HTTP server refuses it with a 400.
            if length.isdigit() and int(length) > limit:
                return await _refuse(scope, send, limit=limit, received=int(length))
            return await app(scope, receive, send)
        if not chunked:
            return await app(scope, receive, send)
        return await _chunked(app, scope, receive, send, limit)

    return limited


async def _chunked(app, scope, receive, send, limit: int) -> None:
    spool = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b")
    try:
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client is gone: nothing to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return await _refuse(scope, send, limit=limit, received=None)
            spool.write(chunk)
            if not message.get("more_body", False):
                break
        spool.seek(0)
        headers = [(n, v) for n, v in scope["headers"] if n != _TRANSFER_ENCODING]
        headers.append((_CONTENT_LENGTH, str(size).encode()))
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: the client's disconnect, as before
            chunk = spool.read(_REPLAY_CHUNK)
            more = spool.tell() < size
            replayed = not more
            return {"type": "http.request", "body": chunk, "more_body": more}

        await app({**scope, "headers": headers}, replay, send)
    finally:
        spool.close()
