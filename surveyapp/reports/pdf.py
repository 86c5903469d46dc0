"""The wave report as a PDF (WeasyPrint): summary, sections with charts, methods and appendix.

Every number comes from the wave's `AnalysisResult`. Suppressed rows are shown as
`SUPPRESSED_MARK`, never as a number. The report text is Dutch by default (``lang="nl"``) with
English selectable; its wording lives here and in ``templates/reports/`` per language.
Charts are PNG data URIs drawn with matplotlib's Figure API (no pyplot).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import render_template

from surveyapp import charts
from surveyapp.analysis.result import (
    AnalysisOptions,
    AnalysisResult,
    ComparisonRow,
    EstimateRow,
    ReachRow,
)
from surveyapp.formatting import date_text, number, percent, points, pvalue
from surveyapp.questionnaire import Questionnaire
from surveyapp.reports.data import MEASURE_NAMES, SUPPRESSED_MARK
from surveyapp.reports.notes import analysis_note

ORGANISATION = {
    "nl": "vzw Sociale Dienst van de Vlaamse overheid",
    "en": "Social service of the Flemish government",
}
LANGUAGES = ("nl", "en")
# Items broken down per group variable in the appendix (the other items' group tables are in
# the CSV export and on the results page): awareness of the service, the funnel, use, satisfaction.
APPENDIX_GROUP_ITEMS = (
    "ken_dienst",
    "ma_weet",
    "ma_weet_waarvoor",
    "ma_gevraagd",
    "usage/any_offering",
    "tevreden_dienst",
)


def tr(lang: str, nl: str, en: str) -> str:
    """Report wording: Dutch or English."""
    return nl if lang == "nl" else en


def ci_text(low: float | None, high: float | None, lang: str, kind: str = "proportion") -> str:
    if low is None or high is None:
        return SUPPRESSED_MARK
    if kind == "mean":
        return f"{number(low, lang, 2)}–{number(high, lang, 2)}"
    return f"{number(100 * low, lang)}–{percent(high, lang, 0)}"


def value_text(row: EstimateRow, lang: str) -> str:
    if row.suppressed:
        return SUPPRESSED_MARK
    return number(row.estimate, lang, 2) if row.kind == "mean" else percent(row.estimate, lang, 0)


def adjust_name(method: str, lang: str) -> str:
    return {
        "holm": "Holm",
        "fdr_bh": "Benjamini-Hochberg (FDR)",
        "none": tr(lang, "geen correctie", "no correction"),
    }.get(method, method)


# --------------------------------------------------------------------------------------------
# Labels from the questionnaire
# --------------------------------------------------------------------------------------------


class Labels:
    """Plain labels of items, subjects, group variables and groups in one language."""

    def __init__(self, result: AnalysisResult, questionnaire: Questionnaire | None, lang: str) -> None:
        self.lang = lang
        self.items = {info.item: info for info in result.items}
        self.subjects: dict[str, str] = {}
        self.questions: dict[str, str] = {}
        self.group_vars: dict[str, str] = {}
        self.groups: dict[tuple[str, str], str] = {}
        self.item_texts: dict[tuple[str, str], str] = {}
        if questionnaire is None:
            return
        for subject in questionnaire.subjects:
            self.subjects[subject.id] = _local(subject.label, lang)
        for question in questionnaire.questions:
            self.questions[question.id] = _local(question.label, lang)
            for item in question.items:
                self.item_texts[(question.id, item.id)] = _local(item.label, lang)
            for choice in question.choices:
                self.item_texts[(question.id, choice.code)] = _local(choice.label, lang)
            measure = question.measure
            if measure is not None and measure.type == "group":
                for name in {question.id, measure.register_column or question.id}:
                    self.group_vars[name] = _local(question.label, lang)
                    for choice in question.choices:
                        self.groups[(name, choice.code)] = _local(choice.label, lang)

    def subject(self, subject: str | None) -> str:
        if subject is None:
            return tr(self.lang, "Eender welk aanbod", "Any offering")
        return self.subjects.get(subject, subject.replace("_", " "))

    def group_var(self, name: str) -> str:
        return _short_question(self.group_vars.get(name, name.replace("_", " ")))

    def group(self, name: str | None, code: str | None) -> str:
        if code is None:
            return tr(self.lang, "Iedereen", "Everyone")
        if code == "_not_asked":
            return tr(self.lang, "niet gevraagd", "not asked")
        return self.groups.get((name or "", code), code.replace("_", " "))

    def item(self, item: str) -> str:
        """A short label: the offering, the matrix row or choice, or the question."""
        if item == "usage/any_offering":
            return tr(self.lang, "Gebruikte minstens één aanbod", "Used at least one offering")
        info = self.items.get(item)
        base = item.split("#", 1)[0]
        question, _sep, part = base.partition("/")
        if info is not None and info.measure in ("funnel", "funnel_conversion"):
            step_question = {1: "ma_weet", 2: "ma_weet_waarvoor", 3: "ma_gevraagd"}
            label = self.questions.get(step_question.get(info.funnel_step or 0, ""), info.label)
            return _short_question(label)
        if part and info is not None and info.subject_kind == "offering" and info.subject:
            return self.subject(info.subject)
        if part and (question, part) in self.item_texts:
            return _strip_example(self.item_texts[(question, part)])
        if question in self.questions:
            return _short_question(self.questions[question])
        return info.label if info is not None else item

    def question(self, item: str) -> str:
        info = self.items.get(item)
        if info is not None and info.question_id in self.questions:
            return self.questions[info.question_id]
        return info.label if info is not None else item


def _local(text: Mapping[str, str] | None, lang: str) -> str:
    if not text:
        return ""
    return text.get(lang) or text.get("nl") or next(iter(text.values()), "")


def _short_question(text: str) -> str:
    return text.rstrip("?").strip()


def _strip_example(text: str) -> str:
    """'Mentaal welzijn (bijvoorbeeld stress)' -> 'Mentaal welzijn' (tables stay narrow)."""
    for marker in (" (bijvoorbeeld", " (for example", " (bv."):
        if marker in text:
            return text.split(marker, 1)[0]
    return text


# --------------------------------------------------------------------------------------------
# Appendix tables: one numbering for the report and the SWO-ART input
# --------------------------------------------------------------------------------------------


def group_vars_of(result: AnalysisResult) -> list[str]:
    seen: dict[str, None] = {}
    for row in result.estimates:
        if row.group_var is not None:
            seen.setdefault(row.group_var, None)
    return list(seen)


def appendix_numbers(result: AnalysisResult) -> dict[str, str]:
    """Table ids: "overall" A1, "reach" A2, "comparisons" A3, "changes" A4 (only with a
    previous wave), then one per group variable ("group:<var>")."""
    keys = ["overall", "reach", "comparisons"]
    if result.wave_changes:
        keys.append("changes")
    keys.extend(f"group:{name}" for name in group_vars_of(result))
    return {key: f"A{number}" for number, key in enumerate(keys, start=1)}


# --------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------


def _png_uri(figure: Any) -> str:
    data = charts.png_bytes(figure, dpi=110)
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    lows: Sequence[float] | None = None,
    highs: Sequence[float] | None = None,
    *,
    reference: float | None = None,
    reference_label: str | None = None,
    percent: bool = True,
    width: float = 7.0,
    xmax: float | None = None,
    lang: str = "nl",
) -> str:
    """Horizontal bars (top to bottom in the given order) with optional CI whiskers."""
    height = max(1.6, 0.32 * len(labels) + 0.8)
    figure = charts.new_figure(width, height)
    axes = figure.add_subplot()
    positions = list(range(len(labels)))[::-1]
    axes.barh(positions, values, color=charts.BRAND, height=0.62)
    if lows is not None and highs is not None:
        errors = [
            [max(0.0, v - lo) for v, lo in zip(values, lows, strict=True)],
            [max(0.0, hi - v) for v, hi in zip(values, highs, strict=True)],
        ]
        axes.errorbar(
            values, positions, xerr=errors, fmt="none", ecolor=charts.INK, elinewidth=0.9, capsize=2
        )
    if reference is not None:
        axes.axvline(reference, color=charts.ACCENT, linewidth=2, linestyle="--", label=reference_label)
        if reference_label:
            axes.legend(loc="lower right", fontsize=8, frameon=False)
    axes.set_yticks(positions, [_wrap(label, 46) for label in labels], fontsize=8)
    charts.style_axes(axes)
    axes.grid(axis="y", visible=False)
    axes.grid(axis="x", color=charts.GRID, linewidth=0.8)
    if percent:
        axes.set_xlim(0, xmax if xmax is not None else 1)
        axes.xaxis.set_major_formatter(charts.percent_axis(lang))
    else:
        axes.xaxis.set_major_formatter(charts.number_axis(lang, 1))
        if xmax is not None:
            axes.set_xlim(0, xmax)
    return _png_uri(figure)


def interval_chart(
    rows: Sequence[Any], label: Callable[[Any], str], *, value: str = "estimate", **options: Any
) -> str:
    """``bar_chart`` of result rows with a point value and ``ci_low``/``ci_high`` (missing drawn as 0)."""
    return bar_chart(
        [label(row) for row in rows],
        [getattr(row, value) or 0 for row in rows],
        [row.ci_low or 0 for row in rows],
        [row.ci_high or 0 for row in rows],
        **options,
    )


def _wrap(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    if len(lines) > 2:
        lines = [lines[0], lines[1][: width - 1] + "…"]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The report's content
# --------------------------------------------------------------------------------------------


@dataclass
class Table:
    number: str | None
    title: str
    headers: list[str]
    rows: list[dict[str, Any]] = field(
        default_factory=list
    )  # {"cells": [...], "suppressed": bool, "head": bool}
    note: str | None = None
    numeric_from: int = 1  # columns from here on are right-aligned
    wide: bool = False  # multi-line cells (estimate, CI, n) per group


def _estimate_cells(row: EstimateRow, lang: str) -> list[str]:
    if row.suppressed:
        return [SUPPRESSED_MARK, SUPPRESSED_MARK, SUPPRESSED_MARK]
    return [value_text(row, lang), ci_text(row.ci_low, row.ci_high, lang, row.kind), number(row.n, lang)]


def _overall(result: AnalysisResult) -> dict[str, EstimateRow]:
    return {row.item: row for row in result.estimates if row.group_var is None}


def build_context(
    result: AnalysisResult,
    lang: str = "nl",
    questionnaire: Questionnaire | None = None,
    *,
    organisation: str | None = None,
    today: date | None = None,
    results_url: str | None = None,
) -> dict[str, Any]:
    """Everything the report template shows, as plain strings and tables."""
    lang = lang if lang in LANGUAGES else "nl"
    labels = Labels(result, questionnaire, lang)
    options = result.options
    overall = _overall(result)
    numbers = appendix_numbers(result)
    level = percent(options.level, lang, 0)
    wave = result.wave
    threshold = options.threshold

    def t(nl: str, en: str) -> str:
        return tr(lang, nl, en)

    def chart(rows: Sequence[Any], label: Callable[[Any], str], **options: Any) -> str:
        return interval_chart(rows, label, lang=lang, **options)

    # --- response
    everyone = next((r for r in result.response_rates if r.group_var is None), None)
    response_rate = everyone.response_rate if everyone and not everyone.suppressed else None
    base = wave.base_population if wave and wave.base_population else None
    if response_rate is None and base:
        response_rate = result.n_respondents / base

    # --- offerings
    offerings = list(result.headline.offerings)
    satisfaction_rows = sorted(
        (
            o
            for o in offerings
            if o.classification not in ("suppressed", "no_data") and o.estimate is not None
        ),
        key=lambda o: -(o.estimate or 0),
    )
    class_text = {
        "above": t("boven", "above"),
        "straddles": t("rond", "around"),
        "below": t("onder", "below"),
        "suppressed": t("te weinig antwoorden", "too few answers"),
        "no_data": t("geen gegevens", "no data"),
    }
    headline_text = t(
        f"{result.headline.above} van de {result.headline.n_offerings} aanbodsvormen scoren met zekerheid "
        f"boven {percent(threshold, lang, 0)} tevredenheid (het hele {level}-betrouwbaarheidsinterval ligt "
        "erboven); "
        f"{result.headline.k_above} scoren boven {percent(threshold, lang, 0)} op de puntschatting.",
        f"{result.headline.above} of {result.headline.n_offerings} offerings are clearly above "
        f"{percent(threshold, lang, 0)} satisfied (the whole {level} confidence interval lies above); "
        f"{result.headline.k_above} are above {percent(threshold, lang, 0)} on the point estimate.",
    )
    awareness_rows = [
        overall[i.item]
        for i in result.items
        if i.measure == "awareness" and i.subject_kind == "offering" and i.item in overall
    ]
    usage_rows = {
        overall[i.item].subject: overall[i.item]
        for i in result.items
        if i.measure == "usage" and i.subject_kind == "offering" and i.item in overall
    }

    # --- key numbers
    service_awareness = overall.get("ken_dienst")
    any_use = overall.get("usage/any_offering")
    funnel = sorted((s for s in result.funnel), key=lambda s: (s.subject, s.step))
    reach_any = [r for r in result.reach if r.subject is None and not r.suppressed and r.index is not None]
    least = sorted((r for r in reach_any if r.under_reached), key=lambda r: r.index or 0)[:6]

    findings: list[str] = []
    if response_rate is not None:
        findings.append(
            t(
                f"{number(result.n_respondents, lang)} mensen antwoordden: een respons van "
                f"{percent(response_rate, lang, 0)}.",
                f"{number(result.n_respondents, lang)} people answered: a response rate of "
                f"{percent(response_rate, lang, 0)}.",
            )
        )
    findings.append(headline_text)
    if service_awareness is not None and not service_awareness.suppressed:
        findings.append(
            t(
                f"{percent(service_awareness.estimate, lang, 0)} kent de sociale dienst goed of een beetje "
                f"({level}-BI {ci_text(service_awareness.ci_low, service_awareness.ci_high, lang)}).",
                f"{percent(service_awareness.estimate, lang, 0)} know the social service well or a little "
                f"({level} CI {ci_text(service_awareness.ci_low, service_awareness.ci_high, lang)}).",
            )
        )
    if any_use is not None and not any_use.suppressed:
        findings.append(
            t(
                f"{percent(any_use.estimate, lang, 0)} gebruikte minstens één aanbod.",
                f"{percent(any_use.estimate, lang, 0)} used at least one offering.",
            )
        )
    visible_funnel = [s for s in funnel if not s.suppressed and s.share is not None]
    if len(visible_funnel) >= 2:
        steps = ", ".join(f"{labels.item(s.item)}: {percent(s.share, lang, 0)}" for s in visible_funnel)
        findings.append(t(f"Maatschappelijk assistent — {steps}.", f"Social assistant — {steps}."))
    if least:
        names = "; ".join(
            f"{labels.group_var(r.group_var)}: {labels.group(r.group_var, r.group)} "
            f"(index {number(r.index, lang, 2)})"
            for r in least[:4]
        )
        findings.append(
            t(f"Minst bereikt (gebruikers van het aanbod): {names}.", f"Reached least (users): {names}.")
        )

    sections: list[dict[str, Any]] = []

    # --- 1 response
    rate_rows = []
    for r in result.response_rates:
        rate_rows.append(
            {
                "cells": [
                    labels.group_var(r.group_var) if r.group_var else t("Iedereen", "Everyone"),
                    labels.group(r.group_var, r.group) if r.group_var else "",
                    number(r.invited, lang),
                    SUPPRESSED_MARK if r.suppressed else number(r.submitted, lang),
                    SUPPRESSED_MARK if r.suppressed else percent(r.response_rate, lang, 0),
                    SUPPRESSED_MARK if r.suppressed else number(r.representativeness, lang, 2),
                ],
                "suppressed": r.suppressed,
            }
        )
    response_section: dict[str, Any] = {
        "id": "respons",
        "title": t("Respons", "Response"),
        "intro": t(
            f"{number(result.n_respondents, lang)} mensen vulden de vragenlijst in"
            + (f", van {number(base, lang)} gerechtigden" if base else "")
            + ". De representativiteit is het aandeel van een groep onder de respondenten gedeeld door "
            "haar aandeel onder de uitgenodigden (1 = evenredig).",
            f"{number(result.n_respondents, lang)} people completed the questionnaire"
            + (f", of {number(base, lang)} entitled staff" if base else "")
            + ". Representativeness is a group's share among respondents divided by its share among "
            "those invited (1 = proportional).",
        ),
        "charts": [],
        "tables": [],
    }
    if rate_rows:
        response_section["tables"].append(
            Table(
                None,
                t("Respons per groep", "Response by group"),
                [
                    t("Groepsvariabele", "Group variable"),
                    t("Groep", "Group"),
                    t("Uitgenodigd", "Invited"),
                    t("Ingevuld", "Submitted"),
                    t("Respons", "Response"),
                    t("Repr.", "Repr."),
                ],
                rate_rows,
                numeric_from=2,
            )
        )
    sections.append(response_section)

    # --- 2 awareness
    aw_sorted = sorted(
        (r for r in awareness_rows if not r.suppressed and r.estimate is not None),
        key=lambda r: -(r.estimate or 0),
    )
    aw_section: dict[str, Any] = {
        "id": "bekendheid",
        "title": t("Bekendheid", "Awareness"),
        "intro": t(
            "Hoeveel mensen kennen de sociale dienst en elk aanbod? Percentages met hun "
            f"{level}-betrouwbaarheidsinterval (BI).",
            f"How many people know the social service and each offering? Percentages with their {level} "
            "confidence interval (CI).",
        ),
        "charts": [],
        "tables": [],
    }
    if aw_sorted:
        aw_section["charts"].append(
            {
                "uri": chart(
                    aw_sorted,
                    lambda r: labels.subject(r.subject),
                ),
                "alt": t("Bekendheid per aanbod", "Awareness by offering"),
            }
        )
    sections.append(aw_section)

    # --- 3 use and satisfaction
    sat_table = Table(
        None,
        t("Gebruik en tevredenheid per aanbod", "Use and satisfaction by offering"),
        [
            t("Aanbod", "Offering"),
            t("Kent", "Knows"),
            t("Gebruikt", "Used"),
            t("Tevreden", "Satisfied"),
            f"{level} {t('BI', 'CI')}",
            "n",
            t(f"t.o.v. {percent(threshold, lang, 0)}", f"vs {percent(threshold, lang, 0)}"),
        ],
        numeric_from=1,
    )
    aw_by_subject = {r.subject: r for r in awareness_rows}
    for o in offerings:
        aw = aw_by_subject.get(o.subject)
        use = usage_rows.get(o.subject)
        shown = o.classification not in ("suppressed", "no_data")
        sat_table.rows.append(
            {
                "cells": [
                    labels.subject(o.subject),
                    value_text(aw, lang) if aw else SUPPRESSED_MARK,
                    value_text(use, lang) if use else SUPPRESSED_MARK,
                    percent(o.estimate, lang, 0) if shown else SUPPRESSED_MARK,
                    ci_text(o.ci_low, o.ci_high, lang) if shown else SUPPRESSED_MARK,
                    number(o.n, lang) if shown else SUPPRESSED_MARK,
                    class_text[o.classification],
                ],
                "suppressed": not shown,
            }
        )
    sat_section: dict[str, Any] = {
        "id": "tevredenheid",
        "title": t("Gebruik en tevredenheid", "Use and satisfaction"),
        "intro": headline_text
        + " "
        + t(
            "Tevreden = het aandeel 'tevreden' of 'zeer tevreden' bij wie het aanbod gebruikte.",
            "Satisfied = the share 'satisfied' or 'very satisfied' among those who used the offering.",
        ),
        "charts": [],
        "tables": [sat_table],
    }
    if satisfaction_rows:
        sat_section["charts"].append(
            {
                "uri": chart(
                    satisfaction_rows,
                    lambda o: labels.subject(o.subject),
                    reference=threshold,
                    reference_label=t(
                        f"drempel {percent(threshold, lang, 0)}", f"threshold {percent(threshold, lang, 0)}"
                    ),
                ),
                "alt": t("Tevredenheid per aanbod", "Satisfaction by offering"),
            }
        )
    sections.append(sat_section)

    # --- 4 social assistant
    ma_section: dict[str, Any] = {
        "id": "ma",
        "title": t("De maatschappelijk assistent", "The social assistant"),
        "intro": t(
            "De trechter: weet men dat men een beroep kan doen op een maatschappelijk assistent, weet men "
            "waarvoor, en vroeg men de voorbije 5 jaar hulp? Aandeel van alle respondenten en van wie de "
            "vorige stap zette.",
            "The funnel: do people know they can call on a social assistant, do they know what for, and did "
            "they ask for help in the past 5 years? Share of all respondents and of those at the "
            "previous step.",
        ),
        "charts": [],
        "tables": [],
    }
    if visible_funnel:
        ma_section["charts"].append(
            {
                "uri": chart(
                    visible_funnel,
                    lambda s: labels.item(s.item),
                    value="share",
                    width=7.0,
                ),
                "alt": t("Trechter maatschappelijk assistent", "Social assistant funnel"),
            }
        )
    funnel_table = Table(
        None,
        t("Trechter", "Funnel"),
        [
            t("Stap", "Step"),
            t("Van iedereen", "Of all"),
            f"{level} {t('BI', 'CI')}",
            t("Van vorige stap", "Of previous step"),
            "n",
        ],
    )
    for s in funnel:
        funnel_table.rows.append(
            {
                "cells": [labels.item(s.item)]
                + (
                    [SUPPRESSED_MARK] * 4
                    if s.suppressed
                    else [
                        percent(s.share, lang, 0),
                        ci_text(s.ci_low, s.ci_high, lang),
                        percent(s.conversion, lang, 0),
                        number(s.n, lang),
                    ]
                ),
                "suppressed": s.suppressed,
            }
        )
    ma_section["tables"].append(funnel_table)
    aspect_rows = [
        overall[i.item]
        for i in result.items
        if i.measure == "satisfaction" and i.subject_kind == "assistant" and i.item in overall
    ]
    help_rows = [overall[i.item] for i in result.items if i.measure == "help_type" and i.item in overall]
    for title, rows in (
        (t("Tevredenheid over het contact", "Satisfaction with the contact"), aspect_rows),
        (
            t(
                "Waarover ging de hulpvraag (meerdere antwoorden)",
                "What the help question was about (several answers)",
            ),
            help_rows,
        ),
    ):
        if rows:
            ma_section["tables"].append(
                Table(
                    None,
                    title,
                    [t("Onderwerp", "Topic"), "%", f"{level} {t('BI', 'CI')}", "n"],
                    [
                        {
                            "cells": [labels.item(r.item), *_estimate_cells(r, lang)],
                            "suppressed": r.suppressed,
                        }
                        for r in rows
                    ],
                )
            )
    sections.append(ma_section)

    # --- 5 reach
    reach_section: dict[str, Any] = {
        "id": "bereik",
        "title": t("Bereik", "Reach"),
        "intro": t(
            "Weerspiegelt ons bereik de personeelspopulatie? De bereikindex is het aandeel van een groep "
            "onder de gebruikers gedeeld door haar aandeel in het register: 1 = evenredig bereikt, onder 1 = "
            "minder bereikt. Een groep is 'ondervertegenwoordigd' als het hele interval onder 1 ligt.",
            "Does our reach reflect the staff population? The reach index is a group's share among users "
            "divided by its share in the register: 1 = reached in proportion, below 1 = reached "
            "less. A group "
            "is 'under-reached' when the whole interval lies below 1.",
        ),
        "charts": [],
        "tables": [],
    }
    if reach_any:
        reach_shown = sorted(reach_any, key=lambda r: r.index or 0)[:14]
        reach_section["charts"].append(
            {
                "uri": chart(
                    reach_shown,
                    lambda r: f"{labels.group(r.group_var, r.group)} ({labels.group_var(r.group_var)[:28]})",
                    value="index",
                    reference=1.0,
                    reference_label=t("evenredig bereik", "proportional reach"),
                    percent=False,
                    xmax=max(1.6, max((r.ci_high or 0) for r in reach_shown) * 1.05),
                ),
                "alt": t("Minst bereikte groepen", "Groups reached least"),
            }
        )
        reach_section["tables"].append(
            Table(
                numbers["reach"],
                t(
                    "De minst bereikte groepen (gebruikers van minstens één aanbod)",
                    "Groups reached least (users of at least one offering)",
                ),
                [
                    t("Groepsvariabele", "Group variable"),
                    t("Groep", "Group"),
                    t("Index", "Index"),
                    f"{level} {t('BI', 'CI')}",
                    "n",
                ],
                [
                    {"cells": _reach_cells(r, labels, lang), "suppressed": False}
                    for r in sorted(reach_any, key=lambda r: r.index or 0)
                    if r.under_reached
                ][:12],
                note=t(
                    f"Alle groepen: tabel {numbers['reach']} in de bijlage.",
                    f"All groups: table {numbers['reach']} in the appendix.",
                ),
                numeric_from=2,
            )
        )
    sections.append(reach_section)

    # --- 6 needs
    need_rows = sorted(
        (
            overall[i.item]
            for i in result.items
            if i.measure == "need"
            and i.item in overall
            and i.code not in (None, "geen")
            and i.question_id == "themas"
        ),
        key=lambda r: -(r.estimate or 0) if not r.suppressed else 1,
    )
    needs_section: dict[str, Any] = {
        "id": "behoeften",
        "title": t("Behoeften", "Needs"),
        "intro": t(
            "Over welke thema's wil men meer informatie of ondersteuning? (meerdere antwoorden)",
            "On which topics do people want more information or support? (several answers)",
        ),
        "charts": [],
        "tables": [],
    }
    visible_needs = [r for r in need_rows if not r.suppressed and r.estimate is not None]
    if visible_needs:
        needs_section["charts"].append(
            {
                "uri": chart(
                    visible_needs,
                    lambda r: labels.item(r.item),
                    xmax=min(1.0, max((r.ci_high or 0) for r in visible_needs) * 1.15 + 0.02),
                ),
                "alt": t("Behoeften", "Needs"),
            }
        )
    sections.append(needs_section)

    # --- 7 differences between groups
    alpha = 0.05
    significant = [
        c
        for c in result.comparisons
        if not c.suppressed
        and c.p_adjusted is not None
        and c.p_adjusted < alpha
        and c.difference is not None
        and c.item in ("ken_dienst", "usage/any_offering", "ma_weet", "ma_weet_waarvoor", "tevreden_dienst")
    ]
    significant.sort(key=lambda c: c.difference or 0)
    diff_section: dict[str, Any] = {
        "id": "verschillen",
        "title": t("Verschillen tussen groepen", "Differences between groups"),
        "intro": t(
            f"Elke groep tegenover de rest van haar groepsvariabele; p-waarden gecorrigeerd met "
            f"{adjust_name(options.adjust, lang)} over het hele rapport. Hier de grootste significante "
            f"verschillen (gecorrigeerde p < {number(alpha, lang, 2)}); alle vergelijkingen: tabel "
            f"{numbers['comparisons']}.",
            f"Each group against the rest of its group variable; p-values corrected with "
            f"{adjust_name(options.adjust, lang)} across the whole report. The largest significant "
            f"differences (adjusted p < {alpha}); all comparisons: table {numbers['comparisons']}.",
        ),
        "charts": [],
        "tables": [
            Table(
                None,
                t("Grootste significante verschillen", "Largest significant differences"),
                [
                    t("Maat", "Measure"),
                    t("Groep", "Group"),
                    t("Groep", "Group") + " %",
                    t("Rest", "Rest") + " %",
                    t("Verschil", "Difference"),
                    t("p (gecorr.)", "p (adj.)"),
                ],
                [
                    {"cells": _comparison_cells(c, labels, lang), "suppressed": False}
                    for c in (significant[:10] + significant[-4:] if len(significant) > 14 else significant)
                ],
                numeric_from=2,
            )
        ],
    }
    sections.append(diff_section)

    # --- methods
    weighting = result.weighting
    methods = {
        "response": t(
            f"{number(result.n_respondents, lang)} ingevulde vragenlijsten"
            + (
                f" van {number(base, lang)} gerechtigden ({percent(result.n_respondents / base, lang, 1)})"
                if base
                else ""
            )
            + ".",
            f"{number(result.n_respondents, lang)} completed questionnaires"
            + (
                f" of {number(base, lang)} entitled staff ({percent(result.n_respondents / base, lang, 1)})"
                if base
                else ""
            )
            + ".",
        ),
        "weighting": (
            t(
                f"Gewogen door raking (iteratieve proportionele aanpassing) op "
                f"{', '.join(labels.group_var(v) for v in weighting.variables)} "
                f"naar de aantallen in het register ({weighting.iterations} iteraties, "
                f"{'geconvergeerd' if weighting.converged else 'niet geconvergeerd'}).",
                f"Weighted by raking (iterative proportional fitting) on "
                f"{', '.join(labels.group_var(v) for v in weighting.variables)} "
                f"to the register counts ({weighting.iterations} iterations, "
                f"{'converged' if weighting.converged else 'not converged'}).",
            )
            if weighting.method == "raking"
            else t(
                "Niet gewogen: elke respondent telt even zwaar.",
                "Not weighted: every respondent counts the same.",
            )
        ),
        "deff": t(
            f"Kish-designeffect {number(weighting.kish_deff, lang, 2)}, effectieve steekproefgrootte "
            f"{number(weighting.effective_n, lang)}; gewichten van "
            f"{number(weighting.weight_min, lang, 2)} tot "
            f"{number(weighting.weight_max, lang, 2)} (gemiddeld {number(weighting.weight_mean, lang, 2)}).",
            f"Kish design effect {number(weighting.kish_deff, lang, 2)}, effective sample size "
            f"{number(weighting.effective_n, lang)}; weights from {number(weighting.weight_min, lang, 2)} to "
            f"{number(weighting.weight_max, lang, 2)} (mean {number(weighting.weight_mean, lang, 2)}).",
        ),
        "left_out": [
            f"{labels.group_var(lo.variable)}: {analysis_note(lo.reason, lang, questionnaire, labels.item)}"
            for lo in weighting.left_out
        ],
        "ci": t(
            f"{level}-betrouwbaarheidsintervallen; voor aandelen de "
            + (
                "logit-methode (zoals R svyciprop)"
                if options.ci_method == "logit"
                else "Korn-Graubard-methode (beta)"
            )
            + ", voor gemiddelden de t-verdeling, met het designeffect van de weging"
            + (" en eindigepopulatiecorrectie." if weighting.fpc else "."),
            f"{level} confidence intervals; for shares the "
            + (
                "logit method (as R svyciprop)"
                if options.ci_method == "logit"
                else "Korn-Graubard method (beta)"
            )
            + ", for means the t distribution, with the design effect of the weighting"
            + (" and finite population correction." if weighting.fpc else "."),
        ),
        "tests": t(
            "Verschillen tussen groepen: Rao-Scott F-toets (tweede orde) per groepsvariabele en elke groep "
            "tegenover de rest (t-toets). Correctie voor meervoudig toetsen: "
            f"{adjust_name(options.adjust, lang)}"
            " over het hele rapport. Veranderingen sinds de vorige bevraging: onafhankelijke steekproeven.",
            "Differences between groups: second-order Rao-Scott F test per group variable and each "
            "group against "
            f"the rest (t test). Multiple-testing correction: {adjust_name(options.adjust, lang)} "
            "across the whole "
            "report. Changes since the previous wave: independent samples.",
        ),
        "suppression": t(
            f"Geheimhouding: een cel met minder dan {result.suppression.threshold} respondenten wordt niet "
            "getoond (primair), en binnen een item en groepsvariabele worden zo nodig extra cellen "
            "verborgen "
            f"(complementair). Verborgen cellen staan als '{SUPPRESSED_MARK}', nooit als getal. "
            "In deze bevraging: "
            f"{number(result.suppression.estimates_suppressed, lang)} schattingen verborgen.",
            f"Disclosure control: a cell with fewer than {result.suppression.threshold} respondents "
            "is not shown "
            "(primary), and within an item and group variable more cells are hidden where needed "
            f"(complementary). Hidden cells show as '{SUPPRESSED_MARK}', never as a number. In this wave: "
            f"{number(result.suppression.estimates_suppressed, lang)} estimates hidden.",
        ),
        "threshold": t(
            f"Drempel voor tevredenheid: {percent(threshold, lang, 0)} tevreden of zeer tevreden.",
            f"Satisfaction threshold: {percent(threshold, lang, 0)} satisfied or very satisfied.",
        ),
        "notes": [analysis_note(note, lang, questionnaire, labels.item) for note in result.notes],
    }

    # --- appendix
    appendix: list[Table] = []
    measure_order = {m: i for i, m in enumerate(MEASURE_NAMES)}
    overall_rows = sorted(
        (
            row
            for row in result.estimates
            if row.group_var is None and row.measure not in ("funnel", "funnel_conversion")
        ),
        key=lambda r: measure_order.get(r.measure, 99),
    )
    a1 = Table(
        numbers["overall"],
        t("Alle schattingen, iedereen", "All estimates, everyone"),
        [t("Item", "Item"), t("Schatting", "Estimate"), f"{level} {t('BI', 'CI')}", "n"],
    )
    current = None
    for row in overall_rows:
        if row.measure != current:
            current = row.measure
            a1.rows.append(
                {"cells": [MEASURE_NAMES.get(row.measure, {}).get(lang, row.measure)], "head": True}
            )
        a1.rows.append(
            {"cells": [labels.item(row.item), *_estimate_cells(row, lang)], "suppressed": row.suppressed}
        )
    appendix.append(a1)
    appendix.append(
        Table(
            numbers["reach"],
            t(
                "Bereik per groep (gebruikers van minstens één aanbod)",
                "Reach by group (users of at least one offering)",
            ),
            [
                t("Groepsvariabele", "Group variable"),
                t("Groep", "Group"),
                t("Index", "Index"),
                f"{level} {t('BI', 'CI')}",
                "n",
            ],
            [
                {"cells": _reach_cells(r, labels, lang), "suppressed": r.suppressed}
                for r in result.reach
                if r.subject is None
            ],
            numeric_from=2,
        )
    )
    key_comparisons = [
        c
        for c in result.comparisons
        if c.item in APPENDIX_GROUP_ITEMS
        and not c.suppressed
        and c.p_adjusted is not None
        and c.p_adjusted < alpha
        and (c.difference or 0) < 0
    ]
    appendix.append(
        Table(
            numbers["comparisons"],
            t(
                "Groepen significant lager dan de rest (kernmaten)",
                "Groups significantly lower than the rest (key measures)",
            ),
            [
                t("Maat", "Measure"),
                t("Groep", "Group"),
                t("Groep", "Group") + " %",
                t("Rest", "Rest") + " %",
                t("Verschil", "Difference"),
                t("p (gecorr.)", "p (adj.)"),
            ],
            [
                {"cells": _comparison_cells(c, labels, lang), "suppressed": c.suppressed}
                for c in key_comparisons
            ],
            note=t(
                f"p gecorrigeerd met {adjust_name(options.adjust, lang)}.",
                f"p adjusted with {adjust_name(options.adjust, lang)}.",
            ),
            numeric_from=2,
        )
    )
    if result.wave_changes:
        appendix.append(
            Table(
                numbers["changes"],
                t("Verandering sinds de vorige bevraging", "Change since the previous wave"),
                [
                    t("Item", "Item"),
                    t("Groep", "Group"),
                    t("Vorige", "Earlier"),
                    t("Nu", "Now"),
                    t("Verschil", "Difference"),
                    "p",
                ],
                [
                    {
                        "cells": [labels.item(w.item), labels.group(w.group_var, w.group)]
                        + (
                            [SUPPRESSED_MARK] * 4
                            if w.suppressed
                            else [
                                percent(w.earlier, lang, 0),
                                percent(w.later, lang, 0),
                                _points(w.difference, lang),
                                pvalue(w.p, lang),
                            ]
                        ),
                        "suppressed": w.suppressed,
                    }
                    for w in result.wave_changes
                    if w.group_var is None
                ],
                numeric_from=2,
            )
        )
    by_var: dict[str, dict[tuple[str, str | None], EstimateRow]] = {}
    for row in result.estimates:
        if row.group_var is not None and row.item in APPENDIX_GROUP_ITEMS:
            by_var.setdefault(row.group_var, {})[(row.item, row.group)] = row
    present = [item for item in APPENDIX_GROUP_ITEMS if item in overall]
    for name in group_vars_of(result):
        cells = by_var.get(name, {})
        groups = list(dict.fromkeys(group for (_item, group) in cells))
        table = Table(
            numbers[f"group:{name}"],
            t(
                f"Kernmaten per groep: {labels.group_var(name)}",
                f"Key measures by group: {labels.group_var(name)}",
            ),
            [t("Groep", "Group")] + [_wrap(labels.item(item), 24) for item in present],
            note=t(f"Per cel: schatting, {level}-BI en n.", f"Each cell: estimate, {level} CI and n."),
            wide=True,
        )
        for group in groups:
            row_cells = [labels.group(name, group)]
            hidden = False
            for item in present:
                found = cells.get((item, group))
                if found is None:
                    row_cells.append("")
                elif found.suppressed:
                    row_cells.append(SUPPRESSED_MARK)
                    hidden = True
                else:
                    estimate, interval, n = _estimate_cells(found, lang)
                    row_cells.append(f"{estimate}\n{interval}\nn = {n}")
            table.rows.append({"cells": row_cells, "suppressed": hidden})
        appendix.append(table)

    title = (wave.title if wave and wave.title else None) or t("Bevragingsrapport", "Survey report")
    period = ""
    if wave and (wave.opens_on or wave.closes_on):
        period = f"{_date_text(wave.opens_on, lang)} – {_date_text(wave.closes_on, lang)}"
    audience = (wave.audience if wave else None) or ""
    return {
        "lang": lang,
        "t": t,
        "title": title,
        "subtitle": t("Resultaten van de bevraging", "Survey results"),
        "audience": _audience_text(audience, lang),
        "period": period,
        "date": _date_text((today or date.today()).isoformat(), lang),
        "organisation": organisation or ORGANISATION[lang],
        "findings": findings,
        "sections": sections,
        "methods": methods,
        "appendix": appendix,
        "suppressed_mark": SUPPRESSED_MARK,
        "results_url": results_url,
        "n_respondents": number(result.n_respondents, lang),
        "response_rate": percent(response_rate, lang, 0) if response_rate is not None else None,
        "headline": f"{result.headline.above}/{result.headline.n_offerings}",
        "service_awareness": value_text(service_awareness, lang) if service_awareness else None,
        "any_use": value_text(any_use, lang) if any_use else None,
    }


def _points(value: float | None, lang: str) -> str:
    if value is None:
        return SUPPRESSED_MARK
    return f"{points(value, lang, 0)} {tr(lang, 'ptn', 'pts')}"


def _reach_cells(r: ReachRow, labels: Labels, lang: str) -> list[str]:
    head = [labels.group_var(r.group_var), labels.group(r.group_var, r.group)]
    if r.suppressed:
        return head + [SUPPRESSED_MARK] * 3
    return [
        *head,
        number(r.index, lang, 2),
        f"{number(r.ci_low, lang, 2)}–{number(r.ci_high, lang, 2)}",
        number(r.n, lang),
    ]


def _comparison_cells(c: ComparisonRow, labels: Labels, lang: str) -> list[str]:
    head = [labels.item(c.item), f"{labels.group_var(c.group_var)}: {labels.group(c.group_var, c.group)}"]
    if c.suppressed:
        return head + [SUPPRESSED_MARK] * 4
    if c.kind == "mean":
        values = [
            number(c.estimate_group, lang, 2),
            number(c.estimate_rest, lang, 2),
            number(c.difference, lang, 2),
        ]
    else:
        values = [
            percent(c.estimate_group, lang, 0),
            percent(c.estimate_rest, lang, 0),
            _points(c.difference, lang),
        ]
    return head + values + [pvalue(c.p_adjusted, lang)]


def _date_text(iso: str | None, lang: str) -> str:
    return date_text(iso, lang) if iso else "…"


def _audience_text(audience: str, lang: str) -> str:
    known = {
        "gerechtigden": tr(
            lang, "Gerechtigde personeelsleden en gepensioneerden", "Entitled staff and retirees"
        ),
        "contactpersonen": tr(lang, "Contactpersonen welzijn", "Welfare contact persons"),
    }
    for key, text in known.items():
        if audience.startswith(key):
            return text
    return audience


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def report_html(
    result: AnalysisResult, lang: str = "nl", questionnaire: Questionnaire | None = None, **kwargs: Any
) -> str:
    """The report as print HTML (inside an app context: Flask renders the template)."""
    return render_template("reports/report.html", **build_context(result, lang, questionnaire, **kwargs))


def pdf_bytes(html: str) -> bytes:
    from weasyprint import HTML

    data: bytes = HTML(string=html, base_url=".").write_pdf()
    return data


def render_result_pdf(
    result: AnalysisResult, lang: str = "nl", questionnaire: Questionnaire | None = None, **kwargs: Any
) -> bytes:
    return pdf_bytes(report_html(result, lang, questionnaire, **kwargs))


def wave_result(wave: Any, options: AnalysisOptions | None = None) -> AnalysisResult:
    """The wave's analysis: the shared cached one when available, else a fresh run."""
    from surveyapp.reports.data import wave_analysis

    return wave_analysis(wave, options)


def wave_questionnaire(wave: Any) -> Questionnaire | None:
    from surveyapp.survey.service import questionnaire_of

    try:
        return questionnaire_of(wave.questionnaire_version)
    except Exception:  # a report without nice labels beats no report
        return None


def render_pdf(wave: Any, lang: str = "nl", options: AnalysisOptions | None = None) -> bytes:
    """The wave's report as PDF bytes (inside an app context)."""
    result = wave_result(wave, options)
    return render_result_pdf(result, lang, wave_questionnaire(wave))


def iter_suppressed_texts(tables: Iterable[Table]) -> Iterable[list[str]]:
    """Cells of suppressed rows (tests check they hold no number)."""
    for table in tables:
        for row in table.rows:
            if row.get("suppressed"):
                yield list(row["cells"])
