"""What catalogue models cost now, for the usage reports: the cache's savings and the cheapest
alternative of a model are priced with the catalogue's price models (providers.pricing)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from providers.adapters.results import Usage
from providers.pricing import ModelPricing, pricing_of


@dataclass(frozen=True)
class ModelPrice:
    """A catalogue model and how it is priced (providers.pricing)."""

    provider: str
    model: str
    enabled: bool
    pricing: ModelPricing
    kind: str = "chat"  # chat and embedding models are never each other's alternatives

    def cost(
        self, *, prompt_tokens: int, completion_tokens: int, cached_tokens: int, requests: int = 1,
        **more: int,
    ) -> Decimal:
        """What `requests` answers using these tokens in total cost now (each at the average)."""
        usage = Usage(
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cached_tokens=cached_tokens,
            **{k: v or 0 for k, v in more.items()},
        )
        return self.pricing.cost_of_many(usage, max(1, requests))

    @property
    def priced(self) -> bool:
        return self.pricing.priced


def model_prices() -> dict[tuple[str, str], ModelPrice]:
    """Catalogue prices of every model, disabled ones included (old records still name them)."""
    from providers.models import ProviderModel

    prices = {}
    for m in ProviderModel.objects.select_related("provider"):
        prices[(m.provider.name, m.name)] = ModelPrice(
            provider=m.provider.name,
            model=m.name,
            enabled=m.enabled and m.provider.enabled,
            pricing=pricing_of(m, m.provider.fallback_cost_per_token),
            kind=m.kind,
        )
    return prices


def cache_savings(rows: Iterable[dict], prices: dict[tuple[str, str], ModelPrice]) -> Decimal:
    """What cache hits' tokens would have cost at their model's catalogue price (each hit priced
    at the hits' average size, so long-context tiers apply per request, not to the sum)."""
    saved = Decimal("0")
    for row in rows:
        price = prices.get((row["provider"], row["model"]))
        if price is not None:
            saved += price.cost(
                prompt_tokens=row["prompt_tokens"] or 0,
                completion_tokens=row["completion_tokens"] or 0,
                cached_tokens=row["cached_tokens"] or 0,
                requests=row.get("hits") or 1,
            )
    return saved


def hit_tokens(provider: str, model: str, figures: dict) -> dict:
    """A grouped row's cache hits as `cache_savings` reads them."""
    return {
        "provider": provider,
        "model": model,
        "hits": figures["cache_hits"],
        "prompt_tokens": figures["hit_prompt_tokens"],
        "completion_tokens": figures["hit_completion_tokens"],
        "cached_tokens": figures["hit_cached_tokens"],
    }
