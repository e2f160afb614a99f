"""The HTTP server's own limits, for gunicorn's uvicorn workers (production) and `manage.py serve`.

uvicorn's httptools parser puts no bound on a request's headers: a client can send a 64 MB header
and the worker keeps it all in memory (and spends seconds concatenating it). This protocol counts
the bytes of each request's head (request line and headers) as they arrive and answers 431 once
they pass HTTP_MAX_HEADER_BYTES, closing the connection without reading more.
"""

from __future__ import annotations

import json

from django.conf import settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

HTTP_PROTOCOL = "aiprovider_site.http_server:HeaderLimitedHttpToolsProtocol"


class HeaderLimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a limit on the size of a request's head."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_header_bytes = settings.HTTP_MAX_HEADER_BYTES
        self.head_bytes = 0
        self.in_head = True
        self.head_completed = False

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.head_completed = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.in_head = True  # the next request on this connection starts with its head

    def data_received(self, data: bytes) -> None:
        was_in_head = self.in_head
        self.head_completed = False
        super().data_received(data)
        if self.head_completed:
            # A head ended in this piece: the count starts again with the next one.
            self.head_bytes = 0
            return
        if not (was_in_head and self.in_head) or self.transport.is_closing():
            return  # part or all of this piece was a body: not counted as head
        self.head_bytes += len(data)
        if self.head_bytes > self.max_header_bytes:
            self.send_431_response()

    def send_431_response(self) -> None:
        limit = self.max_header_bytes
        self.logger.warning("Request headers larger than HTTP_MAX_HEADER_BYTES (%d) refused.", limit)
        body = json.dumps(
            {
                "error": f"Request headers are too large: the limit is {limit} bytes.",
                "error_code": "HEADERS_TOO_LARGE",
                "context": {"limit_bytes": limit},
            }
        ).encode()
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )
        self.transport.close()


class GatewayUvicornWorker(UvicornWorker):
    """gunicorn's uvicorn worker (gunicorn.conf.py) with the header limit above."""

    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "http": HTTP_PROTOCOL}
