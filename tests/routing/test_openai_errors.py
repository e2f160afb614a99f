"""Errors on /v1 come in OpenAI's shape, so the official SDK's exceptions carry the gateway's
message and code; after the gateway has failed over, the SDK is told not to retry."""

from __future__ import annotations

import httpx2
import openai
import pytest
from asgiref.sync import async_to_sync

from access.services import api_key_create

pytestmark = pytest.mark.django_db(transaction=True)

HELLO = [{"role": "user", "content": "Hello"}]


def sdk(gateway, api_key=None, **options) -> openai.OpenAI:
    options.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=api_key or gateway.api_key, **options)


def test_400_carries_message_code_and_param(live_gateway):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(live_gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO, temperature=5)
    error = caught.value
    assert error.status_code == 400
    assert error.message.endswith("temperature must be between 0 and 2")  # the SDK prefixes the status
    assert (error.code, error.param, error.type) == ("validation_error", "temperature", "invalid_request_error")
    assert error.body["request_id"] == error.response.headers["x-request-id"]


def test_401_for_an_unknown_key(live_gateway):
    with pytest.raises(openai.AuthenticationError) as caught:
        sdk(live_gateway, api_key="aip_not-a-key-we-issued-000000000000000000000").chat.completions.create(
            model="gpt-4o-mini", messages=HELLO
        )
    assert caught.value.code == "authentication_failed"
    assert "API key" in caught.value.message
    assert "aip_not-a-key" not in caught.value.message


def test_403_for_a_model_the_key_may_not_use(live_gateway):
    _, secret = async_to_sync(_key)(allowed_models=["gpt-4o-mini"])
    with pytest.raises(openai.PermissionDeniedError) as caught:
        sdk(live_gateway, api_key=secret).chat.completions.create(model="claude-haiku-4-5", messages=HELLO)
    assert caught.value.code == "model_not_allowed"
    assert "claude-haiku-4-5" in caught.value.message


def test_404_for_an_unknown_model(live_gateway):
    with pytest.raises(openai.NotFoundError) as caught:
        sdk(live_gateway).chat.completions.create(model="no-such-model", messages=HELLO)
    assert caught.value.code == "model_not_found"
    assert "no-such-model" in caught.value.message


def test_429_when_the_key_is_over_its_rate(live_gateway):
    _, secret = async_to_sync(_key)(rpm_limit=1)
    client = sdk(live_gateway, api_key=secret)
    client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert caught.value.code == "rate_limited"
    assert caught.value.response.headers["retry-after"]


def test_503_after_failover_tells_the_sdk_not_to_retry(live_gateway):
    for provider in ("openai", "anthropic", "google", "deepseek"):
        live_gateway.fault(provider, "status:503")
    client = sdk(live_gateway, max_retries=3)  # would be 4 calls, each one a whole failover
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert caught.value.status_code == 503
    assert caught.value.code == "provider_unavailable"
    assert caught.value.response.headers["x-should-retry"] == "false"
    attempts = caught.value.body["context"]["attempts"]
    upstream_calls = sum(live_gateway.calls(p) for p in ("openai", "anthropic", "google", "deepseek"))
    assert upstream_calls == len(attempts)  # one client call: one pass over the providers


def test_mid_stream_failure_is_an_openai_error_chunk(live_gateway):
    live_gateway.fault("openai", "stream_error")
    stream = sdk(live_gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
    with pytest.raises(openai.APIError) as caught:
        for _ in stream:
            pass
    assert "mid-stream" in caught.value.message
    assert caught.value.code == "provider_stream_failed"


def test_mid_stream_failure_reads_as_json_too(live_gateway):
    """The error chunk is plain OpenAI-style `data: {"error": {...}}`, readable without the SDK."""
    live_gateway.fault("openai", "stream_error")
    with httpx2.Client() as http:
        response = http.post(
            f"{live_gateway.url}/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": HELLO, "stream": True},
            headers={"Authorization": f"Bearer {live_gateway.api_key}"},
        )
    lines = [line for line in response.text.splitlines() if line.startswith("data: {\"error\"")]
    assert len(lines) == 1 and '"type":"server_error"' in lines[0]


async def _key(**limits):
    from asgiref.sync import sync_to_async

    return await sync_to_async(api_key_create)(name="errors-test", **limits)
