"""The provider admin for operators: live figures on the provider list, one-click enable/disable,
protocol names as the adapters see them, and model capabilities as checkboxes.

- Live figures (health, breaker, success rate, p95 latency, requests in the last hour) come from
  aiprovider_site.operations; the list refreshes them every few seconds from `live/` (JSON).
- Enable/disable and priority edits are ordinary saves: each bumps the catalogue version, and
  every worker reloads within CATALOGUE_REFRESH_S (shared through Redis).
- Capabilities: the features a model's protocol can carry (its adapter's `supported_features`),
  ticked unless the model `lacks` them; unticking writes `lacks`, which routing honours.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from providers.admin_widgets import ListField, ListWidget
from providers.models import Provider, ProviderKind, ProviderModel

# Request features shown as a model's capabilities (the adapters' FEATURE_* names), in order.
CAPABILITIES: tuple[tuple[str, str], ...] = (
    ("tools", "tools"),
    ("image_url", "images"),
    ("response_format.json_schema", "JSON schema"),
    ("response_format.json_object", "JSON mode"),
    ("reasoning_effort", "reasoning"),
)
CAPABILITY_NAMES = frozenset(name for name, _ in CAPABILITIES)

# The adapters' dialects, named for people.
DIALECT_LABELS = {
    "openai": "OpenAI",
    "openai_compatible": "OpenAI-compatible",
    "deepseek": "DeepSeek",
    "anthropic": "Anthropic",
    "gemini": "Google Gemini",
}


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
    stored = ProviderKind(provider.kind).label if provider.kind in ProviderKind.values else provider.kind
    dialect = provider_dialect(provider)
    if dialect == provider.kind:
        return stored
    return f"{DIALECT_LABELS.get(dialect, dialect)} ({stored} protocol)"


def supported_capabilities(provider: Provider) -> frozenset[str]:
    """The capabilities this provider's protocol can carry at all."""
    from providers.adapters.registry import ADAPTER_CLASSES

    adapter = ADAPTER_CLASSES.get(provider_dialect(provider))
    if adapter is None:
        return CAPABILITY_NAMES
    return CAPABILITY_NAMES & adapter.supported_features


# ----------------------------------------------------------------------------- capabilities field


class CapabilitiesWidget(forms.Widget):
    """A checkbox per capability (ticked: the model takes it) and, below, the other options the model
    lacks (OpenAI option names such as logprobs) as a list of inputs."""

    def __init__(self, attrs=None) -> None:
        super().__init__(attrs)
        self.supported: frozenset[str] = CAPABILITY_NAMES
        self.other = ListWidget(placeholder="e.g. logprobs")

    @property
    def media(self):
        return self.other.media

    def split(self, value) -> tuple[set[str], list[str]]:
        """(capabilities the model takes, other names it lacks) from a `lacks` list or submitted data."""
        if isinstance(value, dict):
            return set(value.get("ticked", ())), list(value.get("other", ()))
        lacks = list(value or ())
        shown = self.supported
        return {c for c in shown if c not in lacks}, [x for x in lacks if x not in shown]

    def render(self, name, value, attrs=None, renderer=None):
        ticked, other = self.split(value)
        attrs = self.build_attrs(self.attrs, attrs)
        base_id = attrs.get("id", name)
        items = []
        for index, (feature, label) in enumerate(CAPABILITIES):
            box_id = f"{base_id}_{index}"
            if feature in self.supported:
                items.append(format_html(
                    '<li><label for="{}"><input type="checkbox" name="{}" value="{}" id="{}"{}> {}'
                    "</label></li>",
                    box_id, name, feature, box_id, " checked" if feature in ticked else "", label,
                ))
            else:
                items.append(format_html(
                    '<li class="unsupported" title="The protocol cannot carry it">'
                    '<label><input type="checkbox" disabled> {} (not in protocol)</label></li>',
                    label,
                ))
        return format_html(
            '<div class="capabilities" id="{}"><ul>{}</ul>'
            '<div class="capabilities-other"><span class="figure-note">also lacks:</span>{}</div></div>',
            base_id,
            format_html_join("", "{}", ((item,) for item in items)),
            self.other.render(f"{name}__other", other, {"id": f"{base_id}__other"}, renderer),
        )

    def value_from_datadict(self, data, files, name):
        getlist = getattr(data, "getlist", None)
        ticked = getlist(name) if getlist else data.get(name, [])
        other = self.other.value_from_datadict(data, files, f"{name}__other")
        return {"ticked": list(ticked), "other": other}

    def value_omitted_from_data(self, data, files, name):
        return False  # every box unticked is a value (the model takes none of them)


class CapabilitiesField(forms.Field):
    """Edits `ProviderModel.lacks` through the capabilities a model takes."""

    widget = CapabilitiesWidget

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", "Capabilities")
        kwargs.setdefault(
            "help_text",
            "Ticked: the model takes it. Unticked: requests that need it go to another candidate "
            "(stored as the model's `lacks`). Greyed: its provider's protocol cannot carry it.",
        )
        super().__init__(**kwargs)

    def set_supported(self, supported: frozenset[str]) -> None:
        self.widget.supported = supported

    def to_python(self, value) -> list[str]:
        if not isinstance(value, dict):
            return list(value or [])
        shown = self.widget.supported
        ticked = set(value.get("ticked", ()))
        unknown = ticked - CAPABILITY_NAMES
        if unknown:
            raise forms.ValidationError(f"Unknown capability: {', '.join(sorted(unknown))}")
        other = ListField().clean(value.get("other", ()))
        lacks = [name for name, _ in CAPABILITIES if name in shown and name not in ticked]
        return lacks + [x for x in other if x not in lacks]

    def prepare_value(self, value):
        return value

    def has_changed(self, initial, data) -> bool:
        return sorted(initial or []) != sorted(self.to_python(data))


