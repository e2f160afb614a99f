"""The ASGI entry point: API calls take the short all-async stack, browsers the full one."""

import httpx
import pytest

from aiprovider_site import asgi

pytestmark = pytest.mark.django_db(transaction=True)


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi.application), base_url="http://localhost")


async def test_api_calls_keep_request_id_envelope_and_security_headers():
    async with client() as http:
        response = await http.get("/api/v1/models", headers={"X-Request-ID": "asgi-1"})
    assert response.status_code == 401
    assert response.headers["X-Request-ID"] == "asgi-1"
    assert response.json()["request_id"] == "asgi-1"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "set-cookie" not in response.headers


async def test_unknown_api_path_is_still_an_envelope():
    async with client() as http:
        response = await http.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"  # OpenAI's shape under /v1


async def test_admin_goes_through_the_full_stack():
    async with client() as http:
        response = await http.get("/admin/login/")
    assert response.status_code == 200
    assert "csrftoken" in response.headers.get("set-cookie", "")
    assert response.headers["X-Frame-Options"] == "DENY"


def test_a_session_cookie_sends_api_calls_to_the_full_stack():
    scope = {"type": "http", "path": "/api/v1/metrics", "headers": [(b"cookie", b"sessionid=abc")]}
    assert asgi._is_api_call(scope) is False
    assert asgi._is_api_call({"type": "http", "path": "/api/v1/metrics", "headers": []}) is True
    assert asgi._is_api_call({"type": "http", "path": "/admin/", "headers": []}) is False
