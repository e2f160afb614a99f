"""The completion API end to end: gateway -> real adapters and SDKs -> emulator over HTTP."""

from decimal import Decimal

import pytest

from providers.models import Provider, ProviderModel
from providers.pricing import completion_cost

pytestmark = pytest.mark.django_db(transaction=True)


async def test_completion_answers_with_the_brief_contract_and_headers(gateway):
    response = await gateway.complete({"messages": [{"role": "user", "content": "What is 2 + 2?"}]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert {"content", "model", "provider", "usage", "cost_estimate", "response_time_ms", "timestamp"} <= set(
        body
    )
    assert "What is 2 + 2?" in body["content"]
    assert body["model"] == "gpt-3.5-turbo"
    assert body["provider"] == "openai (emulator)"
    assert body["usage"]["prompt_tokens"] > 0 and body["usage"]["completion_tokens"] > 0
    assert response["X-Provider"] == "openai (emulator)"
    assert response["X-Cache"] == "MISS"
    assert response["X-Attempts"] == "1"
    assert response["X-Request-ID"] == body["request_id"]
    assert gateway.calls("openai") == 1

    entry = await ProviderModel.objects.select_related("provider").aget(
        provider__name="openai", name="gpt-3.5-turbo"
    )
    expected = completion_cost(
        prompt_tokens=body["usage"]["prompt_tokens"],
        completion_tokens=body["usage"]["completion_tokens"],
        cached_tokens=body["usage"]["cached_tokens"],
        input_per_1m=entry.input_price_per_1m,
        output_per_1m=entry.output_price_per_1m,
        cached_input_per_1m=entry.cached_input_price_per_1m,
        fallback_cost_per_token=None,
    )
    assert expected > 0
    assert Decimal(str(body["cost_estimate"])) == expected


async def test_brief_defaults_apply(gateway):
    await gateway.complete()
    sent = gateway.emulator.emulator.requests("openai")[-1]["body"]
    assert sent["model"] == "gpt-3.5-turbo"
    assert sent["temperature"] == 0.7
    # 4000 asked for, clamped to the provider's configured maximum (4096 in the catalogue) -> 4000.
    assert sent.get("max_completion_tokens", sent.get("max_tokens")) == 4000


async def test_max_tokens_is_clamped_to_the_provider_maximum(gateway):
    await Provider.objects.filter(name="openai").aupdate(max_tokens=256)
    from providers.catalogue import catalogue_invalidate_for_tests

    catalogue_invalidate_for_tests()
    await gateway.complete({"max_tokens": 100000})
    sent = gateway.emulator.emulator.requests("openai")[-1]["body"]
    assert sent.get("max_completion_tokens", sent.get("max_tokens")) == 256


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages"),
        ({"temperature": 2.5}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
    ],
)
async def test_bad_input_is_a_400_envelope_and_calls_no_provider(gateway, body, field):
    response = await gateway.complete(body)
    assert response.status_code == 400
    error = response.json()
    assert error["error_code"] == "VALIDATION_ERROR"
    assert any(key.startswith(field) for key in error["context"]["fields"])
    assert gateway.emulator.emulator.stats()["total"] == 0


async def test_unknown_model_is_a_404(gateway):
    response = await gateway.complete({"model": "gpt-imaginary"})
    assert response.status_code == 404
    assert response.json()["error_code"] == "MODEL_NOT_FOUND"


async def test_alias_resolves_to_the_catalogue_model(gateway):
    response = await gateway.complete({"model": "claude-haiku"})
    assert response.status_code == 200
    assert response.json()["model"] == "claude-haiku-4-5"
    assert gateway.calls("anthropic") == 1


@pytest.mark.parametrize("fault", ["status:500", "drop", "malformed", "status:503"])
async def test_fails_over_when_the_first_provider_breaks(gateway, fault):
    gateway.fault("openai", fault)
    response = await gateway.complete()
    assert response.status_code == 200, response.content
    assert response.json()["provider"] != "openai (emulator)"
    assert int(response["X-Attempts"]) >= 2
    assert gateway.calls("openai") >= 1


async def test_fails_over_on_timeout_within_the_provider_deadline(gateway):
    await Provider.objects.filter(name="openai").aupdate(timeout_s=0.5)
    from providers.catalogue import catalogue_invalidate_for_tests

    catalogue_invalidate_for_tests()
    gateway.fault("openai", "hang")
    response = await gateway.complete()
    assert response.status_code == 200
    assert response.json()["provider"] != "openai (emulator)"
    assert float(response.json()["response_time_ms"]) < 5000


async def test_429_with_retry_after_opens_the_circuit_until_then(gateway):
    gateway.fault("openai", "rate_limit:30")
    first = await gateway.complete()
    assert first.status_code == 200
    assert first.json()["provider"] != "openai (emulator)"
    calls = gateway.calls("openai")
    assert calls == 1  # a 30 s Retry-After is not waited for: straight to the next provider
    gateway.emulator.clear_faults()
    second = await gateway.complete({"messages": [{"role": "user", "content": "another question"}]})
    assert second.status_code == 200
    assert gateway.calls("openai") == calls  # circuit open: openai not called again
    providers = (await gateway.get("/api/v1/providers")).json()["providers"]
    assert {p["name"]: p["breaker_state"] for p in providers}["openai"] == "open"


async def test_client_errors_come_back_without_failover(gateway):
    gateway.fault("openai", "status:400")
    response = await gateway.complete()
    assert response.status_code == 400
    assert response.json()["error_code"] == "UPSTREAM_BAD_REQUEST"
    assert gateway.calls("anthropic") == 0


async def test_forced_provider_never_fails_over(gateway):
    gateway.fault("anthropic", "status:500")
    response = await gateway.complete(path="/api/v1/providers/anthropic/completion")
    assert response.status_code == 503
    error = response.json()
    assert error["error_code"] == "PROVIDER_UNAVAILABLE"
    assert {a["provider"] for a in error["context"]["attempts"]} == {"anthropic"}
    assert gateway.calls("openai") == 0 and gateway.calls("google") == 0


async def test_forced_provider_serves_the_requested_model_through_its_fallback(gateway):
    response = await gateway.complete(path="/api/v1/providers/google/completion")
    assert response.status_code == 200
    assert response.json()["provider"] == "google (emulator)"
    assert response.json()["model"] == "gemini-2.5-flash"


async def test_unknown_forced_provider_is_a_404(gateway):
    response = await gateway.complete(path="/api/v1/providers/nobody/completion")
    assert response.status_code == 404
    assert response.json()["error_code"] == "PROVIDER_NOT_FOUND"


async def test_every_provider_failing_is_a_503_listing_each_attempt(gateway):
    for name in ("openai", "anthropic", "google", "deepseek"):
        gateway.fault(name, "status:500")
    response = await gateway.complete()
    assert response.status_code == 503
    error = response.json()
    assert error["error_code"] == "PROVIDER_UNAVAILABLE"
    attempted = {a["provider"] for a in error["context"]["attempts"]}
    assert attempted == {"openai", "anthropic", "google", "deepseek"}
    assert all(a["error_code"] == "UNAVAILABLE" for a in error["context"]["attempts"])
    records = await gateway.records()
    assert (
        len(records) == 1 and records[0].status == "error" and records[0].error_code == "PROVIDER_UNAVAILABLE"
    )


async def test_usage_record_matches_the_response(gateway):
    response = await gateway.complete()
    body = response.json()
    [record] = await gateway.records()
    assert record.request_id == body["request_id"]
    assert record.status == "success"
    assert record.provider == "openai" and record.model == "gpt-3.5-turbo"
    assert record.prompt_tokens == body["usage"]["prompt_tokens"]
    assert record.completion_tokens == body["usage"]["completion_tokens"]
    assert record.cost_usd == Decimal(str(body["cost_estimate"]))
    assert record.api_key_id is not None
    assert record.attempts == 1


async def test_a_short_retry_after_is_not_waited_for_when_another_provider_can_answer(gateway):
    gateway.fault("openai", "rate_limit:2")
    response = await gateway.complete()
    assert response.status_code == 200
    assert response.json()["provider"] != "openai (emulator)"
    assert gateway.calls("openai") == 1
    assert response.json()["response_time_ms"] < 1500


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"messages": [{"role": "user", "content": "hi", "name": "ann"}]}, "messages.0.name"),
    ],
)
async def test_a_field_the_native_api_does_not_carry_is_a_400_not_ignored(gateway, body, field):
    response = await gateway.complete(body)
    assert response.status_code == 400
    assert field in response.json()["context"]["fields"]
    assert sum(gateway.calls(p) for p in ("openai", "anthropic", "google", "deepseek")) == 0