class ProviderModelForm(forms.ModelForm):
    """A catalogue model: aliases as a list of names, capabilities as checkboxes (see above)."""

    aliases = ListField(
        label="Aliases", help_text="Public names that resolve to this model.", widget=ListWidget(
            placeholder="another name"
        ),
    )
    lacks = CapabilitiesField()
    # Set by the provider page's inline: the provider of every row, new ones included.
    parent_provider: Provider | None = None

    class Meta:
        model = ProviderModel
        fields = "__all__"  # noqa: DJ007 - the admin (and its inline) choose the fields shown

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        provider = self.parent_provider
        if provider is None and self.instance.provider_id:
            provider = self.instance.provider
        if provider is not None and "lacks" in self.fields:
            self.fields["lacks"].set_supported(supported_capabilities(provider))


def capabilities_summary(model: ProviderModel) -> str:
    """What the list shows: each capability the protocol has, struck through when the model lacks it."""
    supported = supported_capabilities(model.provider)
    lacks = set(model.lacks or ())
    cells = [
        format_html('<span class="cap cap-no" title="lacks {}">{}</span>', name, label)
        if name in lacks
        else format_html('<span class="cap">{}</span>', label)
        for name, label in CAPABILITIES
        if name in supported
    ]
    others = sorted(lacks - CAPABILITY_NAMES)
    if others:
        cells.append(format_html('<span class="figure-note">no {}</span>', ", ".join(others)))
    return format_html_join("", "{}", ((c,) for c in cells))


class ProviderModelFormMixin:
    """For the model admin: the form above, and the capabilities column."""

    form = ProviderModelForm

    @admin.display(description="capabilities")
    def capabilities(self, obj: ProviderModel):
        return capabilities_summary(obj)


class ProviderModelInlineMixin:
    """For the provider page's model rows: the form above, told which provider the rows belong to."""

    form = ProviderModelForm

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = type(formset.form.__name__, (formset.form,), {"parent_provider": obj})
        return formset


# -------------------------------------------------------------------------------- live figures


def _badge(kind: str, text: str, title: str = ""):
    return format_html('<span class="badge badge-{}" title="{}">{}</span>', kind, title, text)


def _note(text: str):
    return format_html('<br><span class="figure-note">{}</span>', text)


HEALTH_BADGES = {
    "healthy": ("ok", "healthy"),
    "degraded": ("warn", "degraded"),
    "unhealthy": ("bad", "unhealthy"),
    "unconfigured": ("none", "no key"),
    "unknown": ("none", "not probed"),
}


def render_figures(figures) -> dict[str, str]:
    """The HTML of each live cell for one provider (the list and its JSON refresh share it)."""
    kind, text = HEALTH_BADGES.get(figures.health, ("none", figures.health))
    health = _badge(kind, text, "Latest probe (refreshed by /health or the periodic probe)")
    if figures.breaker == "open":
        until = (
            datetime.fromtimestamp(figures.open_until, tz=UTC).strftime("%H:%M:%S UTC")
            if figures.open_until else ""
        )
        breaker = format_html("{}{}", _badge("bad", "open"), _note(f"until {until}") if until else "")
    elif figures.breaker == "half_open":
        breaker = _badge("warn", "half-open", "One probe request may try it")
    else:
        breaker = _badge("ok", "closed")
    if figures.success_rate is None:
        success = mark_safe('<span class="figure-note">no calls</span>')
    else:
        note = _note(f"{figures.calls} calls, {figures.rate_window}")
        success = format_html("{}{}", f"{figures.success_rate * 100:.1f}%", note)
    p95 = format_html("{} ms", f"{figures.p95_ms:,.0f}") if figures.p95_ms is not None else "—"
    requests = format_html(
        "{}{}", f"{figures.requests_1h:,}", _note(f"{figures.errors_1h} errors") if figures.errors_1h else ""
    )
    return {
        "health": str(health),
        "breaker": str(breaker),
        "success_rate": str(success),
        "p95": str(p95),
        "requests_1h": str(requests),
    }


def _key_set(provider: Provider) -> bool:
    return bool(provider.api_key_env and os.environ.get(provider.api_key_env))


def figures_for(providers) -> dict[str, dict[str, str]]:
    from aiprovider_site.operations import provider_figures

    figures = provider_figures([(p.name, _key_set(p)) for p in providers])
    return {name: render_figures(f) for name, f in figures.items()}


def _live_cell(obj: Provider, figure: str):
    cells = getattr(obj, "_live_cells", None) or {}
    # The cells were built with format_html by render_figures.
    html = mark_safe(cells.get(figure, "—"))  # noqa: S308
    return format_html('<span data-live="{}:{}">{}</span>', obj.name, figure, html)


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
        label = DIALECT_LABELS.get(dialect, dialect)
        return f"{label} (adapter dialect {dialect!r}, from the kind, name and host)"

    @admin.display(description="health")
    def health(self, obj: Provider):
        return _live_cell(obj, "health")

    @admin.display(description="breaker")
    def breaker(self, obj: Provider):
        return _live_cell(obj, "breaker")

    @admin.display(description="success rate")
    def success_rate(self, obj: Provider):
        return _live_cell(obj, "success_rate")

    @admin.display(description="p95 latency (1 h)")
    def p95_latency(self, obj: Provider):
        return _live_cell(obj, "p95")

    @admin.display(description="requests (1 h)")
    def requests_last_hour(self, obj: Provider):
        return _live_cell(obj, "requests_1h")

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
