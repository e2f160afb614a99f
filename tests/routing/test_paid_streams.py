"""Every request is paid for, whatever its ending: a stream the client leaves, a stream the
provider breaks, an answer, and a request refused before any call (which pays nothing and holds
nothing)."""

import time
from decimal import Decimal

import httpx
import pytest
from asgiref.sync import async_to_sync

from access.limits import access_spend_get
from access.services import api_key_create
from analytics.models import UsageRecord
from analytics.services import usage_flush

pytestmark = pytest.mark.django_db(transaction=True)

# About 8,000 prompt tokens: a prompt worth paying for.
LONG_PROMPT = "Summarise the following. " + "The quick brown fox jumps over the lazy dog. " * 720


def wait_for_records(count: int = 1) -> list[UsageRecord]:
    deadline = time.monotonic() + 10
    while True:
        usage_flush()
        records = list(UsageRecord.objects.order_by("created_at"))
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


def spend(key) -> Decimal:
    return async_to_sync(access_spend_get)(key_id=key.id)


def open_and_leave(url: str, secret: str, body: dict) -> None:
    """Open a stream, read its first content event, and hang up."""
    with httpx.Client(base_url=url, timeout=10) as client:
        with client.stream(
            "POST", "/v1/chat/completions", json={**body, "stream": True},
            headers={"Authorization": f"Bearer {secret}"},
        ) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            assert next(line for line in lines if '"content":"' in line and '"content":""' not in line)


def test_a_stream_the_client_leaves_is_recorded_and_charged(live_gateway):
    key, secret = api_key_create(name="leaver", monthly_budget_usd=Decimal("5"), tpm_limit=1_000_000)
    live_gateway.fault("openai", "pace:200")  # one event every 200 ms: the client leaves long before the end
    open_and_leave(live_gateway.url, secret, {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": LONG_PROMPT}]})

    [record] = wait_for_records()
    assert (record.status, record.error_code, record.streamed) == ("error", "CLIENT_DISCONNECTED", True)
    # The provider never reported usage: the prompt estimate plus what was streamed is charged.
    assert 7_000 < record.prompt_tokens < 10_000
    assert record.completion_tokens >= 1
    assert record.cost_usd > Decimal("0.001")  # ~8,000 tokens at USD 0.15 per million
    deadline = time.monotonic() + 5
    while spend(key) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spend(key).quantize(Decimal("0.000001")) == record.cost_usd.quantize(Decimal("0.000001"))


def test_twenty_left_streams_exhaust_a_small_budget(live_gateway):
    """The issue's case: streams of ~8,000 prompt tokens on a USD 0.01 key used to cost nothing."""
    key, secret = api_key_create(name="small-budget", monthly_budget_usd=Decimal("0.01"))
    live_gateway.fault("openai", "pace:200")
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": LONG_PROMPT}]}
    refused = 0
    for _ in range(20):
        with httpx.Client(base_url=live_gateway.url, timeout=10) as client:
            with client.stream(
                "POST", "/v1/chat/completions", json={**body, "stream": True},
                headers={"Authorization": f"Bearer {secret}"},
            ) as response:
                if response.status_code == 429 or response.status_code == 402:
                    refused += 1
                    continue
                lines = response.iter_lines()
                next(line for line in lines if '"content":"' in line and '"content":""' not in line)
        time.sleep(0.1)  # the server notices the hang-up and settles
    records = wait_for_records()
    charged = sum(r.cost_usd for r in records)
    assert refused > 0  # the budget ran out
    assert Decimal("0.01") <= charged < Decimal("0.02")


def test_a_stream_the_provider_breaks_is_charged_for_what_it_consumed(live_gateway):
    key, secret = api_key_create(name="broken", monthly_budget_usd=Decimal("5"))
    live_gateway.fault("openai", "stream_error")
    with httpx.Client(base_url=live_gateway.url, timeout=10) as client:
        response = client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": LONG_PROMPT}]},
            headers={"Authorization": f"Bearer {secret}"},
        )
    assert response.status_code == 200
    assert '"error"' in response.text
    [record] = wait_for_records()
    assert record.status == "error" and record.streamed
    assert record.prompt_tokens > 7_000
    assert record.cost_usd > 0
    assert spend(key).quantize(Decimal("0.000001")) == record.cost_usd.quantize(Decimal("0.000001"))


def test_an_answer_settles_its_reservation_at_its_real_cost(live_gateway):
    key, secret = api_key_create(name="answered", monthly_budget_usd=Decimal("5"), tpm_limit=100_000)
    if time.time() % 60 > 50:  # the three requests share one minute's window
        time.sleep(61 - time.time() % 60)
    with httpx.Client(base_url=live_gateway.url, timeout=10) as client:
        for _ in range(3):
            response = client.post(
                "/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]},
                headers={"Authorization": f"Bearer {secret}", "Cache-Control": "no-cache, no-store"},
            )
            assert response.status_code == 200, response.text
        # What the key may still spend: the window counts the real tokens, not the reservations.
        used = 100_000 - int(response.headers["X-RateLimit-Remaining-Tokens"])
    records = wait_for_records(3)
    assert len(records) == 3
    assert used == sum(r.prompt_tokens + r.completion_tokens for r in records[:2])  # before the third
    total = sum(r.cost_usd for r in records)
    assert spend(key).quantize(Decimal("0.000001")) == total.quantize(Decimal("0.000001"))


def test_a_request_refused_before_any_call_holds_nothing(live_gateway):
    # A budget smaller than one request's worst case (8,000 prompt tokens plus gpt-4o-mini's whole
    # output limit): a hold left behind by the refused request would refuse the next one.
    key, secret = api_key_create(name="refused", monthly_budget_usd=Decimal("0.01"))
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": LONG_PROMPT}]}
    with httpx.Client(base_url=live_gateway.url, timeout=10) as client:
        headers = {"Authorization": f"Bearer {secret}"}
        refused = client.post(
            "/v1/chat/completions", json={**body, "prediction": {"type": "content", "content": "x"}},
            headers=headers,
        )
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "unsupported_parameter"
        answered = client.post("/v1/chat/completions", json=body, headers=headers)
        assert answered.status_code == 200, answered.text
    assert spend(key) > 0
