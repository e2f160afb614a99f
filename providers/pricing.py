"""Default model prices from the genai-prices package's bundled data (no network)."""

from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone
from genai_prices.data_snapshot import get_snapshot

# Our provider names -> genai-prices provider ids, where they differ.
GENAI_PRICES_PROVIDER_IDS = {"google": "google", "gemini": "google"}


@dataclass(frozen=True)
class ModelPrices:
    input_per_1m: Decimal
    output_per_1m: Decimal
    cached_input_per_1m: Decimal | None
    context_window: int | None
    source: str


def _base(price) -> Decimal | None:
    """A flat price, or the base tier of a tiered one (tiers start at very long prompts)."""
    if price is None:
        return None
    return Decimal(str(getattr(price, "base", price)))


def default_model_prices(*, provider_name: str, model_name: str) -> ModelPrices | None:
    """The bundled genai-prices entry for a model, or None when the package does not know it."""
    provider_id = GENAI_PRICES_PROVIDER_IDS.get(provider_name, provider_name)
    try:
        _provider, info = get_snapshot().find_provider_model(model_name, None, provider_id, None)
    except LookupError:
        return None
    prices = info.get_prices(timezone.now())
    input_price = _base(getattr(prices, "input_mtok", None))
    output_price = _base(getattr(prices, "output_mtok", None))
    if input_price is None or output_price is None:
        return None
    return ModelPrices(
        input_per_1m=input_price,
        output_per_1m=output_price,
        cached_input_per_1m=_base(getattr(prices, "cache_read_mtok", None)),
        context_window=info.context_window,
        source="genai-prices",
    )


def prices_from_cost_per_token(cost_per_token: Decimal) -> ModelPrices:
    per_1m = cost_per_token * 1_000_000
    return ModelPrices(
        input_per_1m=per_1m, output_per_1m=per_1m, cached_input_per_1m=None, context_window=None, source="env"
    )


PER_MILLION = Decimal(1_000_000)


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
    """USD for one completion. Prompt tokens include the cached ones, which are billed at the
    cached-input price when the catalogue has one. Without catalogue prices the provider's
    `<PROVIDER>_COST_PER_TOKEN` prices every token; without that either, the cost is 0."""
    if input_per_1m is None or output_per_1m is None:
        if fallback_cost_per_token is None:
            return Decimal("0")
        return (Decimal(prompt_tokens + completion_tokens) * fallback_cost_per_token).quantize(
            Decimal("1e-8")
        )
    cached = min(cached_tokens, prompt_tokens)
    cached_price = cached_input_per_1m if cached_input_per_1m is not None else input_per_1m
    total = (
        Decimal(prompt_tokens - cached) * input_per_1m
        + Decimal(cached) * cached_price
        + Decimal(completion_tokens) * output_per_1m
    ) / PER_MILLION
    return total.quantize(Decimal("1e-8"))
