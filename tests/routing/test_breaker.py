"""The circuit breaker: opens on a failure ratio, half-opens after the cooldown, closes on success;
its state is shared with other processes through Redis."""

import subprocess
import sys
import time

import pytest

from routing import breaker
from routing.stats import stats_record

pytestmark = pytest.mark.django_db(transaction=True)


async def providers_view(gateway) -> dict[str, dict]:
    return {p["name"]: p for p in (await gateway.get("/api/v1/providers")).json()["providers"]}


async def test_circuit_opens_after_failures_then_half_opens_and_closes(gateway, settings):
    gateway.fault("openai", "status:500")
    for i in range(3):  # 2 calls each (one retry): 6 failures >= BREAKER_MIN_REQUESTS (4)
        response = await gateway.complete({"messages": [{"role": "user", "content": f"q{i}"}]})
        assert response.status_code == 200  # answered by a fallback provider
    assert (await providers_view(gateway))["openai"]["breaker_state"] == "open"

    calls = gateway.calls("openai")
    gateway.emulator.clear_faults()
    await gateway.complete({"messages": [{"role": "user", "content": "while open"}]})
    assert gateway.calls("openai") == calls  # skipped while open

    # Cooldown over: the next request is the single half-open probe, and its success closes it.
    states, _ = await breaker.breaker_read()
    await breaker.shared_state().remove_deadline(breaker.OPEN_KEY, "openai")
    await breaker.breaker_open(provider="openai", until=time.time() - 1)
    assert (await providers_view(gateway))["openai"]["breaker_state"] == "half_open"
    response = await gateway.complete({"messages": [{"role": "user", "content": "probe"}]})
    assert response.json()["provider"] == "openai (emulator)"
    assert (await providers_view(gateway))["openai"]["breaker_state"] == "closed"


async def test_failed_half_open_probe_reopens(gateway):
    await breaker.breaker_open(provider="openai", until=time.time() - 1)
    gateway.fault("openai", "status:500")
    response = await gateway.complete()
    assert response.status_code == 200
    assert gateway.calls("openai") == 1  # the probe only, no retries in half-open
    view = await providers_view(gateway)
    assert view["openai"]["breaker_state"] == "open"


async def test_deadline_is_only_ever_extended():
    now = time.time()
    await breaker.breaker_open(provider="p", until=now + 60)
    await breaker.breaker_open(provider="p", until=now + 5)
    states, _ = await breaker.breaker_read(now=now)
    assert states["p"].state == "open"
    assert states["p"].open_until == pytest.approx(now + 60)


async def test_every_circuit_open_still_tries_the_soonest_to_cool_down(gateway):
    now = time.time()
    for name, delay in (("openai", 50), ("anthropic", 10), ("google", 30), ("deepseek", 40)):
        await breaker.breaker_open(provider=name, until=now + delay)
    response = await gateway.complete()
    assert response.status_code == 200
    assert response.json()["provider"] == "anthropic (emulator)"
    assert gateway.calls("openai") == 0


async def test_breaker_ratio_needs_a_minimum_of_requests(settings):
    policy = breaker.BreakerPolicy(failure_ratio=0.5, min_requests=5, cooldown_s=30)
    closed = breaker.BreakerState("closed")
    for _ in range(3):
        await stats_record(provider="q", ok=False, latency_ms=0)
    state = await breaker.breaker_record_failure(
        provider="q", was=closed, retry_after=None, closed_at=None, policy=policy
    )
    assert state.state == "closed"
    for _ in range(2):
        await stats_record(provider="q", ok=False, latency_ms=0)
    state = await breaker.breaker_record_failure(
        provider="q", was=closed, retry_after=None, closed_at=None, policy=policy
    )
    assert state.state == "open"


def test_open_circuit_is_seen_by_a_second_process(redis_url, settings):
    from redis import Redis

    Redis.from_url(redis_url).flushdb()
    settings.REDIS_URL = redis_url
    opener = (
        "import asyncio, time, django; django.setup()\n"
        "from routing import breaker\n"
        "asyncio.run(breaker.breaker_open(provider='openai', until=time.time() + 60))\n"
    )
    reader = (
        "import asyncio, django; django.setup()\n"
        "from routing import breaker\n"
        "states, _ = asyncio.run(breaker.breaker_read())\n"
        "print(states['openai'].state)\n"
    )
    env = {"REDIS_URL": redis_url, "DJANGO_SETTINGS_MODULE": "aiprovider_site.settings"}
    import os

    env = {**os.environ, **env}
    subprocess.run([sys.executable, "-c", opener], env=env, check=True, timeout=60)
    out = subprocess.run(
        [sys.executable, "-c", reader], env=env, check=True, timeout=60, capture_output=True, text=True
    )
    assert out.stdout.strip() == "open"
