"""The fast path of `ModelPricing.cost`: for every untiered model genai-prices knows, the cost of a
plain usage equals, to the Decimal, what genai-prices itself computes."""

import datetime as dt
import random
from decimal import Decimal

from genai_prices.data_snapshot import get_snapshot

from providers.adapters.results import Usage
from providers.pricing import USD_PLACES, ModelPricing, genai_usage


def test_every_known_model_costs_the_same_as_genai_prices_computes():
    rng = random.Random(7)
    now = dt.datetime.now(dt.UTC)
    checked = fast = 0
    for provider in get_snapshot().providers:
        for info in provider.models:
            pricing = ModelPricing(info=info)
            price = pricing.model_price(now)
            for _ in range(20):
                prompt = rng.randint(0, 400_000)
                completion = rng.randint(0, 60_000)
                usage = Usage(
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                    cached_tokens=rng.randint(0, prompt),
                    reasoning_tokens=rng.randint(0, completion),
                )
                try:
                    expected = Decimal(price.calc_price(genai_usage(usage))["total_price"]).quantize(USD_PLACES)
                except ValueError:
                    continue  # genai-prices refuses this breakdown for this model: the slow path decides
                assert pricing.cost(usage, at=now) == expected, (provider.id, info.id, usage)
                checked += 1
            fast += not any(type(v).__name__ == "TieredPrices" for v in vars(price).values())
    assert checked > 1000 and fast > 100
