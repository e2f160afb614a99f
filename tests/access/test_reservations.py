"""Reservations: concurrent requests on one key can overshoot its budget or tokens per minute by at
most one request's reservation, on the in-process store and on Redis alike."""

import asyncio
from decimal import Decimal

import pytest

from access import limits
from access.limits import access_admit, access_settle, access_spend_get
from access.types import ClientKey
from core.errors import ApiError
from core.shared_state import shared_state_aclose


def client_key(**fields) -> ClientKey:
    values = {
        "id": 9101, "name": "reserving", "prefix": "aip_reserving", "rpm_limit": None, "tpm_limit": None,
        "monthly_budget_usd": None, "allowed_models": (), "scopes": frozenset(),
    }
    values.update(fields)
    return ClientKey(**values)


@pytest.fixture
async def close_state():
    limits.access_spend_source_register(None)  # the counters alone: no database behind them
    yield
    await shared_state_aclose()


def usd(value) -> Decimal:
    """The spend counter adds floats: compare to the micro-dollar."""
    return Decimal(value).quantize(Decimal("0.000001"))


async def _request(key, *, reserve_tokens=0, reserve_cost="0", tokens=0, cost="0", hold_s=0.05):
    """One request: admitted with its worst case, `hold_s` in flight, settled with the real amounts.
    Returns the real cost when admitted, None when refused."""
    try:
        admission = await access_admit(
            key=key, model_names={"m"}, estimated_tokens=0, reserve_tokens=reserve_tokens,
            reserve_cost_usd=Decimal(reserve_cost),
        )
    except ApiError as refused:
        assert refused.status_code in (402, 429), refused
        return None
    await asyncio.sleep(hold_s)
    await access_settle(admission.reservation, tokens=tokens, cost_usd=Decimal(cost))
    return Decimal(cost)


async def test_fifty_concurrent_requests_overshoot_a_budget_by_at_most_one_reservation(store, clock, close_state):
    key = client_key(monthly_budget_usd=Decimal("0.01"))
    # Each request may cost up to 0.0012 and really costs 0.001: ten fit in the budget.
    spent = await asyncio.gather(
        *(_request(key, reserve_cost="0.0012", cost="0.001") for _ in range(50))
    )
    admitted = [cost for cost in spent if cost is not None]
    # Only as many as the budget holds at their worst case were let in at once (0.01 / 0.0012).
    assert 0 < len(admitted) <= 9
    # Bursts until the key is refused: the month's spend ends within one reservation of the budget.
    for _ in range(10):
        await asyncio.gather(*(_request(key, reserve_cost="0.0012", cost="0.001") for _ in range(50)))
    total = await access_spend_get(key_id=key.id)
    assert Decimal("0.01") <= usd(total) <= Decimal("0.01") + Decimal("0.0012")
    with pytest.raises(ApiError) as refused:
        await access_admit(key=key, model_names={"m"}, estimated_tokens=0, reserve_cost_usd=Decimal("0.0001"))
    assert refused.value.status_code == 402


async def test_without_reservations_the_same_burst_would_overspend(store, clock, close_state):
    """The counterfactual the reservations exist for: nothing held, all fifty get in."""
    key = client_key(monthly_budget_usd=Decimal("0.01"))
    await asyncio.gather(*(_request(key, cost="0.001") for _ in range(50)))
    assert usd(await access_spend_get(key_id=key.id)) == Decimal("0.050000")


async def test_a_settled_request_frees_its_hold_for_the_next(store, clock, close_state):
    key = client_key(monthly_budget_usd=Decimal("1.00"))
    first = await access_admit(key=key, model_names={"m"}, estimated_tokens=0, reserve_cost_usd=Decimal("0.9"))
    # 0.9 held: the budget has room for nothing else until it is settled...
    second = await access_admit(key=key, model_names={"m"}, estimated_tokens=0, reserve_cost_usd=Decimal("0.5"))
    with pytest.raises(ApiError):  # ... a third sees 1.4 held
        await access_admit(key=key, model_names={"m"}, estimated_tokens=0, reserve_cost_usd=Decimal("0.1"))
    await access_settle(first.reservation, tokens=10, cost_usd=Decimal("0.01"))
    await access_settle(second.reservation, tokens=10, cost_usd=Decimal("0.02"))
    await access_settle(second.reservation, tokens=10, cost_usd=Decimal("0.02"))  # idempotent
    assert usd(await access_spend_get(key_id=key.id)) == Decimal("0.030000")
    third = await access_admit(key=key, model_names={"m"}, estimated_tokens=0, reserve_cost_usd=Decimal("0.9"))
    assert third.reservation.hold


async def test_an_unsettled_hold_expires(store, clock, close_state, settings):
    settings.ACCESS_RESERVATION_TTL_S = 30
    key = client_key(monthly_budget_usd=Decimal("1.00"))
    await access_admit(key=key, model_names={"m"}, estimated_tokens=0, reserve_cost_usd=Decimal("1.5"))
    with pytest.raises(ApiError):
        await access_admit(key=key, model_names={"m"}, estimated_tokens=0, reserve_cost_usd=Decimal("0.1"))
    clock.advance(31)  # the worker that held it is gone
    await access_admit(key=key, model_names={"m"}, estimated_tokens=0, reserve_cost_usd=Decimal("0.1"))


async def test_hundred_concurrent_requests_overshoot_tokens_per_minute_by_at_most_one_reservation(
    store, clock, close_state
):
    key = client_key(tpm_limit=1000)
    # Each may use 100 tokens and really uses 62.
    results = await asyncio.gather(
        *(_request(key, reserve_tokens=100, tokens=62) for _ in range(100))
    )
    admitted = sum(1 for r in results if r is not None)
    assert 0 < admitted * 62 <= 1000 + 100
    # The window holds the real tokens, reservations replaced.
    with pytest.raises(ApiError) as refused:
        await access_admit(key=key, model_names={"m"}, estimated_tokens=1000, reserve_tokens=1000)
    assert refused.value.context["used"] == admitted * 62


async def test_a_reservation_settled_in_the_next_minute_moves_its_tokens(store, clock, close_state):
    key = client_key(tpm_limit=1000)
    admission = await access_admit(key=key, model_names={"m"}, estimated_tokens=0, reserve_tokens=900)
    with pytest.raises(ApiError):
        await access_admit(key=key, model_names={"m"}, estimated_tokens=0, reserve_tokens=200)
    clock.advance(60)
    await access_settle(admission.reservation, tokens=300, cost_usd=Decimal(0))
    # The new minute has the real 300; 800 more do not fit, 700 do.
    with pytest.raises(ApiError) as refused:
        await access_admit(key=key, model_names={"m"}, estimated_tokens=0, reserve_tokens=800)
    assert refused.value.context["used"] == 300
    await access_admit(key=key, model_names={"m"}, estimated_tokens=0, reserve_tokens=700)
