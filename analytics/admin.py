from django.contrib import admin
from django.db.models import Count, Sum
from django.template.response import TemplateResponse
from django.utils.html import format_html

from analytics import charts as charts_lib
from analytics.charts import color_for
from analytics.dashboard import dashboard_series
from analytics.models import CostDashboard, UsageAttempt, UsageDeadLetter, UsageRecord
from core.money import usd_amount, usd_axis, usd_text


def usd_cell(value):
    """Money in an admin cell: readable, the exact amount in the tooltip."""
    if value is None:
        return "-"
    return format_html('<span class="usd" title="{} USD">{}</span>', usd_amount(value), usd_text(value))


class UsageAttemptInline(admin.TabularInline):
    """Every upstream call made for the request, failed ones included."""

    model = UsageAttempt
    fields = ("seq", "provider", "model", "outcome", "latency_ms")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "upstream attempts"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    @admin.display(description="outcome")
    def outcome(self, obj: UsageAttempt) -> str:
        return obj.error_code or "answered"


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    """Read-only; the change list shows totals of cost and tokens for the filtered rows."""

    list_display = (
        "created_at", "request_id", "api_key", "provider", "model", "status", "error_code", "prompt_tokens",
        "completion_tokens", "cached_tokens", "cache_write_tokens", "cost", "latency_ms", "attempts",
        "streamed",
    )
    inlines = [UsageAttemptInline]
    readonly_fields = ("cost",)
    list_filter = ("provider", "model", "status", "streamed", "created_at")
    list_select_related = ("api_key",)
    search_fields = ("request_id", "model", "error_code")
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="cost", ordering="cost_usd")
    def cost(self, obj: UsageRecord):
        return usd_cell(obj.cost_usd)

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context=extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            response.context_data["usage_totals"] = changelist.queryset.aggregate(
                requests=Count("id"),
                cost_usd=Sum("cost_usd"),
                prompt_tokens=Sum("prompt_tokens"),
                completion_tokens=Sum("completion_tokens"),
                cached_tokens=Sum("cached_tokens"),
                cache_write_tokens=Sum("cache_write_tokens"),
                reasoning_tokens=Sum("reasoning_tokens"),
            )
        return response


@admin.register(UsageDeadLetter)
class UsageDeadLetterAdmin(admin.ModelAdmin):
    """Read-only: queued usage records the database refused, with the error and the payload."""

    list_display = ("created_at", "request_id", "record_id", "short_error")
    fields = ("created_at", "request_id", "record_id", "error", "payload")
    readonly_fields = fields
    search_fields = ("request_id", "record_id", "error")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="error")
    def short_error(self, obj: UsageDeadLetter) -> str:
        return obj.error[:120]


DASHBOARD_PERIODS = (7, 30, 90)
ATTEMPT_ERRORS_TITLE = "Error rate by provider: failed upstream attempts, failover included"


def _usd(value: float) -> str:
    return usd_axis(value)


def _tokens(value: float) -> str:
    return f"{value:,.0f}"


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _dashboard_charts(data: dict) -> list[tuple[str, str]]:
    """The dashboard's charts, each with its heading, from `dashboard_series`."""
    colors = {provider: color_for(i) for i, provider in enumerate(data["providers"])}
    day_labels = [d.isoformat() for d in data["days"]]
    return [
        ("Cost per day by provider (USD)", charts_lib.stacked_columns(
            chart_id="chart-cost-per-day",
            title="Cost per day by provider",
            categories=day_labels,
            series=[
                charts_lib.Series(p, [float(data["cost_per_day"][d][p]) for d in data["days"]], colors[p])
                for p in data["providers"]
            ],
            format_value=_usd,
        )),
        ("Tokens by model", charts_lib.horizontal_bars(
            chart_id="chart-tokens-by-model",
            title="Tokens by model",
            rows=[(label, [("prompt", prompt), ("completion", completion)])
                  for label, prompt, completion in data["tokens_by_model"][:15]],
            colors={"prompt": color_for(0), "completion": color_for(1)},
            format_value=_tokens,
        )),
        ("Saved by the response cache (USD, at catalogue prices)", charts_lib.stacked_columns(
            chart_id="chart-cache-savings",
            title="Cache savings per day",
            categories=day_labels,
            series=[charts_lib.Series(
                "cache savings", [float(data["savings_per_day"][d]) for d in data["days"]], color_for(2)
            )],
            format_value=_usd,
        )),
        (ATTEMPT_ERRORS_TITLE, charts_lib.horizontal_bars(
            chart_id="chart-error-rate",
            title="Attempt error rate by provider",
            rows=[(f"{provider} ({failed}/{attempts} attempts)", [("failed attempts", rate)])
                  for provider, rate, failed, attempts in data["error_rate"]],
            colors={"failed attempts": color_for(3)},
            format_value=_percent,
            axis_max=1.0,
        )),
        ("Requests answered with an error, by the provider that answered", charts_lib.horizontal_bars(
            chart_id="chart-request-errors",
            title="Request error rate by provider",
            rows=[(f"{provider} ({errors}/{requests} requests)", [("request errors", rate)])
                  for provider, rate, errors, requests in data["request_errors"]],
            colors={"request errors": color_for(4)},
            format_value=_percent,
            axis_max=1.0,
        )),
    ]


@admin.register(CostDashboard)
class CostDashboardAdmin(admin.ModelAdmin):
    """The cost dashboard: server-side SVG charts over the daily rollups. Any staff user may see it."""

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        try:
            days = int(request.GET.get("days", 30))
        except ValueError:
            days = 30
        if days not in DASHBOARD_PERIODS:
            days = 30
        data = dashboard_series(days=days)
        charts = _dashboard_charts(data)
        context = {
            **self.admin_site.each_context(request),
            "title": "Cost dashboard",
            "opts": self.model._meta,
            "days": days,
            "periods": DASHBOARD_PERIODS,
            "data": data,
            "totals": data["totals"],
            "charts": charts,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/analytics/dashboard.html", context)
