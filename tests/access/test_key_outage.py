"""Client keys through a PostgreSQL outage, and floods of random keys.

The outage is real: the test's database connection goes through a TCP proxy that the test cuts
(PostgreSQL itself keeps running for everyone else), so the key lookups meet the errors psycopg
raises when the server is gone.
"""

import json
import os
import secrets
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from redis import Redis

from access.key_cache import OUTAGE_RETRY_S, key_cache
from access.services import api_key_revoke
from tests.access.conftest import bearer, post_gate
from tests.deploy.servers import ROOT
from tests.deploy.tcp_proxy import database_through_proxy
from tests.ops.clone import free_ports

pytestmark = [pytest.mark.urls("tests.access.urls")]

ENVELOPE_KEYS = {"error", "error_code", "timestamp", "request_id", "context"}
# How long four clients send requests while the database is partitioned away.
PARTITION_LOAD_S = 9.0


def random_secret() -> str:
    return "aip_" + secrets.token_urlsafe(32)


def assert_503_unavailable(response) -> None:
    assert response.status_code == 503, response.content
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["error_code"] == "AUTHENTICATION_UNAVAILABLE"
    assert int(response["Retry-After"]) > 0


def events(lines: list[str], name: str) -> list[dict]:
    return [record for line in lines if (record := json.loads(line)).get("event") == name]


@pytest.fixture
def database_outage(transactional_db, settings):
    """This process's database connection, through a proxy the test can cut (PostgreSQL only)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")
    settings.REDIS_URL = ""  # the version counter is not what these tests are about
    with database_through_proxy(connection, free_ports(1, 18300, 18400)[0]) as proxy:
        yield proxy


def test_known_keys_are_served_while_the_database_is_down_revoked_and_unknown_ones_are_not(
    client, make_key, database_outage, settings, json_log_lines
):
    settings.ACCESS_KEY_CACHE_TTL_S = 1
    settings.ACCESS_KEY_STALE_S = 60
    _, known = make_key()
    revoked_key, revoked = make_key()
    _, never_seen_here = make_key()
    assert post_gate(client, revoked).status_code == 200
    api_key_revoke(api_key=revoked_key)  # seen by this process before the outage
    assert post_gate(client, revoked).status_code == 401
    assert post_gate(client, known).status_code == 200
    time.sleep(1.1)  # every cached answer has expired: each request would now ask the database

    database_outage.cut()
    statuses = [post_gate(client, known).status_code for _ in range(20)]
    assert statuses == [200] * 20
    assert post_gate(client, revoked).status_code == 401
    assert post_gate(client, random_secret()).status_code == 401
    assert_503_unavailable(post_gate(client, never_seen_here))
    assert len(events(json_log_lines, "api_key_store_unreachable")) == 1  # once per outage

    database_outage.restore()
    connection.close()  # what the end of each request does in a server
    time.sleep(OUTAGE_RETRY_S)
    assert post_gate(client, never_seen_here).status_code == 200
    assert post_gate(client, revoked).status_code == 401
    assert len(events(json_log_lines, "api_key_store_recovered")) == 1


def test_a_partitioned_database_does_not_hold_requests_for_known_keys(client, make_key, database_outage, settings):
    """PostgreSQL that answers nothing at all: a new connection fails after its connect timeout, and
    only one lookup at a time (once a second) waits for that; the others are served stale at once."""
    settings.ACCESS_KEY_CACHE_TTL_S = 1
    options = connection.settings_dict.setdefault("OPTIONS", {})
    assert options.get("connect_timeout") == 5  # DB_CONNECT_TIMEOUT_S's default
    options["connect_timeout"] = 1
    try:
        secrets_ = [make_key()[1] for _ in range(4)]
        for secret in secrets_:
            assert post_gate(client, secret).status_code == 200
        time.sleep(1.1)
        connection.close()
        database_outage.cut(silent=True)
        results: list[tuple[int, float]] = []
        started = time.monotonic()

        def requests_of(secret: str) -> None:
            own = Client()
            try:
                while time.monotonic() - started < PARTITION_LOAD_S:
                    sent = time.monotonic()
                    status = post_gate(own, secret).status_code
                    results.append((status, time.monotonic() - sent))
            finally:
                connection.close()

        threads = [threading.Thread(target=requests_of, args=(secret,)) for secret in secrets_]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads), "requests hung on the partitioned database"
        assert {status for status, _ in results} == {200}
        waited = [seconds for _, seconds in results if seconds > 1]
        # Each thread may meet the connect timeout once as the outage begins; after that one lookup at
        # a time probes the database (waiting its connect timeout, libpq's minimum of 2 s, then
        # OUTAGE_RETRY_S before the next probe); all the others (hundreds) are answered at once.
        probes = PARTITION_LOAD_S / (OUTAGE_RETRY_S + 2)
        assert len(waited) <= len(threads) + probes + 1, waited
        assert len(results) > 10 * len(waited)
    finally:
        options["connect_timeout"] = 5


def test_stale_answers_are_served_for_a_bounded_time_only(client, make_key, database_outage, settings):
    settings.ACCESS_KEY_CACHE_TTL_S = 1
    settings.ACCESS_KEY_STALE_S = 2
    _, secret = make_key()
    assert post_gate(client, secret).status_code == 200
    loaded_at = time.monotonic()
    database_outage.cut()
    time.sleep(1.2)
    assert post_gate(client, secret).status_code == 200
    time.sleep(max(0.0, loaded_at + 3.2 - time.monotonic()))  # past TTL + ACCESS_KEY_STALE_S
    assert_503_unavailable(post_gate(client, secret))


def test_a_process_that_never_reached_the_database_answers_503_not_500(client, make_key, database_outage):
    _, secret = make_key()
    key_cache.reset()
    database_outage.cut()
    assert_503_unavailable(post_gate(client, secret))
    assert_503_unavailable(post_gate(client, random_secret()))
    # On the OpenAI door the same refusal is in OpenAI's error shape, still a 503.
    response = client.post(
        "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": []}, content_type="application/json",
        **bearer(secret),
    )
    assert response.status_code == 503, response.content


@pytest.mark.django_db
def test_a_flood_of_random_keys_costs_no_database_query(client, make_key, store):
    _, secret = make_key()
    assert post_gate(client, random_secret()).status_code == 401  # loads the active keys once
    with CaptureQueriesContext(connection) as queries:
        statuses = {post_gate(client, random_secret()).status_code for _ in range(300)}
    assert statuses == {401}
    assert queries.captured_queries == []
    assert post_gate(client, secret).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_key_created_by_another_process_works_within_the_version_check(client, settings, redis_url):
    if connection.vendor != "postgresql":
        pytest.skip("another process needs to share the test database: PostgreSQL (set DATABASE_URL)")
    settings.REDIS_URL = redis_url
    Redis.from_url(redis_url).flushdb()
    settings.ACCESS_KEY_CACHE_TTL_S = 300  # only the version counter can tell this process in time
    assert post_gate(client, random_secret()).status_code == 401  # active keys loaded, none of them new

    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aiprovider_site.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": redis_url,
    }
    out = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", "--name", "from-elsewhere"],
        env=env, cwd=ROOT, check=True, capture_output=True, text=True, timeout=60,
    ).stdout
    secret = out.strip().splitlines()[-1]
    created_at = time.monotonic()

    deadline = created_at + settings.ACCESS_KEY_VERSION_CHECK_S + 0.5
    while (status := post_gate(client, secret).status_code) != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status == 200, f"still {status} {time.monotonic() - created_at:.2f} s after the key was created"
