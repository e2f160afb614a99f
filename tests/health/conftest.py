"""Health tests run against the session emulator, wired like the routing tests (real adapters and SDKs
over real HTTP), with a fifth, OpenAI-compatible provider available."""

from __future__ import annotations

import pytest

from providers.catalogue import catalogue_invalidate_for_tests
from providers.emulator import EmulatorServer
from providers.emulator.app import Emulator
from providers.models import Provider, ProviderModel
from tests.routing.conftest import (  # noqa: F401 - fixtures reused as they are
    PROVIDER_KEYS,
    Gateway,
    gateway,
    gateway_settings,
)

DEFAULT_PROVIDERS = ["openai", "anthropic", "google", "deepseek"]
LOCAL = "local-llm"
LOCAL_KEY = "sk-local-llm-test-key-0123456789"


@pytest.fixture(scope="session")
def emulator_server():
    """The emulator, listing Gemini models in one page as the real API does for pageSize=1000 (the
    default emulator pages by two to exercise clients): one probe is one request per provider."""
    with EmulatorServer(Emulator(models_page_size=1000)) as server:
        yield server


@pytest.fixture
def health(gateway, settings) -> Gateway:  # noqa: F811 - the imported fixture
    """The gateway with health settings a test can reason about (no probe waits 10 s)."""
    settings.HEALTH_PROBE_TIMEOUT_S = 2.0
    settings.HEALTH_WAIT_S = 3.0
    settings.HEALTH_CACHE_TTL_S = 30
    settings.HEALTH_DEGRADED_LATENCY_MS = 2000.0
    return gateway


@pytest.fixture
def five_providers(health, monkeypatch) -> list[str]:
    """The four catalogue providers plus an OpenAI-compatible server that also serves gpt-4o-mini."""
    monkeypatch.setenv("LOCAL_LLM_API_KEY", LOCAL_KEY)
    local = Provider.objects.create(
        name=LOCAL, kind="openai_compatible", api_key_env="LOCAL_LLM_API_KEY", priority=50
    )
    ProviderModel.objects.create(provider=local, name="gpt-4o-mini")
    catalogue_invalidate_for_tests()
    return [*DEFAULT_PROVIDERS, LOCAL]


def calls(gw: Gateway, providers: list[str]) -> dict[str, int]:
    """Requests each provider's emulator endpoint has received so far."""
    return {name: gw.calls(name) for name in providers}
