"""One connection pool per provider: a burst larger than the pool waits for connections and is
answered in full, connections come back after errors and abandoned streams, and the pool closes
when the server shuts the worker down."""

from __future__ import annotations

import asyncio
import time

import pytest

from providers.adapters.http import PoolLimits, pool_limits, pool_limits_set
from providers.catalogue import ProviderEntry

from .conftest import EXPECTED_TEXT, PROVIDERS, chat_request

BURST = 300
LATENCY_MS = 500


@pytest.fixture
def small_pool():
    """Pools of 20 connections for the adapters a test creates."""
    before = pool_limits()
    pool_limits_set(PoolLimits(max_connections=20, keepalive_s=before.keepalive_s))
    yield 20
    pool_limits_set(before)


@pytest.mark.parametrize("name", ["openai", "anthropic", "gemini"])
async def test_a_burst_through_one_adapter_is_answered_in_full(name, emulator, make_adapter):
    emulator.set_fault(name, f"latency:{LATENCY_MS}")
    adapter = make_adapter(name, timeout_s=60)
    request = chat_request(PROVIDERS[name].model)

    async with asyncio.timeout(60):  # generous: a correctness bound, not a benchmark
        answers = await asyncio.gather(*(adapter.complete(request, timeout=60) for _ in range(BURST)))

    assert [answer.content for answer in answers] == [EXPECTED_TEXT] * BURST
    assert emulator.stats()["providers"][name]["requests"] == BURST


@pytest.mark.parametrize("name", ["openai", "gemini"])
async def test_a_burst_larger_than_the_pool_waits_for_connections(name, emulator, make_adapter, small_pool):
    emulator.set_fault(name, f"latency:{LATENCY_MS}")
    adapter = make_adapter(name, timeout_s=60)
    request = chat_request(PROVIDERS[name].model)
    calls = 200

    began = time.perf_counter()
    async with asyncio.timeout(60):
        answers = await asyncio.gather(*(adapter.complete(request, timeout=60) for _ in range(calls)))
    elapsed = time.perf_counter() - began

    assert all(answer.content == EXPECTED_TEXT for answer in answers)
    # 20 connections at a time: no fewer than 200 / 20 rounds of the upstream's latency.
    assert elapsed >= calls / small_pool * LATENCY_MS / 1000 * 0.9


@pytest.mark.parametrize("name", ["openai", "anthropic", "gemini"])
async def test_connections_come_back_after_errors_and_abandoned_streams(name, emulator, make_adapter, small_pool):
    adapter = make_adapter(name, timeout_s=10)
    request = chat_request(PROVIDERS[name].model)

    emulator.set_fault(name, "status:503", count=3 * small_pool)
    failures = await asyncio.gather(
        *(adapter.complete(request, timeout=10) for _ in range(3 * small_pool)), return_exceptions=True
    )
    assert {getattr(failure, "kind", failure) for failure in failures} == {"unavailable"}

    async def first_chunk_then_leave() -> None:
        stream = adapter.stream(request, timeout=10)
        await anext(stream)
        await stream.aclose()

    emulator.set_fault(name, "pace:50")
    async with asyncio.timeout(30):
        await asyncio.gather(*(first_chunk_then_leave() for _ in range(3 * small_pool)))
        emulator.clear_faults(name)
        answer = await adapter.complete(request, timeout=10)

    assert answer.content == EXPECTED_TEXT


async def test_the_servers_shutdown_closes_the_provider_pools(emulator, monkeypatch):
    from aiprovider_site.asgi import application
    from providers.clients import provider_adapter

    monkeypatch.setenv("POOL_TEST_OPENAI_KEY", "sk-emulator-test-0123456789abcdef")
    entry = ProviderEntry(
        name="openai",
        kind="openai",
        base_url=emulator.url_for("openai"),
        api_key_env="POOL_TEST_OPENAI_KEY",
        priority=1,
        weight=1,
        timeout_s=5,
        max_tokens=1000,
        max_retries=0,
        fallback_cost_per_token=None,
    )
    adapter = provider_adapter(entry)
    answer = await adapter.complete(chat_request(PROVIDERS["openai"].model), timeout=5)
    assert answer.content == EXPECTED_TEXT
    pool = adapter.client()
    assert not pool.closed

    received = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict] = []

    async def receive() -> dict:
        return next(received)

    async def send(message: dict) -> None:
        sent.append(message)

    await application({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)

    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    assert pool.closed
    assert provider_adapter(entry) is not adapter  # a later request would get a fresh pool
