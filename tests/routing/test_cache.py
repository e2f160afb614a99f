"""The response cache: hit, miss, no-cache, no-store, and Redis down."""

import hashlib

import pytest

from routing.cache import cache_key

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = {"messages": [{"role": "user", "content": "Cache me if you can"}]}


def test_cache_key_is_stable_and_order_independent():
    a = cache_key({"model": "m", "messages": [["user", "hi"]], "temperature": 0.7})
    b = cache_key({"temperature": 0.7, "messages": [["user", "hi"]], "model": "m"})
    assert a == b
    assert a != cache_key({"model": "m", "messages": [["user", "hi!"]], "temperature": 0.7})
    assert (
        a
        == "resp:" + hashlib.sha256(b'{"messages":[["user","hi"]],"model":"m","temperature":0.7}').hexdigest()
    )


async def test_repeat_is_served_from_cache_at_no_cost(gateway):
    first = await gateway.complete(QUESTION)
    second = await gateway.complete(QUESTION)
    assert first["X-Cache"] == "MISS" and second["X-Cache"] == "HIT"
    assert second.json()["content"] == first.json()["content"]
    assert second.json()["cached"] is True
    assert second.json()["cost_estimate"] == 0
    assert gateway.calls("openai") == 1
    records = await gateway.records()
    assert [r.status for r in records] == ["success", "cache_hit"]
    assert records[1].cost_usd == 0


async def test_no_cache_skips_the_lookup(gateway):
    await gateway.complete(QUESTION)
    response = await gateway.complete(QUESTION, headers={"Cache-Control": "no-cache"})
    assert response["X-Cache"] == "MISS"
    assert gateway.calls("openai") == 2


async def test_no_store_skips_the_write(gateway):
    await gateway.complete(QUESTION, headers={"Cache-Control": "no-store"})
    response = await gateway.complete(QUESTION)
    assert response["X-Cache"] == "MISS"
    assert gateway.calls("openai") == 2


async def test_forced_provider_is_part_of_the_key(gateway):
    await gateway.complete(QUESTION)
    response = await gateway.complete(QUESTION, path="/api/v1/providers/openai/completion")
    assert response["X-Cache"] == "MISS"


async def test_redis_down_bypasses_the_cache_and_still_answers(gateway, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    first = await gateway.complete(QUESTION)
    second = await gateway.complete(QUESTION)
    assert first.status_code == 200, first.content
    assert second.status_code == 200
    assert second["X-Cache"] == "MISS"
    assert gateway.calls("openai") == 2
    settings.REDIS_URL = ""
    assert len(await gateway.records()) == 2
