"""The emulator's own HTTP behaviour: auth rules, protocol rules, control API, stats."""

from __future__ import annotations

import io
import json
import time

import httpx
import pytest

from providers.emulator import Emulator, EmulatorServer, FaultSpecError, parse_fault
from providers.emulator.faults import Fault

from .conftest import API_KEY, EXPECTED_TEXT, fixture_json

OPENAI_BODY = {
    "model": "gpt-4.1-mini",
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
}
ANTHROPIC_BODY = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
}
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "What is the capital of France?"}]}]}
GEMINI_PATH = "/gemini/v1beta/models/gemini-2.5-flash:generateContent"


def post(emulator: EmulatorServer, path: str, body: dict, **headers: str) -> httpx.Response:
    return httpx.post(f"{emulator.base_url}{path}", json=body, headers=headers, timeout=5)


# ---------------------------------------------------------------- auth, per protocol


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"authorization": "Bearer invalid-abc"}, 401),
        ({"authorization": "Bearer bad"}, 401),
        ({"authorization": f"Bearer {API_KEY}"}, 200),
    ],
)
@pytest.mark.parametrize("path", ["/openai/v1/chat/completions", "/deepseek/chat/completions"])
def test_openai_protocol_auth(emulator, path, headers, status):
    response = post(emulator, path, OPENAI_BODY, **headers)

    assert response.status_code == status
    if status == 401:
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({"anthropic-version": "2026-10-21"}, 401, "x-api-key header is required"),
        ({"x-api-key": "invalid-1", "anthropic-version": "2026-10-21"}, 401, "invalid x-api-key"),
        ({"x-api-key": API_KEY}, 400, "anthropic-version: header is required"),
        ({"x-api-key": API_KEY, "anthropic-version": "2099-01-01"}, 400, None),
        ({"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}, 200, None),
        ({"authorization": f"Bearer {API_KEY}", "anthropic-version": "2026-10-21"}, 200, None),
    ],
)
def test_anthropic_auth_accepts_either_header_and_version(emulator, headers, status, message):
    response = post(emulator, "/anthropic/v1/messages", ANTHROPIC_BODY, **headers)

    assert response.status_code == status
    if message:
        assert response.json()["error"]["message"] == message


@pytest.mark.parametrize("parameter", ["temperature", "top_p", "top_k"])
def test_anthropic_2026_version_rejects_sampling_parameters(emulator, parameter):
    body = {**ANTHROPIC_BODY, parameter: 0.5}

    new = post(
        emulator, "/anthropic/v1/messages", body, **{"x-api-key": API_KEY, "anthropic-version": "2026-10-21"}
    )
    old = post(
        emulator, "/anthropic/v1/messages", body, **{"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
    )

    assert new.status_code == 400
    assert new.json()["error"] == {
        "type": "invalid_request_error",
        "message": f"{parameter}: Extra inputs are not permitted",
    }
    assert old.status_code == 200


@pytest.mark.parametrize(
    ("headers", "query", "status", "rpc_status"),
    [
        ({}, {}, 403, "PERMISSION_DENIED"),
        ({"x-goog-api-key": "bad"}, {}, 400, "INVALID_ARGUMENT"),
        ({"x-goog-api-key": "invalid-key"}, {}, 400, "INVALID_ARGUMENT"),
        ({"x-goog-api-key": API_KEY}, {}, 200, None),
        ({}, {"key": API_KEY}, 200, None),
    ],
)
def test_gemini_auth(emulator, headers, query, status, rpc_status):
    response = httpx.post(
        f"{emulator.base_url}{GEMINI_PATH}", params=query, json=GEMINI_BODY, headers=headers
    )

    assert response.status_code == status
    if rpc_status:
        assert response.json()["error"]["status"] == rpc_status
    if status == 400:
        assert response.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"


def test_gemini_accepts_snake_case_fields(emulator):
    body = {
        **GEMINI_BODY,
        "system_instruction": {"parts": [{"text": "Be brief."}]},
        "generation_config": {"max_output_tokens": 4},
    }

    response = post(emulator, GEMINI_PATH, body, **{"x-goog-api-key": API_KEY})

    assert response.json()["candidates"][0]["finishReason"] == "MAX_TOKENS"


def test_gemini_stream_without_alt_sse_is_a_json_array(emulator):
    path = "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent"

    response = post(emulator, path, GEMINI_BODY, **{"x-goog-api-key": API_KEY})

    chunks = response.json()
    assert isinstance(chunks, list) and len(chunks) > 1
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == EXPECTED_TEXT


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        (
            "/openai/v1/chat/completions",
            {"model": "gpt-4.1-mini", "messages": []},
            {"authorization": f"Bearer {API_KEY}"},
        ),
        (
            "/anthropic/v1/messages",
            {**ANTHROPIC_BODY, "messages": [{"role": "system", "content": "x"}]},
            {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"},
        ),
        (GEMINI_PATH, {"contents": []}, {"x-goog-api-key": API_KEY}),
    ],
)
def test_invalid_requests_get_a_400_in_the_provider_format(emulator, path, body, headers):
    assert post(emulator, path, body, **headers).status_code == 400


