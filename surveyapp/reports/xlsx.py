"""The Excel workbook of a wave's analysis: one sheet per table, plus the weighting summary.

Built with openpyxl in write-only mode (fast for tens of thousands of rows). Shares have the
format 0.0%, means 0.00; every sheet has a frozen, bold header row and set column widths. A
suppressed row keeps its labels but its number cells stay blank, its "Suppressed" column says
so and a footnote under the table explains the mark. Labels and open answers are untrusted: a
text that a spreadsheet would read as a formula (starting with = + - @, a tab or a carriage
return) gets a leading single quote.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from surveyapp.analysis.result import AnalysisResult
from surveyapp.formatting import date_text, number
from surveyapp.questionnaire import Questionnaire
from surveyapp.reports.data import (
    CI_METHOD_NAMES,
    SUPPRESSED_MARK,
    adjust_name,
    group_label,
    group_order,
    group_var_label,
    item_labels,
    measure_label,
    subject_label,
)
from surveyapp.reports.notes import analysis_note

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PERCENT = "0.0%"
MEAN = "0.00"
DECIMAL = "0.00"
P_VALUE = "0.0000"
INTEGER = "#,##0"
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def safe_text(value: Any) -> Any:
    """A text a spreadsheet would run as a formula, defused with a leading quote; others unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], Any]
    number_format: str | Callable[[Any], str | None] | None = None
    width: float = 14
    numeric: bool = False  # blank when the row is suppressed


def _sheet_name(name: str, taken: set[str]) -> str:
    base = _BAD_SHEET_CHARS.sub(" ", name).strip() or "Sheet"
    if len(base) > 31:  # Excel's limit: cut at a word, and say so
        base = base[:30].rsplit(" ", 1)[0].rstrip(" ,;–-") + "…"
    candidate, index = base, 2
    while candidate.lower() in taken:
        suffix = f" ({index})"
        candidate = base[: 31 - len(suffix)] + suffix
        index += 1
    taken.add(candidate.lower())
    return candidate


class _Book:
    def __init__(self) -> None:
        self.workbook = Workbook(write_only=True)
        self.taken: set[str] = set()
        self.bold = Font(bold=True)
        self.wrap = Alignment(wrap_text=True, vertical="top")

    def sheet(
        self,
        title: str,
        columns: Sequence[Column],
        rows: Sequence[Any],
        *,
        suppressed: Callable[[Any], bool] | None = None,
        footnotes: Sequence[str] = (),
        intro: Sequence[str] = (),
    ) -> WriteOnlyWorksheet:
        sheet: WriteOnlyWorksheet = self.workbook.create_sheet(_sheet_name(title, self.taken))
        for index, column in enumerate(columns, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = column.width
        header_row = 1 + len(intro) + (1 if intro else 0)
        sheet.freeze_panes = f"A{header_row + 1}"
        for line in intro:
            sheet.append([self._cell(sheet, line, bold=True)])
        if intro:
            sheet.append([])
        sheet.append([self._cell(sheet, column.header, bold=True) for column in columns])
        any_suppressed = False
        for row in rows:
            hidden = bool(suppressed and suppressed(row))
            any_suppressed = any_suppressed or hidden
            cells = []
            for column in columns:
                value = None if hidden and column.numeric else column.value(row)
                number_format = (
                    column.number_format(row) if callable(column.number_format) else column.number_format
                )
                cell: Any = safe_text(value)
                if number_format and isinstance(value, int | float) and not isinstance(value, bool):
                    cell = WriteOnlyCell(sheet, value=value)
                    cell.number_format = number_format
                cells.append(cell)
            sheet.append(cells)
        notes = list(footnotes)
        if any_suppressed:
            notes.insert(0, suppression_note())
        if notes:
            sheet.append([])
            for note in notes:
                sheet.append([self._cell(sheet, note)])
        return sheet

    def _cell(self, sheet: WriteOnlyWorksheet, value: Any, *, bold: bool = False) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=safe_text(value))
        if bold:
            cell.font = self.bold
        return cell

    def bytes(self) -> bytes:
        buffer = io.BytesIO()
        self.workbook.save(buffer)
        return buffer.getvalue()


