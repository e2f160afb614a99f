"""GET /api/v1/metrics: exact figures over crafted usage records, the window, and who may read it."""

from datetime import timedelta

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def crafted(priced_catalogue, make_record):
    tokens = {"prompt_tokens": 1000, "completion_tokens": 500}
    # openai: three answered (one after a retry), one cache hit.
    make_record(provider="openai", model="gpt-test", latency_ms=100, cost_usd="0.002", **tokens)
    make_record(provider="openai", model="gpt-test", latency_ms=200, cost_usd="0.002", attempts=2, **tokens)
    make_record(provider="openai", model="gpt-test", latency_ms=300, cost_usd="0.002", **tokens)
    make_record(provider="openai", model="gpt-test", latency_ms=1, status="cache_hit", attempts=0, **tokens)
    # anthropic: one failure after three attempts, one answer.
    make_record(provider="anthropic", model="claude-test", latency_ms=400, status="error", attempts=3,
                error_code="UNAVAILABLE")
    make_record(provider="anthropic", model="claude-test", latency_ms=500, cost_usd="0.0105", **tokens)
    # Every provider failed: no provider on the record.
    make_record(provider="", model="", latency_ms=50, status="error", attempts=2, error_code="PROVIDER_UNAVAILABLE")
    # Outside a one-hour window.
    make_record(provider="openai", model="gpt-test", latency_ms=9000, cost_usd="5", ago=timedelta(hours=2), **tokens)


def test_totals_and_per_provider_figures_are_exact(api, crafted):
    response = api("/api/v1/metrics", window="1h")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["window"] == "1h"
    totals = body["totals"]
    assert totals["requests"] == 7
    assert totals["successes"] == 4
    assert totals["errors"] == 2
    assert totals["cache_hits"] == 1
    assert totals["success_rate"] == round(5 / 7, 4)  # a cache hit is an answer
    assert totals["cache_hit_rate"] == round(1 / 7, 4)
    assert totals["failovers"] == 3
    # Latency over requests that reached providers: 50, 100, 200, 300, 400, 500 (interpolated).
    assert totals["latency_ms"] == {"p50": 250.0, "p95": 475.0, "p99": 495.0}
    assert totals["prompt_tokens"] == 4000  # billed tokens: cache hits excluded
    assert totals["completion_tokens"] == 2000
    assert totals["cost_usd"] == "0.01650000"  # money: decimal strings, 8 places
    # The cache hit's 1000 + 500 tokens at gpt-test's $1 / $2 per million.
    assert totals["cache_savings_usd"] == "0.00200000"

    providers = {p["provider"]: p for p in body["providers"]}
    assert set(providers) == {"openai", "anthropic", None}
    openai = providers["openai"]
    assert openai["requests"] == 4 and openai["cache_hits"] == 1 and openai["failovers"] == 1
    assert openai["success_rate"] == 1.0
    assert openai["cache_hit_rate"] == 0.25
    assert openai["latency_ms"] == {"p50": 200.0, "p95": 290.0, "p99": 298.0}
    assert openai["cost_usd"] == "0.00600000"
    assert openai["cache_savings_usd"] == "0.00200000"
    anthropic = providers["anthropic"]
    assert anthropic["requests"] == 2 and anthropic["errors"] == 1 and anthropic["failovers"] == 1
    assert anthropic["success_rate"] == 0.5
    assert anthropic["latency_ms"] == {"p50": 450.0, "p95": 495.0, "p99": 499.0}
    assert anthropic["cost_usd"] == "0.01050000"
    assert providers[None]["errors"] == 1 and providers[None]["success_rate"] == 0.0


def test_the_default_window_is_a_day(api, crafted):
    body = api("/api/v1/metrics").json()
    assert body["window"] == "24h"
    assert body["totals"]["requests"] == 8
    assert body["totals"]["cost_usd"] == "5.01650000"


def test_an_empty_window_has_zeroes_and_no_rates(api, priced_catalogue):
    totals = api("/api/v1/metrics", window="30m").json()["totals"]
    assert totals["requests"] == 0
    assert totals["success_rate"] is None
    assert totals["latency_ms"] == {"p50": None, "p95": None, "p99": None}


def test_the_process_reports_uptime_and_in_flight_requests(api):
    process = api("/api/v1/metrics").json()["process"]
    assert process["uptime_s"] > 0
    assert process["in_flight_requests"] == 0
    assert process["pid"] > 0


@pytest.mark.parametrize("window", ["abc", "0h", "12", "5w", "-1h", "9999d"])
def test_a_bad_window_is_a_400_envelope(api, window):
    response = api("/api/v1/metrics", window=window)
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    assert body["context"]["window"] == window
    assert body["request_id"]


def test_a_key_without_the_analytics_scope_is_refused(client, db):
    from access.services import api_key_create

    _, secret = api_key_create(name="plain")
    response = client.get("/api/v1/metrics", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 403
    assert response.json()["error_code"] == "INSUFFICIENT_SCOPE"
    assert client.get("/api/v1/metrics").status_code == 401


def test_a_staff_session_may_read_metrics(client, django_user_model):
    staff = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get("/api/v1/metrics").status_code == 200
