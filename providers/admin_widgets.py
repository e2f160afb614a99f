"""Form fields for the admin's list-valued JSON columns (model aliases, a model's other missing
options): one text input per value instead of raw JSON, a spare empty one to add a value, and an
"add another" button (aiprovider_site/static/aiprovider_site/admin/list-field.js). Without
JavaScript the spare input still adds one value per save; emptying an input removes its value."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join


class ListWidget(forms.Widget):
    """Several <input type="text" name=NAME>; the value is the list of non-empty ones, in order."""

    def __init__(self, attrs=None, *, placeholder: str = "", datalist: list[str] | None = None) -> None:
        super().__init__(attrs)
        self.placeholder = placeholder
        self.datalist = datalist or []

    class Media:
        js = ("aiprovider_site/admin/list-field.js",)
        css = {"all": ("aiprovider_site/admin/operations.css",)}

    def format_value(self, value) -> list[str]:
        if value in (None, ""):
            return []
        if isinstance(value, str):  # bound to raw submitted data by Django in some paths
            return [value]
        return [str(v) for v in value]

    def render(self, name, value, attrs=None, renderer=None):
        values = [*self.format_value(value), ""]
        attrs = self.build_attrs(self.attrs, attrs)
        list_id = f"{attrs.get('id', name)}_choices"
        inputs = format_html_join(
            "",
            '<li><input type="text" name="{}" value="{}" class="vTextField" placeholder="{}"{}></li>',
            (
                (name, v, self.placeholder, format_html(' list="{}"', list_id) if self.datalist else "")
                for v in values
            ),
        )
        datalist = (
            format_html(
                '<datalist id="{}">{}</datalist>',
                list_id,
                format_html_join("", '<option value="{}">', ((v,) for v in self.datalist)),
            )
            if self.datalist
            else ""
        )
        return format_html(
            '<div class="list-field" id="{}" data-name="{}"><ul>{}</ul>'
            '<button type="button" class="button list-field-add">+ add another</button>{}</div>',
            attrs.get("id", name),
            name,
            inputs,
            datalist,
        )

    def value_from_datadict(self, data, files, name):
        getlist = getattr(data, "getlist", None)
        raw = getlist(name) if getlist else data.get(name, [])
        if isinstance(raw, str):
            raw = [raw]
        return [v.strip() for v in raw if v and v.strip()]

    def value_omitted_from_data(self, data, files, name):
        # Every input emptied means an empty list, not "not submitted".
        return False


class ListField(forms.Field):
    """A list of distinct, non-empty strings (order kept, duplicates dropped)."""

    widget = ListWidget

    def __init__(self, *, max_length: int = 200, **kwargs) -> None:
        kwargs.setdefault("required", False)
        self.max_length = max_length
        super().__init__(**kwargs)

    def to_python(self, value) -> list[str]:
        if value in (None, ""):
            return []
        if isinstance(value, str):
            value = [value]
        seen: list[str] = []
        for item in value:
            item = str(item).strip()
            if item and item not in seen:
                seen.append(item)
        return seen

    def validate(self, value) -> None:
        super().validate(value)
        too_long = [v for v in value if len(v) > self.max_length]
        if too_long:
            raise ValidationError(f"At most {self.max_length} characters: {', '.join(too_long)}")

    def prepare_value(self, value):
        return value

    def has_changed(self, initial, data) -> bool:
        return self.to_python(initial) != self.to_python(data)
