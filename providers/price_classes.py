"""The price classes an operator can set per model, and where a model's prices came from."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

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
PRICE_CLASS_BY_KEY = {c.price_key: c for c in PRICE_CLASSES}


def synced_form(value: Any) -> Any:
    """A value as `sync_providers` keeps it in `synced` (JSON): decimals as normalised strings."""
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return value
