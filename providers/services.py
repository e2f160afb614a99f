"""Writes to the provider catalogue."""

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.db import transaction

from providers.adapters.protocols import provider_kind_choices
from providers.models import ModelKind, PriceChange, PriceSync, Provider, ProviderModel
from providers.price_classes import PRICE_COLUMNS, SOURCE_CATALOGUE, SOURCE_UNKNOWN, synced_form
from providers.price_data import price_changes, price_data_comparable
from providers.price_sources import (
    ModelPrices,
    PriceSource,
    default_model_prices,
    installed_source,
    prices_from_catalogue,
    prices_from_cost_per_token,
    source_from_raw,
)
from providers.pricing import pricing_of


class CatalogueError(ValueError):
    """The catalogue file is missing or malformed."""


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # "object.field" an operator changed, left as is
    unchanged: int = 0
    price_changes: dict[str, dict[str, list]] = field(default_factory=dict)  # "provider/model" -> lines
    unknown: list[str] = field(default_factory=list)  # "provider/model" with no price at all
    price_source: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


PROVIDER_FIELDS = (
    "kind", "base_url", "api_key_env", "enabled", "priority", "weight", "timeout_s", "max_tokens",
    "max_retries", "fallback_cost_per_token",
)
PRICE_FIELDS = (*PRICE_COLUMNS, "price_source")
MODEL_FIELDS = (
    "aliases", "context_window", "max_output_tokens", "lacks", *PRICE_FIELDS, "enabled", "kind", "dimensions",
    "embedding_space",
)


def _comparable(value: Any) -> Any:
    """Values as stored in `synced` (JSON): decimals as normalised strings."""
    if isinstance(value, float) and not isinstance(value, bool):
        return repr(value)
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return synced_form(value)


def catalogue_load(*, path: Path | None = None) -> dict[str, Any]:
    path = Path(path or settings.PROVIDER_CATALOGUE_PATH)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise CatalogueError(f"catalogue file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise CatalogueError(f"catalogue file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("providers"), dict):
        raise CatalogueError(f"catalogue file {path} needs a 'providers' mapping")
    kinds = {kind for kind, _ in provider_kind_choices()}
    for name, spec in data["providers"].items():
        if not isinstance(spec, dict) or spec.get("kind") not in kinds:
            raise CatalogueError(f"provider {name!r}: 'kind' must be one of {sorted(kinds)}")
        for model in spec.get("models") or []:
            if not isinstance(model, dict) or not model.get("name"):
                raise CatalogueError(f"provider {name!r}: every model needs a 'name'")
            if model.get("kind", ModelKind.CHAT) not in ModelKind.values:
                raise CatalogueError(
                    f"model {name}/{model['name']}: 'kind' must be one of {ModelKind.values}"
                )
    fallbacks = data.get("fallbacks") or {}
    if not isinstance(fallbacks, dict) or not all(isinstance(v, list) for v in fallbacks.values()):
        raise CatalogueError(f"catalogue file {path}: 'fallbacks' maps a model to a list of models")
    data["fallbacks"] = fallbacks
    return data


