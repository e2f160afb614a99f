"""GET /health: the brief's shape, served from the cache, one probe round per expiry fleet-wide,
bounded when a provider hangs."""

import asyncio
import json
import threading
import time

import pytest
from asgiref.sync import sync_to_async

from analytics.models import UsageRecord
from providers.health import LAST_SUMMARY_KEY, PROBE_LOCK_KEY, SUMMARY_KEY
from routing.breaker import breaker_open
from tests.health.conftest import DEFAULT_PROVIDERS, calls

pytestmark = pytest.mark.django_db(transaction=True)

PROVIDER_FIELDS = {"status", "latency_ms", "last_checked", "success_rate", "avg_response_time_ms", "breaker_state"}


async def get_health(gateway):
    response = await gateway.client.get("/health")  # no API key
    assert response.status_code == 200, response.content
    return response.json()


async def test_health_has_the_brief_shape_and_live_figures(health):
    await sync_to_async(UsageRecord.objects.bulk_create)(
        [
            UsageRecord(request_id="a", provider="openai", model="m", status="success"),
            UsageRecord(request_id="b", provider="openai", model="m", status="success"),
            UsageRecord(request_id="c", provider="openai", model="m", status="cache_hit"),
        ]
    )
    completion = await health.complete()
    assert completion.status_code == 200
    await breaker_open(provider="anthropic", until=time.time() + 60)

    body = await get_health(health)

    assert set(body) == {"status", "service", "timestamp", "providers", "metrics"}
    assert body["status"] == "healthy"
    assert body["service"] == "ai-provider-service"
    assert set(body["providers"]) == set(DEFAULT_PROVIDERS)
    for name, provider in body["providers"].items():
        assert set(provider) == PROVIDER_FIELDS, name
        assert provider["status"] == "healthy"
        assert provider["latency_ms"] > 0
        assert provider["last_checked"]
    openai = body["providers"]["openai"]
    assert openai["success_rate"] == 1.0
    assert openai["avg_response_time_ms"] > 0
    assert openai["breaker_state"] == "closed"
    assert body["providers"]["deepseek"]["success_rate"] is None  # never routed to
    assert body["providers"]["anthropic"]["breaker_state"] == "open"
    metrics = body["metrics"]
    assert metrics["requests_total"] == 1
    assert metrics["requests_24h"] == 3
    assert metrics["cache_hit_rate_24h"] == round(1 / 3, 4)
    assert metrics["providers_healthy"] == 4


async def test_overall_status_is_degraded_when_nothing_is_healthy_but_something_answers(health):
    for name in ("openai", "anthropic", "google"):
        health.fault(name, "status:500")
    health.fault("deepseek", "rate_limit:5")

    body = await get_health(health)

    assert body["status"] == "degraded"
    assert body["providers"]["deepseek"]["status"] == "degraded"
    assert body["providers"]["openai"]["status"] == "unhealthy"


async def test_overall_status_is_unhealthy_when_no_provider_answers(health):
    for name in DEFAULT_PROVIDERS:
        health.fault(name, "status:503")

    body = await get_health(health)

    assert body["status"] == "unhealthy"
    assert {p["status"] for p in body["providers"].values()} == {"unhealthy"}


async def test_a_hundred_calls_within_the_ttl_make_no_provider_call(health):
    await get_health(health)  # the first call probes
    before = calls(health, DEFAULT_PROVIDERS)
    assert all(count == 1 for count in before.values())

    for _ in range(100):
        body = await get_health(health)
        assert body["status"] == "healthy"

    assert calls(health, DEFAULT_PROVIDERS) == before


async def test_after_expiry_concurrent_callers_share_one_probe_round(health, settings):
    settings.HEALTH_CACHE_TTL_S = 1
    for name in DEFAULT_PROVIDERS:
        health.fault(name, "latency:200")  # a round long enough for the callers to pile up
    await get_health(health)
    before = calls(health, DEFAULT_PROVIDERS)
    await asyncio.sleep(1.1)  # the cached summary expires

    bodies = await asyncio.gather(*(get_health(health) for _ in range(20)))

    after = calls(health, DEFAULT_PROVIDERS)
    assert {name: after[name] - before[name] for name in DEFAULT_PROVIDERS} == dict.fromkeys(DEFAULT_PROVIDERS, 1)
    assert len({body["providers"]["openai"]["last_checked"] for body in bodies}) == 1  # one round's result