_THRESHOLD: list[int] = [10]


def suppression_note() -> str:
    return _(
        "%(mark)s = fewer than %(n)s respondents: not shown (small-cell suppression); "
        "the number cells of such a row are blank.",
        mark=SUPPRESSED_MARK,
        n=_THRESHOLD[0],
    )


def _yes(value: bool | None) -> str:
    if value is None:
        return ""
    return _("yes") if value else _("no")


def _mark(suppressed: bool) -> str:
    return SUPPRESSED_MARK if suppressed else ""


def _share_or_mean(row: Any) -> str:
    return MEAN if getattr(row, "kind", "proportion") == "mean" else PERCENT


def render_xlsx(result: AnalysisResult, questionnaire: Questionnaire | None, lang: str = "nl") -> bytes:
    """The workbook as .xlsx bytes, headers and labels in `lang` (nl or en)."""
    with force_locale(lang):
        return _render(result, questionnaire, lang)


def _render(result: AnalysisResult, questionnaire: Questionnaire | None, lang: str) -> bytes:
    _THRESHOLD[0] = result.suppression.threshold
    labels = item_labels(questionnaire, lang) if questionnaire is not None else {}
    fallback = {item.item: item.label for item in result.items}

    def item_text(item: str) -> str:
        return labels.get(item) or fallback.get(item, item)

    def label(row: Any) -> str:
        return item_text(row.item)

    def gvar(row: Any) -> str:
        return group_var_label(questionnaire, row.group_var, lang) if row.group_var else ""

    def glabel(row: Any) -> str:
        return group_label(questionnaire, row.group_var, row.group, lang) if row.group_var else ""

    def subject(row: Any) -> str:
        return subject_label(questionnaire, row.subject, lang)

    def measure(row: Any) -> str:
        name = "satisfaction_mean" if row.measure == "satisfaction" and row.kind == "mean" else row.measure
        return measure_label(name, lang)

    def in_group_order(rows: list[Any]) -> list[Any]:
        """Rows of one group variable with their groups in the questionnaire's order (stable)."""
        if not rows:
            return rows
        groups = list(dict.fromkeys(str(row.group) for row in rows if row.group is not None))
        rank = {
            group: index for index, group in enumerate(group_order(questionnaire, rows[0].group_var, groups))
        }
        return sorted(rows, key=lambda row: rank.get(str(row.group), -1))

    book = _Book()
    wave = result.wave
    title = (wave.title if wave and wave.title else result.questionnaire.title) or ""
    intro = [
        title,
        _(
            "%(n)s respondents; generated %(at)s",
            n=number(result.n_respondents, lang),
            at=date_text(result.generated_at, lang),
        ),
    ]

    def fmt(row: Any) -> str:
        return _share_or_mean(row)

    # Labels, not codes: the item, measure, group variable and group as the questionnaire says them
    # (the ids are in the CSV and JSON downloads).
    estimate_columns = [
        Column(_("Label"), label, width=60),
        Column(_("Measure"), measure, width=22),
        Column(_("Subject"), subject, width=24),
        Column(_("Group variable"), gvar, width=22),
        Column(_("Group"), glabel, width=22),
        Column(_("Suppressed"), lambda r: _mark(r.suppressed), width=11),
        Column(_("n"), lambda r: r.n, INTEGER, 9, True),
        Column(_("Weighted n"), lambda r: r.weighted_n, INTEGER, 12, True),
        Column(_("Estimate"), lambda r: r.estimate, fmt, 11, True),
        Column(_("Standard error"), lambda r: r.se, fmt, 11, True),
        Column(_("CI low"), lambda r: r.ci_low, fmt, 11, True),
        Column(_("CI high"), lambda r: r.ci_high, fmt, 11, True),
    ]
    ci_note = _(
        "Confidence level %(level)s%%, intervals: %(method)s.",
        level=round(100 * result.options.level),
        method=CI_METHOD_NAMES.get(result.options.ci_method, {}).get(lang, result.options.ci_method),
    )
    overall = [row for row in result.estimates if row.group_var is None]
    book.sheet(
        _("Estimates"),
        estimate_columns,
        overall,
        suppressed=lambda r: r.suppressed,
        footnotes=[ci_note],
        intro=intro,
    )
    group_vars: list[str] = []
    for row in result.estimates:
        if row.group_var is not None and row.group_var not in group_vars:
            group_vars.append(row.group_var)
    for group_var in group_vars:
        rows = in_group_order([row for row in result.estimates if row.group_var == group_var])
        name = group_var_label(questionnaire, group_var, lang)
        # The sheet is named by its question (Excel allows 31 characters); the first row says more.
        book.sheet(
            name.rstrip("?").strip(),
            estimate_columns,
            rows,
            suppressed=lambda r: r.suppressed,
            footnotes=[ci_note],
            intro=[_("By group – %(question)s", question=name)],
        )

    headline = result.headline
    book.sheet(
        _("Headline"),
        [
            Column(_("Offering"), lambda r: subject_label(questionnaire, r.subject, lang), width=40),
            Column(_("Classification"), lambda r: classification_label(r.classification), width=22),
            Column(_("n"), lambda r: r.n, INTEGER, 9, True),
            Column(_("Satisfied (top-2-box)"), lambda r: r.estimate, PERCENT, 14, True),
            Column(_("CI low"), lambda r: r.ci_low, PERCENT, 11, True),
            Column(_("CI high"), lambda r: r.ci_high, PERCENT, 11, True),
        ],
        headline.offerings,
        suppressed=lambda r: r.classification == "suppressed",
        intro=[headline_text(result)],
    )
    book.sheet(
        _("Funnel"),
        [
            Column(_("Subject"), lambda r: subject_label(questionnaire, r.subject, lang), width=28),
            Column(_("Step"), lambda r: r.step, width=7),
            Column(_("Label"), label, width=50),
            Column(_("Suppressed"), lambda r: _mark(r.suppressed), width=11),
            Column(_("n"), lambda r: r.n, INTEGER, 9, True),
            Column(_("Share of all respondents"), lambda r: r.share, PERCENT, 14, True),
            Column(_("CI low"), lambda r: r.ci_low, PERCENT, 11, True),
            Column(_("CI high"), lambda r: r.ci_high, PERCENT, 11, True),
            Column(_("Share of previous step"), lambda r: r.conversion, PERCENT, 14, True),
            Column(_("CI low"), lambda r: r.conversion_ci_low, PERCENT, 11, True),
            Column(_("CI high"), lambda r: r.conversion_ci_high, PERCENT, 11, True),
            Column(_("n previous step"), lambda r: r.conversion_n, INTEGER, 11, True),
        ],
        result.funnel,
        suppressed=lambda r: r.suppressed,
    )
    book.sheet(
        _("Reach"),
        [
            Column(
                _("Offering"),
                lambda r: subject_label(questionnaire, r.subject, lang) or _("any offering"),
                width=32,
            ),
            Column(_("Group variable"), gvar, width=22),
            Column(_("Group"), glabel, width=22),
            Column(_("Suppressed"), lambda r: _mark(r.suppressed), width=11),
            Column(_("Share in the register"), lambda r: r.population_share, PERCENT, 14),
            Column(_("Share among users"), lambda r: r.user_share, PERCENT, 14, True),
            Column(_("Reach index"), lambda r: r.index, DECIMAL, 11, True),
            Column(_("CI low"), lambda r: r.ci_low, DECIMAL, 11, True),
            Column(_("CI high"), lambda r: r.ci_high, DECIMAL, 11, True),
            Column(_("Users (n)"), lambda r: r.n, INTEGER, 10, True),
            Column(_("Under-reached"), lambda r: _yes(r.under_reached), width=13, numeric=True),
        ],
        _grouped(result.reach, in_group_order),
        suppressed=lambda r: r.suppressed,
        footnotes=[_("Reach index = share among users / share in the register; 1 = equal representation.")],
    )
    book.sheet(
        _("Response rates"),
        [
            Column(_("Group variable"), lambda r: gvar(r) or _("Everyone"), width=22),
            Column(_("Group"), glabel, width=22),
            Column(_("Suppressed"), lambda r: _mark(r.suppressed), width=11),
            Column(_("Invited"), lambda r: r.invited, INTEGER, 10),
            Column(_("Responses"), lambda r: r.submitted, INTEGER, 10, True),
            Column(_("Response rate"), lambda r: r.response_rate, PERCENT, 12, True),
            Column(_("Share of invited"), lambda r: r.invited_share, PERCENT, 12),
            Column(_("Share of respondents"), lambda r: r.respondent_share, PERCENT, 12, True),
            Column(_("Representativeness"), lambda r: r.representativeness, DECIMAL, 14, True),
        ],
        _grouped(result.response_rates, in_group_order),
        suppressed=lambda r: r.suppressed,
    )
    method = adjust_name(result.options.adjust)
    book.sheet(
        _("Tests"),
        [
            Column(_("Label"), label, width=50),
            Column(_("Group variable"), gvar, width=22),
            Column(_("Statistic"), lambda r: r.statistic, width=9),
            Column(_("Value"), lambda r: r.value, DECIMAL, 10),
            Column(_("df (numerator)"), lambda r: r.df_num, DECIMAL, 10),
            Column(_("df (denominator)"), lambda r: r.df_den, DECIMAL, 10),
            Column(_("p"), lambda r: r.p, P_VALUE, 10),
            Column(_("p adjusted (%(method)s)", method=method), lambda r: r.p_adjusted, P_VALUE, 14),
            Column(_("n"), lambda r: r.n, INTEGER, 9),
        ],
        result.tests,
        footnotes=[_("Rao-Scott F tests; correction for multiple testing: %(method)s.", method=method)],
    )
    # Rows about one group of one variable start alike: what, which group, hidden or not.
    group_row_key = [
        Column(_("Label"), label, width=50),
        Column(_("Group variable"), gvar, width=22),
        Column(_("Group"), glabel, width=22),
        Column(_("Suppressed"), lambda r: _mark(r.suppressed), width=11),
    ]
    book.sheet(
        _("Comparisons"),
        [
            *group_row_key,
            Column(_("n group"), lambda r: r.n_group, INTEGER, 9, True),
            Column(_("n rest"), lambda r: r.n_rest, INTEGER, 9, True),
            Column(_("Group"), lambda r: r.estimate_group, fmt, 11, True),
            Column(_("Rest"), lambda r: r.estimate_rest, fmt, 11, True),
            Column(_("Difference"), lambda r: r.difference, fmt, 11, True),
            Column(_("CI low"), lambda r: r.ci_low, fmt, 11, True),
            Column(_("CI high"), lambda r: r.ci_high, fmt, 11, True),
            Column(_("p"), lambda r: r.p, P_VALUE, 10, True),
            Column(_("p adjusted (%(method)s)", method=method), lambda r: r.p_adjusted, P_VALUE, 14, True),
        ],
        _grouped(result.comparisons, in_group_order),
        suppressed=lambda r: r.suppressed,
        footnotes=[_("Each group against the rest of its variable; correction: %(method)s.", method=method)],
    )
    if result.wave_changes:
        earlier = result.compared_with.title if result.compared_with and result.compared_with.title else ""
        book.sheet(
            _("Wave changes"),
            [
                *group_row_key,
                Column(_("Earlier"), lambda r: r.earlier, fmt, 11, True),
                Column(_("Now"), lambda r: r.later, fmt, 11, True),
                Column(_("Change"), lambda r: r.difference, fmt, 11, True),
                Column(_("CI low"), lambda r: r.ci_low, fmt, 11, True),
                Column(_("CI high"), lambda r: r.ci_high, fmt, 11, True),
                Column(_("p"), lambda r: r.p, P_VALUE, 10, True),
            ],
            result.wave_changes,
            suppressed=lambda r: r.suppressed,
            intro=[_("Compared with: %(wave)s", wave=earlier)],
        )
    weighting = result.weighting
    summary = [
        (_("Method"), weighting_method_label(weighting.method), None),
        (
            _("Variables"),
            ", ".join(group_var_label(questionnaire, name, lang) for name in weighting.variables) or "–",
            None,
        ),
        (_("Iterations"), weighting.iterations, INTEGER),
        (_("Converged"), _yes(weighting.converged), None),
        (_("Largest margin error"), weighting.max_margin_error, "0.00E+00"),
        (_("Kish design effect"), weighting.kish_deff, DECIMAL),
        (_("Effective n"), weighting.effective_n, "#,##0.0"),
        (_("Respondents"), weighting.n_respondents, INTEGER),
        (_("Population (register)"), weighting.population_size, INTEGER),
        (_("Base weight (N/n)"), weighting.base_weight, DECIMAL),
        (_("Smallest weight"), weighting.weight_min, DECIMAL),
        (_("Largest weight"), weighting.weight_max, DECIMAL),
        (_("Mean weight"), weighting.weight_mean, DECIMAL),
        (_("Finite population correction"), _yes(weighting.fpc), None),
    ]
    summary += [
        (
            _("Left out: %(variable)s", variable=group_var_label(questionnaire, item.variable, lang)),
            analysis_note(item.reason, lang, questionnaire, item_text),
            None,
        )
        for item in weighting.left_out
    ]
    book.sheet(
        _("Weighting"),
        [
            Column(_("Setting"), lambda r: r[0], width=32),
            Column(_("Value"), lambda r: r[1], lambda r: r[2], 40),
        ],
        summary,
    )
    book.sheet(
        _("Notes"),
        [Column(_("Note"), lambda r: r, width=120)],
        [
            *(analysis_note(note, lang, questionnaire, item_text) for note in result.notes),
            suppression_rule(result.suppression.threshold),
        ],
    )
    return book.bytes()


