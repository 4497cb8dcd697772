"""Small inline-SVG charts for the offline reports: no script, no font or file fetched, so they open anywhere."""

from __future__ import annotations

import math

from xl_pipelines.display import html_text

PALETTE = ("#1f5fa8", "#d9822b", "#3a9a5b", "#b23b3b", "#7a4fa3")
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 720, 290, 56, 12, 16, 88


def _frame(body: list[str], legend: list[str], title: str) -> str:
    keys = "".join(
        f'<rect x="{LEFT + 150 * i}" y="{HEIGHT - 16}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
        f'<text x="{LEFT + 150 * i + 14}" y="{HEIGHT - 7}" class="legend">{html_text(name)}</text>'
        for i, name in enumerate(legend))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'aria-label="{html_text(title)}" class="chart">{"".join(body)}{keys}</svg>')


def _axis(low: float, high: float, percent: bool) -> tuple[list[str], callable]:
    plot = HEIGHT - TOP - BOTTOM

    def y(value: float) -> float:
        return TOP + plot * (1 - (value - low) / ((high - low) or 1))

    lines = []
    for i in range(5):
        value = low + (high - low) * i / 4
        label = f"{value * 100:.0f}%" if percent else f"{value:,.0f}"
        lines.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" class="grid"/>'
                     f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" class="tick" text-anchor="end">{label}</text>')
    return lines, y


def _label(x: float, text: str) -> str:
    """An x-axis label, slanted so long banner names do not run into each other."""
    y = HEIGHT - BOTTOM + 14
    return (f'<text x="{x:.1f}" y="{y}" class="tick" text-anchor="end" '
            f'transform="rotate(-30 {x:.1f} {y})">{html_text(text)}</text>')


def _range(values: list[float], percent: bool, target: float | None) -> tuple[float, float]:
    present = [v for v in values if v is not None] + ([target] if target is not None else [])
    if not percent:
        return 0.0, float(math.ceil(max([*present, 1]) * 1.1 / 4) * 4)  # whole numbers at the four grid lines
    low = min([*present, 1.0])
    return max(0.0, (int(low * 20) - 1) / 20), 1.0  # down to the 5 % step below the lowest value


def bar_chart(labels: list[str], series: dict[str, list[float | None]], title: str, percent: bool = True,
              target: float | None = None) -> str:
    """Grouped vertical bars, one group per label; an optional dashed target line."""
    low, high = _range([v for values in series.values() for v in values], percent, target)
    body, y = _axis(low, high, percent)
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    bar = slot * 0.8 / max(len(series), 1)
    for s, values in enumerate(series.values()):
        for i, value in enumerate(values):
            if value is None:
                continue
            x = LEFT + slot * i + slot * 0.1 + bar * s
            top = y(max(value, low))
            body.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="{bar:.1f}" height="{y(low) - top:.1f}" '
                        f'fill="{PALETTE[s % len(PALETTE)]}"/>')
    for i, label in enumerate(labels):
        body.append(_label(LEFT + slot * (i + 0.5), label))
    if target is not None:
        body.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(target):.1f}" y2="{y(target):.1f}" class="target"/>')
    return _frame(body, list(series) + (["— 目标 target"] if target is not None else []), title)


def line_chart(labels: list[str], series: dict[str, list[float | None]], title: str, percent: bool = True) -> str:
    """One polyline per series over the labels (days), with a dot per value."""
    low, high = _range([v for values in series.values() for v in values], percent, None)
    body, y = _axis(low, high, percent)
    step = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    for s, values in enumerate(series.values()):
        points = [(LEFT + step * (i + 0.5), y(v)) for i, v in enumerate(values) if v is not None]
        colour = PALETTE[s % len(PALETTE)]
        body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                    f'points="{" ".join(f"{x:.1f},{py:.1f}" for x, py in points)}"/>')
        body += [f'<circle cx="{x:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for x, py in points]
    for i, label in enumerate(labels):
        body.append(_label(LEFT + step * (i + 0.5), label))
    return _frame(body, list(series), title)
