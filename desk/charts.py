"""Bar charts drawn on the server as SVG: no chart script, nothing fetched by the browser.

``bar_chart`` draws one or more series of bars per label (grouped bars), with a y axis of round
ticks, a label under each group, a legend when there is more than one series, a ``<title>``
tooltip on every bar, and ``role="img"`` with an ``aria-label`` that says what the chart shows.
The page puts the same figures next to it as text, for anyone who cannot see the chart.
Text and axes use ``currentColor``, so the chart follows the admin's light or dark theme; the
bar colours are Okabe and Ito's, told apart with colour blindness.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9")

WIDTH, HEIGHT = 640, 240
SHORT = 180  # a single series needs less height
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 28
LEGEND_ROW = 18


@dataclass(frozen=True)
class Series:
    """One series of bars: a value per label (None: nothing to show that day)."""

    name: str
    values: Sequence[float | None]
    colour: str = ""


def count(value: float) -> str:
    return f"{value:,.0f}"


def percent(value: float) -> str:
    shown = value * 100
    return f"{shown:.0f}%" if shown == round(shown) or shown >= 10 else f"{shown:.1f}%"


def nice_ticks(top: float, *, most: int = 5, whole: bool = True) -> list[float]:
    """Round tick values from 0 up to at least ``top``, at most ``most`` + 1 of them."""
    if top <= 0:
        return [0.0, 1.0] if whole else [0.0, 0.1]
    raw = top / most
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(1.0, math.ceil(step))
    ticks = [0.0]
    while ticks[-1] < top - 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bar_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    summary: str,
    fmt: Callable[[float], str] = count,
    whole: bool = True,
    top: float | None = None,
    tooltip_labels: Sequence[str] | None = None,
    height: int = HEIGHT,
    mark_zero: bool = False,
) -> SafeString:
    """An SVG element (well-formed XML, escaped throughout) of grouped bars.

    ``labels`` name the groups along the x axis (every other one is drawn when they crowd);
    ``tooltip_labels`` name them in full in the tooltips; ``summary`` is the sentence the
    ``aria-label`` and ``<desc>`` carry; ``top`` fixes the axis maximum (1.0 for a rate);
    ``mark_zero`` draws a thin mark for a zero, so it differs from no data (None).
    """
    colours = [s.colour or PALETTE[i % len(PALETTE)] for i, s in enumerate(series)]
    legend = len(series) > 1
    top_margin = TOP + (LEGEND_ROW if legend else 0)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = height - top_margin - BOTTOM
    highest = max((v for s in series for v in s.values if v is not None), default=0.0)
    ticks = nice_ticks(top if top is not None else highest, whole=whole)
    y_top = ticks[-1]

    def y(value: float) -> float:
        return top_margin + plot_h - (value / y_top) * plot_h

    groups = max(len(labels), 1)
    group_w = plot_w / groups
    gap = min(6.0, group_w * 0.2)
    bar_w = max(1.0, (group_w - gap) / max(len(series), 1))
    names = tooltip_labels or labels
    step = 1 if group_w >= 34 else 2

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'class="desk-chart" role="img" aria-label="{_attr(title + ". " + summary)}" '
        f'font-family="inherit" font-size="11">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(summary)}</desc>",
    ]
    # y axis: gridlines and tick labels
    out.append('<g class="desk-chart-axis" fill="currentColor" stroke="currentColor">')
    for tick in ticks:
        ty = _num(y(tick))
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty}" y2="{ty}" '
            f'stroke-opacity="{0.6 if tick == 0 else 0.15}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{LEFT - 6}" y="{ty}" text-anchor="end" dominant-baseline="middle" '
            f'stroke="none">{escape(fmt(tick))}</text>'
        )
    for i, label in enumerate(labels):
        if i % step:
            continue
        cx = _num(LEFT + group_w * (i + 0.5))
        out.append(
            f'<text x="{cx}" y="{height - BOTTOM + 16}" text-anchor="middle" '
            f'stroke="none">{escape(label)}</text>'
        )
    out.append("</g>")
    # bars, each with its tooltip
    out.append('<g class="desk-chart-bars">')
    for s_index, (s, colour) in enumerate(zip(series, colours, strict=True)):
        for i, value in enumerate(s.values):
            if i >= groups:
                break
            name = names[i] if i < len(names) else ""
            shown = "no data" if value is None else fmt(value)
            tip = f"{name} · {s.name}: {shown}" if legend or s.name else f"{name}: {shown}"
            x = LEFT + group_w * i + gap / 2 + bar_w * s_index
            bar_h = 0.0 if value is None else max(0.0, y(0) - y(value))
            if value and bar_h < 1:
                bar_h = 1.0  # a non-zero figure is never invisible
            if value == 0 and mark_zero:
                bar_h = 2.0
            out.append(
                f'<rect x="{_num(x)}" y="{_num(y(0) - bar_h)}" width="{_num(bar_w)}" '
                f'height="{_num(bar_h)}" fill="{_attr(colour)}">'
                f"<title>{escape(tip)}</title></rect>"
            )
    out.append("</g>")
    if legend:
        out.append('<g class="desk-chart-legend" fill="currentColor">')
        x = float(LEFT)
        for s, colour in zip(series, colours, strict=True):
            out.append(
                f'<rect x="{_num(x)}" y="{TOP - 9}" width="10" height="10" fill="{_attr(colour)}"/>'
            )
            out.append(f'<text x="{_num(x + 14)}" y="{TOP}">{escape(s.name)}</text>')
            x += 14 + 6.5 * len(s.name) + 18
        out.append("</g>")
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308  every text and attribute above is escaped
