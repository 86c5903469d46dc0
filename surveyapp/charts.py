"""Shared chart helpers: the service's colours, a plain style and PNG bytes from a Figure.

Only matplotlib's object API is used (``Figure``), never pyplot: pyplot keeps global state
that is not safe in a multi-threaded web server. Every chart on a page also has its numbers in
a table (the text alternative); the charts only add a picture of them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, DayLocator, date2num, num2date
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from surveyapp import formatting

BRAND = "#00576b"
BRAND_DARK = "#003a48"
ACCENT = "#f3c000"
INK = "#1b1b1b"
GRID = "#d6dcdf"
PALETTE = (BRAND, ACCENT, BRAND_DARK)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def new_figure(width: float = 8.0, height: float = 3.6) -> Figure:
    """A figure in the house style (white, no clutter); sizes in inches at 100 dpi."""
    return Figure(figsize=(width, height), dpi=100, facecolor="white", layout="constrained")


def style_axes(axes: Axes) -> None:
    """Light grid, no top/right frame, dark ink: the plain style of every chart."""
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_color(INK)
    axes.tick_params(colors=INK, labelsize=9)
    axes.grid(axis="y", color=GRID, linewidth=0.8)
    axes.set_axisbelow(True)


def percent_axis(lang: str, xmax: float = 1.0, decimals: int = 0) -> FuncFormatter:
    """Tick labels of shares (of `xmax`) by the shared formatter: "40%" / "40,5%"."""
    return FuncFormatter(lambda value, _pos: formatting.percent(value / xmax, lang, decimals))


def number_axis(lang: str, decimals: int = 0) -> FuncFormatter:
    """Tick labels of numbers by the shared formatter: "1.500" / "1,500", "1,5" / "1.5"."""
    return FuncFormatter(lambda value, _pos: formatting.number(value, lang, decimals))


def day_axis(lang: str) -> FuncFormatter:
    """Tick labels of days in the language: "4 mrt" / "Mar 4"."""
    pattern = "d MMM" if formatting.locale_of(lang) == "nl" else "MMM d"
    return FuncFormatter(lambda value, _pos: formatting.date_text(num2date(value).date(), lang, pattern))


def png_bytes(figure: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (no file, no pyplot)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def daily_figure(
    days: Sequence[date],
    counts: Sequence[int],
    cumulative_rates: Sequence[float | None],
    *,
    count_label: str,
    rate_label: str,
    title: str | None = None,
    lang: str = "nl",
) -> Figure:
    """Bars of a count per day with a line of a cumulative rate (0-100 %) on a second axis."""
    figure = new_figure()
    bars = figure.add_subplot()
    style_axes(bars)
    if days:
        bars.bar(date2num(list(days)), list(counts), color=BRAND, width=0.8, label=count_label)
    bars.set_ylabel(count_label, color=INK)
    bars.yaxis.set_major_locator(MaxNLocator(integer=True))
    bars.yaxis.set_major_formatter(number_axis(lang))
    bars.set_ylim(bottom=0)
    # A tick per day for short series (never a tick at noon), matplotlib's choice for longer ones.
    locator = DayLocator() if days and (max(days) - min(days)).days < 14 else AutoDateLocator(maxticks=10)
    bars.xaxis.set_major_locator(locator)
    bars.xaxis.set_major_formatter(day_axis(lang))
    if days:
        bars.set_xlim(date2num(min(days)) - 0.6, date2num(max(days)) + 0.6)
    rates = bars.twinx()
    rates.spines["top"].set_visible(False)
    rates.tick_params(colors=INK, labelsize=9)
    points = [(day, rate) for day, rate in zip(days, cumulative_rates, strict=True) if rate is not None]
    if points:
        rates.plot(
            date2num([day for day, _ in points]),
            [rate for _, rate in points],
            color=ACCENT,
            linewidth=2.5,
            marker="o",
            markersize=3,
            markeredgecolor=BRAND_DARK,
            label=rate_label,
        )
    top = max([rate for _, rate in points], default=0.0)
    rates.set_ylim(0, max(0.1, min(1.0, top * 1.15)))
    rates.yaxis.set_major_formatter(percent_axis(lang))
    rates.set_ylabel(rate_label, color=INK)
    handles = bars.get_legend_handles_labels()[0] + rates.get_legend_handles_labels()[0]
    if handles:
        figure.legend(handles=handles, loc="outside upper left", ncols=2, frameon=False, fontsize=9)
    if title:
        bars.set_title(title, loc="left", fontsize=11, color=INK)
    return figure
