"""Model capabilities in the admin, as checkboxes: the features a model's protocol can carry (its
adapter's `supported_features`), ticked unless the model `lacks` them; unticking writes `lacks`,
which routing honours. Aliases are edited as a list of names."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html, format_html_join

from providers.admin_ops import provider_dialect
from providers.admin_widgets import ListField, ListWidget
from providers.models import Provider, ProviderModel

# Request features shown as a model's capabilities (the adapters' FEATURE_* names), in order.
CAPABILITIES: tuple[tuple[str, str], ...] = (
    ("tools", "tools"),
    ("image_url", "images"),
    ("response_format.json_schema", "JSON schema"),
    ("response_format.json_object", "JSON mode"),
    ("reasoning_effort", "reasoning"),
)
CAPABILITY_NAMES = frozenset(name for name, _ in CAPABILITIES)


def supported_capabilities(provider: Provider) -> frozenset[str]:
    """The capabilities this provider's protocol can carry at all."""
    from providers.adapters.registry import ADAPTER_CLASSES

    adapter = ADAPTER_CLASSES.get(provider_dialect(provider))
    if adapter is None:
        return CAPABILITY_NAMES
    return CAPABILITY_NAMES & adapter.supported_features


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
