"""The adapter for a catalogue provider, reused per event loop (one HTTP connection pool per provider)."""

from __future__ import annotations

from django.conf import settings

from providers.adapters.base import ProviderAdapter, ProviderConfig
from providers.adapters.http import PoolLimits, pool_limits_set
from providers.adapters.registry import AdapterPool
from providers.catalogue import ProviderEntry

_pool = AdapterPool()

# Every provider's connection pool is sized for bursts (PROVIDER_POOL_MAX_CONNECTIONS per worker).
pool_limits_set(
    PoolLimits(
        max_connections=settings.PROVIDER_POOL_MAX_CONNECTIONS,
        keepalive_s=settings.PROVIDER_POOL_KEEPALIVE_S,
    )
)


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