def test_unknown_path_is_a_404(emulator):
    response = httpx.get(
        f"{emulator.base_url}/openai/v1/nothing-here", headers={"authorization": f"Bearer {API_KEY}"}
    )

    assert response.status_code == 404
    assert "error" in response.json()


# ---------------------------------------------------------------- URL scheme and counting


def test_bare_real_paths_are_served_and_counted_per_protocol(emulator):
    bearer = {"authorization": f"Bearer {API_KEY}"}
    post(emulator, "/v1/chat/completions", OPENAI_BODY, **bearer)
    post(emulator, "/chat/completions", OPENAI_BODY, **bearer)
    post(
        emulator, "/v1/messages", ANTHROPIC_BODY, **{"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
    )
    post(
        emulator,
        "/v1beta/models/gemini-2.5-flash:generateContent",
        GEMINI_BODY,
        **{"x-goog-api-key": API_KEY},
    )

    providers = emulator.stats()["providers"]
    assert {name: p["requests"] for name, p in providers.items()} == {
        "openai": 1,
        "deepseek": 1,
        "anthropic": 1,
        "gemini": 1,
    }


def test_any_provider_name_can_be_a_prefix(emulator):
    base = emulator.url_for("my-vllm", kind="openai_compatible")

    response = httpx.post(
        f"{base}/chat/completions", json=OPENAI_BODY, headers={"authorization": f"Bearer {API_KEY}"}
    )

    assert response.json()["choices"][0]["message"]["content"] == EXPECTED_TEXT
    assert emulator.stats()["providers"]["my-vllm"]["paths"] == {"POST /v1/chat/completions": 1}


def test_url_for_matches_each_sdks_base_url(emulator):
    base = emulator.base_url
    assert emulator.url_for("openai") == f"{base}/openai/v1"
    assert emulator.url_for("deepseek") == f"{base}/deepseek"
    assert emulator.url_for("deepseek", kind="openai") == f"{base}/deepseek"
    assert emulator.url_for("anthropic") == f"{base}/anthropic"
    assert emulator.url_for("gemini") == f"{base}/gemini/v1beta"


def test_model_is_echoed_without_the_fault_suffix(emulator):
    body = {**OPENAI_BODY, "model": "gpt-4o-mini@fault=latency:10"}

    response = post(emulator, "/openai/v1/chat/completions", body, authorization=f"Bearer {API_KEY}")

    assert response.json()["model"] == "gpt-4o-mini"
    assert response.json()["system_fingerprint"] == "fp_emulator"
    assert response.headers["x-emulator"] == "ai-provider-service"


def test_requests_log_masks_credentials(emulator):
    post(emulator, "/openai/v1/chat/completions", OPENAI_BODY, authorization=f"Bearer {API_KEY}")

    logged = emulator.requests("openai")

    assert logged[-1]["body"] == OPENAI_BODY
    assert API_KEY not in json.dumps(logged)


# ---------------------------------------------------------------- control API


def test_control_api_round_trip(emulator):
    base = f"{emulator.base_url}/_emulator"

    assert httpx.get(f"{base}/health").json() == {"status": "ok"}
    assert (
        httpx.post(
            f"{base}/faults", json={"provider": "openai", "fault": "status:502", "count": None}
        ).status_code
        == 200
    )
    assert httpx.get(f"{base}/faults").json() == {"openai": {"fault": "status:502", "count": None}}
    assert (
        post(
            emulator, "/openai/v1/chat/completions", OPENAI_BODY, authorization=f"Bearer {API_KEY}"
        ).status_code
        == 502
    )
    assert httpx.get(f"{base}/stats").json()["providers"]["openai"]["requests"] == 1
    assert (
        httpx.get(f"{base}/requests", params={"provider": "openai"}).json()[0]["path"]
        == "/v1/chat/completions"
    )

    assert httpx.delete(f"{base}/faults", params={"provider": "openai"}).json() == {}
    assert (
        post(
            emulator, "/openai/v1/chat/completions", OPENAI_BODY, authorization=f"Bearer {API_KEY}"
        ).status_code
        == 200
    )

    assert httpx.post(f"{base}/reset").status_code == 200
    assert httpx.get(f"{base}/stats").json() == {"total": 0, "providers": {}}


@pytest.mark.parametrize(
    "payload",
    [
        {"provider": "openai", "fault": "explode"},
        {"provider": "openai", "fault": "status:abc"},
        {"provider": "openai", "fault": "status:503", "count": 0},
        {"provider": "openai", "fault": "status:503", "count": "two"},
        {"fault": "status:503"},
    ],
)
def test_control_api_rejects_bad_faults(emulator, payload):
    response = httpx.post(f"{emulator.base_url}/_emulator/faults", json=payload)

    assert response.status_code == 400
    assert emulator.emulator.faults() == {}


def test_bad_fault_header_is_a_provider_400(emulator):
    response = post(
        emulator,
        "/openai/v1/chat/completions",
        OPENAI_BODY,
        authorization=f"Bearer {API_KEY}",
        **{"x-emulator-fault": "nope"},
    )

    assert response.status_code == 400
    assert "emulator fault" in response.json()["error"]["message"]


def test_header_fault_wins_over_the_standing_fault(emulator):
    emulator.set_fault("openai", "status:503")

    response = post(
        emulator,
        "/openai/v1/chat/completions",
        OPENAI_BODY,
        authorization=f"Bearer {API_KEY}",
        **{"x-emulator-fault": "status:404"},
    )

    assert response.status_code == 404


def test_latency_fault_delays_the_answer(emulator):
    started = time.monotonic()

    response = post(
        emulator,
        "/openai/v1/chat/completions",
        OPENAI_BODY,
        authorization=f"Bearer {API_KEY}",
        **{"x-emulator-fault": "latency:250"},
    )

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.25


# ---------------------------------------------------------------- fault grammar


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", Fault()),
        ("status:503", Fault(action="status", arg=503)),
        ("latency:150, rate_limit:2.5", Fault(latency_ms=150, action="rate_limit", arg=2.5)),
        ("HANG", Fault(action="hang")),
        ("cut:3", Fault(action="cut", arg=3)),
    ],
)
def test_parse_fault(spec, expected):
    assert parse_fault(spec) == expected


