"""Result charts (matplotlib Figure API only, via `surveyapp.charts`): estimates with confidence
intervals against a threshold line, and reach indexes against the line of equal representation.

Each chart is a picture of a table on the same page; the table is its text alternative.
"""

from __future__ import annotations

from collections.abc import Sequence

from surveyapp.charts import (
    ACCENT,
    BRAND,
    BRAND_DARK,
    INK,
    new_figure,
    number_axis,
    percent_axis,
    png_bytes,
    style_axes,
)


def _short(label: str, size: int = 48) -> str:
    return label if len(label) <= size else label[: size - 1] + "…"


def interval_png(
    labels: Sequence[str],
    estimates: Sequence[float | None],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    *,
    percent: bool = True,
    line: float | None = None,
    line_label: str | None = None,
    xlabel: str = "",
    lang: str = "nl",
) -> bytes:
    """Horizontal bars with CI whiskers; a dashed line (e.g. the 80% threshold); no bar when unknown."""
    count = max(1, len(labels))
    figure = new_figure(8.0, min(14.0, 1.0 + 0.32 * count))
    axes = figure.add_subplot()
    style_axes(axes)
    axes.grid(axis="x", color="#d6dcdf", linewidth=0.8)
    axes.grid(axis="y", visible=False)
    positions = list(range(len(labels)))[::-1]
    for position, value, low, high in zip(positions, estimates, lows, highs, strict=True):
        if value is None:
            axes.text(0, position, " –", va="center", color=INK, fontsize=8)
            continue
        axes.barh(position, value, color=BRAND, height=0.6)
        if low is not None and high is not None:
            axes.errorbar(
                value,
                position,
                xerr=[[max(0.0, value - low)], [max(0.0, high - value)]],
                color=BRAND_DARK,
                capsize=3,
                linewidth=1.2,
            )
    if line is not None:
        axes.axvline(line, color=ACCENT, linewidth=2.5, linestyle="--", label=line_label)
        if line_label:
            axes.legend(loc="lower right", frameon=False, fontsize=8)
    axes.set_yticks(positions, [_short(label) for label in labels], fontsize=8)
    if percent:
        axes.set_xlim(0, 1)
        axes.xaxis.set_major_formatter(percent_axis(lang))
    else:
        axes.xaxis.set_major_formatter(number_axis(lang, 1))
    if xlabel:
        axes.set_xlabel(xlabel, color=INK)
    return png_bytes(figure)


def reach_png(
    labels: Sequence[str],
    indexes: Sequence[float | None],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    *,
    line_label: str,
    xlabel: str,
    lang: str = "nl",
) -> bytes:
    """Reach indexes as points with CIs against the line of equal representation (index 1)."""
    count = max(1, len(labels))
    figure = new_figure(8.0, min(14.0, 1.0 + 0.32 * count))
    axes = figure.add_subplot()
    style_axes(axes)
    axes.grid(axis="x", color="#d6dcdf", linewidth=0.8)
    axes.grid(axis="y", visible=False)
    positions = list(range(len(labels)))[::-1]
    top = 2.0
    for position, value, low, high in zip(positions, indexes, lows, highs, strict=True):
        if value is None:
            axes.text(1.0, position, " –", va="center", color=INK, fontsize=8)
            continue
        colour = BRAND if value >= 1 else BRAND_DARK
        marker = "o" if value >= 1 else "v"
        if low is not None and high is not None:
            axes.hlines(position, low, high, color=colour, linewidth=1.5)
            top = max(top, high)
        axes.plot([value], [position], marker=marker, color=colour, markersize=7)
    axes.axvline(1.0, color=ACCENT, linewidth=2.5, linestyle="--", label=line_label)
    axes.legend(loc="lower right", frameon=False, fontsize=8)
    axes.set_xlim(0, min(top * 1.05, 5.0))
    axes.xaxis.set_major_formatter(number_axis(lang, 1))
    axes.set_yticks(positions, [_short(label) for label in labels], fontsize=8)
    axes.set_xlabel(xlabel, color=INK)
    return png_bytes(figure)
