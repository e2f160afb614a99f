"""Every API error leaves in the standard envelope and carries the request id."""

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.foundation.urls")]

ENVELOPE_KEYS = {"error", "error_code", "timestamp", "request_id", "context"}


def assert_envelope(response, *, status: int, error_code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["error_code"] == error_code
    assert body["error"]
    assert body["request_id"] == response["X-Request-ID"]
    return body


def test_validation_error_names_the_field(client):
    response = client.post(
        "/api/v1/_test/validate", {"temperature": 3, "messages": []}, content_type="application/json"
    )
    body = assert_envelope(response, status=400, error_code="VALIDATION_ERROR")
    assert set(body["context"]["fields"]) == {"temperature", "messages"}
    assert "temperature" in body["error"] or "messages" in body["error"]


def test_malformed_json_is_a_400(client):
    response = client.post("/api/v1/_test/validate", "{not json", content_type="application/json")
    assert_envelope(response, status=400, error_code="VALIDATION_ERROR")


def test_unknown_api_path_is_a_404_envelope(client):
    body = assert_envelope(client.get("/api/v1/no-such-thing"), status=404, error_code="NOT_FOUND")
    assert body["context"]["path"] == "/api/v1/no-such-thing"


def test_unknown_openai_path_is_a_404_in_openai_shape(client):
    """/v1 speaks OpenAI's protocol, errors included, so its SDKs can read them."""
    response = client.get("/v1/no-such-thing")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["message"] == "No API endpoint at /v1/no-such-thing."
    assert (error["type"], error["code"]) == ("invalid_request_error", "not_found")
    assert error["request_id"] == response["X-Request-ID"]


def test_wrong_method_is_a_405_envelope(client):
    body = assert_envelope(
        client.delete("/api/v1/_test/validate"), status=405, error_code="METHOD_NOT_ALLOWED"
    )
    assert body["context"]["method"] == "DELETE"


def test_unhandled_exception_in_an_api_view_is_a_500_envelope_without_details(client):
    body = assert_envelope(client.get("/api/v1/_test/crash"), status=500, error_code="INTERNAL_ERROR")
    assert "boom" not in body["error"]


def test_unhandled_exception_outside_drf_is_a_500_envelope(client):
    client.raise_request_exception = False
    response = client.get("/v1/_test/crash-plain")
    assert response.status_code == 500
    body = response.json()
    assert (body["error"]["code"], body["error"]["type"]) == ("internal_error", "server_error")
    assert body["error"]["request_id"] == response["X-Request-ID"]
    assert "boom" not in str(body)


def test_oversized_body_is_a_413(client, settings):
    settings.API_MAX_BODY_BYTES = 1000
    payload = '{"temperature": 1, "messages": [{"role": "user", "content": "' + "x" * 2000 + '"}]}'
    body = assert_envelope(
        client.post("/api/v1/_test/validate", payload, content_type="application/json"),
        status=413,
        error_code="PAYLOAD_TOO_LARGE",
    )
    assert body["context"]["limit_bytes"] == 1000


def test_caller_request_id_is_echoed_in_header_and_body(client):
    response = client.get("/api/v1/no-such-thing", HTTP_X_REQUEST_ID="trace-abc.123")
    assert response["X-Request-ID"] == "trace-abc.123"
    assert response.json()["request_id"] == "trace-abc.123"


def test_unsafe_request_id_is_replaced(client):
    response = client.get("/api/v1/no-such-thing", HTTP_X_REQUEST_ID="bad id\r\ninjected: 1")
    assert response["X-Request-ID"] != "bad id\r\ninjected: 1"
    assert len(response["X-Request-ID"]) == 32


def test_errors_outside_the_api_keep_django_pages(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")