def _provider_desired(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    cost = settings.PROVIDER_COST_PER_TOKEN.get(name)
    if cost is None and spec.get("fallback_cost_per_token") is not None:
        cost = Decimal(str(spec["fallback_cost_per_token"]))
    return {
        "kind": spec["kind"],
        "base_url": spec.get("base_url", ""),
        "api_key_env": spec.get("api_key_env", f"{name.upper()}_API_KEY"),
        "enabled": bool(spec.get("enabled", True)),
        "priority": int(spec.get("priority", 100)),
        "weight": int(spec.get("weight", 1)),
        "timeout_s": float(spec.get("timeout_s", 30)),
        "max_tokens": int(settings.PROVIDER_MAX_TOKENS.get(name, spec.get("max_tokens", 4096))),
        "max_retries": int(spec.get("max_retries", 1)),
        "fallback_cost_per_token": cost,
    }


def _model_prices(
    provider: Provider | str, spec: dict[str, Any], fallback_cost: Decimal | None,
    source: PriceSource | None = None, kind: str = "",
) -> ModelPrices | None:
    """A model's prices: the catalogue file's, else the price source's (genai-prices), else the
    provider's cost per token; None when nothing prices it."""
    name = provider.name if isinstance(provider, Provider) else provider
    kind = provider.kind if isinstance(provider, Provider) else kind
    if "input_price_per_1m" in spec and "output_price_per_1m" in spec:
        return prices_from_catalogue(spec)
    prices = default_model_prices(
        provider_name=name, model_name=spec["name"], kind=kind, source=source,
        input_only=spec.get("kind") == ModelKind.EMBEDDING,
    )
    if prices is None and fallback_cost is not None:
        prices = prices_from_cost_per_token(fallback_cost)
    return prices


def _price_desired(prices: ModelPrices | None) -> dict[str, Any]:
    if prices is None:
        # Nothing prices it: the synced list prices go (a price an operator set stays, and prices
        # it); with none left the model costs 0, and the sync output and the admin flag it.
        columns: dict[str, Any] = dict.fromkeys(PRICE_COLUMNS)
        columns.update(input_price_per_1m=Decimal("0"), output_price_per_1m=Decimal("0"))
        return {**columns, "price_source": SOURCE_UNKNOWN}
    return {**prices.columns, "price_source": prices.source}


def _model_desired(
    provider: Provider, spec: dict[str, Any], fallback_cost: Decimal | None, source: PriceSource
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(fields sync owns, price data) for a model of the catalogue file."""
    prices = _model_prices(provider, spec, fallback_cost, source)
    desired = {
        "aliases": list(spec.get("aliases") or []),
        "context_window": spec.get("context_window") or (prices.context_window if prices else None),
        "max_output_tokens": spec.get("max_output_tokens"),
        "lacks": sorted(spec.get("lacks") or []),
        **_price_desired(prices),
        "enabled": bool(spec.get("enabled", True)),
        "kind": spec.get("kind") or ModelKind.CHAT,
        "dimensions": spec.get("dimensions"),
        "embedding_space": spec.get("embedding_space") or "",
    }
    return desired, (prices.price_data if prices else {})


def _note_prices(entry: ProviderModel, old_data: dict, *, label: str, report: SyncReport) -> None:
    """Record what a sync changed in a model's price model, and flag it when nothing prices it."""
    if price_data_comparable(old_data) != price_data_comparable(entry.price_data):
        changes = price_changes(old_data, entry.price_data)
        if changes:
            report.price_changes[label] = changes
    if not pricing_of(entry, entry.provider.fallback_cost_per_token).priced:
        report.unknown.append(label)


def _set_price_data(entry: ProviderModel, data: dict[str, Any]) -> bool:
    if price_data_comparable(entry.price_data) == price_data_comparable(data) and (
        bool(entry.price_data) == bool(data)
    ):
        return False
    entry.price_data = data
    return True


def _apply(
    obj, desired: dict[str, Any], *, label: str, force: bool, report: SyncReport, dirty: bool = False
) -> None:
    """Write the desired values a sync owns; keep the ones an operator changed since the last sync.
    `dirty`: the object was changed already (saved whatever the fields say)."""
    synced = dict(obj.synced or {})
    changed = dirty
    for name, value in desired.items():
        wanted = _comparable(value)
        current = _comparable(getattr(obj, name))
        if current == wanted:
            if synced.get(name) != wanted:
                synced[name] = wanted
                changed = True
            continue
        if not force and name in synced and synced[name] != current:
            report.kept.append(f"{label}.{name}")
            continue
        setattr(obj, name, value)
        synced[name] = wanted
        changed = True
    if changed:
        obj.synced = synced
        obj.save()
        report.updated.append(label)
    else:
        report.unchanged += 1


def current_price_source() -> PriceSource:
    """Where prices come from: the data file of the last `sync_prices --data`, unless a later
    `sync_prices` went back to the installed package; the installed package by default."""
    last = PriceSync.objects.filter(command="sync_prices").only("id", "source", "data").first()
    if last is not None and last.data:
        return _stored_source(last.pk, last.source, last.data)
    return installed_source()


_stored_sources: dict[int, PriceSource] = {}


def _stored_source(pk: int, label: str, data: list) -> PriceSource:
    if pk not in _stored_sources:
        _stored_sources.clear()
        _stored_sources[pk] = source_from_raw(data, label=label)
    return _stored_sources[pk]


def _record_price_sync(
    report: SyncReport, *, source: PriceSource, command: str, checked: int, data: list | None = None,
    always: bool = False,
) -> PriceSync | None:
    """A PriceSync row with its changes (when anything changed, or `always`)."""
    if not (always or report.price_changes):
        return None
    sync = PriceSync.objects.create(
        source=source.label, command=command, models_checked=checked,
        models_changed=len(report.price_changes), unknown_models=sorted(report.unknown), data=data,
    )
    entries = {
        f"{m.provider.name}/{m.name}": m
        for m in ProviderModel.objects.select_related("provider")
    }
    PriceChange.objects.bulk_create(
        PriceChange(
            sync=sync, model=entries.get(label), provider_name=label.split("/", 1)[0],
            model_name=label.split("/", 1)[1], changes=changes,
            new_source=source.label,
        )
        for label, changes in report.price_changes.items()
    )
    return sync


@transaction.atomic
def catalogue_sync(*, path: Path | None = None, force: bool = False) -> SyncReport:
    """Load the catalogue file into the database. Idempotent: a second run writes nothing, and a
    field an operator edited in the admin is kept unless `force`. Models are priced from the
    current price source (see `current_price_source`)."""
    data = catalogue_load(path=path)
    source = current_price_source()
    report = SyncReport(price_source=source.label)
    checked = 0
    for name, spec in data["providers"].items():
        desired = _provider_desired(name, spec)
        provider = Provider.objects.filter(name=name).first()
        if provider is None:
            provider = Provider.objects.create(
                name=name, **desired, synced={k: _comparable(v) for k, v in desired.items()}
            )
            report.created.append(name)
        else:
            _apply(provider, desired, label=name, force=force, report=report)
        for model_spec in spec.get("models") or []:
            label = f"{name}/{model_spec['name']}"
            checked += 1
            model_desired, price_data = _model_desired(
                provider, model_spec, provider.fallback_cost_per_token, source
            )
            entry = ProviderModel.objects.filter(provider=provider, name=model_spec["name"]).first()
            if entry is None:
                entry = ProviderModel.objects.create(
                    provider=provider,
                    name=model_spec["name"],
                    **model_desired,
                    price_data=price_data,
                    synced={k: _comparable(v) for k, v in model_desired.items()},
                )
                report.created.append(label)
                _note_prices(entry, {}, label=label, report=report)
            else:
                old_data = entry.price_data
                dirty = _set_price_data(entry, price_data)
                _apply(entry, model_desired, label=label, force=force, report=report, dirty=dirty)
                _note_prices(entry, old_data, label=label, report=report)
    _record_price_sync(report, source=source, command="sync_providers", checked=checked)
    return report


def _catalogue_specs(path: Path | None) -> dict[tuple[str, str], dict[str, Any]]:
    try:
        data = catalogue_load(path=path)
    except CatalogueError:
        return {}
    return {
        (provider, model["name"]): model
        for provider, spec in data["providers"].items()
        for model in spec.get("models") or []
    }


@transaction.atomic
def prices_sync(
    *, source: PriceSource | None = None, force: bool = False, catalogue_path: Path | None = None,
    dry_run: bool = False,
) -> SyncReport:
    """Re-price every catalogue model from a price source (the installed genai-prices package by
    default, or data read from a file) and record what changed (a PriceSync with its PriceChanges,
    shown in the admin). Prices an operator set in the admin are kept unless `force`. The source
    becomes the current one: later `sync_providers` runs price new models from it."""
    source = source or installed_source()
    report = SyncReport(price_source=source.label)
    specs = _catalogue_specs(catalogue_path)
    entries = list(ProviderModel.objects.select_related("provider").order_by("provider__name", "name"))
    for entry in entries:
        provider = entry.provider
        label = f"{provider.name}/{entry.name}"
        spec = specs.get((provider.name, entry.name), {"name": entry.name, "kind": entry.kind})
        if entry.price_source == SOURCE_CATALOGUE and "input_price_per_1m" not in spec:
            spec = {**spec, **{c: getattr(entry, c) for c in PRICE_COLUMNS if getattr(entry, c) is not None}}
        prices = _model_prices(provider, spec, provider.fallback_cost_per_token, source)
        old_data = entry.price_data
        dirty = _set_price_data(entry, prices.price_data if prices else {})
        _apply(entry, _price_desired(prices), label=label, force=force, report=report, dirty=dirty)
        _note_prices(entry, old_data, label=label, report=report)
    raw = None if source.sha256 == "" else source.raw()
    _record_price_sync(
        report, source=source, command="sync_prices", checked=len(entries), data=raw, always=True
    )
    if dry_run:
        transaction.set_rollback(True)
    return report
