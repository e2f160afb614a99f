"""The live figures of the provider admin's list: health, breaker, success rate, p95 latency and
requests in the last hour, rendered as cells the list shows and refreshes every few seconds from
`live/` (JSON).

The figures join routing's live counters and analytics' usage records, which providers must not
import: operations registers their source at start-up (`provider_figures_source_register`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from django.utils.html import format_html
from django.utils.safestring import mark_safe

from providers.models import Provider


class LiveFigures(Protocol):
    """What the list shows of one provider (operations' ProviderFigures has these fields)."""

    health: str
    breaker: str
    open_until: float | None
    success_rate: float | None
    calls: int
    rate_window: str
    requests_1h: int
    errors_1h: int
    p95_ms: float | None


FiguresSource = Callable[[list[tuple[str, bool]]], dict[str, LiveFigures]]
_figures_source: FiguresSource | None = None


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


def render_figures(figures: LiveFigures) -> dict[str, str]:
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


def provider_figures_source_register(source: FiguresSource | None) -> None:
    """Register where the provider list's live figures come from (operations, at start-up).

    `source([(name, has a key), ...]) -> {name: LiveFigures}` is sync (the admin is); it joins
    figures this app cannot import (routing's counters and breakers, analytics' usage records).
    Without one the live cells show a dash. None unregisters.
    """
    global _figures_source
    _figures_source = source


def figures_for(providers) -> dict[str, dict[str, str]]:
    """The HTML of the live cells of these providers, by provider name."""
    source = _figures_source
    if source is None:
        return {}
    figures = source([(p.name, _key_set(p)) for p in providers])
    return {name: render_figures(f) for name, f in figures.items()}


def live_cell(obj: Provider, figure: str):
    """One live cell of the list, marked so that the refresh from `live/` can replace it."""
    cells = getattr(obj, "_live_cells", None) or {}
    # The cells were built with format_html by render_figures.
    html = mark_safe(cells.get(figure, "—"))  # noqa: S308
    return format_html('<span data-live="{}:{}">{}</span>', obj.name, figure, html)