@pytest.mark.parametrize("spec", ["boom", "status", "status:99", "hang:1", "cut:-1", "status:500,drop"])
def test_parse_fault_rejects_nonsense(spec):
    with pytest.raises(FaultSpecError):
        parse_fault(spec)


def test_emulator_server_runs_standalone_and_stops():
    with EmulatorServer(Emulator()) as server:
        url = server.base_url
        assert httpx.get(f"{url}/_emulator/health").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/_emulator/health", timeout=1)


def test_replay_serves_fixtures_verbatim(emulator):
    emulator.emulator.replay("openai", fixture_json("openai/chat-response.json"))

    response = post(emulator, "/openai/v1/chat/completions", OPENAI_BODY)  # replays skip auth

    assert response.json() == fixture_json("openai/chat-response.json")
    second = post(emulator, "/openai/v1/chat/completions", OPENAI_BODY, authorization=f"Bearer {API_KEY}")
    assert second.json()["choices"][0]["message"]["content"] == EXPECTED_TEXT  # one reply per replay


def test_stats_count_gemini_paths_without_the_fault_suffix(emulator):
    path = "/gemini/v1beta/models/gemini-2.5-flash@fault=status:503:generateContent"

    response = post(emulator, path, GEMINI_BODY, **{"x-goog-api-key": API_KEY})

    assert response.status_code == 503
    assert emulator.stats()["providers"]["gemini"]["paths"] == {
        "POST /v1beta/models/gemini-2.5-flash:generateContent": 1
    }
    assert response.json()["error"]["status"] == "UNAVAILABLE"


def test_run_emulator_command_serves_the_emulator_with_uvicorn(monkeypatch):
    from django.core.management import call_command

    from providers.management.commands import run_emulator

    calls = []
    monkeypatch.setattr(run_emulator.uvicorn, "run", lambda app, **kwargs: calls.append((app, kwargs)))

    call_command("run_emulator", "--port", "8123", "--invalid-key-prefix", "nope", stdout=io.StringIO())

    ((app, kwargs),) = calls
    assert isinstance(app, Emulator)
    assert (kwargs["host"], kwargs["port"]) == ("127.0.0.1", 8123)
    assert app.invalid_key_prefixes == ("nope",)
