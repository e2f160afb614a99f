"""Reads of usage: the metrics window, cost analytics and the dashboard's series.

Cost analytics read whole past days from the daily rollups when those are complete (computed after
the day ended) and everything else (today, a day whose rollup has not run) from the raw records, so
a query touches at most one day of raw rows however large the table grows. The same holds for the
upstream attempts behind the records (per-provider attempt error rates, failover included).

Money is Decimal throughout and leaves as a decimal string with 8 places (`usd`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal

from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from analytics.models import (
    UsageAttempt,
    UsageAttemptDailyRollup,
    UsageDailyRollup,
    UsageRecord,
    UsageRollupDay,
    UsageStatus,
)
from core.money import usd_amount, usd_decimal
from providers.adapters.base import Usage
from providers.pricing import ModelPricing, pricing_of

# A day's rollup counts as complete when it was computed at least this long after the day ended:
# records queued just before midnight are in the database by then.
ROLLUP_GRACE = timedelta(minutes=5)
DIMENSIONS = ("provider", "model", "api_key", "day")
MAX_RANGE_DAYS = 731
_WINDOW = re.compile(r"^\s*(\d{1,7})\s*([mhd])\s*$")
_WINDOW_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


# --------------------------------------------------------------------------------------- helpers


def parse_window(value: str) -> timedelta:
    """`30m`, `1h`, `7d` -> timedelta; ValueError for anything else (or zero)."""
    match = _WINDOW.match(value or "")
    if not match or int(match.group(1)) == 0:
        raise ValueError(value)
    delta = timedelta(**{_WINDOW_UNITS[match.group(2)]: int(match.group(1))})
    if delta > timedelta(days=MAX_RANGE_DAYS):
        raise ValueError(value)
    return delta


def day_start(day: date) -> datetime:
    return datetime.combine(day, dt_time.min, tzinfo=UTC)


def usd(value) -> str:
    """Money for JSON: a decimal string with 8 places (the records' precision), never a float."""
    return usd_amount(value)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


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


def _cache_savings(rows: Iterable[dict], prices: dict[tuple[str, str], ModelPrice]) -> Decimal:
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


def _attempt_figures(attempts: int, failed: int) -> dict:
    return {"attempts": attempts, "failed_attempts": failed, "attempt_error_rate": _rate(failed, attempts)}


# --------------------------------------------------------------------------- the metrics window


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
        "success_rate": _rate((row["successes"] or 0) + (row["cache_hits"] or 0), requests),
        "failovers": row["failovers"] or 0,
        **_attempt_figures(*attempts),
        "latency_ms": _latency_summary(latency),
        "prompt_tokens": row["prompt_tokens"] or 0,
        "completion_tokens": row["completion_tokens"] or 0,
        "cached_tokens": row["cached_tokens"] or 0,
        "cache_write_tokens": row["cache_write_tokens"] or 0,
        "reasoning_tokens": row["reasoning_tokens"] or 0,
        "cost_usd": usd(row["cost_usd"]),
        "cache_hits": row["cache_hits"] or 0,
        "cache_hit_rate": _rate(row["cache_hits"] or 0, requests),
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
        provider: _cache_savings([h for h in hits if h["provider"] == provider], prices)
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


# ------------------------------------------------------------------------------- cost analytics


# Tokens count what was billed: a cache hit's tokens are priced as cache savings instead.
_BILLED = ~Q(status=UsageStatus.CACHE_HIT)
_HIT = Q(status=UsageStatus.CACHE_HIT)
# Aliased (`sum_...`): an aggregate may not take the name of a rollup column.
_ROLLUP_FIGURES = {
    "sum_requests": Sum("requests"),
    "sum_errors": Sum("requests", filter=Q(status=UsageStatus.ERROR)),
    "sum_cache_hits": Sum("requests", filter=_HIT),
    "sum_failovers": Sum("failovers"),
    "sum_prompt_tokens": Sum("prompt_tokens", filter=_BILLED),
    "sum_completion_tokens": Sum("completion_tokens", filter=_BILLED),
    "sum_cached_tokens": Sum("cached_tokens", filter=_BILLED),
    "sum_cache_write_tokens": Sum("cache_write_tokens", filter=_BILLED),
    "sum_reasoning_tokens": Sum("reasoning_tokens", filter=_BILLED),
    "sum_hit_prompt_tokens": Sum("prompt_tokens", filter=_HIT),
    "sum_hit_completion_tokens": Sum("completion_tokens", filter=_HIT),
    "sum_hit_cached_tokens": Sum("cached_tokens", filter=_HIT),
    "sum_cost_usd": Sum("cost_usd"),
}
_RAW_FIGURES = {
    "sum_requests": Count("id"),
    "sum_errors": Count("id", filter=Q(status=UsageStatus.ERROR)),
    "sum_cache_hits": Count("id", filter=_HIT),
    "sum_failovers": Count("id", filter=Q(attempts__gt=1)),
    "sum_prompt_tokens": Sum("prompt_tokens", filter=_BILLED),
    "sum_completion_tokens": Sum("completion_tokens", filter=_BILLED),
    "sum_cached_tokens": Sum("cached_tokens", filter=_BILLED),
    "sum_cache_write_tokens": Sum("cache_write_tokens", filter=_BILLED),
    "sum_reasoning_tokens": Sum("reasoning_tokens", filter=_BILLED),
    "sum_hit_prompt_tokens": Sum("prompt_tokens", filter=_HIT),
    "sum_hit_completion_tokens": Sum("completion_tokens", filter=_HIT),
    "sum_hit_cached_tokens": Sum("cached_tokens", filter=_HIT),
    "sum_cost_usd": Sum("cost_usd"),
}
_SUMMED = tuple(name.removeprefix("sum_") for name in _ROLLUP_FIGURES)
# The columns a grouping may use, in the order of PostgreSQL's GROUPING() bitmask.
_GROUP_COLUMNS = ("provider", "model", "api_key_id", "day")
# The same figures in SQL, over the union of rollup rows and raw records (see _grouped_postgres).
_SQL_FIGURES = """
    SUM(requests), SUM(requests) FILTER (WHERE status = %(error)s),
    SUM(requests) FILTER (WHERE status = %(hit)s), SUM(failovers),
    SUM(prompt_tokens) FILTER (WHERE status <> %(hit)s),
    SUM(completion_tokens) FILTER (WHERE status <> %(hit)s),
    SUM(cached_tokens) FILTER (WHERE status <> %(hit)s),
    SUM(cache_write_tokens) FILTER (WHERE status <> %(hit)s),
    SUM(reasoning_tokens) FILTER (WHERE status <> %(hit)s),
    SUM(prompt_tokens) FILTER (WHERE status = %(hit)s),
    SUM(completion_tokens) FILTER (WHERE status = %(hit)s),
    SUM(cached_tokens) FILTER (WHERE status = %(hit)s),
    SUM(cost_usd)
"""

Grouping = tuple[str, ...]


@dataclass(frozen=True)
class UsageSource:
    """Where the days of a range are read from: complete daily rollups, else raw records."""

    rollup_days: list[date]
    raw_ranges: list[tuple[datetime, datetime]]

    @classmethod
    def for_range(cls, start: date, end: date, *, today: date | None = None) -> UsageSource:
        today = today or timezone.now().date()
        complete = {
            marker.day
            for marker in UsageRollupDay.objects.filter(day__gte=start, day__lte=min(end, today))
            if marker.day < today
            and marker.computed_at >= day_start(marker.day + timedelta(days=1)) + ROLLUP_GRACE
        }
        rollup_days = sorted(complete)
        raw_ranges: list[tuple[datetime, datetime]] = []
        day = start
        while day <= end:
            if day not in complete:
                begin, finish = day_start(day), day_start(day + timedelta(days=1))
                if raw_ranges and raw_ranges[-1][1] == begin:
                    raw_ranges[-1] = (raw_ranges[-1][0], finish)
                else:
                    raw_ranges.append((begin, finish))
            day += timedelta(days=1)
        return cls(rollup_days=rollup_days, raw_ranges=raw_ranges)

    def _contiguous(self) -> bool:
        first, last = self.rollup_days[0], self.rollup_days[-1]
        return len(self.rollup_days) == (last - first).days + 1

    def rollups(self) -> QuerySet:
        if not self.rollup_days:
            return UsageDailyRollup.objects.none()
        qs = UsageDailyRollup.objects.filter(day__gte=self.rollup_days[0], day__lte=self.rollup_days[-1])
        return qs if self._contiguous() else qs.filter(day__in=self.rollup_days)

    def raw(self) -> QuerySet:
        if not self.raw_ranges:
            return UsageRecord.objects.none()
        where = Q()
        for begin, finish in self.raw_ranges:
            where |= Q(created_at__gte=begin, created_at__lt=finish)
        return UsageRecord.objects.filter(where)

    def attempts(self, grouping: Grouping) -> dict[tuple, dict[str, int]]:
        """Upstream attempts grouped by columns of ("provider", "model", "day"), rollups and raw
        attempts added together: {key values: {"attempts": n, "failed_attempts": n}}."""
        merged: dict[tuple, dict[str, int]] = {}
        raw = UsageAttempt.objects.none()
        if self.raw_ranges:
            where = Q()
            for begin, finish in self.raw_ranges:
                where |= Q(created_at__gte=begin, created_at__lt=finish)
            raw = UsageAttempt.objects.filter(where)
            if "day" in grouping:
                raw = raw.annotate(day=TruncDate("created_at", tzinfo=UTC))
        rollups = UsageAttemptDailyRollup.objects.none()
        if self.rollup_days:
            rollups = UsageAttemptDailyRollup.objects.filter(
                day__gte=self.rollup_days[0], day__lte=self.rollup_days[-1]
            )
            if not self._contiguous():
                rollups = rollups.filter(day__in=self.rollup_days)
        failed = ~Q(error_code="")
        sources = (
            (rollups, Sum("attempts"), Sum("attempts", filter=failed)),
            (raw, Count("id"), Count("id", filter=failed)),
        )
        for qs, total, failures in sources:
            for row in qs.values(*grouping).annotate(n=total, f=failures).order_by():
                key = tuple(row[c] for c in grouping)
                into = merged.setdefault(key, {"attempts": 0, "failed_attempts": 0})
                into["attempts"] += row["n"] or 0
                into["failed_attempts"] += row["f"] or 0
        return merged

    def grouped(self, groupings: list[Grouping]) -> dict[Grouping, dict[tuple, dict]]:
        """Figures for each grouping (columns of _GROUP_COLUMNS; () is the total), rollups and raw
        records added together: {grouping: {key values: figures}}."""
        groupings = list(dict.fromkeys(tuple(g) for g in groupings))
        if connection.vendor == "postgresql":
            result = self._grouped_postgres(groupings)
        else:
            result = {g: self._grouped_orm(g) for g in groupings}
        for grouping in groupings:
            if not grouping:
                result[grouping].setdefault((), dict.fromkeys(_SUMMED, 0))
        return result

    def _grouped_orm(self, grouping: Grouping) -> dict[tuple, dict]:
        """One grouping, one query per source (any database)."""
        merged: dict[tuple, dict] = {}
        raw = self.raw()
        if "day" in grouping:
            raw = raw.annotate(day=TruncDate("created_at", tzinfo=UTC))
        for qs, figures in ((self.rollups(), _ROLLUP_FIGURES), (raw, _RAW_FIGURES)):
            if grouping:
                rows = qs.values(*grouping).annotate(**figures).order_by()
            else:
                rows = [qs.aggregate(**figures)]
            for row in rows:
                if grouping and not row["sum_requests"]:
                    continue
                key = tuple((row[c] or 0) if c == "api_key_id" else row[c] for c in grouping)
                into = merged.setdefault(key, dict.fromkeys(_SUMMED, 0))
                for name in _SUMMED:
                    into[name] += row["sum_" + name] or 0
        return merged

    def _grouped_postgres(self, groupings: list[Grouping]) -> dict[Grouping, dict[tuple, dict]]:
        """Every grouping in one statement: GROUPING SETS over the union of the rollup rows and
        the raw records, a single scan of each."""
        parts: list[str] = []
        params: dict = {"error": UsageStatus.ERROR.value, "hit": UsageStatus.CACHE_HIT.value}
        if self.rollup_days:
            params.update(first=self.rollup_days[0], last=self.rollup_days[-1], days=self.rollup_days)
            only = "" if self._contiguous() else " AND day = ANY(%(days)s)"
            # Only table names and constants are interpolated; values are parameters.
            parts.append(
                "SELECT provider, model, api_key_id, day, status, requests, failovers, prompt_tokens, "  # noqa: S608
                "completion_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost_usd "
                f"FROM {UsageDailyRollup._meta.db_table} WHERE day >= %(first)s AND day <= %(last)s{only}"
            )
        if self.raw_ranges:
            ranges = []
            for i, (begin, finish) in enumerate(self.raw_ranges):
                params[f"b{i}"], params[f"f{i}"] = begin, finish
                ranges.append(f"(created_at >= %(b{i})s AND created_at < %(f{i})s)")
            parts.append(
                "SELECT provider, model, COALESCE(api_key_id, 0) AS api_key_id, "  # noqa: S608
                "(created_at AT TIME ZONE 'UTC')::date AS day, status, 1 AS requests, "
                "CASE WHEN attempts > 1 THEN 1 ELSE 0 END AS failovers, prompt_tokens, completion_tokens, "
                "cached_tokens, cache_write_tokens, reasoning_tokens, cost_usd "
                f"FROM {UsageRecord._meta.db_table} WHERE {' OR '.join(ranges)}"
            )
        result: dict[Grouping, dict[tuple, dict]] = {g: {} for g in groupings}
        if not parts:
            return result
        # GROUPING() may name only columns that some grouping set uses; its bits say which set a
        # row belongs to (1: the column is aggregated away).
        used = [c for c in _GROUP_COLUMNS if any(c in g for g in groupings)]
        masks = {
            sum(1 << (len(used) - 1 - i) for i, c in enumerate(used) if c not in g): g for g in groupings
        }
        sets = ", ".join("(" + ", ".join(g) + ")" for g in groupings)
        grouping_id = f"GROUPING({', '.join(used)})" if used else "0"
        columns = ", ".join(c if c in used else "NULL" for c in _GROUP_COLUMNS)
        sql = (
            f"SELECT {grouping_id}, {columns}, {_SQL_FIGURES} "  # noqa: S608
            f"FROM ({' UNION ALL '.join(parts)}) AS usage GROUP BY GROUPING SETS ({sets})"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        for mask, provider, model, api_key_id, day, *figures in rows:
            grouping = masks[mask]
            values = {"provider": provider, "model": model, "api_key_id": api_key_id, "day": day}
            # SUM over bigint is numeric in PostgreSQL: counts back to int, money stays Decimal.
            result[grouping][tuple(values[c] for c in grouping)] = {
                name: (value or 0) if name == "cost_usd" else int(value or 0)
                for name, value in zip(_SUMMED, figures, strict=True)
            }
        return result


def _hit_tokens(provider: str, model: str, figures: dict) -> dict:
    return {
        "provider": provider,
        "model": model,
        "hits": figures["cache_hits"],
        "prompt_tokens": figures["hit_prompt_tokens"],
        "completion_tokens": figures["hit_completion_tokens"],
        "cached_tokens": figures["hit_cached_tokens"],
    }


def _row_figures(figures: dict) -> dict:
    return {
        "requests": figures["requests"],
        "errors": figures["errors"],
        "cache_hits": figures["cache_hits"],
        "failovers": figures["failovers"],
        "prompt_tokens": figures["prompt_tokens"],
        "completion_tokens": figures["completion_tokens"],
        "cached_tokens": figures["cached_tokens"],
        "cache_write_tokens": figures["cache_write_tokens"],
        "reasoning_tokens": figures["reasoning_tokens"],
        "cost_usd": usd(figures["cost_usd"]),
    }


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
        figures = groups.get(key) or dict.fromkeys(_SUMMED, 0)
        if dim == "api_key":
            label = {"api_key": names.get(key[0]) if key[0] else None, "api_key_id": key[0] or None}
        elif dim == "day":
            label = {"day": key[0].isoformat()}
        elif dim == "model":
            label = {"provider": key[0] or None, "model": key[1] or None}
        else:
            label = {dim: key[0] or None}
        row = {**label, **_row_figures(figures)}
        if attempts is not None:
            found = attempts.get(key, {"attempts": 0, "failed_attempts": 0})
            row.update(_attempt_figures(found["attempts"], found["failed_attempts"]))
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
            saved = _cache_savings([_hit_tokens(provider, model, figures)], prices)
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
            **_row_figures(groups[()][()]),
            **_attempt_figures(total_attempts["attempts"], total_attempts["failed_attempts"]),
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


# What the APIs say about their money fields.
MONEY_FORMAT = "Amounts (*_usd) are USD as decimal strings with 8 decimal places."


# ------------------------------------------------------------------------------------ dashboard


def dashboard_series(*, days: int, today: date | None = None) -> dict:
    """What the admin's cost dashboard draws, over the last `days` UTC days. Money is Decimal."""
    today = today or timezone.now().date()
    start = today - timedelta(days=days - 1)
    source = UsageSource.for_range(start, today, today=today)
    prices = model_prices()
    all_days = [start + timedelta(days=i) for i in range(days)]
    groups = source.grouped([(), ("provider",), ("provider", "model"), ("provider", "day"),
                             ("provider", "model", "day")])

    by_day_provider = groups[("provider", "day")]
    providers = sorted({p for p, _ in by_day_provider if p})
    cost_per_day = {
        d: {p: Decimal(by_day_provider.get((p, d), {}).get("cost_usd", 0) or 0) for p in providers}
        for d in all_days
    }
    tokens_by_model = sorted(
        (
            (f"{provider}/{model}", figures["prompt_tokens"], figures["completion_tokens"])
            for (provider, model), figures in groups[("provider", "model")].items()
            if model and (figures["prompt_tokens"] or figures["completion_tokens"])
        ),
        key=lambda r: -(r[1] + r[2]),
    )
    savings_per_day = dict.fromkeys(all_days, Decimal("0"))
    for (provider, model, d), figures in groups[("provider", "model", "day")].items():
        if figures["cache_hits"] and d in savings_per_day:
            savings_per_day[d] += _cache_savings([_hit_tokens(provider, model, figures)], prices)
    # Per provider: its upstream attempts and how many failed (whoever answered in the end), and
    # the requests it answered with an error.
    attempts = source.attempts(("provider",))
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
            for (provider,), figures in groups[("provider",)].items()
            if figures["requests"]
        ),
        key=lambda r: r[0],
    )
    total_attempts = sum(f["attempts"] for f in attempts.values())
    failed_attempts = sum(f["failed_attempts"] for f in attempts.values())
    totals = groups[()][()]
    return {
        "start": start,
        "end": today,
        "days": all_days,
        "providers": providers,
        "cost_per_day": cost_per_day,
        "tokens_by_model": tokens_by_model,
        "savings_per_day": savings_per_day,
        "error_rate": error_rate,
        "request_errors": request_errors,
        "totals": {
            **_row_figures(totals),
            "cost_usd": usd_decimal(totals["cost_usd"]),
            "attempts": total_attempts,
            "failed_attempts": failed_attempts,
            "attempt_error_rate": _rate(failed_attempts, total_attempts),
            "cache_savings_usd": usd_decimal(sum(savings_per_day.values())),
        },
    }


# ------------------------------------------------------------------------------------ budgets


def usage_spend_for_key(*, key_id: int, since: datetime, until: datetime) -> Decimal:
    """A key's recorded cost in [since, until): the spend source `access` rebuilds budgets from."""
    records = UsageRecord.objects.filter(api_key_id=key_id, created_at__gte=since, created_at__lt=until)
    total = records.aggregate(total=Sum("cost_usd"))["total"]
    return Decimal(total or 0)
