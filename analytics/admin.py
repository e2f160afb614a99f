from django.contrib import admin
from django.db.models import Count, Sum

from analytics.models import UsageRecord


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    """Read-only; the change list shows totals of cost and tokens for the filtered rows."""

    list_display = (
        "created_at", "request_id", "api_key", "provider", "model", "status", "error_code", "prompt_tokens",
        "completion_tokens", "cached_tokens", "cost_usd", "latency_ms", "attempts", "streamed",
    )
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
            )
        return response
