"""Cost analytics over UTC days: totals, breakdowns by provider, model, API key and day, and
insights (cache savings, the cheapest catalogue alternative of each model); and a key's spend."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Sum

from analytics.figures import MONEY_FORMAT, attempt_figures, row_figures, usd
from analytics.model_prices import ModelPrice, cache_savings, hit_tokens, model_prices
from analytics.models import UsageRecord
from analytics.usage_source import SUMMED, Grouping, UsageSource
from core.money import usd_decimal

DIMENSIONS = ("provider", "model", "api_key", "day")


def _key_names(ids: Iterable[int]) -> dict[int, str]:
    from access.models import ApiKey

    wanted = [i for i in set(ids) if i]
    return dict(ApiKey.objects.filter(id__in=wanted).values_list("id", "name")) if wanted else {}


# A breakdown -> the grouping it reads (a model is named with its provider: names may repeat).
_BREAKDOWN_GROUPING: dict[str, Grouping] = {
    "provider": ("provider",),
    "model": ("provider", "model"),
    "api_key": ("api_key_id",),
    "day": ("day",),
}


def _breakdown(dim: str, groups: dict[tuple, dict], attempts: dict[tuple, dict] | None = None) -> list[dict]:
    names = _key_names(k[0] for k in groups) if dim == "api_key" else {}
    rows = []
    keys = list(groups) + [k for k in (attempts or {}) if k not in groups]
    for key in keys:
        figures = groups.get(key) or dict.fromkeys(SUMMED, 0)
        if dim == "api_key":
            label = {"api_key": names.get(key[0]) if key[0] else None, "api_key_id": key[0] or None}
        elif dim == "day":
            label = {"day": key[0].isoformat()}
        elif dim == "model":
            label = {"provider": key[0] or None, "model": key[1] or None}
        else:
            label = {dim: key[0] or None}
        row = {**label, **row_figures(figures)}
        if attempts is not None:
            found = attempts.get(key, {"attempts": 0, "failed_attempts": 0})
            row.update(attempt_figures(found["attempts"], found["failed_attempts"]))
        rows.append(row)
    if dim == "day":
        rows.sort(key=lambda r: r["day"])
    else:
        rows.sort(key=lambda r: (-Decimal(r["cost_usd"]), -r["requests"], str(r.get(dim) or "")))
    return rows


def _insights(by_model: dict[tuple, dict], prices: dict[tuple[str, str], ModelPrice]) -> dict:
    """Cache savings, and for each model the cheapest enabled catalogue model for the same tokens."""
    savings_by_model = []
    for (provider, model), figures in by_model.items():
        if figures["cache_hits"]:
            saved = cache_savings([hit_tokens(provider, model, figures)], prices)
            savings_by_model.append(
                {"provider": provider, "model": model, "cache_hits": figures["cache_hits"],
                 "saved_usd": saved}
            )
    savings_by_model.sort(key=lambda r: -r["saved_usd"])
    total_saved = sum((r["saved_usd"] for r in savings_by_model), Decimal("0"))
    for row in savings_by_model:
        row["saved_usd"] = usd(row["saved_usd"])

    candidates = [p for p in prices.values() if p.enabled and p.priced]
    alternatives = []
    for (provider, model), figures in by_model.items():
        tokens = {
            "prompt_tokens": figures["prompt_tokens"],
            "completion_tokens": figures["completion_tokens"],
            "cached_tokens": figures["cached_tokens"],
        }
        if not (tokens["prompt_tokens"] or tokens["completion_tokens"]):
            continue
        requests = figures["requests"] - figures["cache_hits"]
        usage = {**tokens, "cache_write_tokens": figures["cache_write_tokens"],
                 "reasoning_tokens": figures["reasoning_tokens"]}
        own = prices.get((provider, model))
        priced = [
            (p.cost(**usage, requests=requests), p.provider, p.model)
            for p in candidates
            if (p.provider, p.model) != (provider, model) and p.kind == (own.kind if own else "chat")
        ]
        actual = usd_decimal(figures["cost_usd"])
        entry = {
            "provider": provider or None,
            "model": model or None,
            "requests": requests,
            **tokens,
            "cost_usd": usd(actual),
            "cheapest_alternative": None,
            "potential_savings_usd": usd(0),
        }
        if priced:
            cost, alt_provider, alt_model = min(priced)
            entry["cheapest_alternative"] = {
                "provider": alt_provider, "model": alt_model, "cost_usd": usd(cost)
            }
            entry["potential_savings_usd"] = usd(max(Decimal("0"), actual - cost))
        alternatives.append(entry)
    alternatives.sort(key=lambda r: (-Decimal(r["potential_savings_usd"]), -Decimal(r["cost_usd"])))
    return {
        "cache_savings_usd": usd(total_saved),
        "cache_savings_by_model": savings_by_model,
        "model_alternatives": alternatives,
    }


def usage_costs(*, start: date, end: date, group_by: list[str], today: date | None = None) -> dict:
    """Cost analytics for the UTC days [start, end]: totals, one breakdown per dimension in
    `group_by`, and insights (cache savings, the cheapest catalogue alternative of each model).
    The provider and model breakdowns also count upstream attempts (failed ones included)."""
    source = UsageSource.for_range(start, end, today=today)
    groups = source.grouped([(), ("provider", "model"), *(_BREAKDOWN_GROUPING[d] for d in group_by)])
    insights = _insights(groups[("provider", "model")], model_prices())
    attempts = {
        dim: source.attempts(_BREAKDOWN_GROUPING[dim]) for dim in group_by if dim in ("provider", "model")
    }
    all_attempts = source.attempts(())
    total_attempts = all_attempts.get((), {"attempts": 0, "failed_attempts": 0})
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "currency": "USD",
        "money": MONEY_FORMAT,
        "totals": {
            **row_figures(groups[()][()]),
            **attempt_figures(total_attempts["attempts"], total_attempts["failed_attempts"]),
            "cache_savings_usd": insights["cache_savings_usd"],
        },
        "group_by": list(group_by),
        "breakdowns": {
            dim: _breakdown(dim, groups[_BREAKDOWN_GROUPING[dim]], attempts.get(dim)) for dim in group_by
        },
        "insights": insights,
        "sources": {
            "rollup_days": len(source.rollup_days),
            "raw_days": sum((b - a).days for a, b in source.raw_ranges),
        },
    }


def usage_spend_for_key(*, key_id: int, since: datetime, until: datetime) -> Decimal:
    """A key's recorded cost in [since, until): the spend source `access` rebuilds budgets from."""
    records = UsageRecord.objects.filter(api_key_id=key_id, created_at__gte=since, created_at__lt=until)
    total = records.aggregate(total=Sum("cost_usd"))["total"]
    return Decimal(total or 0)
