import os

from django.contrib import admin
from django.db import models

from providers.models import HealthCheckResult, Provider, ProviderModel


class ProviderModelInline(admin.TabularInline):
    model = ProviderModel
    extra = 0
    fields = (
        "name", "aliases", "enabled", "context_window", "max_output_tokens", "input_price_per_1m",
        "output_price_per_1m", "cached_input_price_per_1m", "price_source",
    )


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = (
        "name", "kind", "enabled", "priority", "weight", "timeout_s", "max_tokens", "key_configured",
        "updated_at",
    )
    list_editable = ("enabled", "priority", "weight")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "base_url")
    readonly_fields = ("key_configured", "created_at", "updated_at")
    inlines = [ProviderModelInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = (
        (None, {"fields": ("name", "kind", "base_url", "enabled")}),
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
class ProviderModelAdmin(admin.ModelAdmin):
    list_display = (
        "name", "provider", "enabled", "input_price_per_1m", "output_price_per_1m",
        "cached_input_price_per_1m", "context_window", "price_source",
    )
    list_filter = ("provider", "enabled", "price_source")
    list_select_related = ("provider",)
    search_fields = ("name",)


@admin.register(HealthCheckResult)
class HealthCheckResultAdmin(admin.ModelAdmin):
    list_display = ("provider", "status", "latency_ms", "checked_at", "error")
    list_filter = ("status", "provider", "checked_at")
    list_select_related = ("provider",)
    date_hierarchy = "checked_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
