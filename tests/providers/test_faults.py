"""Every emulator fault, through each adapter, maps to the right ProviderError."""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass

import httpx
import pytest

from providers.adapters import ProviderAdapter, ProviderError

from .conftest import API_KEY, EXPECTED_TEXT, PROVIDERS, chat_request

ANY = object()  # retry_after not asserted


@dataclass(frozen=True)
class Expect:
    kind: str
    retryable: bool
    retry_after: object = None
    status_code: object = ANY


COMMON_FAULTS: dict[str, Expect] = {
    "status:500": Expect("unavailable", True, ANY, 500),
    "status:503": Expect("unavailable", True, ANY, 503),
    "status:404": Expect("not_found", False, None, 404),
    "status:403": Expect("permission", False, None, 403),
    "rate_limit:2.5": Expect("rate_limited", True, 2.5, 429),
    "quota": Expect("quota_exceeded", False, None, ANY),
    "drop": Expect("connection", True, None, None),
    "malformed": Expect("invalid_response", True, None, ANY),
    "cut:2": Expect("connection", True, None, None),
    "reset:3": Expect("connection", True, None, None),
    "context_length": Expect("context_length_exceeded", False, None, 400),
    "stream_error": Expect("unavailable", True, None, ANY),
}

# Statuses that mean something particular to one provider.
PROVIDER_FAULTS: list[tuple[str, str, Expect]] = [
    ("openai", "status:429", Expect("rate_limited", True, 1.0, 429)),
    ("anthropic", "status:529", Expect("unavailable", True, None, 529)),
    ("anthropic", "status:402", Expect("quota_exceeded", False, None, 402)),
    ("deepseek", "status:402", Expect("quota_exceeded", False, None, 402)),
    ("gemini", "status:429", Expect("rate_limited", True, 1.0, 429)),
    ("gemini", "status:504", Expect("timeout", True, None, 504)),
]

QUOTA_STATUS = {"openai": 429, "openai_compatible": 429, "anthropic": 429, "gemini": 429, "deepseek": 402}


async def _call(adapter: ProviderAdapter, model: str, streamed: bool, timeout: float = 5.0) -> str:
    if streamed:
        return "".join([chunk.delta async for chunk in adapter.stream(chat_request(model), timeout=timeout)])
    return (await adapter.complete(chat_request(model), timeout=timeout)).content


def _check(error: ProviderError, expect: Expect, provider: str) -> None:
    assert (error.kind, error.retryable, error.provider) == (expect.kind, expect.retryable, provider)
    if expect.retry_after is not ANY:
        assert error.retry_after == expect.retry_after
    if expect.status_code is not ANY:
        assert error.status_code == expect.status_code
    assert API_KEY not in str(error) and API_KEY not in repr(error)


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("fault", list(COMMON_FAULTS))
async def test_fault_maps_to_provider_error(case, make_adapter, fault, streamed):
    # The model-name suffix is one of the three ways to inject a fault.
    adapter = make_adapter(case.name)

    with pytest.raises(ProviderError) as info:
        await _call(adapter, f"{case.model}@fault={fault}", streamed)

    expect = COMMON_FAULTS[fault]
    if fault == "quota":
        expect = Expect(expect.kind, expect.retryable, None, QUOTA_STATUS[case.name])
    _check(info.value, expect, case.name)


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize(
    ("provider", "fault", "expect"), PROVIDER_FAULTS, ids=[f"{p}-{f}" for p, f, _ in PROVIDER_FAULTS]
)
async def test_provider_specific_status(make_adapter, provider, fault, expect, streamed):
    adapter = make_adapter(provider, extra_headers={"X-Emulator-Fault": fault})

    with pytest.raises(ProviderError) as info:
        await _call(adapter, PROVIDERS[provider].model, streamed)

    _check(info.value, expect, provider)


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
async def test_hang_times_out_within_the_deadline_and_the_adapter_recovers(case, make_adapter, streamed):
    adapter = make_adapter(case.name)
    started = time.monotonic()

    with pytest.raises(ProviderError) as info:
        await _call(adapter, f"{case.model}@fault=hang", streamed, timeout=0.5)

    elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 2.0
    _check(info.value, Expect("timeout", True, None, None), case.name)
    # The cancelled request must not poison the client's connection pool.
    assert await _call(adapter, case.model, streamed, timeout=5) == EXPECTED_TEXT


