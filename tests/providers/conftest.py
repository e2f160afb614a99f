"""Fixtures for the provider adapter and emulator tests.

One emulator server (uvicorn on 127.0.0.1, in a thread) serves the whole session; each test gets
it freshly reset. Adapters are created per test, in the test's own event loop, and closed after.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from providers.adapters import ChatRequest, Message, ProviderAdapter, ProviderConfig, adapter_for
from providers.adapters.protocols import protocols_all
from providers.emulator import EmulatorServer
from providers.emulator.protocols import emulated_model

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "provider_formats"
API_KEY = "sk-emulator-test-0123456789abcdef"
QUESTION = "What is the capital of France?"
EXPECTED_TEXT = f"Emulated reply to: {QUESTION}"


@dataclass(frozen=True)
class ProviderCase:
    name: str  # provider name, also the emulator path prefix
    kind: str  # ProviderConfig.kind as the data model stores it
    model: str


# One case per declared protocol: a dialect (DeepSeek) is stored as the kind it refines.
PROVIDERS: dict[str, ProviderCase] = {
    kind: ProviderCase(kind, protocol.dialect_of or kind, emulated_model(kind))
    for kind, protocol in protocols_all().items()
}


def fixture_bytes(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


def fixture_json(relative: str):
    return json.loads(fixture_bytes(relative))


def chat_request(model: str, question: str = QUESTION, **options) -> ChatRequest:
    return ChatRequest(
        model=model,
        messages=[Message("system", "You are a concise assistant."), Message("user", question)],
        **options,
    )


@pytest.fixture(scope="session")
def emulator_server() -> EmulatorServer:
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> EmulatorServer:
    emulator_server.reset()
    yield emulator_server
    emulator_server.reset()


@pytest.fixture(params=list(PROVIDERS))
def case(request) -> ProviderCase:
    return PROVIDERS[request.param]


MakeAdapter = Callable[..., ProviderAdapter]


@pytest.fixture
async def make_adapter(emulator: EmulatorServer) -> AsyncIterator[MakeAdapter]:
    """Build an adapter for a provider pointed at the emulator; closed after the test."""
    created: list[ProviderAdapter] = []

    def make(
        name: str,
        *,
        api_key: str | None = API_KEY,
        timeout_s: float = 5.0,
        extra_headers: dict[str, str] | None = None,
        base_url: str | None = None,
    ) -> ProviderAdapter:
        case = PROVIDERS[name]
        config = ProviderConfig(
            name=name,
            kind=case.kind,
            base_url=base_url or emulator.url_for(name),
            api_key=api_key,
            timeout_s=timeout_s,
            extra_headers=extra_headers,
        )
        adapter = adapter_for(config)
        created.append(adapter)
        return adapter

    yield make
    for adapter in created:
        await adapter.aclose()


@pytest.fixture
async def adapter(case: ProviderCase, make_adapter: MakeAdapter) -> ProviderAdapter:
    return make_adapter(case.name)
