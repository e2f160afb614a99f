"""A client key's allowed models in the admin: picked from the catalogue's model names and aliases
(Django's two-list selector, with a filter box) instead of a JSON list typed by hand. Names a key
already has that the catalogue no longer lists stay selectable, marked as such."""

from __future__ import annotations

from django import forms
from django.apps import apps
from django.contrib.admin.widgets import FilteredSelectMultiple


def catalogue_model_names() -> list[tuple[str, str]]:
    """Every model name and alias in the catalogue (enabled or not), as choices."""
    # Looked up by name: the admin is the one place where access shows the providers' catalogue.
    provider_model = apps.get_model("providers", "ProviderModel")
    labels: dict[str, str] = {}
    for provider, name, aliases in provider_model.objects.values_list("provider__name", "name", "aliases"):
        labels.setdefault(name, f"{name} ({provider})")
        for alias in aliases or ():
            labels.setdefault(alias, f"{alias} (alias of {provider}/{name})")
    return sorted(labels.items())


class AllowedModelsField(forms.MultipleChoiceField):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", "Allowed models")
        kwargs.setdefault(
            "help_text",
            "The models this key may use (an alias of a chosen model counts too). None chosen: every model.",
        )
        kwargs.setdefault("widget", FilteredSelectMultiple("models", is_stacked=False))
        super().__init__(choices=catalogue_model_names, **kwargs)


class AllowedModelsFormMixin(forms.ModelForm):
    allowed_models = AllowedModelsField()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("allowed_models")
        if field is None:
            return
        known = {value for value, _ in field.choices}
        stale = [name for name in (self.instance.allowed_models or ()) if name not in known]
        if stale:
            field.choices = [*field.choices, *((name, f"{name} (not in the catalogue)") for name in stale)]
