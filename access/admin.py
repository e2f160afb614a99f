from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from access.admin_models import AllowedModelsFormMixin
from access.admin_spend import ApiKeySpendMixin
from access.models import ApiKey, ApiKeyScope
from access.services import api_key_assign_secret, api_key_revoke


class ApiKeyForm(AllowedModelsFormMixin, forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiKeyScope.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Extra permissions; every active key may request completions.",
    )

    class Meta:
        model = ApiKey
        fields = (
            "name", "active", "rpm_limit", "tpm_limit", "monthly_budget_usd", "allowed_models", "scopes",
        )


@admin.register(ApiKey)
class ApiKeyAdmin(ApiKeySpendMixin, admin.ModelAdmin):
    form = ApiKeyForm
    list_display = (
        "name", "prefix", "active", "rpm_limit", "tpm_limit", "monthly_budget", "spend_this_month",
        "budget_remaining", "scopes", "created_at", "last_used_at",
    )
    list_filter = ("active",)
    list_editable = ("active",)
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_at", "last_used_at", "spend_this_month", "budget_remaining")
    fields = (
        "name", "prefix", "active", "rpm_limit", "tpm_limit", "monthly_budget_usd", "spend_this_month",
        "budget_remaining", "allowed_models", "scopes", "created_at", "last_used_at",
    )
    actions = ["revoke_keys"]

    @admin.action(description="Revoke selected API keys")
    def revoke_keys(self, request, queryset):
        revoked = 0
        # One by one, through the service: each save reaches every worker's key cache.
        for api_key in queryset.filter(active=True):
            api_key_revoke(api_key=api_key)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)

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
