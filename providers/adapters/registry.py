"""Choosing the adapter class for a provider, and keeping one adapter per event loop."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import weakref
from typing import Final
from urllib.parse import urlsplit

from .base import ProviderAdapter, ProviderConfig
from .protocols import protocol_dialect, protocols_all


def _adapter_class(path: str) -> type[ProviderAdapter]:
    module, _, name = path.partition(":")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, ProviderAdapter)):
        raise TypeError(f"{path} is not a ProviderAdapter")
    return cls


# Every declared protocol's adapter class by kind (importing each SDK once, here).
ADAPTER_CLASSES: Final[dict[str, type[ProviderAdapter]]] = {
    kind: _adapter_class(protocol.adapter) for kind, protocol in protocols_all().items()
}


def adapter_kind(config: ProviderConfig) -> str:
    """The protocol dialect for a config: its `kind`, refined by provider name or host."""
    host = urlsplit(config.base_url or "").hostname or ""
    return protocol_dialect(kind=config.kind, name=config.name, host=host)


def adapter_for(config: ProviderConfig) -> ProviderAdapter:
    """A new adapter for `config`. Prefer `AdapterPool.get`, which reuses adapters and clients."""
    kind = adapter_kind(config)
    try:
        cls = ADAPTER_CLASSES[kind]
    except KeyError:
        raise ValueError(f"unknown provider kind {config.kind!r} for provider {config.name!r}") from None
    return cls(config)


def config_fingerprint(config: ProviderConfig) -> str:
    """A stable digest of everything that shapes the client (the key included, but never stored)."""
    canonical = json.dumps(
        [
            config.kind,
            config.base_url,
            config.api_key,
            config.timeout_s,
            sorted((config.extra_headers or {}).items()),
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


class AdapterPool:
    """Adapters (and so SDK/HTTP clients with their connection pools) reused across requests.

    Keyed by event loop, provider name and config fingerprint: a changed key or URL gets a fresh
    adapter, and each loop gets its own, since a client cannot outlive the loop it was opened in.
    A connection pool holds its loop, so the entries of a loop that ended without closing them are
    dropped when the next new loop asks (quietly, see `ProviderHttp`).
    """

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[str, str], ProviderAdapter]
        ] = weakref.WeakKeyDictionary()
        self._closing: set[asyncio.Task[None]] = set()

    def get(self, config: ProviderConfig) -> ProviderAdapter:
        loop = asyncio.get_running_loop()
        adapters = self._by_loop.get(loop)
        if adapters is None:
            self._forget_ended_loops()
            adapters = self._by_loop[loop] = {}
        key = (config.name, config_fingerprint(config))
        adapter = adapters.get(key)
        if adapter is None:
            # A config change for the same provider retires the old adapter.
            for stale in [k for k in adapters if k[0] == config.name]:
                task = loop.create_task(adapters.pop(stale).aclose())
                self._closing.add(task)  # hold a reference until it is done
                task.add_done_callback(self._closing.discard)
            adapter = adapters[key] = adapter_for(config)
        return adapter

    def __len__(self) -> int:
        return sum(len(adapters) for adapters in self._by_loop.values())

    def _forget_ended_loops(self) -> None:
        for ended in [loop for loop in self._by_loop if loop.is_closed()]:
            del self._by_loop[ended]

    async def aclose_all(self) -> None:
        """Close the adapters of the running loop and forget those of ended loops; another live
        loop (the caller of a task run eagerly in a thread) keeps its own."""
        loop = asyncio.get_running_loop()
        mine = self._by_loop.pop(loop, {})
        self._forget_ended_loops()
        pending = [adapter.aclose() for adapter in mine.values()] + list(self._closing)
        # Best effort: a client that fails to close is dropped anyway.
        await asyncio.gather(*pending, return_exceptions=True)
