"""The metrics window: totals and per-provider figures of the usage records created in a window
(requests, success and cache-hit rates, latency percentiles, tokens, cost, upstream attempts)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Q, QuerySet, Sum

from analytics.figures import MAX_RANGE_DAYS, attempt_figures, rate, usd
from analytics.model_prices import cache_savings, model_prices
from analytics.models import UsageAttempt, UsageRecord, UsageStatus

_WINDOW = re.compile(r"^\s*(\d{1,7})\s*([mhd])\s*$")
_WINDOW_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_window(value: str) -> timedelta:
    """`30m`, `1h`, `7d` -> timedelta; ValueError for anything else (or zero)."""
    match = _WINDOW.match(value or "")
    if not match or int(match.group(1)) == 0:
        raise ValueError(value)
    delta = timedelta(**{_WINDOW_UNITS[match.group(2)]: int(match.group(1))})
    if delta > timedelta(days=MAX_RANGE_DAYS):
        raise ValueError(value)
    return delta


class _Percentiles(Aggregate):
    """PostgreSQL's percentile_cont over several fractions at once (one sort)."""

    function = "percentile_cont"
    template = "%(function)s(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, **extra):
        from django.contrib.postgres.fields import ArrayField

        super().__init__(expression, output_field=ArrayField(FloatField()), **extra)


def _interpolated(values: list[float], fraction: float) -> float:
    """percentile_cont: linear interpolation between the closest ranks (values sorted)."""
    rank = fraction * (len(values) - 1)
    low = int(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)


def _latency_summary(values: list[float] | None) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    return {name: round(v, 2) for name, v in zip(("p50", "p95", "p99"), values, strict=True)}


def _latency_percentiles(qs: QuerySet) -> tuple[list[float] | None, dict[str, list[float] | None]]:
    """(overall, by provider) p50/p95/p99 of latency_ms."""
    if connection.vendor == "postgresql":
        overall = qs.aggregate(p=_Percentiles("latency_ms"))["p"]
        by_provider = {
            row["provider"]: row["p"]
            for row in qs.values("provider").annotate(p=_Percentiles("latency_ms")).order_by()
        }
        return overall, by_provider
    grouped: dict[str, list[float]] = {}
    everything: list[float] = []
    for provider, latency in qs.values_list("provider", "latency_ms").order_by("latency_ms"):
        grouped.setdefault(provider, []).append(latency)
        everything.append(latency)

    def summary(values: list[float]) -> list[float] | None:
        return [_interpolated(values, f) for f in (0.5, 0.95, 0.99)] if values else None

    return summary(everything), {p: summary(v) for p, v in grouped.items()}


_RECORD_FIGURES = {
    "requests": Count("id"),
    "successes": Count("id", filter=Q(status=UsageStatus.SUCCESS)),
    "errors": Count("id", filter=Q(status=UsageStatus.ERROR)),
    "cache_hits": Count("id", filter=Q(status=UsageStatus.CACHE_HIT)),
    "failovers": Count("id", filter=Q(attempts__gt=1)),
    "prompt_tokens": Sum("prompt_tokens", filter=~Q(status=UsageStatus.CACHE_HIT)),
    "completion_tokens": Sum("completion_tokens", filter=~Q(status=UsageStatus.CACHE_HIT)),
    "cached_tokens": Sum("cached_tokens", filter=~Q(status=UsageStatus.CACHE_HIT)),
    "cache_write_tokens": Sum("cache_write_tokens", filter=~Q(status=UsageStatus.CACHE_HIT)),
    "reasoning_tokens": Sum("reasoning_tokens", filter=~Q(status=UsageStatus.CACHE_HIT)),
    "cost_usd": Sum("cost_usd"),
}
_EMPTY_RECORD_FIGURES = dict.fromkeys(_RECORD_FIGURES)


def _figures(row: dict, latency: list[float] | None, saved: Decimal, attempts: tuple[int, int]) -> dict:
    requests = row["requests"] or 0
    return {
        "requests": requests,
        "successes": row["successes"] or 0,
        "errors": row["errors"] or 0,
        "success_rate": rate((row["successes"] or 0) + (row["cache_hits"] or 0), requests),
        "failovers": row["failovers"] or 0,
        **attempt_figures(*attempts),
        "latency_ms": _latency_summary(latency),
        "prompt_tokens": row["prompt_tokens"] or 0,
        "completion_tokens": row["completion_tokens"] or 0,
        "cached_tokens": row["cached_tokens"] or 0,
        "cache_write_tokens": row["cache_write_tokens"] or 0,
        "reasoning_tokens": row["reasoning_tokens"] or 0,
        "cost_usd": usd(row["cost_usd"]),
        "cache_hits": row["cache_hits"] or 0,
        "cache_hit_rate": rate(row["cache_hits"] or 0, requests),
        "cache_savings_usd": usd(saved),
    }


def usage_metrics(*, since: datetime, until: datetime) -> dict:
    """Totals and per-provider figures of the usage records created in [since, until).

    Success rate counts cache hits as answered. Latency percentiles cover the requests that went to
    providers (cache hits, answered in microseconds, would hide them). Tokens are those billed
    (cache hits excluded); cache savings price the cache hits' tokens at their model's catalogue
    price. Failovers are requests that needed more than one attempt. Attempts are the upstream
    calls made to the provider (whichever provider finally answered the request), and
    `attempt_error_rate` the share of them that failed: what failover hides from `errors`.
    """
    qs = UsageRecord.objects.filter(created_at__gte=since, created_at__lt=until)
    rows = {
        row["provider"]: row
        for row in qs.values("provider").annotate(**_RECORD_FIGURES).order_by("provider")
    }
    totals = qs.aggregate(**_RECORD_FIGURES)
    overall_latency, latency_by_provider = _latency_percentiles(qs.exclude(status=UsageStatus.CACHE_HIT))
    prices = model_prices()
    hits = list(
        qs.filter(status=UsageStatus.CACHE_HIT)
        .values("provider", "model")
        .annotate(
            hits=Count("id"),
            prompt_tokens=Sum("prompt_tokens"),
            completion_tokens=Sum("completion_tokens"),
            cached_tokens=Sum("cached_tokens"),
        )
        .order_by()
    )
    attempts = {
        row["provider"]: (row["n"], row["failed"])
        for row in UsageAttempt.objects.filter(created_at__gte=since, created_at__lt=until)
        .values("provider")
        .annotate(n=Count("id"), failed=Count("id", filter=~Q(error_code="")))
        .order_by()
    }
    providers = sorted(set(rows) | set(attempts))
    saved_by_provider = {
        provider: cache_savings([h for h in hits if h["provider"] == provider], prices)
        for provider in providers
    }
    all_attempts = (sum(n for n, _ in attempts.values()), sum(f for _, f in attempts.values()))
    return {
        "totals": _figures(
            totals, overall_latency, sum(saved_by_provider.values(), Decimal("0")), all_attempts
        ),
        "providers": [
            {
                "provider": provider or None,
                **_figures(
                    rows.get(provider, _EMPTY_RECORD_FIGURES),
                    latency_by_provider.get(provider),
                    saved_by_provider[provider],
                    attempts.get(provider, (0, 0)),
                ),
            }
            for provider in providers
        ],
    }
