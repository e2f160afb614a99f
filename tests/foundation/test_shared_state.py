"""The shared store behaves the same in memory and in Redis, and Redis is shared across processes."""

import asyncio
import subprocess
import sys

import pytest
from redis import Redis

from core.memory_state import MemoryState
from core.redis_state import KEY_PREFIX, RedisState


@pytest.fixture(params=["memory", "redis"])
async def state(request):
    if request.param == "memory":
        yield MemoryState()
        return
    url = request.getfixturevalue("redis_url")
    Redis.from_url(url).flushdb()
    store = RedisState(url)
    yield store
    await store.aclose()


async def test_incr_is_atomic_under_concurrency(state):
    results = await asyncio.gather(*(state.incr("hits", ttl_s=60) for _ in range(200)))
    assert sorted(results) == list(range(1, 201))
    assert await state.get("hits") == "200"
    assert 0 < await state.ttl("hits") <= 60


async def test_ttl_is_set_once_per_window(state):
    await state.incr("window", ttl_s=30)
    await state.incr("window", ttl_s=999)
    assert await state.ttl("window") <= 30


async def test_float_counters_and_hashes(state):
    await state.incr_float("spend", 0.25)
    assert await state.incr_float("spend", 0.5) == pytest.approx(0.75)
    await state.hincr("stats", {"requests": 1, "latency_ms": 120.5})
    await state.hincr("stats", {"requests": 1, "latency_ms": 79.5})
    stats = await state.hgetall("stats")
    assert float(stats["requests"]) == 2
    assert float(stats["latency_ms"]) == pytest.approx(200.0)


async def test_set_only_new_acts_as_a_lock(state):
    assert await state.set("lock", "a", ttl_s=5, only_new=True) is True
    assert await state.set("lock", "b", ttl_s=5, only_new=True) is False
    assert await state.get("lock") == "a"
    await state.delete("lock")
    assert await state.get_many(["lock", "missing"]) == [None, None]


async def test_expired_keys_disappear():
    store = MemoryState()
    await store.set("short", "x", ttl_s=0)
    assert await store.get("short") is None


def test_redis_counters_are_shared_between_processes(redis_url):
    Redis.from_url(redis_url).flushdb()
    code = (
        "import asyncio, sys\n"
        "from core.redis_state import RedisState\n"
        "async def main():\n"
        "    s = RedisState(sys.argv[1])\n"
        "    for _ in range(50):\n"
        "        await s.incr('cross', ttl_s=60)\n"
        "    await s.aclose()\n"
        "asyncio.run(main())\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, redis_url]) for _ in range(2)]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    assert Redis.from_url(redis_url).get(KEY_PREFIX + "cross") == b"100"


async def test_deadlines_only_move_later(state):
    assert await state.extend_deadline("open", "openai", 100.0) == 100.0
    assert await state.extend_deadline("open", "openai", 50.0) == 100.0
    assert await state.extend_deadline("open", "openai", 150.0) == 150.0
    await state.extend_deadline("open", "gemini", 10.0)
    assert await state.deadlines("open") == {"openai": 150.0, "gemini": 10.0}
    await state.remove_deadline("open", "openai")
    assert await state.deadlines("open") == {"gemini": 10.0}


async def test_many_hashes_in_one_round_trip(state):
    await state.hincr_many([("h:a", {"n": 1}, 60), ("h:b", {"n": 2, "x": 0.5}, None)])
    a, b, missing = await state.hgetall_many(["h:a", "h:b", "h:none"])
    assert float(a["n"]) == 1 and float(b["n"]) == 2 and float(b["x"]) == 0.5
    assert missing == {}
