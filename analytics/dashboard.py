"""What the admin's cost dashboard draws over the last days: cost per day by provider, tokens by
model, cache savings per day, attempt and request error rates, and the totals. Money is Decimal."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from analytics.figures import rate, row_figures
from analytics.model_prices import ModelPrice, cache_savings, hit_tokens, model_prices
from analytics.usage_source import Grouping, UsageSource
from core.money import usd_decimal

_GROUPINGS: list[Grouping] = [
    (), ("provider",), ("provider", "model"), ("provider", "day"), ("provider", "model", "day"),
]


def _tokens_by_model(by_model: dict[tuple, dict]) -> list[tuple[str, int, int]]:
    return sorted(
        (
            (f"{provider}/{model}", figures["prompt_tokens"], figures["completion_tokens"])
            for (provider, model), figures in by_model.items()
            if model and (figures["prompt_tokens"] or figures["completion_tokens"])
        ),
        key=lambda r: -(r[1] + r[2]),
    )


def _savings_per_day(
    by_model_day: dict[tuple, dict], all_days: list[date], prices: dict[tuple[str, str], ModelPrice]
) -> dict[date, Decimal]:
    savings = dict.fromkeys(all_days, Decimal("0"))
    for (provider, model, d), figures in by_model_day.items():
        if figures["cache_hits"] and d in savings:
            savings[d] += cache_savings([hit_tokens(provider, model, figures)], prices)
    return savings


def _error_rates(
    attempts: dict[tuple, dict], by_provider: dict[tuple, dict]
) -> tuple[list[tuple], list[tuple]]:
    """Per provider: its upstream attempts and how many failed (whoever answered in the end), and
    the requests it answered with an error."""
    error_rate = sorted(
        (
            (provider, figures["failed_attempts"] / figures["attempts"], figures["failed_attempts"],
             figures["attempts"])
            for (provider,), figures in attempts.items()
            if figures["attempts"]
        ),
        key=lambda r: r[0],
    )
    request_errors = sorted(
        (
            (provider or "(no provider)", figures["errors"] / figures["requests"], figures["errors"],
             figures["requests"])
            for (provider,), figures in by_provider.items()
            if figures["requests"]
        ),
        key=lambda r: r[0],
    )
    return error_rate, request_errors


def dashboard_series(*, days: int, today: date | None = None) -> dict:
    """What the admin's cost dashboard draws, over the last `days` UTC days. Money is Decimal."""
    today = today or timezone.now().date()
    start = today - timedelta(days=days - 1)
    source = UsageSource.for_range(start, today, today=today)
    all_days = [start + timedelta(days=i) for i in range(days)]
    groups = source.grouped(_GROUPINGS)
    by_day_provider = groups[("provider", "day")]
    providers = sorted({p for p, _ in by_day_provider if p})
    cost_per_day = {
        d: {p: Decimal(by_day_provider.get((p, d), {}).get("cost_usd", 0) or 0) for p in providers}
        for d in all_days
    }
    savings_per_day = _savings_per_day(groups[("provider", "model", "day")], all_days, model_prices())
    attempts = source.attempts(("provider",))
    error_rate, request_errors = _error_rates(attempts, groups[("provider",)])
    total_attempts = sum(f["attempts"] for f in attempts.values())
    failed_attempts = sum(f["failed_attempts"] for f in attempts.values())
    totals = groups[()][()]
    return {
        "start": start,
        "end": today,
        "days": all_days,
        "providers": providers,
        "cost_per_day": cost_per_day,
        "tokens_by_model": _tokens_by_model(groups[("provider", "model")]),
        "savings_per_day": savings_per_day,
        "error_rate": error_rate,
        "request_errors": request_errors,
        "totals": {
            **row_figures(totals),
            "cost_usd": usd_decimal(totals["cost_usd"]),
            "attempts": total_attempts,
            "failed_attempts": failed_attempts,
            "attempt_error_rate": rate(failed_attempts, total_attempts),
            "cache_savings_usd": usd_decimal(sum(savings_per_day.values())),
        },
    }
