"""The in-process snapshot of the catalogue that the hot path reads (no ORM query per request).

A save or delete of a provider or model bumps a version counter in shared state; each worker
compares its snapshot's version at most once per `CATALOGUE_REFRESH_S` and reloads when it moved.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.conf import settings

from core.shared_state import shared_state, shared_state_sync_incr
from providers.adapters.protocols import protocol_base_path, protocol_dialect
from providers.pricing import ModelPricing, pricing_of

VERSION_KEY = "catalogue:version"


@dataclass(frozen=True)
class ProviderEntry:
    name: str
    kind: str
    base_url: str
    api_key_env: str
    priority: int
    weight: int
    timeout_s: float
    max_tokens: int
    max_retries: int
    fallback_cost_per_token: Decimal | None
    emulated: bool = False

    @property
    def api_key(self) -> str | None:
        """Read from the environment each time; never stored, never copied into the snapshot."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    @property
    def configured(self) -> bool:
        return bool(self.api_key)

    @property
    def display_name(self) -> str:
        return f"{self.name} (emulator)" if self.emulated else self.name


@dataclass(frozen=True)
class ModelEntry:
    provider: str
    name: str
    aliases: tuple[str, ...]
    context_window: int | None
    max_output_tokens: int | None
    input_price_per_1m: Decimal
    output_price_per_1m: Decimal
    cached_input_price_per_1m: Decimal | None
    lacks: frozenset[str] = frozenset()
    # The whole price model (providers.pricing): tiers, cache writes, modalities, operator overrides.
    pricing: ModelPricing | None = None
    # "chat" or "embedding" (routing never mixes them); an embedding model's vector length, and
    # the space it shares with the models it may fail over to (empty: only its own name).
    kind: str = "chat"
    dimensions: int | None = None
    embedding_space: str = ""

    @property
    def public_names(self) -> frozenset[str]:
        return frozenset({self.name, *self.aliases})


@dataclass(frozen=True)
class Catalogue:
    version: str
    providers: dict[str, ProviderEntry]
    models: tuple[ModelEntry, ...]
    fallbacks: dict[str, tuple[str, ...]]
    by_name: dict[str, tuple[ModelEntry, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, *, version, providers, models, fallbacks) -> Catalogue:
        by_name: dict[str, list[ModelEntry]] = {}
        for entry in models:
            for public in entry.public_names:
                by_name.setdefault(public.lower(), []).append(entry)
        return cls(
            version=version,
            providers=providers,
            models=tuple(models),
            fallbacks=fallbacks,
            by_name={k: tuple(v) for k, v in by_name.items()},
        )

    def models_named(self, name: str) -> tuple[ModelEntry, ...]:
        """Enabled models (of enabled providers) whose name or alias is `name`."""
        return self.by_name.get(name.lower(), ())

    def public_names_of(self, name: str) -> set[str]:
        """`name` with every other name the same models answer to (for per-key model lists)."""
        names = {name}
        for entry in self.models_named(name):
            names |= entry.public_names
        return names


def emulator_base_url(emulator_url: str, provider: str, kind: str) -> str:
    """The emulator serves each provider under /<provider name>, at the real API's path layout
    (which the protocol declares: "/v1", "/v1beta", none for DeepSeek)."""
    dialect = protocol_dialect(kind=kind, name=provider, host="")
    return f"{emulator_url.rstrip('/')}/{provider}{protocol_base_path(dialect)}"


def _load(version: str) -> Catalogue:
    from providers.models import Provider, ProviderModel
    from providers.services import CatalogueError, catalogue_load

    emulator_url = settings.PROVIDER_EMULATOR_URL
    providers: dict[str, ProviderEntry] = {}
    for p in Provider.objects.filter(enabled=True):
        providers[p.name] = ProviderEntry(
            name=p.name,
            kind=p.kind,
            base_url=emulator_base_url(emulator_url, p.name, p.kind) if emulator_url else p.base_url,
            api_key_env=p.api_key_env,
            priority=p.priority,
            weight=p.weight,
            timeout_s=p.timeout_s,
            max_tokens=p.max_tokens,
            max_retries=p.max_retries,
            fallback_cost_per_token=p.fallback_cost_per_token,
            emulated=bool(emulator_url),
        )
    models = [
        ModelEntry(
            provider=m.provider.name,
            name=m.name,
            aliases=tuple(m.aliases or ()),
            context_window=m.context_window,
            max_output_tokens=m.max_output_tokens,
            input_price_per_1m=m.input_price_per_1m,
            output_price_per_1m=m.output_price_per_1m,
            cached_input_price_per_1m=m.cached_input_price_per_1m,
            lacks=frozenset(m.lacks or ()),
            pricing=pricing_of(m, m.provider.fallback_cost_per_token),
            kind=m.kind,
            dimensions=m.dimensions,
            embedding_space=m.embedding_space,
        )
        for m in ProviderModel.objects.filter(enabled=True, provider__enabled=True).select_related("provider")
    ]
    try:
        fallbacks = {k: tuple(v) for k, v in catalogue_load()["fallbacks"].items()}
    except CatalogueError:
        fallbacks = {}
    return Catalogue.build(version=version, providers=providers, models=models, fallbacks=fallbacks)


class _Snapshot:
    def __init__(self) -> None:
        self.catalogue: Catalogue | None = None
        self.checked_at = 0.0
        self.lock: asyncio.Lock | None = None
        self.lock_loop = None

    def invalidate(self) -> None:
        self.catalogue = None
        self.checked_at = 0.0

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self.lock is None or self.lock_loop is not loop:
            self.lock, self.lock_loop = asyncio.Lock(), loop
        return self.lock


_snapshot = _Snapshot()


async def catalogue_current() -> Catalogue:
    """The catalogue as this worker knows it, at most `CATALOGUE_REFRESH_S` old."""
    now = time.monotonic()
    current = _snapshot.catalogue
    if current is not None and now - _snapshot.checked_at < settings.CATALOGUE_REFRESH_S:
        return current
    async with _snapshot._lock():
        current = _snapshot.catalogue
        if current is not None and time.monotonic() - _snapshot.checked_at < settings.CATALOGUE_REFRESH_S:
            return current
        try:
            version = await shared_state().get(VERSION_KEY) or "0"
        except Exception:  # shared state down: keep serving the snapshot we have
            version = current.version if current else "0"
        if current is None or current.version != version:
            current = await sync_to_async(_load)(version)
            _snapshot.catalogue = current
        _snapshot.checked_at = time.monotonic()
        return current


def catalogue_bump_version() -> None:
    """Called on every catalogue write: this worker reloads now, the others within a second."""
    _snapshot.invalidate()
    try:
        shared_state_sync_incr(VERSION_KEY)
    except Exception:  # noqa: S110 - other workers catch up when shared state is back
        pass


def catalogue_invalidate_for_tests() -> None:
    _snapshot.invalidate()