async def test_stream_first_chunk_deadline_covers_slow_starts(case, make_adapter):
    adapter = make_adapter(case.name)
    started = time.monotonic()

    with pytest.raises(ProviderError) as info:
        await _call(adapter, f"{case.model}@fault=latency:3000", streamed=True, timeout=0.5)

    assert time.monotonic() - started < 2.0
    assert info.value.kind == "timeout"


async def test_latency_within_the_deadline_still_answers(case, make_adapter):
    adapter = make_adapter(case.name)
    started = time.monotonic()

    assert await _call(adapter, f"{case.model}@fault=latency:300", streamed=False) == EXPECTED_TEXT
    assert time.monotonic() - started >= 0.3


async def test_latency_combines_with_another_fault(case, make_adapter):
    adapter = make_adapter(case.name)
    started = time.monotonic()

    with pytest.raises(ProviderError) as info:
        await _call(adapter, f"{case.model}@fault=latency:200,status:503", streamed=False)

    assert time.monotonic() - started >= 0.2
    assert info.value.kind == "unavailable"


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
async def test_rejected_key_is_an_authentication_error(case, make_adapter, streamed):
    adapter = make_adapter(case.name, api_key="invalid-0123456789abcdef")

    with pytest.raises(ProviderError) as info:
        await _call(adapter, case.model, streamed)

    _check(info.value, Expect("authentication", False, None, ANY), case.name)
    assert "invalid-0123456789abcdef" not in str(info.value)


async def test_missing_key_fails_without_a_request(make_adapter, emulator):
    for name in ("openai", "anthropic", "gemini", "deepseek"):
        with pytest.raises(ProviderError) as info:
            await make_adapter(name, api_key=None).complete(chat_request(PROVIDERS[name].model), timeout=5)
        assert info.value.kind == "authentication"
    assert emulator.stats()["total"] == 0


@contextlib.contextmanager
def refused_port():
    """A loopback port that is bound but not listening, so connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def test_unreachable_provider_is_a_connection_error(case, make_adapter):
    with refused_port() as port:
        adapter = make_adapter(case.name, base_url=f"http://127.0.0.1:{port}")
        with pytest.raises(ProviderError) as info:
            await _call(adapter, case.model, streamed=False)

    _check(info.value, Expect("connection", True, None, None), case.name)


# ---------------------------------------------------------------- other ways to inject faults


async def test_fault_header_applies_to_every_request(case, make_adapter, emulator):
    adapter = make_adapter(case.name, extra_headers={"X-Emulator-Fault": "status:503"})

    for _ in range(2):
        with pytest.raises(ProviderError):
            await _call(adapter, case.model, streamed=False)
    with pytest.raises(ProviderError):
        await adapter.list_models()
    assert emulator.stats()["providers"][case.name]["requests"] == 3


async def test_control_api_fault_with_count(case, make_adapter, emulator):
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{emulator.base_url}/_emulator/faults",
            json={"provider": case.name, "fault": "status:503", "count": 2},
        )
    assert response.status_code == 200
    adapter = make_adapter(case.name)

    for _ in range(2):
        with pytest.raises(ProviderError) as info:
            await _call(adapter, case.model, streamed=False)
        assert info.value.kind == "unavailable"
    assert await _call(adapter, case.model, streamed=False) == EXPECTED_TEXT
    assert emulator.stats()["providers"][case.name]["requests"] == 3


async def test_standing_fault_hits_only_its_provider(make_adapter, emulator):
    emulator.set_fault("anthropic", "status:529")

    assert await _call(make_adapter("openai"), "gpt-4.1-mini", streamed=False) == EXPECTED_TEXT
    with pytest.raises(ProviderError) as info:
        await _call(make_adapter("anthropic"), "claude-sonnet-4-6", streamed=False)
    assert info.value.status_code == 529

    emulator.clear_faults("anthropic")
    assert await _call(make_adapter("anthropic"), "claude-sonnet-4-6", streamed=False) == EXPECTED_TEXT


async def test_probe_reports_provider_outage(case, make_adapter, emulator):
    emulator.set_fault(case.name, "status:503", count=1)

    with pytest.raises(ProviderError) as info:
        await make_adapter(case.name).probe()

    assert (info.value.kind, info.value.retryable) == ("unavailable", True)
