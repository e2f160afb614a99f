"""Nothing is lost under concurrency: every request answered, exactly one usage record each."""

import asyncio
from decimal import Decimal

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


async def test_200_concurrent_requests_with_a_provider_failing_half_the_time(gateway, settings):
    settings.BREAKER_MIN_REQUESTS = 10_000  # keep the circuit closed: every request meets the failures
    gateway.fault("openai", "status:500", count=200)
    responses = await asyncio.gather(
        *(gateway.complete({"messages": [{"role": "user", "content": f"question {i}"}]}) for i in range(200))
    )
    assert [r.status_code for r in responses] == [200] * 200
    providers = {r.json()["provider"] for r in responses}
    assert len(providers) >= 2  # some went to openai, some failed over

    records = await gateway.records()
    assert len(records) == 200
    by_request = {r.request_id: r for r in records}
    assert len(by_request) == 200
    for response in responses:
        body = response.json()
        record = by_request[body["request_id"]]
        assert record.status == "success"
        assert record.prompt_tokens == body["usage"]["prompt_tokens"]
        assert record.completion_tokens == body["usage"]["completion_tokens"]
        assert record.cost_usd == Decimal(str(body["cost_estimate"]))
    assert sum(r.cost_usd for r in records) > 0
