"""Usage records through a PostgreSQL outage, in one process: a flush while the database is gone
returns at once and keeps every record queued; the next flush after it writes them all. The
database connection goes through a TCP proxy the test cuts (PostgreSQL keeps running)."""

import json
import time

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from redis import Redis

from analytics.models import UsageRecord
from analytics.services import GROUP, STREAM_KEY, UsageEvent, usage_flush, usage_record_enqueue
from tests.deploy.tcp_proxy import database_through_proxy
from tests.ops.clone import free_ports


@pytest.fixture
def database_outage(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")
    with database_through_proxy(connection, free_ports(1, 18300, 18400)[0]) as proxy:
        yield proxy


def enqueue(request_ids: list[str]) -> None:
    async def all_of_them():
        for request_id in request_ids:
            await usage_record_enqueue(
                UsageEvent(request_id=request_id, status="success", provider="openai", prompt_tokens=7)
            )

    async_to_sync(all_of_them)()


def landed() -> set[str]:
    return set(UsageRecord.objects.values_list("request_id", flat=True))


def test_a_flush_during_the_outage_keeps_the_stream_and_the_next_one_writes_it(
    database_outage, settings, redis_url, json_log_lines
):
    settings.REDIS_URL = redis_url
    settings.USAGE_BACKGROUND_WRITER = False
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    ids = [f"outage-{i}" for i in range(30)]
    enqueue(ids[:10])

    database_outage.cut()
    enqueue(ids[10:20])  # queueing never needs the database
    started = time.monotonic()
    assert usage_flush(batch=8) == 0
    assert time.monotonic() - started < 2
    assert redis.xlen(STREAM_KEY) == 20  # nothing acknowledged, nothing dropped
    assert any(json.loads(line).get("event") == "usage_flush_database_unavailable" for line in json_log_lines)

    database_outage.restore()
    enqueue(ids[20:])
    # The batch the failed flush had read was handed back: this flush claims it at once.
    assert usage_flush(batch=8) == 30
    assert landed() == set(ids)
    assert redis.xlen(STREAM_KEY) == 0
    assert redis.xpending(STREAM_KEY, GROUP)["pending"] == 0


def test_the_in_process_writer_retries_after_the_outage(database_outage, settings, json_log_lines):
    settings.REDIS_URL = ""
    settings.USAGE_BACKGROUND_WRITER = True
    settings.USAGE_FLUSH_INTERVAL_S = 0.1
    ids = [f"local-{i}" for i in range(25)]
    database_outage.cut()
    enqueue(ids)
    time.sleep(1.0)  # the writer meets the outage and backs off
    database_outage.restore()
    deadline = time.monotonic() + 10
    while (written := landed()) != set(ids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert written == set(ids)
    events = [json.loads(line).get("event") for line in json_log_lines]
    assert events.count("usage_writer_database_unavailable") == 1
    assert "usage_writer_recovered" in events
