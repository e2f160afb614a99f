"""The provider admin for operators: live figures on the provider list, one-click enable/disable,
and protocol names as the adapters see them.

- Live figures (health, breaker, success rate, p95 latency, requests in the last hour): the cells
  come from providers/admin_live.py; the list refreshes them every few seconds from `live/` (JSON).
- Enable/disable and priority edits are ordinary saves: each bumps the catalogue version, and
  every worker reloads within CATALOGUE_REFRESH_S (shared through Redis).
- Model capabilities as checkboxes: providers/admin_capabilities.py.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from providers.adapters.protocols import protocol_for, provider_kind_choices
from providers.admin_live import figures_for, live_cell
from providers.models import Provider

# ------------------------------------------------------------------------------- protocol, kind


def provider_dialect(provider: Provider) -> str:
    """The adapter dialect routing uses for this provider (DeepSeek is stored as kind "openai")."""
    from providers.adapters.base import ProviderConfig
    from providers.adapters.registry import adapter_kind

    config = ProviderConfig(
        name=provider.name, kind=provider.kind, base_url=provider.base_url or None, api_key=None
    )
    return adapter_kind(config)


def kind_label(provider: Provider) -> str:
    stored = dict(provider_kind_choices()).get(provider.kind, provider.kind)
    dialect = provider_dialect(provider)
    if dialect == provider.kind:
        return stored
    return f"{dialect_label(dialect)} ({stored} protocol)"


def dialect_label(dialect: str) -> str:
    """A protocol's name for people, as its adapter package declares it."""
    protocol = protocol_for(dialect)
    return protocol.label if protocol else dialect


class ProviderOperationsMixin:
    """For the provider admin: live columns, the toggle button, kind names, their URLs."""

    LIVE_COLUMNS = ("health", "breaker", "success_rate", "p95_latency", "requests_last_hour")

    class Media:
        js = ("aiprovider_site/admin/providers-live.js",)
        css = {"all": ("aiprovider_site/admin/operations.css",)}

    # -- columns

    @admin.display(description="kind", ordering="kind")
    def kind_label(self, obj: Provider) -> str:
        return kind_label(obj)

    @admin.display(description="protocol")
    def protocol(self, obj: Provider) -> str:
        if obj is None or not obj.pk:
            return "-"
        dialect = provider_dialect(obj)
        return f"{dialect_label(dialect)} (adapter dialect {dialect!r}, from the kind, name and host)"

    @admin.display(description="health")
    def health(self, obj: Provider):
        return live_cell(obj, "health")

    @admin.display(description="breaker")
    def breaker(self, obj: Provider):
        return live_cell(obj, "breaker")

    @admin.display(description="success rate")
    def success_rate(self, obj: Provider):
        return live_cell(obj, "success_rate")

    @admin.display(description="p95 latency (1 h)")
    def p95_latency(self, obj: Provider):
        return live_cell(obj, "p95")

    @admin.display(description="requests (1 h)")
    def requests_last_hour(self, obj: Provider):
        return live_cell(obj, "requests_1h")

    @admin.display(description="enabled", ordering="enabled")
    def enabled_toggle(self, obj: Provider):
        url = reverse("admin:providers_provider_toggle", args=[obj.pk])
        # The button belongs to a form of its own (change_list.html: #provider-toggle-form), so
        # Enter in a priority field still saves the list rather than toggling the first provider.
        return format_html(
            '<img src="{}" alt="{}"> <button type="submit" form="provider-toggle-form" '
            'class="button toggle-form-button" formaction="{}" name="toggle" value="{}" '
            'data-provider="{}">{}</button>',
            static(f"admin/img/icon-{'yes' if obj.enabled else 'no'}.svg"),
            "True" if obj.enabled else "False",
            url,
            obj.name,
            obj.name,
            "Disable" if obj.enabled else "Enable",
        )

    # -- the list with figures, its JSON refresh, the toggle

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        cells = figures_for(changelist.result_list)
        for obj in changelist.result_list:
            obj._live_cells = cells.get(obj.name, {})
        return changelist

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "live_source": reverse("admin:providers_provider_live"),
            "live_updated_at": timezone.now().strftime("%H:%M:%S UTC"),
        }
        return super().changelist_view(request, extra_context=extra_context)

    def get_urls(self):
        own = [
            path("live/", self.admin_site.admin_view(self.live_view), name="providers_provider_live"),
            path(
                "<path:object_id>/toggle/",
                self.admin_site.admin_view(self.toggle_view),
                name="providers_provider_toggle",
            ),
        ]
        return own + super().get_urls()

    def live_view(self, request):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        providers = list(Provider.objects.all())
        return JsonResponse(
            {"providers": figures_for(providers), "updated_at": timezone.now().strftime("%H:%M:%S UTC")},
            headers={"Cache-Control": "no-store"},
        )

    def toggle_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        provider = get_object_or_404(Provider, pk=object_id)
        if not self.has_change_permission(request, provider):
            raise PermissionDenied
        provider.enabled = not provider.enabled
        # A save (not an UPDATE): the signal bumps the catalogue version for every worker.
        provider.save(update_fields=["enabled", "updated_at"])
        state = "enabled" if provider.enabled else "disabled"
        self.log_change(request, provider, [{"changed": {"fields": ["Enabled"]}}])
        self.message_user(
            request,
            f"Provider {provider.name} {state}: every worker routes accordingly within a second.",
            messages.SUCCESS,
        )
        changelist = reverse("admin:providers_provider_changelist")
        query = request.META.get("QUERY_STRING", "")
        return HttpResponseRedirect(f"{changelist}?{query}" if query else changelist)

    # -- bulk actions (each a save, so the change reaches every worker)

    @admin.action(description="Enable selected providers")
    def enable_providers(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable selected providers")
    def disable_providers(self, request, queryset):
        self._set_enabled(request, queryset, False)

    def _set_enabled(self, request, queryset, enabled: bool) -> None:
        changed = 0
        for provider in queryset.exclude(enabled=enabled):
            provider.enabled = enabled
            provider.save(update_fields=["enabled", "updated_at"])
            self.log_change(request, provider, [{"changed": {"fields": ["Enabled"]}}])
            changed += 1
        self.message_user(request, f"{'Enabled' if enabled else 'Disabled'} {changed} provider(s).")
