"""Fixtures for access control: keys, the two shared-state stores, a frozen clock."""

from decimal import Decimal

import pytest
from redis import Redis

from access import limits
from access.key_cache import key_cache
from access.services import api_key_create, api_key_touch_reset_for_tests

# The middle of a UTC minute (and of a month), so a test never straddles a window by accident.
FROZEN_NOW = 1_795_000_040.0  # 2026-11-18T11:07:20Z, 40 s before the minute ends
FROZEN_RESET_S = 40


@pytest.fixture(autouse=True)
def _fresh_access_state():
    key_cache.reset()
    api_key_touch_reset_for_tests()
    yield
    key_cache.reset()
    limits.access_spend_source_register(None)


@pytest.fixture(params=["memory", "redis"])
def store(request, settings):
    """Run the test on the in-process store and on the real Redis (skipped when none answers)."""
    if request.param == "memory":
        settings.REDIS_URL = ""
    else:
        url = request.getfixturevalue("redis_url")
        Redis.from_url(url).flushdb()
        settings.REDIS_URL = url
    return request.param


@pytest.fixture
def clock(monkeypatch):
    """`clock.now` is what access takes for the time; move it to change windows and months."""

    class Clock:
        now = FROZEN_NOW

        def advance(self, seconds: float) -> None:
            self.now += seconds

    frozen = Clock()
    monkeypatch.setattr(limits, "now_s", lambda: frozen.now)
    return frozen


@pytest.fixture
def make_key(db):
    """`make_key(name=..., rpm_limit=...)` -> (ApiKey, secret)."""
    counter = iter(range(1, 10_000))

    def make(name: str | None = None, **fields):
        if "monthly_budget_usd" in fields and fields["monthly_budget_usd"] is not None:
            fields["monthly_budget_usd"] = Decimal(str(fields["monthly_budget_usd"]))
        return api_key_create(name=name or f"client-{next(counter)}", **fields)

    return make


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def post_gate(client, secret: str | None, path: str = "/api/v1/_test/gate", **body):
    headers = bearer(secret) if secret is not None else {}
    return client.post(path, body, content_type="application/json", **headers)
