"""CORS for browser clients: off unless CORS_ALLOWED_ORIGINS lists origins; then the API (both
middleware stacks: the short one API calls take under ASGI and the full one) answers preflights and
marks its answers, errors included, for those origins only, never for the admin."""

import json
import os
import subprocess
import sys

import httpx
import pytest
from django.test import override_settings

from aiprovider_site.asgi import ApiASGIHandler
from tests.deploy.servers import ROOT

ORIGIN = "https://app.example.com"
CORS = "corsheaders.middleware.CorsMiddleware"


def settings_with(**env: str) -> dict:
    """The middleware stacks and CORS settings that settings.py builds from this environment."""
    code = (
        "import json; from aiprovider_site import settings as s; print(json.dumps({'MIDDLEWARE': s.MIDDLEWARE, "
        "'API_MIDDLEWARE': s.API_MIDDLEWARE, 'CORS_ALLOWED_ORIGINS': s.CORS_ALLOWED_ORIGINS}))"
    )
    clean = {k: v for k, v in os.environ.items() if k != "CORS_ALLOWED_ORIGINS"}
    out = subprocess.run(
        [sys.executable, "-c", code], env={**clean, "AI_PROVIDER_ENV_FILE": "/nonexistent", **env}, cwd=ROOT,
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def cors_on():
    return settings_with(CORS_ALLOWED_ORIGINS=f"{ORIGIN},http://localhost:3000")


def test_cors_is_off_by_default():
    default = settings_with()
    assert default["CORS_ALLOWED_ORIGINS"] == []
    assert CORS not in default["MIDDLEWARE"] and CORS not in default["API_MIDDLEWARE"]


def test_listed_origins_put_the_middleware_outside_the_error_envelope_of_both_stacks(cors_on):
    assert cors_on["CORS_ALLOWED_ORIGINS"] == [ORIGIN, "http://localhost:3000"]
    for stack in (cors_on["MIDDLEWARE"], cors_on["API_MIDDLEWARE"]):
        assert stack.index(CORS) < stack.index("aiprovider_site.middleware.ApiErrorEnvelopeMiddleware")


@pytest.mark.django_db(transaction=True)
async def test_the_api_answers_preflights_and_marks_errors_for_listed_origins_only(cors_on):
    with override_settings(
        CORS_ALLOWED_ORIGINS=cors_on["CORS_ALLOWED_ORIGINS"],
        API_MIDDLEWARE=cors_on["API_MIDDLEWARE"],
        MIDDLEWARE=cors_on["MIDDLEWARE"],
    ):
        transport = httpx.ASGITransport(app=ApiASGIHandler())
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            preflight = await client.options(
                "/api/v1/completion",
                headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                         "Access-Control-Request-Headers": "authorization, content-type, x-api-key"},
            )
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == ORIGIN
            allowed = preflight.headers["access-control-allow-headers"]
            assert "authorization" in allowed and "x-api-key" in allowed
            assert "access-control-allow-credentials" not in preflight.headers

            # A refused request still carries the headers, so the browser app can read the envelope.
            refused = await client.post("/api/v1/completion", json={}, headers={"Origin": ORIGIN})
            assert refused.status_code == 401
            assert refused.json()["error_code"] == "AUTHENTICATION_FAILED"
            assert refused.headers["access-control-allow-origin"] == ORIGIN
            exposed = refused.headers["access-control-expose-headers"]
            assert "x-request-id" in exposed and "x-ratelimit-remaining" in exposed and "retry-after" in exposed

            other = await client.post("/api/v1/completion", json={}, headers={"Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in other.headers


@pytest.mark.django_db
def test_without_origins_a_preflight_gets_no_cors_headers(client):
    response = client.options(
        "/api/v1/completion", HTTP_ORIGIN=ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.django_db
def test_the_admin_is_never_opened_to_other_origins(client, cors_on):
    with override_settings(CORS_ALLOWED_ORIGINS=cors_on["CORS_ALLOWED_ORIGINS"], MIDDLEWARE=cors_on["MIDDLEWARE"]):
        response = client.get("/admin/login/", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
