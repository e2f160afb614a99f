"""Selection is a pure function: these tests need no server, no database, no clock."""

import random
from collections import Counter
from decimal import Decimal

import pytest

from routing.selection import (
    Candidate,
    composite_score,
    rank_candidates,
    strategy_for,
)


def names(ranked):
    return [c.provider for c in ranked]


def test_composite_score_is_the_brief_formula():
    c = Candidate("p", "m", success_rate=0.9, avg_latency_ms=1000, health_status="healthy")
    assert composite_score(c) == pytest.approx(0.9 * 0.4 + (1 - 1000 / 5000) * 0.3 + 0.3)
    slow = Candidate("p", "m", success_rate=1.0, avg_latency_ms=9000, health_status="degraded")
    assert composite_score(slow) == pytest.approx(0.4 + 0 + 0.15)


def test_score_strategy_prefers_the_reliable_fast_healthy_provider():
    good = Candidate("good", "m", success_rate=0.99, avg_latency_ms=300, health_status="healthy")
    flaky = Candidate("flaky", "m", success_rate=0.5, avg_latency_ms=300, health_status="healthy")
    slow = Candidate("slow", "m", success_rate=0.99, avg_latency_ms=4500, health_status="degraded")
    for seed in range(20):
        ranked = rank_candidates([slow, flaky, good], strategy=strategy_for("score"), rng=random.Random(seed))
        assert names(ranked)[0] == "good"


def test_operator_priority_tips_otherwise_equal_providers():
    first = Candidate("first", "m", priority=1)
    second = Candidate("second", "m", priority=50)
    for seed in range(20):
        ranked = rank_candidates([second, first], strategy=strategy_for("score"), rng=random.Random(seed))
        assert names(ranked) == ["first", "second"]


def test_weight_spreads_traffic_among_equals():
    heavy = Candidate("heavy", "m", weight=3)
    light = Candidate("light", "m", weight=1)
    rng = random.Random(7)
    leaders = Counter(
        rank_candidates([heavy, light], strategy=strategy_for("score"), rng=rng)[0].provider
        for _ in range(4000)
    )
    assert leaders["heavy"] / 4000 == pytest.approx(0.75, abs=0.04)


def test_unhealthy_provider_is_tried_after_healthy_ones_whatever_its_priority():
    sick = Candidate("sick", "m", priority=1, health_status="unhealthy")
    fine = Candidate("fine", "m", priority=90, health_status="healthy")
    for name in ("score", "priority", "weighted", "latency", "cost"):
        assert names(rank_candidates([sick, fine], strategy=strategy_for(name))) == ["fine", "sick"]


def test_open_circuits_go_last_soonest_cooldown_first():
    a = Candidate("a", "m", breaker_state="open", open_until=200.0)
    b = Candidate("b", "m", breaker_state="open", open_until=100.0)
    c = Candidate("c", "m")
    assert names(rank_candidates([a, b, c], strategy=strategy_for("priority"))) == ["c", "b", "a"]
    # Every circuit open: still a plan, led by the one that cools down first.
    assert names(rank_candidates([a, b], strategy=strategy_for("score"))) == ["b", "a"]


def test_fallback_models_come_after_the_model_asked_for():
    fallback = Candidate("cheap", "other-model", priority=1, is_fallback=True, success_rate=1.0)
    asked = Candidate("asked", "the-model", priority=99, success_rate=0.6)
    assert names(rank_candidates([fallback, asked], strategy=strategy_for("score"))) == ["asked", "cheap"]


def test_priority_strategy_orders_by_priority():
    ranked = rank_candidates(
        [
            Candidate("c", "m", priority=30),
            Candidate("a", "m", priority=10),
            Candidate("b", "m", priority=20),
        ],
        strategy=strategy_for("priority"),
    )
    assert names(ranked) == ["a", "b", "c"]


def test_cost_strategy_puts_the_cheapest_first():
    ranked = rank_candidates(
        [
            Candidate("dear", "m", price_per_1m=Decimal("20")),
            Candidate("cheap", "m", price_per_1m=Decimal("0.5")),
            Candidate("mid", "m", price_per_1m=Decimal("3")),
        ],
        strategy=strategy_for("cost"),
    )
    assert names(ranked) == ["cheap", "mid", "dear"]


def test_latency_strategy_favours_fast_but_does_not_flood_it():
    fast = Candidate("fast", "m", avg_latency_ms=100)
    medium = Candidate("medium", "m", avg_latency_ms=400)
    slow = Candidate("slow", "m", avg_latency_ms=2000)
    rng = random.Random(3)
    leaders = Counter(
        rank_candidates([fast, medium, slow], strategy=strategy_for("latency"), rng=rng)[0].provider
        for _ in range(3000)
    )
    # Two random choices: the fastest leads whenever drawn (2/3), never everything.
    assert leaders["fast"] / 3000 == pytest.approx(2 / 3, abs=0.05)
    assert leaders["slow"] == 0
    assert leaders["medium"] > 0


def test_weighted_strategy_follows_weights():
    rng = random.Random(11)
    leaders = Counter(
        rank_candidates(
            [Candidate("a", "m", weight=1), Candidate("b", "m", weight=4)],
            strategy=strategy_for("weighted"),
            rng=rng,
        )[0].provider
        for _ in range(4000)
    )
    assert leaders["b"] / 4000 == pytest.approx(0.8, abs=0.04)


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="unknown routing strategy"):
        strategy_for("astrology")
