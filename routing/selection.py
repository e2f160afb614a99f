"""Ranking of candidate providers for one request: a pure function of what is known about them.

A strategy orders the healthy, closed-circuit candidates; then, whatever the strategy, providers
whose probes say unhealthy come after the rest, and providers whose circuit is open come last, the
one whose cooldown ends first leading (so a request is still tried when every circuit is open).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

HEALTH_BONUS = {"healthy": 0.3, "degraded": 0.15, "unknown": 0.2, "unconfigured": 0.0, "unhealthy": 0.0}
# How much the operator's priority weighs against the composite score (which spans 0..1).
PRIORITY_INFLUENCE = 0.2
# Candidates whose scores differ by less than this are equals; weight decides among them.
TIE_MARGIN = 0.05
# Latency assumed for a provider with no measurement yet (neither favoured nor punished much).
UNMEASURED_LATENCY_MS = 1000.0


@dataclass(frozen=True)
class Candidate:
    """One (provider, model) pair that could answer, with what routing knows about it."""

    provider: str
    model: str
    priority: int = 100
    weight: int = 1
    success_rate: float = 1.0
    avg_latency_ms: float | None = None
    health_status: str = "unknown"
    breaker_state: str = "closed"  # closed, open, half_open
    open_until: float = 0.0  # unix time the open circuit cools down
    price_per_1m: Decimal = Decimal("0")  # input + output price, for the cost strategy
    is_fallback: bool = False  # from the model's fallback chain rather than the model asked for
    context_window: int | None = None

    @property
    def usable(self) -> bool:
        return self.breaker_state != "open"


def composite_score(candidate: Candidate) -> float:
    """The brief's score: success_rate*0.4 + max(0, 1 - avg_ms/5000)*0.3 + health bonus."""
    latency = candidate.avg_latency_ms if candidate.avg_latency_ms is not None else UNMEASURED_LATENCY_MS
    return (
        candidate.success_rate * 0.4
        + max(0.0, 1.0 - latency / 5000.0) * 0.3
        + HEALTH_BONUS.get(candidate.health_status, 0.0)
    )


def priority_factors(candidates: list[Candidate]) -> dict[int, float]:
    """1.0 for the best (lowest) priority down to 0.0 for the worst, evenly over distinct values."""
    distinct = sorted({c.priority for c in candidates})
    if len(distinct) == 1:
        return {distinct[0]: 1.0}
    return {p: 1.0 - i / (len(distinct) - 1) for i, p in enumerate(distinct)}


def weighted_shuffle(candidates: list[Candidate], rng: random.Random) -> list[Candidate]:
    """Order by weight at random: each position drawn with probability proportional to weight
    (Efraimidis-Spirakis keys)."""
    keyed = [(rng.random() ** (1.0 / max(c.weight, 1e-9)), c) for c in candidates if c.weight > 0]
    zero = [c for c in candidates if c.weight <= 0]
    return [c for _, c in sorted(keyed, key=lambda kc: kc[0], reverse=True)] + zero


class RoutingStrategy:
    """Orders usable candidates. Subclasses are chosen by `ROUTING_STRATEGY`."""

    name: ClassVar[str]

    def order(self, candidates: list[Candidate], rng: random.Random) -> list[Candidate]:
        raise NotImplementedError


class CompositeScoreStrategy(RoutingStrategy):
    """Default: the brief's composite score plus the operator's priority; near-equal scores are
    ordered by weight at random, so traffic spreads in proportion to weight."""

    name = "score"

    def order(self, candidates, rng):
        factors = priority_factors(candidates)
        scored = sorted(
            ((composite_score(c) + PRIORITY_INFLUENCE * factors[c.priority], c) for c in candidates),
            key=lambda sc: sc[0],
            reverse=True,
        )
        ordered: list[Candidate] = []
        group: list[tuple[float, Candidate]] = []
        for score, candidate in scored:
            if group and group[0][0] - score >= TIE_MARGIN:
                ordered += weighted_shuffle([c for _, c in group], rng)
                group = []
            group.append((score, candidate))
        ordered += weighted_shuffle([c for _, c in group], rng)
        return ordered


class PriorityStrategy(RoutingStrategy):
    """Lowest priority number first; weight decides among equal priorities."""

    name = "priority"

    def order(self, candidates, rng):
        ordered: list[Candidate] = []
        for priority in sorted({c.priority for c in candidates}):
            ordered += weighted_shuffle([c for c in candidates if c.priority == priority], rng)
        return ordered


class WeightedRandomStrategy(RoutingStrategy):
    """Traffic in proportion to weight, whatever else is known."""

    name = "weighted"

    def order(self, candidates, rng):
        return weighted_shuffle(candidates, rng)


class LatencyStrategy(RoutingStrategy):
    """Power of two choices on decayed latency: pick two at random by weight, lead with the faster.
    One fast provider is not flooded, yet a slow one is rarely first."""

    name = "latency"

    def order(self, candidates, rng):
        remaining = weighted_shuffle(candidates, rng)
        ordered: list[Candidate] = []
        while remaining:
            if len(remaining) == 1:
                ordered.append(remaining.pop())
                break
            first, second = remaining[0], remaining[1]
            faster = min((first, second), key=_latency_key)
            ordered.append(faster)
            remaining.remove(faster)
        return ordered


def _latency_key(candidate: Candidate) -> float:
    return candidate.avg_latency_ms if candidate.avg_latency_ms is not None else UNMEASURED_LATENCY_MS


class CostStrategy(RoutingStrategy):
    """Cheapest first (input + output price per 1M tokens); priority breaks ties."""

    name = "cost"

    def order(self, candidates, rng):
        return sorted(candidates, key=lambda c: (c.price_per_1m, c.priority, -c.weight))


STRATEGIES: dict[str, type[RoutingStrategy]] = {
    cls.name: cls
    for cls in (
        CompositeScoreStrategy,
        PriorityStrategy,
        WeightedRandomStrategy,
        LatencyStrategy,
        CostStrategy,
    )
}


def strategy_for(name: str) -> RoutingStrategy:
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise ValueError(f"unknown routing strategy {name!r}; choose one of {sorted(STRATEGIES)}") from None


def rank_candidates(
    candidates: list[Candidate], *, strategy: RoutingStrategy, rng: random.Random | None = None
) -> list[Candidate]:
    """The order in which to try candidates. Models asked for come before fallback models; within
    each, the strategy orders usable candidates, unhealthy ones go after them, open circuits last
    (soonest cooldown first)."""
    rng = rng or random.Random()
    ranked: list[Candidate] = []
    open_circuits: list[Candidate] = []
    for is_fallback in (False, True):
        tier = [c for c in candidates if c.is_fallback == is_fallback]
        usable = [c for c in tier if c.usable]
        healthy = [c for c in usable if c.health_status != "unhealthy"]
        unhealthy = [c for c in usable if c.health_status == "unhealthy"]
        if healthy:
            ranked += strategy.order(healthy, rng)
        if unhealthy:
            ranked += strategy.order(unhealthy, rng)
        open_circuits += [c for c in tier if not c.usable]
    ranked += sorted(open_circuits, key=lambda c: (c.open_until, c.is_fallback))
    return ranked
