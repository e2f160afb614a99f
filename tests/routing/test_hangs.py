"""A provider that accepts a call and never answers: streams fail over within the first-byte
timeout and end within the idle timeout mid-way; stalled calls open the circuit within seconds and
are raced by the next candidate; legitimately slow answers still succeed where they started."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from asgiref.sync import sync_to_async

from routing import breaker
from routing.stats import stats_read
from tests.routing.test_streaming import read_events

pytestmark = pytest.mark.django_db(transaction=True)

OPENAI = "openai (emulator)"


@pytest.fixture
async def gateway(gateway):
    """The gateway after one answered request: the first request in a process pays for loading the
    SDKs and the price data, seconds that would blur the timings measured here."""
    assert (await gateway.complete({"messages": [{"role": "user", "content": "warm up"}]})).status_code == 200
    await gateway.records()
    return gateway


async def last_record(gateway):
    return (await gateway.records())[-1]


async def providers_view(gateway) -> dict[str, dict]:
    return {p["name"]: p for p in (await gateway.get("/api/v1/providers")).json()["providers"]}


async def attempts_of(gateway, record) -> list[tuple[str, str]]:
    return await sync_to_async(
        lambda: [(r.provider, r.error_code) for r in record.attempt_rows.order_by("seq")]
    )()


# ----------------------------------------------------------------------------------- streams


async def test_stream_hanging_before_its_first_chunk_fails_over_within_the_first_byte_timeout(
    gateway, settings
):
    settings.ROUTING_FIRST_BYTE_TIMEOUT_S = 1.0
    settings.ROUTING_STALL_AFTER_S = 30.0  # the first-byte timeout alone, no stall detection
    gateway.fault("openai", "hang")
    started = time.monotonic()
    response = await gateway.complete({"stream": True})
    events = await read_events(response)
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert response["X-Provider"] != OPENAI
    assert events[-1][1]["done"] is True
    assert 1.0 <= elapsed < 3.0  # not the provider's 30 s timeout
    record = await last_record(gateway)
    assert record.status == "success" and record.streamed
    assert (await attempts_of(gateway, record))[0] == ("openai", "TIMEOUT")
    # A first-byte timeout is the provider's failure, as the breaker counts them.
    assert (await stats_read(["openai"]))["openai"].failures == 1


async def test_first_byte_timeouts_open_the_circuit_and_later_streams_skip_the_provider(gateway, settings):
    settings.ROUTING_FIRST_BYTE_TIMEOUT_S = 0.3
    settings.ROUTING_STALL_AFTER_S = 30.0
    gateway.fault("openai", "hang")
    for _ in range(settings.BREAKER_MIN_REQUESTS):
        response = await gateway.complete({"stream": True})
        await read_events(response)
        assert response["X-Provider"] != OPENAI
    assert (await providers_view(gateway))["openai"]["breaker_state"] == "open"

    calls = gateway.calls("openai")
    started = time.monotonic()
    response = await gateway.complete({"stream": True})
    await read_events(response)
    assert gateway.calls("openai") == calls  # skipped at once
    assert time.monotonic() - started < 0.3


async def test_stream_stalling_mid_way_ends_with_the_error_event_within_the_idle_timeout(gateway, settings):
    settings.ROUTING_STREAM_IDLE_TIMEOUT_S = 0.5
    gateway.fault("openai", "pace:10000")  # the first event at once, then ten seconds of nothing
    started = time.monotonic()
    response = await gateway.complete({"stream": True})
    assert response.status_code == 200 and response["X-Provider"] == OPENAI
    events = await read_events(response)
    elapsed = time.monotonic() - started

    assert 0.5 <= elapsed < 3.0
    name, error = events[-1]
    assert name == "error"
    assert error["error_code"] == "PROVIDER_STREAM_FAILED"
    assert error["context"]["error_code"] == "TIMEOUT"
    assert "idle" in error["error"]
    record = await last_record(gateway)
    assert (record.status, record.error_code, record.streamed) == ("error", "TIMEOUT", True)
    assert await attempts_of(gateway, record) == [("openai", "TIMEOUT")]
    assert (await stats_read(["openai"]))["openai"].failures == 1
    # The upstream call was closed, not left generating.
    for _ in range(100):
        if gateway.emulator.emulator.aborted_streams("openai"):
            break
        await asyncio.sleep(0.05)
    assert gateway.emulator.emulator.aborted_streams("openai") == 1


# ----------------------------------------------------------------------------- non-streamed


async def test_stalled_calls_open_the_circuit_and_are_raced_by_the_next_candidate(gateway, settings):
    settings.ROUTING_STALL_AFTER_S = 0.3
    settings.BREAKER_STALLED_CALLS = 3
    gateway.fault("openai", "hang")
    started = time.monotonic()
    responses = await asyncio.gather(
        *(gateway.complete({"messages": [{"role": "user", "content": f"q{i}"}]}) for i in range(4))
    )
    elapsed = time.monotonic() - started

    assert [r.status_code for r in responses] == [200] * 4
    assert all(r.json()["provider"] != OPENAI for r in responses)
    assert elapsed < 3.0  # the stall threshold and a fallback's answer, not 30 s
    assert (await providers_view(gateway))["openai"]["breaker_state"] == "open"
    records = (await gateway.records())[1:]
    assert len(records) == 4
    for record in records:
        attempts = await attempts_of(gateway, record)
        assert attempts[0] == ("openai", "HEDGE_LOST")  # cancelled unanswered, kept on the record
        assert attempts[-1][1] == "" and record.status == "success"

    calls = gateway.calls("openai")
    response = await gateway.complete({"messages": [{"role": "user", "content": "after"}]})
    assert response.json()["provider"] != OPENAI
    assert gateway.calls("openai") == calls


async def test_a_stalled_half_open_probe_reopens_the_circuit_at_once(gateway, settings):
    settings.ROUTING_STALL_AFTER_S = 0.3
    await breaker.breaker_open(provider="openai", until=time.time() - 1)  # cooled down: half-open
    gateway.fault("openai", "hang")
    calls = gateway.calls("openai")
    started = time.monotonic()
    response = await gateway.complete()
    assert response.status_code == 200 and response.json()["provider"] != OPENAI
    assert time.monotonic() - started < 2.0
    assert gateway.calls("openai") == calls + 1  # the probe
    assert (await providers_view(gateway))["openai"]["breaker_state"] == "open"


async def test_a_slow_answer_still_succeeds_on_its_provider(gateway, settings):
    settings.ROUTING_STALL_AFTER_S = 0.3  # far below the answer's time: it stalls, alone
    gateway.fault("openai", "latency:1500")
    started = time.monotonic()
    response = await gateway.complete()
    assert response.status_code == 200
    assert response.json()["provider"] == OPENAI
    assert time.monotonic() - started >= 1.5
    assert gateway.calls("anthropic") == 0  # no second call paid for
    assert (await providers_view(gateway))["openai"]["breaker_state"] == "closed"
    record = await last_record(gateway)
    assert await attempts_of(gateway, record) == [("openai", "")]


async def test_a_timed_hedge_wins_over_a_slow_provider_and_the_record_shows_both(gateway, settings):
    settings.ROUTING_HEDGE_AFTER_S = 0.5
    gateway.fault("openai", "latency:3000")
    started = time.monotonic()
    response = await gateway.complete()
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json()["provider"] == "anthropic (emulator)"
    assert response["X-Attempts"] == "2"
    assert 0.5 <= elapsed < 2.0
    record = await last_record(gateway)
    assert record.provider == "anthropic" and record.status == "success"
    assert await attempts_of(gateway, record) == [("openai", "HEDGE_LOST"), ("anthropic", "")]
    # Slow is not failed: the provider's circuit and its failure count are untouched.
    assert (await stats_read(["openai"]))["openai"].failures == 0
    assert (await providers_view(gateway))["openai"]["breaker_state"] == "closed"


async def test_a_hedged_slow_answer_still_wins_when_the_hedge_is_slower(gateway, settings):
    settings.ROUTING_HEDGE_AFTER_S = 0.5
    gateway.fault("openai", "latency:1500")
    gateway.fault("anthropic", "latency:3000")
    response = await gateway.complete()
    assert response.json()["provider"] == OPENAI
    record = await last_record(gateway)
    assert await attempts_of(gateway, record) == [("anthropic", "HEDGE_LOST"), ("openai", "")]


async def test_an_embeddings_batch_on_a_hung_provider_moves_on_once_its_circuit_opens(gateway, settings):
    from tests.routing.test_embeddings import OPENAI as EMBEDDING_MODEL
    from tests.routing.test_embeddings import _backup

    settings.ROUTING_STALL_AFTER_S = 0.3
    settings.BREAKER_STALLED_CALLS = 1
    await sync_to_async(_backup)(EMBEDDING_MODEL)
    gateway.fault("openai", "hang")
    started = time.monotonic()
    response = await gateway.client.post(
        "/v1/embeddings",
        {"model": EMBEDDING_MODEL, "input": ["hung"]},
        content_type="application/json",
        headers={"Authorization": f"Bearer {gateway.api_key}"},
    )
    assert response.status_code == 200
    assert response["X-Provider"].startswith("openai-backup")
    assert time.monotonic() - started < 2.0
    record = await last_record(gateway)
    assert await attempts_of(gateway, record) == [("openai", "TIMEOUT"), ("openai-backup", "")]


# -------------------------------------------------------------------------------- load


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def test_one_provider_hanging_under_load_p99_stays_under_five_seconds(live_gateway, settings):
    """400 requests at 10/s (every tenth streamed) while OpenAI, the first candidate, hangs."""
    settings.BREAKER_COOLDOWN_S = 120.0  # no half-open probe within the run: the state stays legible
    total, rate = 400, 10.0
    async with httpx.AsyncClient(base_url=live_gateway.emulator.base_url) as control:
        reply = await control.post("/_emulator/faults", json={"provider": "openai", "fault": "hang"})
        assert reply.status_code == 200

    headers = {"Authorization": f"Bearer {live_gateway.api_key}"}
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
    async with httpx.AsyncClient(base_url=live_gateway.url, headers=headers, timeout=60, limits=limits) as client:

        async def one(i: int) -> tuple[int, float, str]:
            await asyncio.sleep(i / rate)  # open loop: the schedule does not wait for answers
            body = {"messages": [{"role": "user", "content": f"question {i}"}], "stream": i % 10 == 9}
            started = time.monotonic()
            if body["stream"]:
                async with client.stream("POST", "/api/v1/completion", json=body) as response:
                    text = (await response.aread()).decode()
                ok = response.status_code == 200 and '"done":true' in text
                return (200 if ok else 599), time.monotonic() - started, response.headers.get("x-provider", "")
            response = await client.post("/api/v1/completion", json=body)
            return response.status_code, time.monotonic() - started, response.headers.get("x-provider", "")

        async def circuit_opened_after() -> float:
            started = time.monotonic()
            while True:
                view = (await client.get("/api/v1/providers")).json()["providers"]
                if {p["name"]: p for p in view}["openai"]["breaker_state"] == "open":
                    return time.monotonic() - started
                await asyncio.sleep(0.1)

        watcher = asyncio.create_task(circuit_opened_after())
        results = await asyncio.gather(*(one(i) for i in range(total)))
        opened_after = await asyncio.wait_for(watcher, 1)

    statuses = [status for status, _, _ in results]
    latencies = [latency for _, latency, _ in results]
    assert statuses == [200] * total
    p99 = percentile(latencies, 0.99)
    print(f"hang under load: p50 {percentile(latencies, 0.5):.2f}s p99 {p99:.2f}s max {max(latencies):.2f}s; "
          f"circuit open after {opened_after:.2f}s; openai calls {live_gateway.calls('openai')}")
    assert p99 < 5.0
    assert opened_after < 5.0  # within seconds, while the first hung calls still wait
    assert live_gateway.calls("openai") < 80  # once open, new requests skip it at once
    assert all(provider != OPENAI for _, _, provider in results)
    records = (await live_gateway.records())[1:]
    assert len(records) == total and {r.status for r in records} == {"success"}  # nothing lost
