"""
A small SVG line chart writer, so the benchmark charts need no plotting library.

The x axis is logarithmic (base 2) because concurrency grows by factors; the y
axis is linear from zero, so the heights of two lines compare as their speeds do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

__all__ = ["Series", "line_chart"]

# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies),
# then Tol's wine for a ninth line.
PALETTE = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#000000",
    "#882255",
    "#7F7F7F",
)
_WIDTH = 940
_HEIGHT = 520
_LEFT = 80
_RIGHT = 320
_TOP = 60
_BOTTOM = 70


@dataclass(frozen=True, slots=True)
class Series:
    """One line: a name for the legend and its (x, y) points."""

    name: str
    points: Sequence[tuple[float, float]]
    emphasis: bool = False
    dashed: bool = False


def _nice_step(maximum: float, target_ticks: int = 6) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) for 0..maximum."""
    if maximum <= 0:
        return 1.0

    raw = maximum / target_ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return float(factor * magnitude)

    return float(10 * magnitude)


def _format_number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:g}"


def line_chart(
    series: Sequence[Series],
    *,
    x_ticks: Sequence[float],
    title: str,
    subtitle: str,
    x_label: str,
    y_label: str,
) -> str:
    """Render the series as an SVG document and return its text."""
    plot_width = _WIDTH - _LEFT - _RIGHT
    plot_height = _HEIGHT - _TOP - _BOTTOM
    x_low = math.log2(min(x_ticks))
    x_high = math.log2(max(x_ticks))
    y_max_data = max((y for line in series for _, y in line.points), default=1.0)
    step = _nice_step(y_max_data)
    y_top = step * math.ceil(y_max_data / step)

    def x_position(x: float) -> float:
        span = x_high - x_low or 1.0
        return _LEFT + (math.log2(x) - x_low) / span * plot_width

    def y_position(y: float) -> float:
        return _TOP + plot_height - y / y_top * plot_height

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" '
        f'height="{_HEIGHT}" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        'font-family="Helvetica, Arial, sans-serif" font-size="13">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{_WIDTH}" height="{_HEIGHT}" fill="#ffffff"/>',
        f'<text x="{_LEFT}" y="28" font-size="18" font-weight="bold">'
        f"{escape(title)}</text>",
        f'<text x="{_LEFT}" y="48" fill="#555555">{escape(subtitle)}</text>',
    ]

    # Horizontal grid lines with their values.
    tick = 0.0
    for _ in range(100):
        if tick > y_top + step / 2:
            break

        y = y_position(tick)
        parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + plot_width}" '
            f'y2="{y:.1f}" stroke="#e0e0e0"/>'
        )
        parts.append(
            f'<text x="{_LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" '
            f'fill="#333333">{_format_number(tick)}</text>'
        )
        tick += step

    for x_tick in x_ticks:
        x = x_position(x_tick)
        parts.append(
            f'<line x1="{x:.1f}" y1="{_TOP}" x2="{x:.1f}" '
            f'y2="{_TOP + plot_height}" stroke="#f0f0f0"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{_TOP + plot_height + 20}" '
            f'text-anchor="middle" fill="#333333">{_format_number(x_tick)}</text>'
        )

    # Axes and their labels.
    parts.append(
        f'<line x1="{_LEFT}" y1="{_TOP + plot_height}" x2="{_LEFT + plot_width}" '
        f'y2="{_TOP + plot_height}" stroke="#333333"/>'
    )
    parts.append(
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" '
        f'y2="{_TOP + plot_height}" stroke="#333333"/>'
    )
    parts.append(
        f'<text x="{_LEFT + plot_width / 2:.1f}" y="{_HEIGHT - 22}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    middle = _TOP + plot_height / 2
    parts.append(
        f'<text x="22" y="{middle:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 22 {middle:.1f})">{escape(y_label)}</text>'
    )

    # The lines, then the legend beside the plot.
    for index, line in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        width = 3.5 if line.emphasis else 2.0
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        points = sorted(line.points)
        coordinates = " ".join(
            f"{x_position(x):.1f},{y_position(y):.1f}" for x, y in points
        )
        if len(points) > 1:
            parts.append(
                f'<polyline points="{coordinates}" fill="none" stroke="{colour}" '
                f'stroke-width="{width}"{dash} stroke-linejoin="round"/>'
            )

        if len(points) == 1:
            # A lone point (a client measured at one concurrency) gets its value.
            x, y = points[0]
            parts.append(
                f'<text x="{x_position(x) + 8:.1f}" y="{y_position(y) - 8:.1f}" '
                f'fill="{colour}">{y:,.0f}/s</text>'
            )

        for x, y in points:
            parts.append(
                f'<circle cx="{x_position(x):.1f}" cy="{y_position(y):.1f}" '
                f'r="{4.5 if line.emphasis else 3.5}" fill="{colour}">'
                f"<title>{escape(line.name)}: {y:,.0f} at {x:g}</title></circle>"
            )

        legend_y = _TOP + 10 + index * 24
        legend_x = _LEFT + plot_width + 24
        parts.append(
            f'<line x1="{legend_x}" y1="{legend_y}" x2="{legend_x + 28}" '
            f'y2="{legend_y}" stroke="{colour}" stroke-width="{width}"{dash}/>'
        )
        weight = ' font-weight="bold"' if line.emphasis else ""
        parts.append(
            f'<text x="{legend_x + 36}" y="{legend_y + 4}"{weight}>'
            f"{escape(line.name)}</text>"
        )

    parts.append("</svg>")
    return "\n".join(parts) + "\n"
