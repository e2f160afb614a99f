"""Price models as data: genai-prices' JSON format both ways, a model's price model as stored in
`ProviderModel.price_data`, and that price model described in readable lines (what the admin shows
and what price changes are diffed on)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

from genai_prices import types as genai_types

from providers.price_classes import PRICE_CLASS_BY_KEY, PRICE_CLASSES


def providers_from_raw(raw: list[dict[str, Any]]) -> list[genai_types.Provider]:
    """Providers from genai-prices' JSON data format, read by genai-prices' own parser (what its
    UpdatePrices uses)."""
    from genai_prices.types import _providers_from_raw

    return _providers_from_raw(raw)


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


def provider_raw(provider: genai_types.Provider) -> dict[str, Any]:
    """One provider in genai-prices' JSON data format (prices and model matching only)."""
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
    return providers_from_raw([provider])[0].models[0]


def model_info_from_data(data: Mapping[str, Any]) -> genai_types.ModelInfo:
    """The genai-prices model of stored price data (parsed once per distinct data)."""
    return _model_info_cached(json.dumps(price_data_comparable(data), sort_keys=True))


# ------------------------------------------------------------------- describing price models


def _key_label(price_key: str) -> str:
    cls = PRICE_CLASS_BY_KEY.get(price_key)
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


def price_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> dict[str, list]:
    """{line: [old, new]} between two stored price models (None where a line is absent)."""
    before, after = describe_price_data(old), describe_price_data(new)
    return {
        line: [before.get(line), after.get(line)]
        for line in sorted(before.keys() | after.keys(), key=lambda k: (k.startswith("["), k))
        if before.get(line) != after.get(line)
    }
