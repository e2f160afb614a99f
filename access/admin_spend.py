"""Spend columns for the API key admin: this month's recorded cost and what is left of the budget.

The spend is the sum of the key's usage records this calendar month (UTC), read in the same query
as the key list through the records' foreign key (access does not import analytics). Budget
enforcement counts the same costs in shared state as each answer is charged, so the two agree up
to the records still queued (a few seconds).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.contrib import admin
from django.db.models import DecimalField, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.html import format_html

from core.money import usd_amount, usd_text


def month_start(now: datetime | None = None) -> datetime:
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _money(value: Decimal | None, *, css: str = "usd"):
    if value is None:
        return "-"
    return format_html('<span class="{}" title="{} USD">{}</span>', css, usd_amount(value), usd_text(value))


class ApiKeySpendMixin:
    """For ApiKeyAdmin: `spend_this_month` and `budget_remaining` columns and read-only fields."""

    def get_queryset(self, request):
        since = month_start()
        return (
            super()
            .get_queryset(request)
            .annotate(
                _spend_this_month=Coalesce(
                    Sum("usage_records__cost_usd", filter=Q(usage_records__created_at__gte=since)),
                    Value(Decimal("0")),
                    output_field=DecimalField(max_digits=18, decimal_places=8),
                )
            )
        )

    @staticmethod
    def _spend(obj) -> Decimal:
        spend = getattr(obj, "_spend_this_month", None)
        if spend is None and obj.pk:
            spend = obj.usage_records.filter(created_at__gte=month_start()).aggregate(s=Sum("cost_usd"))["s"]
        return Decimal(spend or 0)

    @admin.display(description="spend this month", ordering="_spend_this_month")
    def spend_this_month(self, obj):
        return _money(self._spend(obj))

    @admin.display(description="budget remaining")
    def budget_remaining(self, obj):
        if obj.monthly_budget_usd is None:
            return "no budget"
        remaining = Decimal(obj.monthly_budget_usd) - self._spend(obj)
        if remaining <= 0:
            return format_html('<strong class="budget-spent">{} (spent)</strong>', usd_text(remaining))
        return _money(remaining)

    @admin.display(description="monthly budget", ordering="monthly_budget_usd")
    def monthly_budget(self, obj):
        return _money(obj.monthly_budget_usd) if obj.monthly_budget_usd is not None else "no budget"
