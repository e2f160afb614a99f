"""`{% load money %}`: `{{ amount|usd }}` shows USD as people read it (see core.money),
with the exact amount in a tooltip."""

from django import template
from django.utils.html import format_html

from core.money import usd_amount, usd_text

register = template.Library()


@register.filter
def usd(value):
    if value is None or value == "":
        return "-"
    return format_html('<span class="usd" title="{} USD">{}</span>', usd_amount(value), usd_text(value))


@register.filter
def usd_plain(value):
    return usd_text(value)


@register.filter
def intcomma_tokens(value):
    """A count with thousands separators (1,234,567)."""
    try:
        return f"{int(value or 0):,}"
    except (TypeError, ValueError):
        return value
