"""The one formatter of numbers, percentages and dates for people: web, PDF, DOCX, xlsx and charts.

Pure (Babel's CLDR data only, no Flask): every output passes its language explicitly, so the
web page, the PDF report, the SWO-ART document, the workbook and the chart axes say the same
thing the same way — Dutch "12.345,7" and "40,5%", English "12,345.7" and "40.5%". A missing
value (None, NaN) is the dash that also marks a suppressed cell.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from babel.dates import format_date as babel_format_date
from babel.numbers import format_decimal

MISSING = "–"
LANGUAGES = ("nl", "en")
# A difference in points gets a real minus sign (a plain number keeps Babel's hyphen-minus).
MINUS = "−"


def locale_of(lang: str | None) -> str:
    """A language the formatter knows (Dutch for anything else: Dutch first)."""
    text = str(lang or "nl")[:2].lower()
    return text if text in LANGUAGES else "nl"


def _known(value: float | None) -> bool:
    return value is not None and not isinstance(value, bool) and math.isfinite(float(value))


def _pattern(decimals: int, *, optional: bool = False) -> str:
    if decimals <= 0:
        return "#,##0"
    return "#,##0." + ("#" if optional else "0") * decimals


def number(
    value: float | None, lang: str = "nl", decimals: int = 0, *, optional_decimals: bool = False
) -> str:
    """A number with grouping: 12345.67 → "12.345,7" (nl, 1 decimal) / "12,345.7" (en).

    ``optional_decimals`` drops trailing zeros (12.50 → "12,5", 12.0 → "12").
    """
    if not _known(value):
        return MISSING
    assert value is not None
    # Half away from zero, as people round (48.25 → 48.3), from the shortest decimal of the float
    # (Babel alone rounds half to even on the binary value).
    rounded = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-max(decimals, 0)), ROUND_HALF_UP)
    pattern = _pattern(decimals, optional=optional_decimals)
    return str(format_decimal(rounded, format=pattern, locale=locale_of(lang)))


def percent(share: float | None, lang: str = "nl", decimals: int = 1) -> str:
    """A share (0-1) as a percentage without a space: 0.405 → "40,5%" (nl) / "40.5%" (en)."""
    if not _known(share):
        return MISSING
    assert share is not None
    return number(100 * float(share), lang, decimals) + "%"


def percent_of_hundred(value: float | None, lang: str = "nl", decimals: int = 1) -> str:
    """A value already in percent (0-100): 48.25 → "48,3%"; trailing zeros dropped (48.0 → "48%")."""
    if not _known(value):
        return MISSING
    return number(value, lang, decimals, optional_decimals=True) + "%"


def points(difference: float | None, lang: str = "nl", decimals: int = 1) -> str:
    """A difference of shares in percentage points with its sign: −0.052 → "−5,2"; 0 → "±0,0"."""
    if not _known(difference):
        return MISSING
    assert difference is not None
    text = number(abs(100 * float(difference)), lang, decimals)
    if not any(digit in "123456789" for digit in text):
        return "±" + text
    return ("+" if difference > 0 else MINUS) + text


def pvalue(value: float | None, lang: str = "nl") -> str:
    """A p-value with three decimals, "< 0,001" below that."""
    if not _known(value):
        return MISSING
    assert value is not None
    if value < 0.001:
        return "< " + number(0.001, lang, 3)
    return number(value, lang, 3)


def date_text(day: date | datetime | str | None, lang: str = "nl", style: str = "long") -> str:
    """A date in words: "1 maart 2026" / "March 1, 2026" (``style`` short/medium/long/full).

    An ISO text is read first; a text that is not a date is returned as it is.
    """
    if day is None or day == "":
        return MISSING
    if isinstance(day, str):
        try:
            found = date.fromisoformat(day[:10])
        except ValueError:
            return day
    else:
        found = day.date() if isinstance(day, datetime) else day
    return str(babel_format_date(found, format=style, locale=locale_of(lang)))


__all__ = [
    "MISSING",
    "date_text",
    "locale_of",
    "number",
    "percent",
    "percent_of_hundred",
    "points",
    "pvalue",
]
