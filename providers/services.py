"""Writes to the provider catalogue."""

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.db import transaction

from providers.models import Provider, ProviderKind, ProviderModel
from providers.pricing import ModelPrices, default_model_prices, prices_from_cost_per_token


class CatalogueError(ValueError):
    """The catalogue file is missing or malformed."""


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # "object.field" an operator changed, left as is
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


PROVIDER_FIELDS = (
    "kind", "base_url", "api_key_env", "enabled", "priority", "weight", "timeout_s", "max_tokens",
    "max_retries", "fallback_cost_per_token",
)
MODEL_FIELDS = (
    "aliases", "context_window", "max_output_tokens", "lacks", "input_price_per_1m", "output_price_per_1m",
    "cached_input_price_per_1m", "price_source", "enabled",
)


def _comparable(value: Any) -> Any:
    """Values as stored in `synced` (JSON): decimals as normalised strings."""
    if isinstance(value, Decimal | float) and not isinstance(value, bool):
        if isinstance(value, float):
            return repr(value)
        return f"{value.normalize():f}"
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


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
    kinds = set(ProviderKind.values)
    for name, spec in data["providers"].items():
        if not isinstance(spec, dict) or spec.get("kind") not in kinds:
            raise CatalogueError(f"provider {name!r}: 'kind' must be one of {sorted(kinds)}")
        for model in spec.get("models") or []:
            if not isinstance(model, dict) or not model.get("name"):
                raise CatalogueError(f"provider {name!r}: every model needs a 'name'")
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
    provider_name: str, spec: dict[str, Any], fallback_cost: Decimal | None
) -> ModelPrices | None:
    if "input_price_per_1m" in spec and "output_price_per_1m" in spec:
        cached = spec.get("cached_input_price_per_1m")
        return ModelPrices(
            input_per_1m=Decimal(str(spec["input_price_per_1m"])),
            output_per_1m=Decimal(str(spec["output_price_per_1m"])),
            cached_input_per_1m=Decimal(str(cached)) if cached is not None else None,
            context_window=None,
            source="catalogue",
        )
    prices = default_model_prices(provider_name=provider_name, model_name=spec["name"])
    if prices is None and fallback_cost is not None:
        prices = prices_from_cost_per_token(fallback_cost)
    return prices


def _model_desired(provider_name: str, spec: dict[str, Any], fallback_cost: Decimal | None) -> dict[str, Any]:
    prices = _model_prices(provider_name, spec, fallback_cost)
    return {
        "aliases": list(spec.get("aliases") or []),
        "context_window": spec.get("context_window") or (prices.context_window if prices else None),
        "max_output_tokens": spec.get("max_output_tokens"),
        "lacks": sorted(spec.get("lacks") or []),
        "input_price_per_1m": prices.input_per_1m if prices else Decimal("0"),
        "output_price_per_1m": prices.output_per_1m if prices else Decimal("0"),
        "cached_input_price_per_1m": prices.cached_input_per_1m if prices else None,
        "price_source": prices.source if prices else "unknown",
        "enabled": bool(spec.get("enabled", True)),
    }


def _apply(obj, desired: dict[str, Any], *, label: str, force: bool, report: SyncReport) -> None:
    """Write the desired values a sync owns; keep the ones an operator changed since the last sync."""
    synced = dict(obj.synced or {})
    changed = False
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


@transaction.atomic
def catalogue_sync(*, path: Path | None = None, force: bool = False) -> SyncReport:
    """Load the catalogue file into the database. Idempotent: a second run writes nothing, and a
    field an operator edited in the admin is kept unless `force`."""
    data = catalogue_load(path=path)
    report = SyncReport()
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
            model_desired = _model_desired(name, model_spec, provider.fallback_cost_per_token)
            entry = ProviderModel.objects.filter(provider=provider, name=model_spec["name"]).first()
            if entry is None:
                ProviderModel.objects.create(
                    provider=provider,
                    name=model_spec["name"],
                    **model_desired,
                    synced={k: _comparable(v) for k, v in model_desired.items()},
                )
                report.created.append(label)
            else:
                _apply(entry, model_desired, label=label, force=force, report=report)
    return report
