"""The request path's budget: thread hops and Redis round trips of one completion, counted on the
real ASGI application with the real Redis. A regression here shows long before a benchmark would.

Hops are calls into asgiref's sync thread (`SyncToAsync.__call__`), where every request of a
worker queues; round trips are the commands (or pipelines) the Redis client sends and waits for.
"""

import asyncio
import json

import asgiref.sync
import pytest
import redis.asyncio.connection
from redis import Redis

from access.services import api_key_create
from tests.conftest import redis_test_url

pytestmark = pytest.mark.django_db(transaction=True)

# (cache, key limits) -> (hops, Redis round trips) at most.
BUDGET = {
    ("hit", "none"): (0, 2),  # the cache read, the usage record
    ("miss", "none"): (0, 2),  # the provider's stats, the usage record (the cache is not written: no-store)
    ("hit", "limits"): (0, 4),  # + admission (one script) + settlement (one pipeline)
    ("miss", "limits"): (0, 4),
}


class Counter:
    def __init__(self, monkeypatch) -> None:
        self.hops = 0
        self.trips = 0
        call, send = asgiref.sync.SyncToAsync.__call__, redis.asyncio.connection.AbstractConnection.send_packed_command
        counter = self

        async def counting_call(self, *args, **kwargs):
            counter.hops += 1
            return await call(self, *args, **kwargs)

        async def counting_send(self, *args, **kwargs):
            counter.trips += 1
            return await send(self, *args, **kwargs)

        monkeypatch.setattr(asgiref.sync.SyncToAsync, "__call__", counting_call)
        monkeypatch.setattr(redis.asyncio.connection.AbstractConnection, "send_packed_command", counting_send)

    def reset(self) -> None:
        self.hops = self.trips = 0


async def asgi_post(path: str, body: dict, headers: dict[str, str]) -> tuple[int, dict]:
    """One request through the production ASGI application, as a server would make it."""
    from aiprovider_site.asgi import application

    raw = json.dumps(body).encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"content-length", str(len(raw)).encode()),
                    (b"content-type", b"application/json"),
                    *((k.lower().encode(), v.encode()) for k, v in headers.items())],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }
    answered = asyncio.Event()
    pending = [{"type": "http.request", "body": raw, "more_body": False}]
    reply = {"body": b""}

    async def receive():
        if pending:
            return pending.pop()
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            reply["status"] = message["status"]
        elif message["type"] == "http.response.body":
            reply["body"] += message.get("body", b"")
            if not message.get("more_body"):
                answered.set()

    await application(scope, receive, send)
    return reply["status"], json.loads(reply["body"])


@pytest.fixture
def redis_gateway(gateway, settings):
    url = redis_test_url()
    if url is None:
        pytest.skip("needs Redis")
    Redis.from_url(url).flushdb()
    settings.REDIS_URL = url
    # Production refresh intervals: the measured request finds the catalogue and routing state fresh.
    settings.CATALOGUE_REFRESH_S = 60.0
    settings.ROUTING_STATE_REFRESH_S = 60.0
    return gateway


@pytest.mark.parametrize(("cache", "limits"), list(BUDGET))
async def test_one_completion_stays_within_its_budget_of_hops_and_round_trips(
    redis_gateway, monkeypatch, cache, limits
):
    if limits == "none":
        secret = redis_gateway.api_key
    else:
        _, secret = await asyncio.to_thread(
            api_key_create, name="limited", rpm_limit=100_000, tpm_limit=10_000_000, monthly_budget_usd=1000
        )
    headers = {"Authorization": f"Bearer {secret}"}
    if cache == "miss":
        headers["Cache-Control"] = "no-cache, no-store"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello there"}]}
    counter = Counter(monkeypatch)
    for _ in range(3):  # warm: the key's lookup, the catalogue, the clients, the cached answer
        status, answer = await asgi_post("/v1/chat/completions", body, headers)
        assert status == 200, answer
    counts = []
    for _ in range(5):
        counter.reset()
        status, answer = await asgi_post("/v1/chat/completions", body, headers)
        assert status == 200 and answer["choices"][0]["message"]["content"]
        counts.append((counter.hops, counter.trips))
    # The median request: once a second a request also runs Django's housekeeping in the thread,
    # and may refresh the catalogue or routing state; the typical request must stay in budget.
    hops, trips = BUDGET[(cache, limits)]
    median = sorted(counts)[len(counts) // 2]
    assert median[0] <= hops and median[1] <= trips, counts
