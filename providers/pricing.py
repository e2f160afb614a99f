"""The pricing engine: what one completion cost, from its full usage and the model's price model.

A catalogue model's prices are genai-prices' price model for it: base prices, long-context tiers,
cache writes by TTL, per-modality prices and prices that change by date or time of day. The model
is copied into the database (`ProviderModel.price_data`) by `sync_providers` / `sync_prices` from a
price source (the installed genai-prices package, or a data file given to `sync_prices`), so nothing
is fetched at run time and every worker prices with the same data.

The operator's prices in the admin override single price classes (`PRICE_CLASSES`): a class whose
column differs from what the last sync wrote there is priced flat at the operator's price, every
other class keeps genai-prices' model. A model genai-prices does not know is priced from its columns
(the catalogue file's prices, or `<PROVIDER>_COST_PER_TOKEN`); with none of those it is "unknown":
its cost is 0, and the admin flags it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zipfile
from collections.abc import Iterable, Mapping
from copy import copy
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import structlog
from genai_prices import Usage as GenaiUsage
from genai_prices import __version__ as GENAI_PRICES_VERSION
from genai_prices import types as genai_types
from genai_prices.data_snapshot import DataSnapshot, get_snapshot

from providers.adapters.base import Usage

logger = structlog.get_logger(__name__)

PER_MILLION = Decimal(1_000_000)
# Costs are kept to the hundredth of a micro-dollar (the usage records' precision).
USD_PLACES = Decimal("1e-8")

# Our provider names -> genai-prices provider ids, where they differ; then by protocol kind.
GENAI_PRICES_PROVIDER_IDS = {"google": "google", "gemini": "google"}
KIND_PROVIDER_IDS = {"openai": "openai", "anthropic": "anthropic", "gemini": "google"}

# Where a model's prices came from (`ProviderModel.price_source`).
SOURCE_GENAI = "genai-prices"
SOURCE_CATALOGUE = "catalogue"  # prices written in the catalogue file
SOURCE_ENV = "env"  # <PROVIDER>_COST_PER_TOKEN
SOURCE_UNKNOWN = "unknown"
EXPLICIT_SOURCES = frozenset({SOURCE_CATALOGUE, SOURCE_ENV})


@dataclass(frozen=True)
class PriceClass:
    """A price class an operator can set per model in the admin (USD per million tokens)."""

    name: str
    label: str
    price_key: str  # genai-prices' name
    column: str  # ProviderModel field


PRICE_CLASSES: tuple[PriceClass, ...] = (
    PriceClass("input", "input", "input_mtok", "input_price_per_1m"),
    PriceClass("cache_read", "cached input (cache read)", "cache_read_mtok", "cached_input_price_per_1m"),
    PriceClass("cache_write", "cache write (5 minutes)", "cache_write_mtok", "cache_write_price_per_1m"),
    PriceClass(
        "cache_write_1h", "cache write (1 hour)", "cache_write_1h_mtok", "cache_write_1h_price_per_1m"
    ),
    PriceClass("output", "output", "output_mtok", "output_price_per_1m"),
)
PRICE_COLUMNS: tuple[str, ...] = tuple(c.column for c in PRICE_CLASSES)
_CLASS_BY_KEY = {c.price_key: c for c in PRICE_CLASSES}


def synced_form(value: Any) -> Any:
    """A value as `sync_providers` keeps it in `synced` (JSON): decimals as normalised strings."""
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return value


# ------------------------------------------------------------------------------- price sources


@dataclass
class PriceSource:
    """A set of genai-prices provider data: the installed package's, or a data file's."""

    label: str
    providers: list[genai_types.Provider]
    path: str = ""
    sha256: str = ""
    _snapshot: DataSnapshot | None = field(default=None, repr=False)

    @property
    def snapshot(self) -> DataSnapshot:
        if self._snapshot is None:
            self._snapshot = DataSnapshot(providers=self.providers, from_auto_update=False)
        return self._snapshot

    def find(self, *, provider_name: str, kind: str, model_name: str) -> genai_types.ModelInfo | None:
        """The model's genai-prices entry under the provider's id (or its protocol's), or None."""
        ids = [GENAI_PRICES_PROVIDER_IDS.get(provider_name, provider_name)]
        if kind in KIND_PROVIDER_IDS and KIND_PROVIDER_IDS[kind] not in ids:
            ids.append(KIND_PROVIDER_IDS[kind])
        for provider_id in ids:
            try:
                _provider, info = self.snapshot.find_provider_model(model_name, None, provider_id, None)
            except LookupError:
                continue
            return info
        return None

    def raw(self) -> list[dict[str, Any]]:
        """The providers in genai-prices' JSON data format (prices and model matching only)."""
        return [_provider_raw(p) for p in self.providers]


def installed_source() -> PriceSource:
    """The data bundled with the installed genai-prices package (never fetched)."""
    return PriceSource(
        label=f"genai-prices {GENAI_PRICES_VERSION} (installed package)",
        providers=get_snapshot().providers,
    )


def source_from_raw(raw: list[dict[str, Any]], *, label: str, sha256: str = "") -> PriceSource:
    """Provider data in genai-prices' JSON format (its published `data.json`)."""
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise ValueError("expected a JSON list of providers (genai-prices' data.json format)")
    return PriceSource(label=label, providers=_parse_providers(raw), sha256=sha256)


def source_from_path(path: str | Path) -> PriceSource:
    """genai-prices data from a file: its published `data.json`, a package's `data.py`, an unpacked
    genai-prices package (a directory holding `data.py`), or a wheel (`genai_prices-*.whl`)."""
    path = Path(path)
    if path.is_dir():
        for candidate in (path / "data.py", path / "genai_prices" / "data.py", path / "data.json"):
            if candidate.is_file():
                return _source_from_file(candidate, label_path=path)
        raise ValueError(f"{path}: no genai-prices data.py or data.json in this directory")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    return _source_from_file(path, label_path=path)


def _source_from_file(path: Path, *, label_path: Path) -> PriceSource:
    content = path.read_bytes()
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            try:
                content = wheel.read("genai_prices/data.py")
            except KeyError:
                raise ValueError(f"{path}: not a genai-prices wheel (no genai_prices/data.py)") from None
        kind = "py"
    elif path.suffix == ".py":
        kind = "py"
    else:
        kind = "json"
    sha = hashlib.sha256(content).hexdigest()
    label = f"{label_path.name} (sha256 {sha[:12]})"
    if kind == "json":
        try:
            raw = json.loads(content)
        except ValueError as exc:
            raise ValueError(f"{path}: not JSON: {exc}") from exc
        source = source_from_raw(raw, label=label, sha256=sha)
    else:
        source = PriceSource(label=label, providers=_providers_from_module(content, path), sha256=sha)
    source.path = str(label_path)
    return source


def _providers_from_module(content: bytes, path: Path) -> list[genai_types.Provider]:
    """Run a genai-prices `data.py` (plain constructors of the package's own types) against the
    installed package's types."""
    namespace: dict[str, Any] = {"__name__": "genai_prices._external_data", "__package__": "genai_prices"}
    try:
        exec(compile(content, str(path), "exec"), namespace)  # noqa: S102 - an operator's own file
    except Exception as exc:
        raise ValueError(f"{path}: cannot load genai-prices data: {exc}") from exc
    providers = namespace.get("providers")
    if not isinstance(providers, list) or not all(isinstance(p, genai_types.Provider) for p in providers):
        raise ValueError(f"{path}: defines no genai-prices `providers` list")
    return providers


def _parse_providers(raw: list[dict[str, Any]]) -> list[genai_types.Provider]:
    # genai-prices' own parser of its JSON data format (what its UpdatePrices uses).
    from genai_prices.types import _providers_from_raw

    return _providers_from_raw(raw)


# ------------------------------------------------------------- price models as JSON, and back


def _decimal_raw(value: Decimal | genai_types.TieredPrices) -> Any:
    if isinstance(value, genai_types.TieredPrices):
        tiers = [{"start": t.start, "price": str(t.price)} for t in value.tiers]
        return {"base": str(value.base), "tiers": tiers}
    return str(value)


def _model_price_raw(price: genai_types.ModelPrice) -> dict[str, Any]:
    return {k: _decimal_raw(v) for k, v in price.__dict__.items() if not k.startswith("_") and v is not None}


def _constraint_raw(constraint: Any) -> dict[str, str] | None:
    if constraint is None:
        return None
    if isinstance(constraint, genai_types.StartDateConstraint):
        return {"start_date": constraint.start_date.isoformat()}
    return {"start_time": constraint.start_time.isoformat(), "end_time": constraint.end_time.isoformat()}


def _prices_raw(prices: genai_types.ModelPrice | list[genai_types.ConditionalPrice]) -> Any:
    if isinstance(prices, genai_types.ModelPrice):
        return _model_price_raw(prices)
    return [
        {"constraint": _constraint_raw(c.constraint), "prices": _model_price_raw(c.prices)} for c in prices
    ]


def _variants_raw(variants: list[genai_types.PriceVariant] | None) -> list[dict[str, Any]] | None:
    if not variants:
        return None
    return [
        {
            "when": dict(v.when),
            "prices": _model_price_raw(v.prices),
            "constraint": _constraint_raw(v.constraint),
        }
        for v in variants
    ]


_CLAUSE_KEYS = {
    genai_types.ClauseStartsWith: "starts_with",
    genai_types.ClauseEndsWith: "ends_with",
    genai_types.ClauseContains: "contains",
    genai_types.ClauseRegex: "regex",
    genai_types.ClauseEquals: "equals",
}


def _match_raw(clause: Any) -> dict[str, Any] | None:
    if clause is None:
        return None
    if isinstance(clause, genai_types.ClauseOr):
        return {"or": [_match_raw(c) for c in clause.or_]}
    if isinstance(clause, genai_types.ClauseAnd):
        return {"and": [_match_raw(c) for c in clause.and_]}
    key = _CLAUSE_KEYS[type(clause)]
    return {key: getattr(clause, key)}


def _model_raw(info: genai_types.ModelInfo) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": info.id,
        "match": _match_raw(info.match),
        "name": info.name,
        "context_window": info.context_window,
        "prices": _prices_raw(info.prices),
    }
    if info.price_variants:
        raw["price_variants"] = _variants_raw(info.price_variants)
    return raw


