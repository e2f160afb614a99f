"""Request bodies at the ASGI edge (aiprovider_site/request_body.py), in process: a chunked body
reaches the view whole, and one above API_MAX_BODY_BYTES is refused once it passes the limit, the
rest never pulled from the client. (tests/deploy/test_server_limits.py shows the same on a server.)"""

import json

import httpx
import pytest
from asgiref.sync import sync_to_async

from access.services import api_key_create
from aiprovider_site import asgi

pytestmark = pytest.mark.django_db(transaction=True)


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi.application), base_url="http://localhost")


async def key() -> str:
    _, secret = await sync_to_async(api_key_create)(name="bodies")
    return secret


async def test_a_chunked_body_is_read_whole(settings):
    body = json.dumps({"messages": [], "model": "gpt-4o-mini"}).encode()

    async def pieces():
        for start in range(0, len(body), 4):
            yield body[start:start + 4]

    async with client() as http:
        response = await http.post(
            "/api/v1/completion", content=pieces(),
            headers={"Authorization": f"Bearer {await key()}", "Content-Type": "application/json"},
        )
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 400
    # The view saw the list (an empty body would be "This field is required.").
    assert response.json()["context"]["fields"] == {"messages.non_field_errors": ["This list may not be empty."]}


async def test_a_chunked_body_above_the_limit_is_refused_unread(settings):
    settings.API_MAX_BODY_BYTES = 100_000
    pulled = 0

    async def endless():
        nonlocal pulled
        for _ in range(1000):  # 10 MB if it were all read
            pulled += 1
            yield b"x" * 10_000

    async with client() as http:
        response = await http.post(
            "/v1/chat/completions", content=endless(),
            headers={"Authorization": f"Bearer {await key()}", "Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"  # OpenAI's shape under /v1/
    assert response.headers["Connection"] == "close"
    assert pulled <= 12


async def test_a_declared_length_above_the_limit_is_refused_before_the_body(settings):
    settings.API_MAX_BODY_BYTES = 1000
    async with client() as http:
        response = await http.post(
            "/api/v1/completion", content=b"{" + b" " * 5000 + b"}",
            headers={"Content-Type": "application/json", "X-Request-ID": "big-1"},
        )
    assert response.status_code == 413
    body = response.json()
    assert body["error_code"] == "PAYLOAD_TOO_LARGE"
    assert body["context"] == {"limit_bytes": 1000, "received_bytes": 5002}
    assert body["request_id"] == response.headers["X-Request-ID"] == "big-1"
