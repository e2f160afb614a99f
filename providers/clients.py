"""The adapter for a catalogue provider, reused per event loop (one HTTP client per provider)."""

from __future__ import annotations

from providers.adapters.base import ProviderAdapter, ProviderConfig
from providers.adapters.registry import AdapterPool
from providers.catalogue import ProviderEntry

_pool = AdapterPool()


def provider_config(provider: ProviderEntry) -> ProviderConfig:
    return ProviderConfig(
        name=provider.name,
        kind=provider.kind,
        base_url=provider.base_url or None,
        api_key=provider.api_key,
        timeout_s=provider.timeout_s,
    )


def provider_adapter(provider: ProviderEntry) -> ProviderAdapter:
    return _pool.get(provider_config(provider))


async def provider_clients_aclose() -> None:
    """Close this loop's provider clients (ASGI lifespan shutdown)."""
    await _pool.aclose_all()
