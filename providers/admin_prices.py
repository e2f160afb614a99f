"""Admin for prices: what each model costs (and which are not priced), and what price syncs changed.

Imported by providers.admin; kept apart so the catalogue admin stays about the catalogue.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from providers.models import PriceChange, PriceSync, ProviderModel
from providers.price_classes import PRICE_CLASSES
from providers.price_data import describe_price_data
from providers.pricing import pricing_of


def pricing_status(obj: ProviderModel):
    """How the model is priced, with models nothing prices flagged."""
    pricing = pricing_of(obj, obj.provider.fallback_cost_per_token)
    if not pricing.priced:
        return format_html(
            '<strong class="price-unknown" style="color:#ba2121">{}</strong>', "NOT PRICED (cost 0)"
        )
    if pricing.source == "genai-prices":
        overridden = [c.label for c in PRICE_CLASSES if c.name in pricing.overridden]
        if overridden:
            return format_html("genai-prices; your price for {}", ", ".join(overridden))
        return "genai-prices"
    return {"env": "cost per token (env)", "catalogue": "catalogue file", "admin": "admin prices"}.get(
        pricing.source, pricing.source
    )


def price_model_table(obj: ProviderModel):
    """The stored genai-prices model, line by line, with the classes the operator overrides."""
    lines = describe_price_data(obj.price_data)
    pricing = pricing_of(obj, obj.provider.fallback_cost_per_token)
    if not lines:
        return "No genai-prices model: priced from the columns above." if pricing.priced else format_html(
            '<strong style="color:#ba2121">{}</strong>',
            "Not priced: genai-prices does not know this model and no price is set, so its cost is recorded "
            "as 0. Set the input and output prices above, or the provider's cost per token.",
        )
    overridden = set(pricing.overridden)
    rows = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (line, value, "overridden by your price" if line.split(" ")[0] in overridden else "")
            for line, value in lines.items()
        ),
    )
    return format_html(
        '<table class="price-model"><thead><tr><th>price (USD per million tokens)</th><th>USD</th><th></th>'
        "</tr></thead><tbody>{}</tbody></table><p>Source: {}</p>",
        rows, obj.price_data.get("source", "-"),
    )


def warn_unpriced(request) -> None:
    unpriced = [
        f"{m.provider.name}/{m.name}"
        for m in ProviderModel.objects.select_related("provider")
        if not pricing_of(m, m.provider.fallback_cost_per_token).priced
    ]
    if unpriced:
        messages.warning(
            request,
            f"Not priced, their cost is recorded as 0: {', '.join(unpriced)}. Set their prices, or the "
            "provider's cost per token.",
        )


class PriceChangeInline(admin.TabularInline):
    model = PriceChange
    fields = ("provider_name", "model_name", "changed_lines")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="what changed (USD per million tokens)")
    def changed_lines(self, obj: PriceChange):
        return format_html_join(
            "", "<div>{}: {} &rarr; {}</div>",
            ((line, "-" if old is None else old, "-" if new is None else new)
             for line, (old, new) in obj.changes.items()),
        )


@admin.register(PriceSync)
class PriceSyncAdmin(admin.ModelAdmin):
    """Read-only: one row per price sync, with what it changed."""

    list_display = ("ran_at", "command", "source", "models_checked", "models_changed", "unknown")
    list_filter = ("command",)
    readonly_fields = ("ran_at", "command", "source", "models_checked", "models_changed", "unknown_models")
    exclude = ("data",)
    inlines = [PriceChangeInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="not priced")
    def unknown(self, obj: PriceSync):
        if not obj.unknown_models:
            return "-"
        return format_html('<span style="color:#ba2121">{}</span>', ", ".join(obj.unknown_models))


@admin.register(PriceChange)
class PriceChangeAdmin(admin.ModelAdmin):
    list_display = ("ran_at", "provider_name", "model_name", "changed_lines", "new_source")
    list_filter = ("provider_name",)
    search_fields = ("model_name",)
    list_select_related = ("sync",)
    readonly_fields = ("sync", "model", "provider_name", "model_name", "changed_lines", "new_source")
    exclude = ("changes", "old_source")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="when", ordering="sync__ran_at")
    def ran_at(self, obj: PriceChange):
        return obj.sync.ran_at

    @admin.display(description="what changed (USD per million tokens)")
    def changed_lines(self, obj: PriceChange):
        return PriceChangeInline.changed_lines(None, obj)
