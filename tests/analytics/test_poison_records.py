"""Poison records: an absurd usage figure is clamped where adapters read it, and a record the
database still refuses goes to the dead-letter table without holding up the records behind it."""

import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection
from redis import Redis

from access.services import api_key_create
from analytics.models import UsageDeadLetter, UsageRecord
from analytics.services import GROUP, STREAM_KEY, UsageEvent, usage_flush, usage_record_enqueue
from providers.adapters.results import MAX_REPORTED_TOKENS


@pytest.fixture(params=["memory", "redis"])
def queue_backend(request, settings):
    """Records queued in the process (no Redis) or in the Redis stream."""
    settings.USAGE_BACKGROUND_WRITER = False  # the test flushes, as the Celery task does
    if request.param == "memory":
        settings.REDIS_URL = ""
    else:
        url = request.getfixturevalue("redis_url")
        Redis.from_url(url).flushdb()
        settings.REDIS_URL = url
    return request.param


def enqueue(*events: UsageEvent) -> None:
    async def all_of_them():
        for event in events:
            await usage_record_enqueue(event)

    async_to_sync(all_of_them)()


def event(request_id: str, **counts) -> UsageEvent:
    return UsageEvent(request_id=request_id, status="success", provider="openai", model="gpt-4o-mini", **counts)


def stream_left(url: str) -> tuple[int, int]:
    """(entries still in the stream, entries read but not acknowledged)."""
    redis = Redis.from_url(url)
    return redis.xlen(STREAM_KEY), redis.xpending(STREAM_KEY, GROUP)["pending"]


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google", "deepseek"])
@pytest.mark.django_db(transaction=True)
async def test_an_upstream_reporting_three_billion_prompt_tokens_is_recorded_clamped(gateway, provider):
    gateway.fault(provider, "prompt_tokens:3000000000", count=1)
    absurd = await gateway.complete(path=f"/api/v1/providers/{provider}/completion")
    after = await gateway.complete(
        {"messages": [{"role": "user", "content": "and the next one"}]},
        path=f"/api/v1/providers/{provider}/completion",
    )
    assert absurd.status_code == 200, absurd.content
    assert after.status_code == 200, after.content
    assert absurd.json()["usage"]["prompt_tokens"] == MAX_REPORTED_TOKENS

    records = {r.request_id: r for r in await gateway.records()}
    assert records[absurd["X-Request-ID"]].prompt_tokens == MAX_REPORTED_TOKENS
    assert records[after["X-Request-ID"]].prompt_tokens < 100
    assert records[absurd["X-Request-ID"]].cost_usd > records[after["X-Request-ID"]].cost_usd
    assert not await sync_to_async(UsageDeadLetter.objects.exists)()


@pytest.mark.django_db
def test_a_record_the_database_refuses_is_dead_lettered_and_the_others_land(queue_backend, settings):
    enqueue(
        event("good-1", prompt_tokens=10),
        event("too-big", prompt_tokens=10**20),
        event("good-2", prompt_tokens=20),
        event("negative", completion_tokens=-1),
        event("good-3", prompt_tokens=30),
    )
    assert usage_flush() == 3
    landed = dict(UsageRecord.objects.values_list("request_id", "prompt_tokens"))
    assert landed == {"good-1": 10, "good-2": 20, "good-3": 30}

    letters = {letter.request_id: letter for letter in UsageDeadLetter.objects.all()}
    assert set(letters) == {"too-big", "negative"}
    assert json.loads(letters["too-big"].payload)["prompt_tokens"] == 10**20
    assert json.loads(letters["negative"].payload)["completion_tokens"] == -1
    assert "completion_tokens=-1" in letters["negative"].error
    assert letters["too-big"].error and letters["too-big"].record_id

    # Nothing is left queued, and a second flush neither repeats nor loses anything.
    assert usage_flush() == 0
    assert UsageRecord.objects.count() == 3
    assert UsageDeadLetter.objects.count() == 2
    if queue_backend == "redis":
        assert stream_left(settings.REDIS_URL) == (0, 0)


@pytest.mark.django_db
def test_the_issues_three_billion_token_record_is_refused_by_postgresql_and_dead_lettered(settings):
    """Queued without the adapter's clamp (an older worker's record): PostgreSQL's integer column
    refuses it, which used to fail every flush and hold every record behind it."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite stores 3,000,000,000 in an integer column; PostgreSQL refuses it")
    settings.REDIS_URL = ""
    settings.USAGE_BACKGROUND_WRITER = False
    enqueue(event("before", prompt_tokens=1), event("absurd", prompt_tokens=3_000_000_000),
            event("after", prompt_tokens=2))
    assert usage_flush() == 2
    assert set(UsageRecord.objects.values_list("request_id", flat=True)) == {"before", "after"}
    letter = UsageDeadLetter.objects.get()
    assert letter.request_id == "absurd"
    assert "out of range" in letter.error


@pytest.mark.django_db
def test_an_unreadable_stream_entry_is_dead_lettered(settings, redis_url):
    settings.REDIS_URL = redis_url
    settings.USAGE_BACKGROUND_WRITER = False
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    enqueue(event("good-1"))
    redis.xadd(STREAM_KEY, {"e": '{"request_id": "half a record"'})
    enqueue(event("good-2"))
    assert usage_flush() == 2
    assert set(UsageRecord.objects.values_list("request_id", flat=True)) == {"good-1", "good-2"}
    letter = UsageDeadLetter.objects.get()
    assert letter.payload == '{"request_id": "half a record"'
    assert letter.error.startswith("JSONDecodeError")
    assert stream_left(redis_url) == (0, 0)


@pytest.mark.django_db
def test_dead_letters_are_visible_read_only_in_the_admin(admin_client, settings):
    settings.REDIS_URL = ""
    settings.USAGE_BACKGROUND_WRITER = False
    enqueue(event("poisoned-request", completion_tokens=-5))
    usage_flush()
    letter = UsageDeadLetter.objects.get()

    listing = admin_client.get("/admin/analytics/usagedeadletter/")
    assert listing.status_code == 200
    assert "poisoned-request" in listing.content.decode()
    page = admin_client.get(f"/admin/analytics/usagedeadletter/{letter.pk}/change/").content.decode()
    assert "completion_tokens=-5" in page  # the error
    assert "&quot;completion_tokens&quot;:-5" in page  # the payload
    assert admin_client.get("/admin/analytics/usagedeadletter/add/").status_code == 403
    assert admin_client.post(f"/admin/analytics/usagedeadletter/{letter.pk}/delete/").status_code == 403
    assert UsageDeadLetter.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_record_whose_key_was_deleted_before_the_flush_lands_without_it(queue_backend):
    api_key, _ = api_key_create(name="deleted-soon")
    kept, _ = api_key_create(name="kept")
    enqueue(
        event("of-the-deleted-key", prompt_tokens=4, api_key_id=api_key.pk),
        event("of-a-kept-key", prompt_tokens=5, api_key_id=kept.pk),
    )
    api_key.delete()
    assert usage_flush() == 2
    landed = {r.request_id: r.api_key_id for r in UsageRecord.objects.all()}
    assert landed == {"of-the-deleted-key": None, "of-a-kept-key": kept.pk}
    assert not UsageDeadLetter.objects.exists()