def _provider_raw(provider: genai_types.Provider) -> dict[str, Any]:
    return {
        "id": provider.id,
        "name": provider.name,
        "api_pattern": provider.api_pattern,
        "model_match": _match_raw(provider.model_match),
        "provider_match": _match_raw(provider.provider_match),
        "fallback_model_providers": provider.fallback_model_providers,
        "models": [_model_raw(m) for m in provider.models],
    }


def model_price_data(info: genai_types.ModelInfo, *, source: str) -> dict[str, Any]:
    """One model's price model as stored in `ProviderModel.price_data` (JSON)."""
    data: dict[str, Any] = {"model_id": info.id, "source": source, "prices": _prices_raw(info.prices)}
    if info.price_variants:
        data["price_variants"] = _variants_raw(info.price_variants)
    return data


def price_data_comparable(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """The part of stored price data that prices anything (not where it came from)."""
    data = data or {}
    return {k: data.get(k) for k in ("model_id", "prices", "price_variants")}


@lru_cache(maxsize=512)
def _model_info_cached(key: str) -> genai_types.ModelInfo:
    data = json.loads(key)
    model = {"id": data["model_id"], "match": {"equals": data["model_id"]}, "prices": data["prices"]}
    if data.get("price_variants"):
        model["price_variants"] = data["price_variants"]
    provider = {"id": "catalogue", "name": "catalogue", "api_pattern": "", "models": [model]}
    return _parse_providers([provider])[0].models[0]


def model_info_from_data(data: Mapping[str, Any]) -> genai_types.ModelInfo:
    """The genai-prices model of stored price data (parsed once per distinct data)."""
    return _model_info_cached(json.dumps(price_data_comparable(data), sort_keys=True))


# ------------------------------------------------------------------- describing price models


def _key_label(price_key: str) -> str:
    cls = _CLASS_BY_KEY.get(price_key)
    if cls is not None:
        return cls.name
    units = (("_mtok", ""), ("_kcount", " per 1K"), ("_mchars", " per 1M chars"), ("_hours", " per hour"))
    for suffix, unit in units:
        if price_key.endswith(suffix):
            return price_key.removesuffix(suffix) + unit
    return price_key


def _flatten_price(prefix: str, price: Mapping[str, Any], into: dict[str, str]) -> None:
    for key, value in price.items():
        label = prefix + _key_label(key)
        if isinstance(value, dict):
            into[label] = value["base"]
            for tier in value.get("tiers", []):
                into[f"{label} above {tier['start']:,} prompt tokens"] = tier["price"]
        else:
            into[label] = value


def _constraint_label(constraint: Mapping[str, str] | None) -> str:
    if not constraint:
        return ""
    if "start_date" in constraint:
        return f"from {constraint['start_date']}: "
    start, end = constraint["start_time"][:5], constraint["end_time"][:5]
    return f"{start}-{end} UTC: "


def describe_price_data(data: Mapping[str, Any] | None) -> dict[str, str]:
    """A stored price model flattened to readable lines: {"input": "1.25", "input above 200,000
    prompt tokens": "2.5", "from 2026-03-13: output": "15", ...} (USD per million tokens unless
    the line says otherwise). What the admin shows and what price changes are diffed on."""
    lines: dict[str, str] = {}
    if not data or not data.get("prices"):
        return lines
    prices = data["prices"]
    if isinstance(prices, dict):
        _flatten_price("", prices, lines)
    else:
        for entry in prices:
            _flatten_price(_constraint_label(entry.get("constraint")), entry.get("prices") or {}, lines)
    for variant in data.get("price_variants") or []:
        when = ", ".join(f"{k}={v}" for k, v in sorted(variant.get("when", {}).items()))
        prefix = f"[{when}] {_constraint_label(variant.get('constraint'))}"
        _flatten_price(prefix, variant.get("prices") or {}, lines)
    return lines


def list_prices(info: genai_types.ModelInfo | None, *, at: dt.datetime) -> dict[str, Decimal | None]:
    """The columns' values for a genai-prices model now: each class's base price (the tier for
    ordinary prompt sizes)."""
    prices = info.get_prices(at) if info is not None else None
    values: dict[str, Decimal | None] = {}
    for cls in PRICE_CLASSES:
        value = getattr(prices, cls.price_key, None) if prices is not None else None
        if isinstance(value, genai_types.TieredPrices):
            value = value.base
        values[cls.column] = Decimal(str(value)) if value is not None else None
    return values


# ---------------------------------------------------------------------------------- the engine


def genai_usage(usage: Usage) -> GenaiUsage:
    """Our normalised usage in genai-prices' terms. Every class is given explicitly (zeros
    included), so genai-prices never has to infer one."""
    cache_write_1h = min(usage.cache_write_1h_tokens, usage.cache_write_tokens)
    return GenaiUsage(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        cache_read_tokens=usage.cached_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cache_write_5m_tokens=usage.cache_write_tokens - cache_write_1h,
        cache_write_1h_tokens=cache_write_1h,
        output_reasoning_tokens=usage.reasoning_tokens,
        input_audio_tokens=usage.input_audio_tokens,
        input_image_tokens=usage.input_image_tokens,
        input_video_tokens=usage.input_video_tokens,
        cache_audio_read_tokens=usage.cached_audio_tokens,
        cache_image_read_tokens=usage.cached_image_tokens,
        cache_video_read_tokens=usage.cached_video_tokens,
        input_tool_tokens=usage.tool_input_tokens,
        output_audio_tokens=usage.output_audio_tokens,
        output_image_tokens=usage.output_image_tokens,
    )


def _basic_usage(usage: Usage) -> GenaiUsage:
    """The classes every provider reports consistently: the fallback when a provider's breakdown
    does not add up (a part larger than its whole)."""
    return GenaiUsage(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        cache_read_tokens=min(usage.cached_tokens, usage.prompt_tokens),
        output_reasoning_tokens=min(usage.reasoning_tokens, usage.completion_tokens),
    )


def _registry():
    from genai_prices.units import _get_registry

    return _get_registry()


def _complete(price: genai_types.ModelPrice) -> genai_types.ModelPrice:
    """Fill what genai-prices needs around an operator's price: a class whose parent class is not
    priced (a 1-hour cache write on a model without write prices) takes the parent's parent's
    price, and two priced classes that overlap (an audio price and a cache write price) need the
    price of their overlap, which takes the more specific of the two (the cache price)."""
    from genai_prices.validation import validate_priced_units

    registry = _registry()
    for _ in range(8):
        priced = {
            registry.unit_for_price_key(k).usage_key: v
            for k, v in price.__dict__.items()
            if v is not None and not k.startswith("_") and k in registry._all_price_keys
        }
        missing: dict[str, Any] = {}
        for usage_key in priced:
            for ancestor in registry.ancestor_usage_keys(usage_key) - priced.keys():
                parents = registry.ancestor_usage_keys(ancestor) & priced.keys()
                if parents:
                    nearest = max(parents, key=lambda k: len(registry.units[k].dimensions))
                    missing[ancestor] = priced[nearest]
        units = [registry.units[k] for k in priced]
        for i, a in enumerate(units):
            for b in units[i + 1 :]:
                join = registry.find_join(a, b)
                if join is None or join.usage_key in priced or join in (a, b) or join.usage_key in missing:
                    continue
                cached = a if "token_type" in a.dimensions else b
                missing[join.usage_key] = priced[cached.usage_key]
        if not missing:
            break
        price = copy(price)
        for usage_key, value in missing.items():
            price.__dict__[registry.units[usage_key].price_key] = value
    validate_priced_units(
        tuple(
            registry.unit_for_price_key(k)
            for k, v in price.__dict__.items()
            if v is not None and not k.startswith("_") and k in registry._all_price_keys
        ),
        registry,
    )
    return price


@dataclass(frozen=True)
class ModelPricing:
    """How one catalogue model is priced: genai-prices' model (`info`) with the operator's flat
    prices for some classes (`overrides`: genai price key -> USD per million tokens), or only flat
    prices (a model genai-prices does not know), or a flat USD per token for every token."""

    info: genai_types.ModelInfo | None = None
    overrides: tuple[tuple[str, Decimal], ...] = ()
    per_token: Decimal | None = None
    source: str = SOURCE_UNKNOWN

    @property
    def priced(self) -> bool:
        return self.info is not None or bool(self.overrides) or self.per_token is not None

    @property
    def overridden(self) -> tuple[str, ...]:
        """The classes the operator prices (names of PRICE_CLASSES), when genai-prices prices the rest."""
        if self.info is None:
            return ()
        return tuple(_CLASS_BY_KEY[k].name for k, _ in self.overrides)

    def model_price(self, at: dt.datetime | None = None) -> genai_types.ModelPrice | None:
        """The prices in force at `at` (default now), overrides applied."""
        at = at or dt.datetime.now(dt.UTC)
        if self.info is None and not self.overrides:
            return None
        base = self.info.get_prices(at) if self.info is not None else _NO_PRICE
        if not self.overrides:
            return base
        # The same object for the same prices, so what is derived from it (`_linear_price`) is kept.
        key = (id(self), id(base))
        entry = _with_overrides.get(key)
        if entry is not None and entry[0] is self and entry[1] is base:
            return entry[2]
        price = copy(base)
        price.__dict__.update(dict(self.overrides))
        price = _complete(price)
        if len(_with_overrides) >= _LINEAR_MAX:
            _with_overrides.clear()
        _with_overrides[key] = (self, base, price)
        return price

    def cost(self, usage: Usage, *, at: dt.datetime | None = None) -> Decimal:
        """USD for one answer's usage, to the hundredth of a micro-dollar."""
        if not self.priced:
            return Decimal("0")
        if self.info is None and not self.overrides:
            tokens = Decimal(usage.prompt_tokens + usage.completion_tokens)
            return (tokens * self.per_token).quantize(USD_PLACES)
        price = self.model_price(at)
        linear = _linear_price(price) if _is_plain(usage) else None
        if linear is not None:
            fixed, per_prompt, per_completion, per_cached, per_reasoning = linear
            total = (
                fixed + per_prompt * usage.prompt_tokens + per_completion * usage.completion_tokens
                + per_cached * usage.cached_tokens + per_reasoning * usage.reasoning_tokens
            )
            return Decimal(total).quantize(USD_PLACES)
        try:
            total = price.calc_price(genai_usage(usage))["total_price"]
        except ValueError as exc:
            logger.warning("usage_breakdown_inconsistent", error=str(exc), usage=usage.as_dict(nonzero=True))
            total = price.calc_price(_basic_usage(usage))["total_price"]
        return Decimal(total).quantize(USD_PLACES)

    def cost_of_many(self, usage: Usage, count: int, *, at: dt.datetime | None = None) -> Decimal:
        """USD for `count` answers whose usage adds up to `usage` (sums from the usage records),
        each priced at the average: tiers depend on one request's prompt, never on a sum."""
        if count <= 1:
            return self.cost(usage, at=at)
        average = Usage(**{name: round(value / count) for name, value in usage.as_dict().items()})
        return (self.cost(average, at=at) * count).quantize(USD_PLACES)


def _is_plain(usage: Usage) -> bool:
    """Usage of the four common classes only, consistent (no part larger than its whole)."""
    if usage.cached_tokens > usage.prompt_tokens or usage.reasoning_tokens > usage.completion_tokens:
        return False
    basic = usage.prompt_tokens + usage.completion_tokens
    return sum(usage.as_dict().values()) == basic + usage.cached_tokens + usage.reasoning_tokens


_LINEAR_MAX = 4096
_NO_PRICE = genai_types.ModelPrice()
_with_overrides: dict[
    tuple[int, int], tuple[ModelPricing, genai_types.ModelPrice, genai_types.ModelPrice]
] = {}
_linear: dict[int, tuple[genai_types.ModelPrice, tuple[Decimal, ...] | None]] = {}


def _linear_price(price: genai_types.ModelPrice) -> tuple[Decimal, ...] | None:
    """A price without tiers is linear in the token counts: (fixed, per prompt, per completion, per
    cached, per reasoning token), each read once from genai-prices itself (its cost of a single
    token of each class), so a plain usage's cost is the same Decimal genai-prices computes, about
    fifty times faster. None for tiered prices (the tier depends on the prompt)."""
    entry = _linear.get(id(price))
    if entry is not None and entry[0] is price:
        return entry[1]
    coefficients = None
    if not any(isinstance(value, genai_types.TieredPrices) for value in vars(price).values()):

        def cost(**counts: int) -> Decimal:
            return Decimal(price.calc_price(genai_usage(Usage(**counts)))["total_price"])

        fixed = cost()
        prompt = cost(prompt_tokens=1) - fixed
        completion = cost(completion_tokens=1) - fixed
        cached = cost(prompt_tokens=1, cached_tokens=1) - fixed - prompt
        reasoning = cost(completion_tokens=1, reasoning_tokens=1) - fixed - completion
        coefficients = (fixed, prompt, completion, cached, reasoning)
    if len(_linear) >= _LINEAR_MAX:
        _linear.clear()
    _linear[id(price)] = (price, coefficients)  # the price is kept, so its id is not reused
    return coefficients


def model_pricing(
    *,
    price_source: str,
    price_data: Mapping[str, Any] | None,
    columns: Mapping[str, Decimal | None],
    synced: Mapping[str, Any] | None,
    fallback_cost_per_token: Decimal | None,
) -> ModelPricing:
    """How a catalogue model is priced, from its row (`columns`: PRICE_COLUMNS -> value).

    - prices from the catalogue file or `<PROVIDER>_COST_PER_TOKEN` (`price_source` catalogue or
      env): the columns, flat;
    - a genai-prices model (`price_data`): that model, with each column the operator changed since
      the last sync (it differs from `synced`; on a row never synced: any price set) overriding
      its class;
    - otherwise the columns, flat, when any is set; else the provider's fallback per token; else
      unknown (cost 0).
    """
    synced = synced or {}
    set_columns = {
        c.price_key: columns.get(c.column) for c in PRICE_CLASSES if columns.get(c.column) is not None
    }
    if price_source not in EXPLICIT_SOURCES and price_data and price_data.get("prices"):
        overrides = []
        for cls in PRICE_CLASSES:
            value = columns.get(cls.column)
            if value is None:
                continue
            if cls.column in synced:
                changed = synced_form(Decimal(value)) != synced[cls.column]
            else:
                changed = Decimal(value) != 0
            if changed:
                overrides.append((cls.price_key, Decimal(value)))
        try:
            info = model_info_from_data(price_data)
        except Exception:
            logger.exception("price_data_unreadable", model_id=price_data.get("model_id"))
        else:
            return ModelPricing(info=info, overrides=tuple(overrides), source=SOURCE_GENAI)
    if any(set_columns.values()):
        flat = {k: Decimal(v) for k, v in set_columns.items()}
        if "input_mtok" in flat and "output_mtok" in flat:
            source = price_source if price_source in EXPLICIT_SOURCES else "admin"
            return ModelPricing(overrides=tuple(flat.items()), source=source)
    if fallback_cost_per_token is not None:
        return ModelPricing(per_token=Decimal(fallback_cost_per_token), source=SOURCE_ENV)
    return ModelPricing(source=SOURCE_UNKNOWN)


def flat_pricing(
    *,
    input_per_1m: Decimal | None,
    output_per_1m: Decimal | None,
    cached_input_per_1m: Decimal | None = None,
    fallback_cost_per_token: Decimal | None = None,
) -> ModelPricing:
    """Flat prices per million tokens (a model outside the catalogue snapshot, or tests)."""
    return model_pricing(
        price_source=SOURCE_CATALOGUE,
        price_data=None,
        columns={
            "input_price_per_1m": input_per_1m,
            "output_price_per_1m": output_per_1m,
            "cached_input_price_per_1m": cached_input_per_1m,
        },
        synced=None,
        fallback_cost_per_token=fallback_cost_per_token,
    )


def pricing_of(model, fallback_cost_per_token: Decimal | None) -> ModelPricing:
    """The pricing of a ProviderModel row (or anything with its fields)."""
    return model_pricing(
        price_source=model.price_source,
        price_data=model.price_data,
        columns={column: getattr(model, column, None) for column in PRICE_COLUMNS},
        synced=model.synced,
        fallback_cost_per_token=fallback_cost_per_token,
    )


# ------------------------------------------------------------------- sync: what a model costs


@dataclass(frozen=True)
class ModelPrices:
    """What a sync writes for one model: the column values, where they came from, and the
    genai-prices model (if any)."""

    columns: dict[str, Decimal | None]
    source: str
    price_data: dict[str, Any]
    context_window: int | None = None

    @property
    def input_per_1m(self) -> Decimal:
        return self.columns["input_price_per_1m"] or Decimal("0")

    @property
    def output_per_1m(self) -> Decimal:
        return self.columns["output_price_per_1m"] or Decimal("0")


def default_model_prices(
    *, provider_name: str, model_name: str, kind: str = "", source: PriceSource | None = None,
    at: dt.datetime | None = None, input_only: bool = False,
) -> ModelPrices | None:
    """The price source's entry for a model (the installed package by default), or None when it
    does not know the model. `input_only`: a model that bills input only (embeddings), whose
    missing output price is 0."""
    source = source or installed_source()
    info = source.find(provider_name=provider_name, kind=kind, model_name=model_name)
    if info is None:
        return None
    columns = list_prices(info, at=at or dt.datetime.now(dt.UTC))
    if input_only and columns["input_price_per_1m"] is not None and columns["output_price_per_1m"] is None:
        columns["output_price_per_1m"] = Decimal("0")
    if columns["input_price_per_1m"] is None or columns["output_price_per_1m"] is None:
        return None
    return ModelPrices(
        columns=columns,
        source=SOURCE_GENAI,
        price_data=model_price_data(info, source=source.label),
        context_window=info.context_window,
    )


def prices_from_cost_per_token(cost_per_token: Decimal) -> ModelPrices:
    per_1m = cost_per_token * PER_MILLION
    columns: dict[str, Decimal | None] = dict.fromkeys(PRICE_COLUMNS)
    columns.update(input_price_per_1m=per_1m, output_price_per_1m=per_1m)
    return ModelPrices(columns=columns, source=SOURCE_ENV, price_data={})


def prices_from_catalogue(spec: Mapping[str, Any]) -> ModelPrices:
    """Prices written for a model in the catalogue file (USD per million tokens)."""
    columns: dict[str, Decimal | None] = dict.fromkeys(PRICE_COLUMNS)
    for column in PRICE_COLUMNS:
        if spec.get(column) is not None:
            columns[column] = Decimal(str(spec[column]))
    return ModelPrices(columns=columns, source=SOURCE_CATALOGUE, price_data={})


def price_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> dict[str, list]:
    """{line: [old, new]} between two stored price models (None where a line is absent)."""
    before, after = describe_price_data(old), describe_price_data(new)
    return {
        line: [before.get(line), after.get(line)]
        for line in sorted(before.keys() | after.keys(), key=lambda k: (k.startswith("["), k))
        if before.get(line) != after.get(line)
    }


def usage_sum(rows: Iterable[Usage]) -> Usage:
    total = Usage()
    for row in rows:
        for name, value in row.as_dict(nonzero=True).items():
            setattr(total, name, getattr(total, name) + value)
    return total


def completion_cost(
    *,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int,
    input_per_1m: Decimal | None,
    output_per_1m: Decimal | None,
    cached_input_per_1m: Decimal | None,
    fallback_cost_per_token: Decimal | None,
) -> Decimal:
    """Flat prices only (three classes): kept for callers that have nothing else. The gateway
    prices with `ModelPricing.cost`."""
    pricing = flat_pricing(
        input_per_1m=input_per_1m,
        output_per_1m=output_per_1m,
        cached_input_per_1m=cached_input_per_1m,
        fallback_cost_per_token=fallback_cost_per_token,
    )
    usage = Usage(
        prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cached_tokens=cached_tokens
    )
    return pricing.cost(usage)
