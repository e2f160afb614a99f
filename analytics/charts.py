"""Server-side SVG charts for the admin's cost dashboard: no JavaScript, no CDN.

Every bar is a `<rect class="bar">` with `data-series`, `data-category` and `data-value`, and a
`<title>` for the browser's tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac")


def color_for(index: int) -> str:
    """The palette's colour for the `index`th series (wrapping round)."""
    return PALETTE[index % len(PALETTE)]


@dataclass(frozen=True)
class Series:
    """One named series of a chart: its values, one per category, and its colour."""

    name: str
    values: Sequence[float]
    color: str


def _nice_max(value: float) -> float:
    """A round axis maximum at or above `value`."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _fmt(value: float) -> str:
    return f"{value:,.6g}"


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    parts = []
    for i, s in enumerate(series):
        lx = x + (i % 4) * 170
        ly = y + (i // 4) * 18
        parts.append(
            f'<g class="legend-item" data-series="{escape(s.name)}">'
            f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{s.color}"/>'
            f'<text x="{lx + 18}" y="{ly}" font-size="12">{escape(s.name)}</text></g>'
        )
    return parts


def _empty(chart_id: str, width: int, height: int, title: str) -> SafeString:
    return mark_safe(  # noqa: S308 - every interpolated text is escaped
        f'<svg id="{escape(chart_id)}" class="chart empty" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><text x="{width / 2}" y="{height / 2}" text-anchor="middle" '
        f'font-size="14" fill="#777">No data in this period</text></svg>'
    )


def stacked_columns(
    *,
    chart_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    format_value: Callable[[float], str] = _fmt,
    width: int = 760,
    height: int = 300,
) -> SafeString:
    """Vertical columns, one per category, stacked by series (e.g. cost per day by provider)."""
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    if not categories or not series or not any(totals):
        return _empty(chart_id, width, height, title)
    legend_rows = math.ceil(len(series) / 4)
    left, right, top, bottom = 70, 10, 10, 40 + 18 * legend_rows
    plot_w, plot_h = width - left - right, height - top - bottom
    axis_max = _nice_max(max(totals))
    slot = plot_w / len(categories)
    bar_w = max(1.0, slot * 0.75)
    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
    ]
    for i in range(5):
        value = axis_max * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#555">'
            f"{escape(format_value(value))}</text>"
        )
    label_every = max(1, math.ceil(len(categories) / 10))
    for i, category in enumerate(categories):
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h
        for s in series:
            value = float(s.values[i])
            if value <= 0:
                continue
            h = plot_h * value / axis_max
            y -= h
            parts.append(
                f'<rect class="bar" data-series="{escape(s.name)}" data-category="{escape(category)}" '
                f'data-value="{value:.8f}" x="{x:.2f}" y="{y:.2f}" width="{bar_w:.2f}" '
                f'height="{max(h, 0.5):.2f}" '
                f'fill="{s.color}"><title>{escape(category)} {escape(s.name)}: {escape(format_value(value))}'
                f"</title></rect>"
            )
        if i % label_every == 0:
            short = category[5:] if len(category) == 10 else category  # a day shows as MM-DD
            parts.append(
                f'<text x="{left + i * slot + slot / 2:.1f}" y="{top + plot_h + 14}" font-size="10" '
                f'text-anchor="middle" fill="#555">{escape(short)}</text>'
            )
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="#999"/>')
    parts += _legend(series, left, height - 18 * legend_rows + 8)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped


def horizontal_bars(
    *,
    chart_id: str,
    title: str,
    rows: Sequence[tuple[str, Sequence[tuple[str, float]]]],
    colors: dict[str, str],
    format_value: Callable[[float], str] = _fmt,
    axis_max: float | None = None,
    width: int = 760,
    row_height: int = 24,
) -> SafeString:
    """One horizontal bar per row, stacked by the named parts (e.g. prompt and completion tokens)."""
    totals = [float(sum(v for _, v in parts)) for _, parts in rows]
    if not rows or not any(totals):
        return _empty(chart_id, width, 120, title)
    names = list(dict.fromkeys(name for _, parts in rows for name, _ in parts))
    legend_rows = math.ceil(len(names) / 4)
    left, right, top = 220, 90, 8
    height = top + len(rows) * row_height + 18 * legend_rows + 24
    plot_w = width - left - right
    scale_max = axis_max or _nice_max(max(totals))
    parts_svg = [
        f'<svg id="{escape(chart_id)}" class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
    ]
    for i, (label, parts) in enumerate(rows):
        y = top + i * row_height
        parts_svg.append(
            f'<text x="{left - 8}" y="{y + row_height * 0.65:.1f}" font-size="12" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        x = float(left)
        for name, value in parts:
            value = float(value)
            if value <= 0:
                continue
            w = plot_w * value / scale_max
            parts_svg.append(
                f'<rect class="bar" data-series="{escape(name)}" data-category="{escape(label)}" '
                f'data-value="{value:.8f}" x="{x:.2f}" y="{y + 3}" width="{max(w, 0.5):.2f}" '
                f'height="{row_height - 6}" fill="{colors.get(name, "#888")}"><title>{escape(label)} '
                f"{escape(name)}: {escape(format_value(value))}</title></rect>"
            )
            x += w
        parts_svg.append(
            f'<text x="{x + 6:.1f}" y="{y + row_height * 0.65:.1f}" font-size="11" fill="#555">'
            f"{escape(format_value(totals[i]))}</text>"
        )
    legend = [Series(n, (), colors.get(n, "#888")) for n in names]
    if len(names) > 1:
        parts_svg += _legend(legend, left, top + len(rows) * row_height + 22)
    parts_svg.append("</svg>")
    return mark_safe("".join(parts_svg))  # noqa: S308 - every interpolated text is escaped
