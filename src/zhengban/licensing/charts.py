"""Compliance charts drawn on the server as inline SVG: no JavaScript library and nothing
fetched from outside (government intranets have no internet)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

GOOD = "#2e7d32"
WARN = "#f9a825"
BAD = "#c62828"
NEUTRAL = "#546e7a"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: nothing to measure (drawn as "—", no bar)
    note: str = ""
    url: str = ""


def rate_colour(rate: float) -> str:
    """Green from 99 % (the 2021 check found 98.5-100 %), amber from 90 %, red below."""
    if rate >= 0.99:
        return GOOD
    if rate >= 0.9:
        return WARN
    return BAD


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    percent: bool = True,
    colour: str | None = None,
    width: int = 640,
    bar_height: int = 20,
    label_width: int = 200,
) -> SafeString:
    """Horizontal bars, one per row. Percent charts run 0-100 % and colour each bar by its
    rate; count charts scale to the largest value and use ``colour``."""
    gap = 6
    top = 4
    height = top + len(bars) * (bar_height + gap) + 4
    plot = width - label_width - 70
    biggest = max((b.value or 0 for b in bars), default=0)
    scale = 1.0 if percent else (biggest or 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, bar in enumerate(bars):
        y = top + i * (bar_height + gap)
        text_y = y + bar_height * 0.7
        label = bar.label if len(bar.label) <= 16 else bar.label[:15] + "…"
        label_svg = (
            f'<text x="{label_width - 6}" y="{text_y:.1f}" text-anchor="end" font-size="12">'
            f"{escape(label)}</text>"
        )
        if bar.url:
            label_svg = f'<a href="{escape(bar.url)}">{label_svg}</a>'
        parts.append(label_svg)
        if bar.value is None:
            parts.append(
                f'<text x="{label_width + 4}" y="{text_y:.1f}" font-size="12" fill="{NEUTRAL}">'
                "—</text>"
            )
            continue
        share = max(0.0, min(1.0, bar.value / scale))
        length = share * plot
        fill = rate_colour(bar.value) if percent and colour is None else (colour or NEUTRAL)
        shown = f"{bar.value * 100:.1f}%" if percent else f"{bar.value:,.0f}"
        tip = f"{bar.label}: {shown}" + (f" {bar.note}" if bar.note else "")
        parts.append(
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" '
            f'fill="{fill}"><title>{escape(tip)}</title></rect>'
            f'<text x="{label_width + length + 4:.1f}" y="{text_y:.1f}" font-size="12">'
            f"{escape(shown)}</text>"
        )
    parts.append("</svg>")
    # Every piece of text above went through escape(); the markup is ours.
    return mark_safe("".join(parts))  # noqa: S308
