from django.contrib import admin
from django.template.response import TemplateResponse

from access.models import ApiKey
from access.services import api_key_assign_secret


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name", "prefix", "active", "rpm_limit", "tpm_limit", "monthly_budget_usd", "created_at",
        "last_used_at",
    )
    list_filter = ("active",)
    list_editable = ("active",)
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    fields = (
        "name", "prefix", "active", "rpm_limit", "tpm_limit", "monthly_budget_usd", "allowed_models",
        "created_at", "last_used_at",
    )

    def save_model(self, request, obj: ApiKey, form, change):
        if not change:
            # Kept on the request only, to render the one page that shows it; never stored.
            request._new_api_key_secret = api_key_assign_secret(api_key=obj)
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, "_new_api_key_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created",
            "api_key": obj,
            "secret": secret,
            "opts": self.opts,
        }
        response = TemplateResponse(request, "admin/access/apikey/created.html", context)
        response["Cache-Control"] = "no-store"
        return response
