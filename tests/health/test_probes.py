"""Probe rounds: concurrent, bounded by their timeout, stored, published to routing, key-free."""

import time

import pytest

from core.shared_state import shared_state
from providers.health import health_probe_round
from providers.models import HealthCheckResult
from providers.selectors import HEALTH_STATUS_KEY
from tests.health.conftest import DEFAULT_PROVIDERS, LOCAL, LOCAL_KEY, calls

pytestmark = pytest.mark.django_db(transaction=True)


async def test_five_slow_providers_are_probed_concurrently(five_providers, health):
    for name in five_providers:
        health.fault(name, "latency:300")

    started = time.perf_counter()
    summary = await health_probe_round()
    elapsed = time.perf_counter() - started

    # One after the other this is at least 5 x 300 ms (plus Gemini's second page of models).
    assert elapsed < 1.0, f"probe round took {elapsed:.2f}s"
    assert {name: p["status"] for name, p in summary["providers"].items()} == dict.fromkeys(
        five_providers, "healthy"
    )
    assert all(p["latency_ms"] >= 300 for p in summary["providers"].values())
    assert all(count >= 1 for count in calls(health, five_providers).values())


async def test_each_round_stores_one_result_per_provider_in_one_write(five_providers, health):
    await health_probe_round()
    rows = [row async for row in HealthCheckResult.objects.select_related("provider")]
    assert sorted(row.provider.name for row in rows) == sorted(five_providers)
    assert all(row.status == "healthy" and row.latency_ms > 0 and not row.error for row in rows)
    assert len({row.checked_at.replace(microsecond=0) for row in rows}) <= 2  # one round, one moment


async def test_unconfigured_provider_is_not_called(health, monkeypatch):
    monkeypatch.delenv("GOOGLE_AI_API_KEY")

    summary = await health_probe_round()

    assert summary["providers"]["google"]["status"] == "unconfigured"
    assert summary["providers"]["google"]["latency_ms"] is None
    assert health.calls("google") == 0
    assert summary["providers"]["openai"]["status"] == "healthy"
    stored = await HealthCheckResult.objects.filter(provider__name="google").aget()
    assert stored.status == "unconfigured"


async def test_a_hanging_provider_costs_the_round_only_its_timeout(health, settings):
    settings.HEALTH_PROBE_TIMEOUT_S = 0.5
    health.fault("anthropic", "hang")

    started = time.perf_counter()
    summary = await health_probe_round()
    elapsed = time.perf_counter() - started

    assert elapsed < 0.5 + 0.5
    assert summary["providers"]["anthropic"]["status"] == "unhealthy"
    assert summary["providers"]["openai"]["status"] == "healthy"
    stored = await HealthCheckResult.objects.filter(provider__name="anthropic").aget()
    assert stored.error_code == "TIMEOUT"
    assert "0.5s" in stored.error


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("status:500", "unhealthy", "UNAVAILABLE"),
        ("status:401", "unhealthy", "AUTHENTICATION"),
        ("rate_limit:1", "degraded", "RATE_LIMITED"),
        ("latency:250", "degraded", "SLOW"),
    ],
)
async def test_status_follows_the_probe_outcome(health, settings, fault, status, code):
    settings.HEALTH_DEGRADED_LATENCY_MS = 200.0
    health.fault("deepseek", fault)

    summary = await health_probe_round()

    assert summary["providers"]["deepseek"]["status"] == status
    stored = await HealthCheckResult.objects.filter(provider__name="deepseek").aget()
    assert stored.error_code == code


async def test_a_provider_error_that_echoes_the_key_is_stored_without_it(five_providers, health):
    health.emulator.emulator.replay(
        LOCAL, {"error": {"message": f"key {LOCAL_KEY} is not allowed here", "type": "invalid_request_error"}},
        status=403,
    )

    summary = await health_probe_round()

    assert summary["providers"][LOCAL]["status"] == "unhealthy"
    stored = await HealthCheckResult.objects.filter(provider__name=LOCAL).aget()
    assert stored.error  # the message is kept...
    assert LOCAL_KEY not in stored.error  # ...without the key
    assert "***" in stored.error


async def test_round_publishes_statuses_for_routing(health):
    health.fault("openai", "status:503", count=1)

    await health_probe_round()

    published = await shared_state().hgetall(HEALTH_STATUS_KEY)
    assert published == {"openai": "unhealthy", **dict.fromkeys(DEFAULT_PROVIDERS[1:], "healthy")}


async def test_stale_statuses_no_longer_steer_routing(health, settings):
    from providers.selectors import HEALTH_STATUS_STAMP_KEY, provider_health_statuses

    health.fault("openai", "status:503", count=1)
    await health_probe_round()
    assert (await provider_health_statuses())["openai"] == "unhealthy"

    settings.HEALTH_STATUS_MAX_AGE_S = 60
    await shared_state().set(HEALTH_STATUS_STAMP_KEY, str(time.time() - 61))  # the prober stopped
    assert await provider_health_statuses() == {}


async def test_routing_tries_a_provider_with_a_failing_probe_last(five_providers, health):
    # Both openai and the local server serve gpt-4o-mini; openai's priority puts it first.
    first = await health.complete({"model": "gpt-4o-mini"})
    assert first.status_code == 200, first.content
    assert first["X-Provider"] == "openai (emulator)"

    health.fault("openai", "status:500", count=1)  # the probe fails; completions would succeed
    await health_probe_round()
    before = health.calls("openai")

    second = await health.complete({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "again"}]})

    assert second.status_code == 200, second.content
    assert second["X-Provider"] == f"{LOCAL} (emulator)"
    assert second["X-Attempts"] == "1"
    assert health.calls("openai") == before  # not tried at all: the healthy candidate answered
