"""Where a range of days' usage is read from: whole past days from the daily rollups when those are
complete (computed after the day ended), everything else (today, a day whose rollup has not run)
from the raw records, so a query touches at most one day of raw rows however large the table grows.
The same holds for the upstream attempts behind the records (failover included)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time

from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
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

# A day's rollup counts as complete when it was computed at least this long after the day ended:
# records queued just before midnight are in the database by then.
ROLLUP_GRACE = timedelta(minutes=5)


def day_start(day: date) -> datetime:
    """Midnight UTC opening `day`."""
    return datetime.combine(day, dt_time.min, tzinfo=UTC)


# Tokens count what was billed: a cache hit's tokens are priced as cache savings instead.
_BILLED = ~Q(status=UsageStatus.CACHE_HIT)
_HIT = Q(status=UsageStatus.CACHE_HIT)
# Aliased (`sum_...`): an aggregate may not take the name of a rollup column.
# Tokens and cost sum the same columns in rollups and raw records; only the counts differ.
_TOKEN_FIGURES = {
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
_ROLLUP_FIGURES = {
    "sum_requests": Sum("requests"),
    "sum_errors": Sum("requests", filter=Q(status=UsageStatus.ERROR)),
    "sum_cache_hits": Sum("requests", filter=_HIT),
    "sum_failovers": Sum("failovers"),
    **_TOKEN_FIGURES,
}
_RAW_FIGURES = {
    "sum_requests": Count("id"),
    "sum_errors": Count("id", filter=Q(status=UsageStatus.ERROR)),
    "sum_cache_hits": Count("id", filter=_HIT),
    "sum_failovers": Count("id", filter=Q(attempts__gt=1)),
    **_TOKEN_FIGURES,
}
# The figures a grouping sums, by name.
SUMMED = tuple(name.removeprefix("sum_") for name in _ROLLUP_FIGURES)
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

    def _rollup_rows(self, model) -> QuerySet:
        """A daily rollup table's rows of the complete days."""
        if not self.rollup_days:
            return model.objects.none()
        qs = model.objects.filter(day__gte=self.rollup_days[0], day__lte=self.rollup_days[-1])
        return qs if self._contiguous() else qs.filter(day__in=self.rollup_days)

    def _raw_rows(self, model) -> QuerySet:
        """A raw table's rows created in the days read raw."""
        if not self.raw_ranges:
            return model.objects.none()
        where = Q()
        for begin, finish in self.raw_ranges:
            where |= Q(created_at__gte=begin, created_at__lt=finish)
        return model.objects.filter(where)

    def rollups(self) -> QuerySet:
        """The usage rollup rows of the complete days."""
        return self._rollup_rows(UsageDailyRollup)

    def raw(self) -> QuerySet:
        """The usage records of the days read raw."""
        return self._raw_rows(UsageRecord)

    def attempts(self, grouping: Grouping) -> dict[tuple, dict[str, int]]:
        """Upstream attempts grouped by columns of ("provider", "model", "day"), rollups and raw
        attempts added together: {key values: {"attempts": n, "failed_attempts": n}}."""
        merged: dict[tuple, dict[str, int]] = {}
        raw = self._raw_rows(UsageAttempt)
        if self.raw_ranges and "day" in grouping:
            raw = raw.annotate(day=TruncDate("created_at", tzinfo=UTC))
        rollups = self._rollup_rows(UsageAttemptDailyRollup)
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
                result[grouping].setdefault((), dict.fromkeys(SUMMED, 0))
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
                into = merged.setdefault(key, dict.fromkeys(SUMMED, 0))
                for name in SUMMED:
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
                for name, value in zip(SUMMED, figures, strict=True)
            }
        return result
