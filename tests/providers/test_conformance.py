"""The reference fixtures (verified against the official SDKs) against the adapters and the emulator.

(a) Each fixture is replayed byte for byte by the emulator and parsed by the adapter, which must
    produce the documented normalised values.
(b) The emulator's own answers must have the fixtures' shape: the same keys, nested usage keys,
    SSE event order and framing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import groupby
from typing import Any

import httpx
import pytest

from providers.adapters import ChatChunk, ChatResponse, ModelInfo, ProviderError, Usage

from .conftest import API_KEY, PROVIDERS, chat_request, fixture_bytes, fixture_json

PARIS = "The capital of France is Paris."

# ---------------------------------------------------------------- (a) fixtures through the adapters


def _response(content: str, finish: str, usage: Usage, model: str, **details: Any) -> Callable[[Any], None]:
    def check(result: ChatResponse) -> None:
        assert isinstance(result, ChatResponse)
        assert (result.content, result.finish_reason, result.usage, result.model) == (
            content,
            finish,
            usage,
            model,
        )
        for key, value in details.items():
            if key == "reasoning_content":
                assert result.reasoning_text == value
            else:
                assert result.provider_details[key] == value

    return check


def _stream(text: str, usage: Usage, finish: str = "stop") -> Callable[[Any], None]:
    def check(chunks: list[ChatChunk]) -> None:
        *body, last = chunks
        assert "".join(chunk.delta for chunk in body) == text
        assert (last.finish_reason, last.usage) == (finish, usage)
        assert all(chunk.usage is None and chunk.finish_reason is None for chunk in body)

    return check


def _error(kind: str, retryable: bool, retry_after: float | None = None, status: int | None = None):
    def check(error: ProviderError) -> None:
        assert isinstance(error, ProviderError)
        assert (error.kind, error.retryable, error.retry_after) == (kind, retryable, retry_after)
        if status is not None:
            assert error.status_code == status

    return check


def _models(*ids: str) -> Callable[[Any], None]:
    def check(models: list[ModelInfo]) -> None:
        assert [model.id for model in models] == list(ids)

    return check


# provider, fixture, HTTP status, operation, check
REPLAYS = [
    pytest.param(
        "openai",
        "openai/chat-response.json",
        200,
        "complete",
        _response(
            PARIS,
            "stop",
            Usage(2006, 8, 1920, 0),
            "gpt-4.1-mini-2025-04-14",
            system_fingerprint="fp_6f2eabb9a5",
        ),
        id="openai-response-cached-tokens",
    ),
    pytest.param(
        "openai",
        "openai/chat-stream.sse",
        200,
        "stream",
        _stream(PARIS, Usage(27, 8, 0, 0)),
        id="openai-stream",
    ),
    pytest.param(
        "openai", "openai/error-401.json", 401, "complete", _error("authentication", False), id="openai-401"
    ),
    pytest.param(
        "openai",
        "openai/error-429.json",
        429,
        "complete",
        _error("rate_limited", True, 1.0, 429),
        id="openai-429",
    ),
    pytest.param(
        "openai",
        "openai/error-400-context-length.json",
        400,
        "complete",
        _error("context_length_exceeded", False, None, 400),
        id="openai-context-length",
    ),
    pytest.param(
        "openai",
        "openai/models-list.json",
        200,
        "models",
        _models("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", "gpt-4o-mini"),
        id="openai-models",
    ),
    pytest.param(
        "deepseek",
        "deepseek/chat-response-reasoner.json",
        200,
        "complete",
        _response(
            PARIS,
            "stop",
            Usage(1088, 38, 1024, 30),
            "deepseek-reasoner",
            reasoning_content=fixture_json("deepseek/chat-response-reasoner.json")["choices"][0]["message"][
                "reasoning_content"
            ],
        ),
        id="deepseek-reasoner-response",
    ),
    pytest.param(
        "deepseek",
        "deepseek/chat-stream-reasoner.sse",
        200,
        "stream",
        _stream(PARIS, Usage(24, 19, 0, 11)),
        id="deepseek-reasoner-stream-usage-on-finish-chunk",
    ),
    pytest.param(
        "anthropic",
        "anthropic/messages-response.json",
        200,
        "complete",
        _response(
            PARIS, "stop", Usage(21 + 1824, 10, 1824, 0), "claude-sonnet-4-6", native_finish_reason="end_turn"
        ),
        id="anthropic-response-cache-read",
    ),
    pytest.param(
        "anthropic",
        "anthropic/messages-stream.sse",
        200,
        "stream",
        _stream(PARIS, Usage(21 + 1824, 10, 1824, 0)),
        id="anthropic-stream",
    ),
    pytest.param(
        "anthropic",
        "anthropic/error-in-stream.sse",
        200,
        "stream",
        _error("unavailable", True),
        id="anthropic-error-event-in-200-stream",
    ),
    pytest.param(
        "anthropic",
        "anthropic/error-429.json",
        429,
        "complete",
        _error("rate_limited", True, 12.0, 429),
        id="anthropic-429",
    ),
    pytest.param(
        "anthropic",
        "anthropic/error-529-overloaded.json",
        529,
        "complete",
        _error("unavailable", True, None, 529),
        id="anthropic-529",
    ),
    pytest.param(
        "anthropic",
        "anthropic/error-400-invalid.json",
        400,
        "complete",
        _error("bad_request", False, None, 400),
        id="anthropic-400",
    ),
    pytest.param(
        "anthropic",
        "anthropic/models-list.json",
        200,
        "models",
        _models(
            "claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929"
        ),
        id="anthropic-models",
    ),
    pytest.param(
        "gemini",
        "gemini/generate-response.json",
        200,
        "complete",
        _response(PARIS, "stop", Usage(2050, 8 + 55, 2010, 55), "gemini-2.5-flash"),
        id="gemini-response-thoughts-and-cache",
    ),
    pytest.param(
        "gemini",
        "gemini/stream.sse",
        200,
        "stream",
        _stream(PARIS, Usage(31, 8 + 41, 0, 41)),
        id="gemini-crlf-stream",
    ),
    pytest.param(
        "gemini",
        "gemini/blocked-response.json",
        200,
        "complete",
        _error("content_filtered", False),
        id="gemini-blocked-prompt",
    ),
    pytest.param(
        "gemini",
        "gemini/blocked-response.json",
        200,
        "stream",
        _error("content_filtered", False),
        id="gemini-blocked-stream",
    ),
    pytest.param(
        "gemini",
        "gemini/error-400.json",
        400,
        "complete",
        _error("authentication", False, None, 400),
        id="gemini-bad-key",
    ),
    pytest.param(
        "gemini",
        "gemini/error-400-context-length.json",
        400,
        "complete",
        _error("context_length_exceeded", False, None, 400),
        id="gemini-context-length",
    ),
    pytest.param(
        "gemini",
        "gemini/error-429.json",
        429,
        "complete",
        _error("rate_limited", True, 47.0, 429),
        id="gemini-429-retry-info",
    ),
    pytest.param(
        "gemini",
        "gemini/models-list.json",
        200,
        "models",
        _models("gemini-2.5-flash", "gemini-2.0-flash"),
        id="gemini-models",
    ),
]


@pytest.mark.parametrize(("provider", "fixture", "status", "operation", "check"), REPLAYS)
async def test_fixture_replayed_through_the_adapter(
    make_adapter, emulator, provider, fixture, status, operation, check
):
    headers_file = fixture.replace(".json", ".headers.json")
    headers = fixture_json(headers_file) if headers_file != fixture and _exists(headers_file) else None
    emulator.emulator.replay(
        provider, fixture_bytes(fixture), status=status, headers=headers, stream=fixture.endswith(".sse")
    )
    adapter = make_adapter(provider)
    model = PROVIDERS[provider].model

    try:
        if operation == "complete":
            result: Any = await adapter.complete(chat_request(model), timeout=5)
        elif operation == "stream":
            result = [chunk async for chunk in adapter.stream(chat_request(model), timeout=5)]
        else:
            result = await adapter.list_models()
    except ProviderError as error:
        result = error

    check(result)
    assert emulator.emulator.request_count(provider) == 1


def _exists(relative: str) -> bool:
    try:
        fixture_bytes(relative)
    except FileNotFoundError:
        return False
    return True


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
async def test_error_messages_never_carry_the_api_key(make_adapter, emulator, provider):
    # A provider (or a proxy in front of it) echoing the key back must not leak it into our errors.
    bodies = {
        "openai": {"error": {"message": f"bad key {API_KEY}", "type": "invalid_request_error", "code": None}},
        "anthropic": {
            "type": "error",
            "error": {"type": "authentication_error", "message": f"bad key {API_KEY}"},
        },
        "gemini": {"error": {"code": 401, "message": f"bad key {API_KEY}", "status": "UNAUTHENTICATED"}},
    }
    emulator.emulator.replay(provider, bodies[provider], status=401)

    with pytest.raises(ProviderError) as info:
        await make_adapter(provider).complete(chat_request(PROVIDERS[provider].model), timeout=5)

    assert info.value.kind == "authentication"
    assert API_KEY not in str(info.value) and API_KEY not in info.value.message
    assert "bad key ***" in info.value.message


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_json_missing_required_fields_is_an_invalid_response(make_adapter, emulator, provider):
    emulator.emulator.replay(provider, {"id": "x", "object": "chat.completion"})

    with pytest.raises(ProviderError) as info:
        await make_adapter(provider).complete(chat_request(PROVIDERS[provider].model), timeout=5)

    assert (info.value.kind, info.value.retryable) == ("invalid_response", True)


async def test_deepseek_insufficient_system_resource_is_not_a_clean_stop(make_adapter, emulator):
    body = fixture_json("deepseek/chat-response-reasoner.json")
    body["choices"][0]["finish_reason"] = "insufficient_system_resource"
    emulator.emulator.replay("deepseek", body)

    with pytest.raises(ProviderError) as info:
        await make_adapter("deepseek").complete(chat_request("deepseek-reasoner"), timeout=5)

    assert (info.value.kind, info.value.retryable) == ("unavailable", True)


async def test_gemini_stream_accepts_lf_framing_and_comments(make_adapter, emulator):
    lf = b": keep-alive\n\n" + fixture_bytes("gemini/stream.sse").replace(b"\r\n", b"\n")
    emulator.emulator.replay("gemini", lf, stream=True)

    chunks = [c async for c in make_adapter("gemini").stream(chat_request("gemini-2.5-flash"), timeout=5)]

    _stream(PARIS, Usage(31, 49, 0, 41))(chunks)


async def test_gemini_models_follow_next_page_token(make_adapter, emulator):
    first = fixture_json("gemini/models-list.json")
    second = {"models": first["models"][:1]}
    second["models"][0] = {**second["models"][0], "name": "models/gemini-3-pro"}
    emulator.emulator.replay("gemini", {**first, "nextPageToken": "page-2"})
    emulator.emulator.replay("gemini", second)

    models = await make_adapter("gemini").list_models()

    assert [m.id for m in models] == ["gemini-2.5-flash", "gemini-2.0-flash", "gemini-3-pro"]
    assert emulator.requests("gemini")[-1]["query"]["pageToken"] == "page-2"


# ---------------------------------------------------------------- (b) the emulator has the fixtures' shape


def _post(emulator, provider: str, path: str, body: dict, **headers: str) -> httpx.Response:
    return httpx.post(f"{emulator.base_url}/{provider}{path}", json=body, headers=headers, timeout=5)


def _auth(provider: str) -> dict[str, str]:
    if provider == "anthropic":
        return {"x-api-key": API_KEY, "anthropic-version": "2026-10-21"}
    if provider == "gemini":
        return {"x-goog-api-key": API_KEY}
    return {"authorization": f"Bearer {API_KEY}"}


def _sse(raw: bytes) -> list[tuple[str | None, str]]:
    """(event, data) pairs; accepts LF and CRLF framing; comments skipped."""
    events = []
    for block in raw.replace(b"\r\n", b"\n").decode().split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        fields = dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "") for line in lines)
        events.append((fields.get("event"), fields["data"]))
    return events


def _openai_kind(data: str) -> str:
    if data == "[DONE]":
        return "done"
    chunk = json.loads(data)
    if not chunk["choices"]:
        return "usage"
    choice = chunk["choices"][0]
    if choice["finish_reason"]:
        return "finish+usage" if chunk.get("usage") else "finish"
    if "role" in choice["delta"]:
        return "role"
    return "reasoning" if choice["delta"].get("reasoning_content") else "content"


def _collapsed(items: list[str]) -> list[str]:
    return [key for key, _ in groupby(items)]


def _first_of_each_kind(events: list[tuple[str | None, str]], kind: Callable[[str], str]) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for _, data in events:
        found.setdefault(kind(data), json.loads(data) if data != "[DONE]" else {})
    return found


def _shape(obj: Any) -> Any:
    """Keys all the way down (lists by their first element), values dropped."""
    if isinstance(obj, dict):
        return {key: _shape(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_shape(obj[0])] if obj else []
    return None


def _usage_shape(usage: dict) -> dict:
    return {k: sorted(v) if isinstance(v, dict) else None for k, v in usage.items()}


@pytest.mark.parametrize(
    ("provider", "model", "fixture"),
    [
        ("openai", "gpt-4.1-mini", "openai/chat-response.json"),
        ("deepseek", "deepseek-reasoner", "deepseek/chat-response-reasoner.json"),
    ],
)
def test_openai_protocol_response_shape(emulator, provider, model, fixture):
    request = {**fixture_json("openai/chat-request.json"), "model": model}
    path = "/chat/completions" if provider == "deepseek" else "/v1/chat/completions"

    response = _post(emulator, provider, path, request, **_auth(provider))

    body, expected = response.json(), fixture_json(fixture)
    assert response.status_code == 200
    assert body["model"] == model  # echoes the requested model
    assert set(body) == set(expected)
    assert set(body["choices"][0]) == set(expected["choices"][0])
    assert set(body["choices"][0]["message"]) == set(expected["choices"][0]["message"])
    assert _usage_shape(body["usage"]) == _usage_shape(expected["usage"])


@pytest.mark.parametrize(
    ("provider", "model", "fixture"),
    [
        ("openai", "gpt-4.1-mini", "openai/chat-stream.sse"),
        ("deepseek", "deepseek-reasoner", "deepseek/chat-stream-reasoner.sse"),
    ],
)
def test_openai_protocol_stream_shape(emulator, provider, model, fixture):
    request = {**fixture_json("openai/chat-request-stream.json"), "model": model}
    path = "/chat/completions" if provider == "deepseek" else "/v1/chat/completions"

    response = _post(emulator, provider, path, request, **_auth(provider))

    assert response.headers["content-type"].startswith("text/event-stream")
    ours, theirs = _sse(response.content), _sse(fixture_bytes(fixture))
    assert all(event is None for event, _ in ours)  # data-only, no `event:` lines
    assert _collapsed([_openai_kind(d) for _, d in ours]) == _collapsed([_openai_kind(d) for _, d in theirs])
    ours_by_kind = _first_of_each_kind(ours, _openai_kind)
    theirs_by_kind = _first_of_each_kind(theirs, _openai_kind)
    for kind, expected in theirs_by_kind.items():
        assert set(ours_by_kind[kind]) == set(expected), kind
        if expected.get("choices"):
            assert set(ours_by_kind[kind]["choices"][0]["delta"]) == set(expected["choices"][0]["delta"]), (
                kind
            )
        if expected.get("usage"):
            assert _usage_shape(ours_by_kind[kind]["usage"]) == _usage_shape(expected["usage"])
    # DeepSeek's recorded stream opens with a keep-alive comment, and so does the emulator's.
    assert response.content.startswith(b": keep-alive") == fixture_bytes(fixture).startswith(b": keep-alive")


def test_anthropic_response_shape(emulator):
    response = _post(
        emulator,
        "anthropic",
        "/v1/messages",
        fixture_json("anthropic/messages-request.json"),
        **_auth("anthropic"),
    )

    body, expected = response.json(), fixture_json("anthropic/messages-response.json")
    assert response.status_code == 200
    assert _shape(body) == _shape(expected)
    assert response.headers["request-id"].startswith("req_")


def test_anthropic_stream_shape(emulator):
    request = {**fixture_json("anthropic/messages-request.json"), "stream": True}

    response = _post(emulator, "anthropic", "/v1/messages", request, **_auth("anthropic"))

    ours, theirs = _sse(response.content), _sse(fixture_bytes("anthropic/messages-stream.sse"))
    assert _collapsed([e for e, _ in ours]) == _collapsed([e for e, _ in theirs])
    assert all(json.loads(data)["type"] == event for event, data in ours)
    ours_by_event = {event: json.loads(data) for event, data in reversed(ours)}
    for event, data in theirs:
        assert _shape(ours_by_event[event]) == _shape(json.loads(data)), event


def test_gemini_response_shape(emulator):
    request = fixture_json("gemini/generate-request.json")
    # The fixture shows a cache hit on a long prompt; a long prompt makes the emulator report one too.
    request["contents"][0]["parts"][0]["text"] = "lorem " * 2000

    response = _post(
        emulator, "gemini", "/v1beta/models/gemini-2.5-flash:generateContent", request, **_auth("gemini")
    )

    body, expected = response.json(), fixture_json("gemini/generate-response.json")
    assert response.status_code == 200
    assert _shape(body) == _shape(expected)


def test_gemini_stream_shape_and_crlf_framing(emulator):
    response = httpx.post(
        f"{emulator.base_url}/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        params={"alt": "sse"},
        json=fixture_json("gemini/generate-request.json"),
        headers=_auth("gemini"),
        timeout=5,
    )

    raw = response.content
    ours, theirs = _sse(raw), _sse(fixture_bytes("gemini/stream.sse"))
    assert raw.endswith(b"\r\n\r\n") and raw.count(b"data: ") == raw.count(b"\r\n\r\n") == len(ours)
    assert b"event:" not in raw and b"[DONE]" not in raw
    ours_json, theirs_json = [json.loads(d) for _, d in ours], [json.loads(d) for _, d in theirs]
    assert [("finishReason" in c["candidates"][0]) for c in ours_json] == [False] * (len(ours) - 1) + [True]
    assert _shape(ours_json[0]) == _shape(theirs_json[0])
    assert _shape(ours_json[-1]) == _shape(theirs_json[-1])
    assert len({c["responseId"] for c in ours_json}) == 1
    counts = [c["usageMetadata"]["candidatesTokenCount"] for c in ours_json]
    assert counts == sorted(counts)  # cumulative


def _emulated_error(emulator, provider: str, path: str, body: dict, fault: str | None, **headers: str):
    extra = {"x-emulator-fault": fault} if fault else {}
    return _post(emulator, provider, path, body, **headers, **extra)


OPENAI_BODY = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]}
ANTHROPIC_BODY = fixture_json("anthropic/messages-request.json")
GEMINI_PATH = "/v1beta/models/gemini-2.5-flash:generateContent"
GEMINI_BODY = fixture_json("gemini/generate-request.json")


@pytest.mark.parametrize(
    ("fixture", "status", "provider", "path", "body", "fault", "headers"),
    [
        (
            "openai/error-429.json",
            429,
            "openai",
            "/v1/chat/completions",
            OPENAI_BODY,
            "rate_limit:1",
            _auth("openai"),
        ),
        (
            "openai/error-400-context-length.json",
            400,
            "openai",
            "/v1/chat/completions",
            OPENAI_BODY,
            "context_length",
            _auth("openai"),
        ),
        (
            "openai/error-401.json",
            401,
            "openai",
            "/v1/chat/completions",
            OPENAI_BODY,
            None,
            {"authorization": "Bearer invalid-key-000000"},
        ),
        (
            "anthropic/error-429.json",
            429,
            "anthropic",
            "/v1/messages",
            ANTHROPIC_BODY,
            "rate_limit:12",
            _auth("anthropic"),
        ),
        (
            "anthropic/error-529-overloaded.json",
            529,
            "anthropic",
            "/v1/messages",
            ANTHROPIC_BODY,
            "status:529",
            _auth("anthropic"),
        ),
        (
            "anthropic/error-400-invalid.json",
            400,
            "anthropic",
            "/v1/messages",
            {k: v for k, v in ANTHROPIC_BODY.items() if k != "max_tokens"},
            None,
            _auth("anthropic"),
        ),
        (
            "gemini/error-400.json",
            400,
            "gemini",
            GEMINI_PATH,
            GEMINI_BODY,
            None,
            {"x-goog-api-key": "bad-key"},
        ),
        (
            "gemini/error-400-context-length.json",
            400,
            "gemini",
            GEMINI_PATH,
            GEMINI_BODY,
            "context_length",
            _auth("gemini"),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and value.endswith(".json") else None,
)
def test_emulated_errors_have_the_fixture_shape(
    emulator, fixture, status, provider, path, body, fault, headers
):
    response = _emulated_error(emulator, provider, path, body, fault, **headers)

    assert response.status_code == status
    assert _shape(response.json()) == _shape(fixture_json(fixture))
    headers_fixture = fixture.replace(".json", ".headers.json")
    if _exists(headers_fixture):
        assert response.headers["retry-after"] == fixture_json(headers_fixture)["retry-after"]


def test_emulated_error_messages_match_where_they_are_fixed(emulator):
    gemini = _emulated_error(
        emulator, "gemini", GEMINI_PATH, GEMINI_BODY, None, **{"x-goog-api-key": "bad-key"}
    )
    anthropic = _emulated_error(
        emulator,
        "anthropic",
        "/v1/messages",
        {"model": "claude-sonnet-4-6", "messages": []},
        None,
        **_auth("anthropic"),
    )

    assert gemini.json() == fixture_json("gemini/error-400.json")
    assert anthropic.json()["error"] == fixture_json("anthropic/error-400-invalid.json")["error"]


def test_emulated_gemini_429_has_quota_and_retry_details(emulator):
    response = _emulated_error(
        emulator, "gemini", GEMINI_PATH, GEMINI_BODY, "rate_limit:47", **_auth("gemini")
    )

    error, expected = response.json()["error"], fixture_json("gemini/error-429.json")["error"]
    assert set(error) == set(expected)
    types = {detail["@type"]: detail for detail in error["details"]}
    assert set(types) <= {detail["@type"] for detail in expected["details"]}
    assert types["type.googleapis.com/google.rpc.RetryInfo"]["retryDelay"] == "47s"


@pytest.mark.parametrize(
    ("provider", "path", "fixture", "optional"),
    [
        ("openai", "/v1/models", "openai/models-list.json", set()),
        ("deepseek", "/models", None, set()),
        ("anthropic", "/v1/models", "anthropic/models-list.json", {"max_input_tokens", "max_tokens"}),
        ("gemini", "/v1beta/models", "gemini/models-list.json", set()),
    ],
)
def test_emulated_model_lists_have_the_fixture_shape(emulator, provider, path, fixture, optional):
    response = httpx.get(f"{emulator.base_url}/{provider}{path}", headers=_auth(provider), timeout=5)

    body = response.json()
    assert response.status_code == 200
    if fixture is None:  # DeepSeek documents the OpenAI list shape
        assert body["object"] == "list" and {"id", "object", "owned_by"} <= set(body["data"][0])
        return
    expected = fixture_json(fixture)
    entries_key = "models" if provider == "gemini" else "data"
    assert set(body) - {"nextPageToken"} == set(expected)
    expected_entry_keys = set().union(*(set(entry) for entry in expected[entries_key]))
    required = set.intersection(*(set(entry) for entry in expected[entries_key]))
    for entry in body[entries_key]:
        assert required <= set(entry) <= expected_entry_keys | optional
