"""Bar charts drawn on the server as SVG: no script, no library, readable without colour
(every bar has its number in the table beside the chart and in the CSV)."""

import math

from django.utils.html import escape
from django.utils.safestring import mark_safe

PALETTE = ["#1f4e8c", "#a4232d", "#8a5a00", "#4b5563", "#17663a", "#7c3aed"]
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 240, 40, 36, 12


def bar_chart(title, labels, series):
    """`series` is [(name, [value per label])]; bars are stacked. Returns safe SVG markup."""
    totals = [sum(values[i] for _, values in series) for i in range(len(labels))]
    # Whole-number gridlines: four steps of a round size that reach the tallest bar.
    step = max(1, math.ceil(max([*totals, 1]) / 4))
    peak = step * 4
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(labels), 1)
    bar = max(slot * 0.7, 2)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 24 * ((len(series) + 2) // 3)}"'
             f' role="img" aria-labelledby="chart-{id(series)}" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="chart-{id(series)}">{escape(title)}</title>']
    for line in range(5):
        value = step * line
        y = TOP + plot_h - plot_h * line / 4
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - 8}" y2="{y:.1f}" '
                     'stroke="#d5dbe3" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#536072">{value:.0f}</text>')
    for i, label in enumerate(labels):
        x = LEFT + slot * i + (slot - bar) / 2
        base = TOP + plot_h
        for colour, (name, values) in zip(PALETTE, series, strict=False):
            height = plot_h * values[i] / peak
            if height:
                base -= height
                parts.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" '
                             f'height="{height:.1f}" fill="{colour}"><title>{escape(label)}: '
                             f'{values[i]} {escape(name)}</title></rect>')
        if len(labels) <= 16 or i % 2 == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{TOP + plot_h + 16}" font-size="11" '
                         f'text-anchor="middle" fill="#536072">{escape(label)}</text>')
    for j, (colour, (name, _)) in enumerate(zip(PALETTE, series, strict=False)):
        x, y = LEFT + (j % 3) * 200, HEIGHT + 4 + 24 * (j // 3)
        parts.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{x + 18}" y="{y + 11}" font-size="12" fill="#1b2330">'
                     f'{escape(name)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
