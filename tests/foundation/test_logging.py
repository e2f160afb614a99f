"""Log lines are JSON, carry the request id, and never carry an Authorization header."""

import json

import pytest
import structlog

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.foundation.urls")]


def test_error_log_line_is_json_with_the_request_id(client, json_log_lines):
    response = client.get("/api/v1/_test/crash", HTTP_X_REQUEST_ID="req-log-1")
    assert response.status_code == 500
    records = [json.loads(line) for line in json_log_lines]
    crash = [r for r in records if r.get("event") == "unhandled_api_exception"]
    assert crash, records
    assert crash[0]["request_id"] == "req-log-1"
    assert crash[0]["level"] == "error"


def test_secret_fields_are_redacted(json_log_lines):
    structlog.get_logger("test").warning("outbound", authorization="Bearer sk-planted-secret", x_api_key="k")
    structlog.get_logger("test").warning("outbound", api_key="sk-planted-secret")
    assert json_log_lines
    assert not any("sk-planted-secret" in line for line in json_log_lines)
