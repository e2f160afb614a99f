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
from collections.abc import Mapping
from copy import copy
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog
from genai_prices import Usage as GenaiUsage
from genai_prices import types as genai_types

from providers.adapters.results import Usage
from providers.price_classes import (
    EXPLICIT_SOURCES,
    PRICE_CLASS_BY_KEY,
    PRICE_CLASSES,
    PRICE_COLUMNS,
    SOURCE_CATALOGUE,
    SOURCE_ENV,
    SOURCE_GENAI,
    SOURCE_UNKNOWN,
    synced_form,
)
from providers.price_data import model_info_from_data

logger = structlog.get_logger(__name__)

# Costs are kept to the hundredth of a micro-dollar (the usage records' precision).
USD_PLACES = Decimal("1e-8")


# Our usage classes -> genai-prices' names for them (cache writes by TTL: see genai_usage).
_GENAI_CLASSES = (
    ("prompt_tokens", "input_tokens"),
    ("completion_tokens", "output_tokens"),
    ("cached_tokens", "cache_read_tokens"),
    ("cache_write_tokens", "cache_write_tokens"),
    ("reasoning_tokens", "output_reasoning_tokens"),
    ("input_audio_tokens", "input_audio_tokens"),
    ("input_image_tokens", "input_image_tokens"),
    ("input_video_tokens", "input_video_tokens"),
    ("cached_audio_tokens", "cache_audio_read_tokens"),
    ("cached_image_tokens", "cache_image_read_tokens"),
    ("cached_video_tokens", "cache_video_read_tokens"),
    ("tool_input_tokens", "input_tool_tokens"),
    ("output_audio_tokens", "output_audio_tokens"),
    ("output_image_tokens", "output_image_tokens"),
)


def genai_usage(usage: Usage) -> GenaiUsage:
    """Our normalised usage in genai-prices' terms. Every class is given explicitly (zeros
    included), so genai-prices never has to infer one."""
    cache_write_1h = min(usage.cache_write_1h_tokens, usage.cache_write_tokens)
    return GenaiUsage(
        cache_write_5m_tokens=usage.cache_write_tokens - cache_write_1h,
        cache_write_1h_tokens=cache_write_1h,
        **{theirs: getattr(usage, ours) for ours, theirs in _GENAI_CLASSES},
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
        return tuple(PRICE_CLASS_BY_KEY[k].name for k, _ in self.overrides)

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
