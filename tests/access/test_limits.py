"""Requests and tokens per minute, the monthly budget and the model list, as a client sees them."""

import asyncio
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from redis import Redis

from access import limits
from access.limits import access_admit, access_charge, access_spend_get, access_spend_rebuild
from access.types import ClientKey
from core.errors import ApiError
from core.redis_state import KEY_PREFIX
from core.shared_state import shared_state_aclose
from tests.access.conftest import FROZEN_NOW, FROZEN_RESET_S, post_gate

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.urls("tests.access.urls")]


def client_key(**fields) -> ClientKey:
    values = {
        "id": 9001, "name": "direct", "prefix": "aip_direct", "rpm_limit": None, "tpm_limit": None,
        "monthly_budget_usd": None, "allowed_models": (), "scopes": frozenset(),
    }
    values.update(fields)
    return ClientKey(**values)


@pytest.fixture
async def close_state():
    """Async tests share one loop with their Redis client: close it when the test ends."""
    yield
    await shared_state_aclose()


@pytest.mark.django_db
def test_requests_per_minute_are_enforced_with_headers(client, make_key, store, clock):
    _, secret = make_key(rpm_limit=3)
    for remaining in (2, 1, 0):
        response = post_gate(client, secret)
        assert response.status_code == 200, response.content
        assert response["X-RateLimit-Limit"] == "3"
        assert response["X-RateLimit-Remaining"] == str(remaining)
        assert response["X-RateLimit-Reset"] == str(FROZEN_RESET_S)

    refused = post_gate(client, secret)
    assert refused.status_code == 429
    body = refused.json()
    assert body["error_code"] == "RATE_LIMITED"
    assert body["context"]["limit"] == "requests_per_minute"
    assert refused["Retry-After"] == str(FROZEN_RESET_S)
    assert refused["X-RateLimit-Limit"] == "3"
    assert refused["X-RateLimit-Remaining"] == "0"
    assert refused["X-RateLimit-Reset"] == str(FROZEN_RESET_S)

    clock.advance(FROZEN_RESET_S - 1)
    assert post_gate(client, secret)["Retry-After"] == "1"
    clock.advance(1)  # the next minute
    assert post_gate(client, secret).status_code == 200


@pytest.mark.django_db
def test_tokens_per_minute_count_what_was_charged(client, make_key, store, clock):
    _, secret = make_key(tpm_limit=1000)
    first = post_gate(client, secret, estimated_tokens=100, tokens=900)
    assert first.status_code == 200
    assert first["X-RateLimit-Limit-Tokens"] == "1000"
    assert first["X-RateLimit-Remaining-Tokens"] == "1000"  # before this request's charge

    refused = post_gate(client, secret, estimated_tokens=200)
    assert refused.status_code == 429
    assert refused.json()["error_code"] == "RATE_LIMITED"
    assert refused.json()["context"]["limit"] == "tokens_per_minute"
    assert refused.json()["context"]["used"] == 900
    assert refused["Retry-After"] == str(FROZEN_RESET_S)
    assert refused["X-RateLimit-Remaining-Tokens"] == "100"

    fits = post_gate(client, secret, estimated_tokens=100, tokens=100)
    assert fits.status_code == 200
    assert post_gate(client, secret, estimated_tokens=0).status_code == 429  # the window is spent
    clock.advance(60)
    assert post_gate(client, secret, estimated_tokens=200).status_code == 200


@pytest.mark.django_db
def test_a_request_larger_than_the_whole_token_limit_gets_into_an_empty_window(client, make_key, store, clock):
    _, secret = make_key(tpm_limit=1000)
    assert post_gate(client, secret, estimated_tokens=5000, tokens=4000).status_code == 200
    assert post_gate(client, secret, estimated_tokens=1).status_code == 429


@pytest.mark.django_db
def test_monthly_budget_refuses_once_spent_until_next_month(client, make_key, store, clock):
    _, secret = make_key(monthly_budget_usd="1.00")
    assert post_gate(client, secret, cost_usd="0.60").status_code == 200
    assert post_gate(client, secret, cost_usd="0.45").status_code == 200  # 0.60 < 1.00: admitted

    refused = post_gate(client, secret)
    assert refused.status_code == 402
    body = refused.json()
    assert body["error_code"] == "BUDGET_EXCEEDED"
    assert body["context"]["budget"] == "1.00"
    assert Decimal(body["context"]["spent"]) == Decimal("1.05")
    assert body["context"]["month"] == "2026-11"
    assert body["context"]["resets_at"].startswith("2026-12-01T00:00:00")

    clock.advance(13 * 24 * 3600)  # December
    assert post_gate(client, secret).status_code == 200


@pytest.mark.django_db
def test_a_key_limited_to_some_models_refuses_others_but_accepts_their_aliases(client, make_key, store):
    _, secret = make_key(allowed_models=["gpt-4o-mini"], rpm_limit=2)
    assert post_gate(client, secret, model="gpt-4o-mini").status_code == 200
    refused = post_gate(client, secret, model="claude-3-5-haiku")
    assert refused.status_code == 403
    assert refused.json()["error_code"] == "MODEL_NOT_ALLOWED"
    assert refused.json()["context"]["allowed_models"] == ["gpt-4o-mini"]
    # An alias of an allowed model passes; the refused request used none of the two requests.
    assert post_gate(client, secret, model="gpt-4o-mini-2024-07-18").status_code == 200


@pytest.mark.django_db
def test_a_key_without_limits_gets_no_rate_limit_headers(client, make_key, store):
    _, secret = make_key()
    response = post_gate(client, secret)
    assert response.status_code == 200
    assert not [h for h in response.headers if h.lower().startswith("x-ratelimit")]


