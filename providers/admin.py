import os

from django.contrib import admin
from django.db import models
from django.utils.html import format_html, format_html_join

from providers import admin_prices
from providers.admin_capabilities import ProviderModelFormMixin, ProviderModelInlineMixin
from providers.admin_ops import ProviderOperationsMixin
from providers.models import HealthCheckResult, HealthReport, Provider, ProviderModel


class ProviderModelInline(ProviderModelInlineMixin, admin.TabularInline):
    model = ProviderModel
    extra = 0
    fields = (
        "name", "aliases", "enabled", "context_window", "max_output_tokens", "lacks", "input_price_per_1m",
        "output_price_per_1m", "cached_input_price_per_1m", "price_source",
    )


@admin.register(Provider)
class ProviderAdmin(ProviderOperationsMixin, admin.ModelAdmin):
    # Live figures, the Enable/Disable button and the kind as routing sees it: providers/admin_ops.py.
    list_display = (
        "name", "kind_label", "enabled_toggle", "priority", "weight", "health", "breaker", "success_rate",
        "p95_latency", "requests_last_hour",
    )
    list_editable = ("priority", "weight")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "base_url")
    actions = ["enable_providers", "disable_providers"]
    readonly_fields = ("protocol", "key_configured", "created_at", "updated_at")
    inlines = [ProviderModelInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = (
        (None, {"fields": ("name", "kind", "protocol", "base_url", "enabled")}),
        ("Credentials", {
            "fields": ("api_key_env", "key_configured"),
            "description": "Keys live in the environment; only the variable's name is stored here.",
        }),
        ("Routing", {"fields": ("priority", "weight", "timeout_s", "max_tokens", "max_retries")}),
        ("Cost", {"fields": ("fallback_cost_per_token",)}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(boolean=True, description="key set")
    def key_configured(self, obj: Provider) -> bool:
        return bool(obj.api_key_env and os.environ.get(obj.api_key_env))


@admin.register(ProviderModel)
class ProviderModelAdmin(ProviderModelFormMixin, admin.ModelAdmin):
    # Aliases as a list, capabilities as checkboxes (editing writes `lacks`): providers/admin_capabilities.py.
    list_display = (
        "name", "provider", "enabled", "capabilities", "context_window", "input_price_per_1m",
        "output_price_per_1m", "cached_input_price_per_1m", "price_source",
    )
    list_filter = ("provider", "enabled", "price_source")
    list_select_related = ("provider",)
    search_fields = ("name",)
    # Prices: how each model is priced (models nothing prices are flagged), its genai-prices model.
    readonly_fields = ("price_model",)

    def get_list_display(self, request):
        return (*super().get_list_display(request), "pricing")

    @admin.display(description="pricing")
    def pricing(self, obj: ProviderModel):
        return admin_prices.pricing_status(obj)

    @admin.display(description="price model (genai-prices)")
    def price_model(self, obj: ProviderModel):
        return admin_prices.price_model_table(obj)

    def changelist_view(self, request, extra_context=None):
        admin_prices.warn_unpriced(request)
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(HealthCheckResult)
class HealthCheckResultAdmin(admin.ModelAdmin):
    list_display = ("provider", "status", "latency_ms", "checked_at", "error_code", "error")
    list_filter = ("status", "provider", "error_code", "checked_at")
    list_select_related = ("provider",)
    date_hierarchy = "checked_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(HealthReport)
class HealthReportAdmin(admin.ModelAdmin):
    """Hourly reports, written by the providers.health_report task; read-only here."""

    list_display = ("window_start", "window_end", "provider_count", "requests", "failovers", "created_at")
    date_hierarchy = "window_start"
    readonly_fields = ("window_start", "window_end", "providers_table", "totals", "created_at")
    exclude = ("providers",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Viewing stays allowed (the change page renders read-only for view permission).
        return False

    @admin.display(description="providers")
    def provider_count(self, obj: HealthReport) -> int:
        return len(obj.providers or {})

    @admin.display(description="requests")
    def requests(self, obj: HealthReport) -> int:
        return (obj.totals or {}).get("requests", 0)

    @admin.display(description="failovers")
    def failovers(self, obj: HealthReport) -> int:
        return (obj.totals or {}).get("failovers", 0)

    @admin.display(description="per provider")
    def providers_table(self, obj: HealthReport):
        def codes(counts: dict) -> str:
            return ", ".join(f"{code}: {n}" for code, n in counts.items()) or "-"

        header = (
            "provider", "checks", "uptime %", "p50 ms", "p95 ms", "probe errors", "requests",
            "request errors", "failovers",
        )
        rows = [
            (
                name, f.get("checks", 0), f.get("uptime_percent"), f.get("latency_p50_ms"),
                f.get("latency_p95_ms"), codes(f.get("check_errors", {})), f.get("requests", 0),
                codes(f.get("errors", {})), f.get("failovers", 0),
            )
            for name, f in sorted((obj.providers or {}).items())
        ]
        cells = [
            format_html_join("", "<td>{}</td>", (("-" if cell is None else cell,) for cell in row))
            for row in rows
        ]
        return format_html(
            "<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>",
            format_html_join("", "<th>{}</th>", ((h,) for h in header)),
            format_html_join("", "<tr>{}</tr>", ((c,) for c in cells)),
        )
