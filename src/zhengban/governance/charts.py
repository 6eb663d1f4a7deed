"""Charts drawn on the server as inline SVG: no JavaScript library and nothing fetched from
outside (government intranets have no internet)."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def horizontal_bars(
    rows: Sequence[tuple[str, float, str]],
    *,
    title: str,
    width: int = 720,
    bar_height: int = 22,
    label_width: int = 260,
    max_value: float | None = None,
    percent: bool = True,
) -> SafeString:
    """One bar per (label, value, annotation) row; values are shares (0..1) when `percent`."""
    gap = 6
    top = 8
    height = top + len(rows) * (bar_height + gap) + 8
    scale_max = max_value if max_value is not None else max((v for _l, v, _a in rows), default=0)
    scale_max = scale_max or 1
    plot = width - label_width - 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="{escape(title)}" data-testid="chart">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value, note) in enumerate(rows):
        y = top + i * (bar_height + gap)
        length = max(0.0, min(1.0, value / scale_max)) * plot
        shown = f"{value * 100:.1f}%" if percent else f"{value:g}"
        text_y = y + bar_height * 0.7
        parts.append(
            f'<text x="{label_width - 8}" y="{text_y:.1f}" text-anchor="end" '
            f'font-size="12">{escape(label[:28])}</text>'
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" '
            f'fill="#c62828"><title>{escape(label)}: {escape(shown)} {escape(note)}</title></rect>'
            f'<text x="{label_width + length + 6:.1f}" y="{text_y:.1f}" font-size="12">'
            f"{escape(shown)}</text>"
        )
    parts.append("</svg>")
    # Every piece of text above went through escape(); the markup is ours.
    return mark_safe("".join(parts))  # noqa: S308