async def test_a_hanging_provider_does_not_hang_health(health, settings):
    settings.HEALTH_PROBE_TIMEOUT_S = 0.5
    health.fault("google", "hang")

    started = time.perf_counter()
    body = await get_health(health)
    elapsed = time.perf_counter() - started

    assert elapsed < 0.5 + 0.7, f"/health took {elapsed:.2f}s"
    assert body["providers"]["google"]["status"] == "unhealthy"
    assert body["providers"]["openai"]["status"] == "healthy"
    assert body["status"] == "healthy"


async def test_health_waits_at_most_health_wait_s_then_serves_the_last_known(health, settings):
    await get_health(health)  # a known summary: everyone healthy
    settings.HEALTH_CACHE_TTL_S = 1
    settings.HEALTH_PROBE_TIMEOUT_S = 1.5
    settings.HEALTH_WAIT_S = 0.3
    from providers.health import health_cache_clear

    await health_cache_clear()
    health.fault("google", "hang")

    started = time.perf_counter()
    body = await get_health(health)
    elapsed = time.perf_counter() - started

    assert elapsed < 0.3 + 0.5, f"/health took {elapsed:.2f}s"
    assert body["providers"]["google"]["status"] == "healthy"  # last known, while the round runs on
    await asyncio.sleep(1.6)  # the round finishes in the background and caches its result
    body = await get_health(health)
    assert body["providers"]["google"]["status"] == "unhealthy"


async def test_before_any_probe_result_health_is_unknown_not_down(health, settings):
    settings.HEALTH_PROBE_TIMEOUT_S = 1.0
    settings.HEALTH_WAIT_S = 0.2
    for name in DEFAULT_PROVIDERS:
        health.fault(name, "hang")

    body = await get_health(health)

    assert {p["status"] for p in body["providers"].values()} == {"unknown"}
    assert body["status"] == "degraded"
    await asyncio.sleep(1.2)  # let the background round end inside this test


async def test_health_leaks_no_provider_key(health):
    body = (await health.client.get("/health")).content.decode()
    from tests.health.conftest import PROVIDER_KEYS

    for key in PROVIDER_KEYS.values():
        assert key not in body


@pytest.fixture
def redis_state(redis_url, settings):
    from redis import Redis

    client = Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    settings.REDIS_URL = redis_url
    yield client
    client.flushdb()


async def test_with_redis_a_round_running_in_another_process_is_waited_for(health, redis_state):
    from core.redis_state import KEY_PREFIX

    # Another process holds the probe lock and writes its summary 300 ms later.
    redis_state.set(KEY_PREFIX + PROBE_LOCK_KEY, "1", ex=20)
    theirs = {
        "checked_at": "2026-01-01T00:00:00+00:00",
        "providers": {
            name: {"status": "healthy", "latency_ms": 12.5, "last_checked": "2026-01-01T00:00:00+00:00"}
            for name in DEFAULT_PROVIDERS
        },
    }

    def other_process():
        time.sleep(0.3)
        redis_state.set(KEY_PREFIX + SUMMARY_KEY, json.dumps(theirs), ex=30)
        redis_state.delete(KEY_PREFIX + PROBE_LOCK_KEY)

    threading.Thread(target=other_process).start()
    bodies = await asyncio.gather(*(get_health(health) for _ in range(5)))

    assert all(body["providers"]["openai"]["latency_ms"] == 12.5 for body in bodies)
    assert calls(health, DEFAULT_PROVIDERS) == dict.fromkeys(DEFAULT_PROVIDERS, 0)


async def test_with_redis_one_round_fills_the_shared_cache(health, redis_state):
    from core.redis_state import KEY_PREFIX
    from core.shared_state import shared_state_aclose

    body = await get_health(health)
    await get_health(health)

    assert body["status"] == "healthy"
    assert calls(health, DEFAULT_PROVIDERS) == dict.fromkeys(DEFAULT_PROVIDERS, 1)
    assert 0 < redis_state.ttl(KEY_PREFIX + SUMMARY_KEY) <= 30
    assert redis_state.exists(KEY_PREFIX + LAST_SUMMARY_KEY)
    assert redis_state.hgetall(KEY_PREFIX + "health:status") == dict.fromkeys(DEFAULT_PROVIDERS, "healthy")
    await shared_state_aclose()


async def test_health_answers_when_shared_state_is_down(health, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    started = time.perf_counter()
    body = await get_health(health)

    assert time.perf_counter() - started < 2.0
    assert body["status"] == "degraded"
    assert {p["status"] for p in body["providers"].values()} == {"unknown"}
    assert calls(health, DEFAULT_PROVIDERS) == dict.fromkeys(DEFAULT_PROVIDERS, 0)  # no probe storm