async def test_concurrent_requests_in_one_process_never_exceed_the_limit(store, clock, close_state):
    key = client_key(rpm_limit=20)

    async def one() -> bool:
        try:
            await access_admit(key=key, model_names={"m"}, estimated_tokens=1)
            return True
        except ApiError as exc:
            assert exc.status_code == 429
            return False

    results = await asyncio.gather(*(one() for _ in range(50)))
    assert sum(results) == 20


async def test_a_refused_request_uses_no_quota(store, clock, close_state):
    key = client_key(rpm_limit=1, tpm_limit=100)
    await access_charge(key=key, tokens=100, cost_usd=Decimal("0"))
    with pytest.raises(ApiError) as refused:
        await access_admit(key=key, model_names={"m"}, estimated_tokens=1)
    assert refused.value.context["limit"] == "tokens_per_minute"
    clock.advance(60)  # a new window: the token refusal did not take the one request
    admission = await access_admit(key=key, model_names={"m"}, estimated_tokens=1)
    assert admission.headers["X-RateLimit-Remaining"] == "0"


ADMIT_IN_ANOTHER_PROCESS = """
import asyncio, sys, time
import django
django.setup()
from access import limits
from access.types import ClientKey
from core.errors import ApiError
from core.shared_state import shared_state_aclose

now, limit, attempts, start_at = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
limits.now_s = lambda: now
key = ClientKey(id=424242, name="shared", prefix="aip_shared", rpm_limit=limit, tpm_limit=None,
                monthly_budget_usd=None, allowed_models=(), scopes=frozenset())

async def one():
    try:
        await limits.access_admit(key=key, model_names={"m"}, estimated_tokens=1)
        return 1
    except ApiError as exc:
        assert exc.status_code == 429, exc
        return 0

async def main():
    time.sleep(max(0.0, start_at - time.time()))  # both processes start together
    admitted = sum(await asyncio.gather(*(one() for _ in range(attempts))))
    await shared_state_aclose()
    print(admitted)

asyncio.run(main())
"""


def test_the_rate_limit_holds_across_processes_sharing_redis(redis_url, tmp_path):
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    env = {k: v for k, v in os.environ.items() if k not in {"DEVELOPMENT_MODE", "SECRET_KEY"}}
    env.update(
        DJANGO_SETTINGS_MODULE="aiprovider_site.settings", AI_PROVIDER_ENV_FILE="/nonexistent",
        AI_PROVIDER_VAR_DIR=str(tmp_path), REDIS_URL=redis_url,
    )
    start_at = time.time() + 3
    args = [str(FROZEN_NOW), "40", "60", str(start_at)]
    procs = [
        subprocess.Popen([sys.executable, "-c", ADMIT_IN_ANOTHER_PROCESS, *args], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    admitted = [int(out.strip()) for out, _ in outputs]
    assert sum(admitted) == 40, admitted
    window = int(FROZEN_NOW // 60)
    assert redis.get(f"{KEY_PREFIX}access:rpm:424242:{window}") == b"40"


async def test_a_missing_month_is_rebuilt_once_from_the_registered_source(store, clock, close_state):
    calls = []

    def usage_spend(*, key_id, since, until):
        calls.append((key_id, since.isoformat(), until.isoformat()))
        return Decimal("4.50")

    limits.access_spend_source_register(usage_spend)
    key = client_key(monthly_budget_usd=Decimal("5.00"))
    await access_admit(key=key, model_names={"m"}, estimated_tokens=1)
    assert calls == [(9001, "2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00")]
    assert await access_spend_get(key_id=9001) == Decimal("4.5")

    await access_charge(key=key, tokens=10, cost_usd=Decimal("0.60"))
    with pytest.raises(ApiError) as refused:
        await access_admit(key=key, model_names={"m"}, estimated_tokens=1)
    assert refused.value.status_code == 402
    assert Decimal(refused.value.context["spent"]) == Decimal("5.1")
    assert len(calls) == 1


async def test_a_failing_spend_source_admits_and_is_tried_again(store, clock, close_state):
    answers = [RuntimeError("database away"), Decimal("7")]

    def flaky(**_):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    limits.access_spend_source_register(flaky)
    key = client_key(monthly_budget_usd=Decimal("5.00"))
    await access_admit(key=key, model_names={"m"}, estimated_tokens=1)  # admitted despite the failure
    with pytest.raises(ApiError) as refused:
        await access_admit(key=key, model_names={"m"}, estimated_tokens=1)
    assert refused.value.status_code == 402
    assert answers == []


async def test_spend_rebuild_replaces_the_month(store, clock, close_state):
    key = client_key(monthly_budget_usd=Decimal("10"))
    await access_charge(key=key, tokens=0, cost_usd=Decimal("3.25"))
    await access_spend_rebuild(key_id=9001, month="2026-11", amount=Decimal("10.00"))
    assert await access_spend_get(key_id=9001, month="2026-11") == Decimal("10.00")
    with pytest.raises(ApiError) as refused:
        await access_admit(key=key, model_names={"m"}, estimated_tokens=1)
    assert refused.value.status_code == 402


async def test_with_redis_down_requests_are_admitted(settings, clock, close_state):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    admission = await access_admit(key=client_key(rpm_limit=1), model_names={"m"}, estimated_tokens=1)
    assert admission.headers == {}
    await access_charge(key=client_key(), tokens=5, cost_usd=Decimal("1"))  # logged, not raised