def _grouped(rows: Sequence[Any], order: Callable[[list[Any]], list[Any]]) -> list[Any]:
    """Rows kept in their order of group variables, each variable's groups in questionnaire order."""
    by_var: dict[Any, list[Any]] = {}
    for row in rows:
        by_var.setdefault(
            (getattr(row, "item", None), row.group_var, getattr(row, "subject", None)), []
        ).append(row)
    return [row for block in by_var.values() for row in (order(block) if block[0].group_var else block)]


def weighting_method_label(method: str) -> str:
    return {"raking": _("raking"), "base": _("base weight N/n"), "none": _("none (unweighted)")}.get(
        method, method
    )


def suppression_rule(threshold: int) -> str:
    return _(
        "A cell with 1 to %(below)s respondents is not shown (primary suppression); within each item "
        "and group variable more cells are hidden until at least two are hidden and together hold at "
        "least %(n)s respondents (complementary suppression). Hidden rows carry no numbers and no n.",
        below=threshold - 1,
        n=threshold,
    )


def classification_label(value: str) -> str:
    return {
        "above": _("above"),
        "straddles": _("straddles"),
        "below": _("below"),
        "suppressed": SUPPRESSED_MARK,
        "no_data": _("no data"),
    }.get(value, value)


def headline_text(result: AnalysisResult) -> str:
    headline = result.headline
    return _(
        "%(k)s of %(n)s offerings above %(threshold)s%% satisfied (top-2-box); the confidence interval "
        "lies entirely above for %(above)s, straddles the line for %(straddles)s and lies entirely "
        "below for %(below)s.",
        k=headline.k_above,
        n=headline.n_estimated,
        threshold=round(100 * headline.threshold),
        above=headline.above,
        straddles=headline.straddles,
        below=headline.below,
    )
