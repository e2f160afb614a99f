"""/health and the API docs stay open; the OpenAPI document declares the key; no secret leaks."""

import pytest

from tests.access.conftest import bearer

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.access.urls")]

PLANTED_PROVIDER_KEY = "sk-planted-provider-key-0123456789abcdef"


@pytest.mark.parametrize("path", ["/health", "/api/docs/", "/api/redoc/", "/api/schema/"])
@pytest.mark.parametrize("headers", [{}, bearer("aip_a-wrong-key")], ids=["no-key", "wrong-key"])
def test_health_and_docs_need_no_key(client, path, headers):
    response = client.get(path, **headers)
    assert response.status_code == 200, response.content[:500]


def test_the_openapi_document_declares_both_key_headers(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": schemes["bearerAuth"]["description"]
    }
    assert schemes["apiKeyHeader"]["in"] == "header"
    assert schemes["apiKeyHeader"]["name"] == "X-API-Key"
    gate = schema["paths"]["/api/v1/_test/gate"]["post"]
    assert {"bearerAuth": []} in gate["security"]
    assert {"apiKeyHeader": []} in gate["security"]
    assert schema["paths"]["/health"]["get"].get("security", []) in ([], [{}])  # open


def test_provider_keys_appear_in_no_answer(client, admin_client, make_key, monkeypatch):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_AI_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.setenv(name, PLANTED_PROVIDER_KEY)
    api_key, _ = make_key()
    answers = [
        client.get("/health"),
        client.get("/api/schema/"),
        client.post("/api/v1/_test/gate", {}, content_type="application/json"),
        client.post("/api/v1/_test/gate", {}, content_type="application/json", **bearer(PLANTED_PROVIDER_KEY)),
        admin_client.get("/admin/access/apikey/"),
        admin_client.get(f"/admin/access/apikey/{api_key.pk}/change/"),
    ]
    for response in answers:
        assert PLANTED_PROVIDER_KEY.encode() not in response.content


def test_a_rejected_key_never_reaches_a_log_line(client, make_key, caplog):
    make_key()
    with caplog.at_level("DEBUG"):
        client.post("/api/v1/_test/gate", {}, content_type="application/json", **bearer(PLANTED_PROVIDER_KEY))
        client.post(
            "/api/v1/_test/gate", {}, content_type="application/json", HTTP_X_API_KEY=PLANTED_PROVIDER_KEY
        )
    assert caplog.records  # the 401s are logged...
    assert PLANTED_PROVIDER_KEY not in caplog.text  # ...without the key
    assert all(PLANTED_PROVIDER_KEY not in str(r.__dict__) for r in caplog.records)
