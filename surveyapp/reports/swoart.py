"""SWO-ART input per wave: Strengths, Weaknesses, Opportunities, Threats, Ambitions, Results.

`swoart_input(result, plan_statements, rules, lang)` picks plain-language statements (Dutch and
English) from an `AnalysisResult` by the rules of ``swoart_rules.yaml``; every statement carries
its evidence and the report table it comes from. Suppressed rows are never evidence.
`render_docx`, `render_html` and `render_pdf` give the planners' documents of a wave.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from surveyapp.analysis.result import AnalysisOptions, AnalysisResult, WaveChangeRow
from surveyapp.formatting import number, percent, points, pvalue
from surveyapp.questionnaire import Questionnaire
from surveyapp.reports.pdf import (
    Labels,
    adjust_name,
    appendix_numbers,
    ci_text,
    tr,
    wave_questionnaire,
    wave_result,
)

SECTIONS = ("strengths", "weaknesses", "opportunities", "threats", "ambitions", "results")
SECTION_TITLES = {
    "strengths": {"nl": "Sterktes", "en": "Strengths"},
    "weaknesses": {"nl": "Zwaktes", "en": "Weaknesses"},
    "opportunities": {"nl": "Kansen", "en": "Opportunities"},
    "threats": {"nl": "Bedreigingen", "en": "Threats"},
    "ambitions": {"nl": "Ambities", "en": "Ambitions"},
    "results": {"nl": "Resultaten", "en": "Results"},
}
RULES_FILE = "swoart_rules.yaml"


def load_rules(text: str | None = None) -> dict[str, Any]:
    """The rules (the packaged ``swoart_rules.yaml`` unless a text is given)."""
    if text is None:
        text = resources.files("surveyapp.reports").joinpath(RULES_FILE).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("the SWO-ART rules must be a mapping")
    return data


@dataclass(frozen=True)
class Statement:
    """One SWO-ART line: what it says (nl, en), why (evidence) and where to look (reference)."""

    section: str
    key: str  # stable id, e.g. "satisfaction_above:pluspas"
    text: dict[str, str]
    evidence: dict[str, Any] = field(default_factory=dict)
    reference: str | None = None  # a report table ("A1") or a page

    def evidence_text(self, lang: str) -> str:
        e = self.evidence
        parts: list[str] = []
        if "text" in e:
            return str(e["text"].get(lang) if isinstance(e["text"], Mapping) else e["text"])
        kind = e.get("kind", "proportion")
        if e.get("estimate") is not None:
            value = number(e["estimate"], lang, 2) if kind == "mean" else percent(e["estimate"], lang, 0)
            parts.append(tr(lang, "schatting ", "estimate ") + value)
        if e.get("ci_low") is not None and e.get("ci_high") is not None:
            parts.append(
                f"{percent(e.get('level', 0.95), lang, 0)} {tr(lang, 'BI', 'CI')} "
                + ci_text(e["ci_low"], e["ci_high"], lang, kind)
            )
        if e.get("index") is not None:
            parts.append(
                f"index {number(e['index'], lang, 2)} ({number(e['index_low'], lang, 2)}–"
                f"{number(e['index_high'], lang, 2)})"
            )
        if e.get("difference") is not None:
            parts.append(
                tr(lang, "verschil ", "difference ")
                + points(e["difference"], lang, 0)
                + tr(lang, " ptn", " pts")
            )
        if e.get("n") is not None:
            parts.append(f"n = {number(e['n'], lang)}")
        if e.get("test"):
            parts.append(f"{e['test']}")
        if e.get("p_adjusted") is not None:
            p_text = pvalue(e["p_adjusted"], lang)
            relation = "" if p_text.startswith("<") else "= "
            parts.append(f"p ({adjust_name(str(e.get('adjust_method', 'none')), lang)}) {relation}{p_text}")
        return "; ".join(parts)

    def reference_text(self, lang: str) -> str:
        if not self.reference:
            return ""
        if self.reference.startswith("A") and self.reference[1:].isdigit():
            return tr(
                lang,
                f"Tabel {self.reference} in de bijlage van het rapport",
                f"Table {self.reference} in the report appendix",
            )
        return self.reference


@dataclass
class SwoArt:
    lang: str
    title: str
    sections: dict[str, list[Statement]]
    notes: list[str] = field(default_factory=list)

    def keys(self, section: str) -> list[str]:
        return [s.key for s in self.sections[section]]


def _visible(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def holm(pvalues: Sequence[float]) -> list[float]:
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted = [1.0] * len(pvalues)
    running = 0.0
    m = len(pvalues)
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted


def fdr_bh(pvalues: Sequence[float]) -> list[float]:
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i], reverse=True)
    adjusted = [1.0] * m
    running = 1.0
    for position, index in enumerate(order):
        rank = m - position
        running = min(running, pvalues[index] * m / rank)
        adjusted[index] = min(1.0, running)
    return adjusted


def swoart_input(
    result: AnalysisResult,
    plan_statements: Sequence[Any] = (),
    rules: Mapping[str, Any] | None = None,
    lang: str = "nl",
    *,
    questionnaire: Questionnaire | None = None,
    contact_result: AnalysisResult | None = None,
    results_url: str | None = None,
) -> SwoArt:
    """The SWO-ART statements of a wave by the rules (see ``swoart_rules.yaml``)."""
    rules = rules if rules is not None else load_rules()
    labels = {code: Labels(result, questionnaire, code) for code in ("nl", "en")}
    numbers = appendix_numbers(result)
    alpha = float(rules.get("alpha", 0.05))
    level = result.options.level
    overall = {row.item: row for row in result.estimates if row.group_var is None}
    sections: dict[str, list[Statement]] = {name: [] for name in SECTIONS}
    notes: list[str] = []
    a1 = numbers["overall"]

    def both(make: Any) -> dict[str, str]:
        return {code: make(labels[code], code) for code in ("nl", "en")}

    def add(section: str, key: str, text: dict[str, str], evidence: dict[str, Any], ref: str | None) -> None:
        sections[section].append(Statement(section, key, text, {"level": level, **evidence}, ref))

    def estimate_evidence(row: Any) -> dict[str, Any]:
        return {
            "estimate": row.estimate,
            "ci_low": row.ci_low,
            "ci_high": row.ci_high,
            "n": row.n,
            "kind": getattr(row, "kind", "proportion"),
        }

    # --- Strengths
    st = rules.get("strengths", {})
    threshold = float(st.get("satisfaction_threshold", result.options.threshold))
    usage = {row.subject: row for row in result.rows("usage") if row.group_var is None and row.subject}
    for o in result.headline.offerings:
        if (
            o.classification in ("suppressed", "no_data")
            or not _visible(o.ci_low)
            or not _visible(o.estimate)
        ):
            continue
        used = usage.get(o.subject)
        used_share = used.estimate if used is not None and not used.suppressed else None
        if (
            (o.ci_low or 0) > threshold
            and used_share is not None
            and used_share >= float(st.get("min_usage", 0))
        ):
            add(
                "strengths",
                f"satisfaction_above:{o.subject}",
                both(
                    lambda lb, code, o=o, used_share=used_share: tr(
                        code,
                        f"{lb.subject(o.subject)}: {percent(o.estimate, code, 0)} van de gebruikers is "
                        "tevreden, duidelijk boven "
                        f"{percent(threshold, code, 0)}; {percent(used_share, code, 0)} gebruikte het.",
                        f"{lb.subject(o.subject)}: {percent(o.estimate, code, 0)} of its users are "
                        "satisfied, clearly above "
                        f"{percent(threshold, code, 0)}; {percent(used_share, code, 0)} used it.",
                    )
                ),
                {"estimate": o.estimate, "ci_low": o.ci_low, "ci_high": o.ci_high, "n": o.n},
                a1,
            )
    aspect_threshold = float(st.get("assistant_aspect_threshold", threshold))
    for info in result.items:
        if info.measure != "satisfaction" or info.subject_kind != "assistant":
            continue
        row = overall.get(info.item)
        if row is None or row.suppressed or not _visible(row.ci_low):
            continue
        if (row.ci_low or 0) > aspect_threshold:
            add(
                "strengths",
                f"assistant_aspect:{info.aspect or info.item}",
                both(
                    lambda lb, code, row=row: tr(
                        code,
                        "Het contact met de maatschappelijk assistent wordt hoog gewaardeerd — "
                        f"{lb.item(row.item)}: "
                        f"{percent(row.estimate, code, 0)} tevreden.",
                        "The contact with the social assistant is rated highly — "
                        f"{lb.item(row.item)}: "
                        f"{percent(row.estimate, code, 0)} satisfied.",
                    )
                ),
                estimate_evidence(row),
                a1,
            )
    if contact_result is not None:
        positive = float(st.get("contact_positive_threshold", 0.7))
        for row in contact_result.estimates:
            if row.group_var is not None or row.suppressed or row.kind != "proportion":
                continue
            if (
                row.measure in ("satisfaction", "awareness")
                and _visible(row.ci_low)
                and (row.ci_low or 0) > positive
            ):
                contact_info = next((i for i in contact_result.items if i.item == row.item), None)
                label = contact_info.label if contact_info is not None else row.item
                add(
                    "strengths",
                    f"contact_positive:{row.item}",
                    {
                        "nl": f"Contactpersonen welzijn: {label} — {percent(row.estimate, 'nl', 0)}.",
                        "en": f"Welfare contact persons: {label} — {percent(row.estimate, 'en', 0)}.",
                    },
                    estimate_evidence(row),
                    tr(lang, "Bevraging contactpersonen", "Contact-person wave"),
                )

    # --- Weaknesses
    wk = rules.get("weaknesses", {})
    below = float(wk.get("satisfaction_threshold", threshold))
    for o in result.headline.offerings:
        if o.classification in ("suppressed", "no_data") or not _visible(o.ci_high):
            continue
        if (o.ci_high or 1) < below:
            add(
                "weaknesses",
                f"satisfaction_below:{o.subject}",
                both(
                    lambda lb, code, o=o: tr(
                        code,
                        f"{lb.subject(o.subject)}: slechts {percent(o.estimate, code, 0)} van de gebruikers "
                        "is tevreden, "
                        f"duidelijk onder {percent(below, code, 0)}.",
                        f"{lb.subject(o.subject)}: only {percent(o.estimate, code, 0)} of its users are "
                        "satisfied, clearly below "
                        f"{percent(below, code, 0)}.",
                    )
                ),
                {"estimate": o.estimate, "ci_low": o.ci_low, "ci_high": o.ci_high, "n": o.n},
                a1,
            )
    items = set(wk.get("comparison_items", []))
    lower = [
        c
        for c in result.comparisons
        if c.item in items
        and not c.suppressed
        and _visible(c.p_adjusted)
        and (c.p_adjusted or 1) < alpha
        and _visible(c.difference)
        and (c.difference or 0) < 0
    ]
    lower.sort(key=lambda c: c.difference or 0)
    for c in lower[: int(wk.get("max_group_statements", 10))]:
        add(
            "weaknesses",
            f"group_lower:{c.item}:{c.group_var}:{c.group}",
            both(
                lambda lb, code, c=c: tr(
                    code,
                    f"{lb.group(c.group_var, c.group)} ({lb.group_var(c.group_var)}) scoort "
                    "significant lager "
                    f"dan de rest op '{lb.item(c.item)}': {percent(c.estimate_group, code, 0)} tegenover "
                    f"{percent(c.estimate_rest, code, 0)}.",
                    f"{lb.group(c.group_var, c.group)} ({lb.group_var(c.group_var)}) score "
                    "significantly lower "
                    f"than the rest on '{lb.item(c.item)}': {percent(c.estimate_group, code, 0)} against "
                    f"{percent(c.estimate_rest, code, 0)}.",
                )
            ),
            {
                "estimate": c.estimate_group,
                "ci_low": None,
                "ci_high": None,
                "n": c.n_group,
                "difference": c.difference,
                "test": tr(lang, "groep tegenover rest (t-toets)", "group vs rest (t test)"),
                "p_adjusted": c.p_adjusted,
                "adjust_method": c.adjust_method,
            },
            numbers["comparisons"],
        )
    reach = [
        r
        for r in result.reach
        if r.subject is None and r.under_reached and not r.suppressed and _visible(r.index)
    ]
    reach.sort(key=lambda r: r.index or 0)
    for r in reach[: int(wk.get("max_reach_statements", 6))]:
        add(
            "weaknesses",
            f"under_reached:{r.group_var}:{r.group}",
            both(
                lambda lb, code, r=r: tr(
                    code,
                    f"{lb.group(r.group_var, r.group)} ({lb.group_var(r.group_var)}) wordt "
                    "minder bereikt: "
                    f"{percent(r.user_share, code, 0)} van de gebruikers tegenover "
                    f"{percent(r.population_share, code, 0)} van het register.",
                    f"{lb.group(r.group_var, r.group)} ({lb.group_var(r.group_var)}) are "
                    "reached less: "
                    f"{percent(r.user_share, code, 0)} of users against "
                    f"{percent(r.population_share, code, 0)} of the register.",
                )
            ),
            {"index": r.index, "index_low": r.ci_low, "index_high": r.ci_high, "n": r.n},
            numbers["reach"],
        )
    drop = float(wk.get("funnel_conversion_below", 0.5))
    by_subject: dict[str, list[Any]] = {}
    for step in result.funnel:
        by_subject.setdefault(step.subject, []).append(step)
    for subject, steps in by_subject.items():
        steps.sort(key=lambda s: s.step)
        if any(s.suppressed or not _visible(s.share) for s in steps):
            continue
        if any(_visible(s.conversion) and (s.conversion or 1) < drop for s in steps[1:]):
            add(
                "weaknesses",
                f"funnel_drop:{subject}",
                both(
                    lambda lb, code, steps=steps: tr(
                        code,
                        "De trechter naar de maatschappelijk assistent lekt: "
                        + ", ".join(f"{lb.item(s.item)}: {percent(s.share, code, 0)}" for s in steps)
                        + ".",
                        "The funnel to the social assistant leaks: "
                        + ", ".join(f"{lb.item(s.item)}: {percent(s.share, code, 0)}" for s in steps)
                        + ".",
                    )
                ),
                {
                    "text": {
                        code: "; ".join(
                            f"{percent(s.share, code, 0)} ({ci_text(s.ci_low, s.ci_high, code)}), n = "
                            f"{number(s.n, code)}"
                            + (
                                f", {tr(code, 'van vorige stap', 'of previous step')} "
                                f"{percent(s.conversion, code, 0)}"
                                if s.step > 1
                                else ""
                            )
                            for s in steps
                        )
                        for code in ("nl", "en")
                    }
                },
                a1,
            )

    # --- Opportunities
    op = rules.get("opportunities", {})
    excluded = set(op.get("need_exclude_codes", []))
    prefix = f"{op.get('need_question')}/"
    needs = [
        row
        for row in overall.values()
        if row.measure == "need"
        and row.item.startswith(prefix)
        and row.code not in excluded
        and not row.suppressed
        and _visible(row.estimate)
    ]
    needs.sort(key=lambda r: -(r.estimate or 0))
    for row in needs[: int(op.get("top_needs", 3))]:
        add(
            "opportunities",
            f"need:{row.item}",
            both(
                lambda lb, code, row=row: tr(
                    code,
                    f"Veel vraag naar '{lb.item(row.item)}': {percent(row.estimate, code, 0)} wil er "
                    "meer informatie of "
                    "ondersteuning over.",
                    f"Wide interest in '{lb.item(row.item)}': {percent(row.estimate, code, 0)} want "
                    "more information or "
                    "support on it.",
                )
            ),
            estimate_evidence(row),
            a1,
        )
    awareness = {
        row.subject: row for row in result.rows("awareness") if row.group_var is None and row.subject
    }
    low, high = float(op.get("low_awareness", 0.4)), float(op.get("high_satisfaction", 0.85))
    for o in result.headline.offerings:
        known = awareness.get(o.subject)
        if known is None or known.suppressed or not _visible(known.estimate) or not _visible(o.estimate):
            continue
        if o.classification in ("suppressed", "no_data", "below"):
            continue
        if (known.estimate or 1) < low and (o.estimate or 0) >= high:
            add(
                "opportunities",
                f"hidden_gem:{o.subject}",
                both(
                    lambda lb, code, o=o, known=known: tr(
                        code,
                        f"{lb.subject(o.subject)} is weinig bekend ({percent(known.estimate, code, 0)}) maar "
                        f"{percent(o.estimate, code, 0)} "
                        "van de gebruikers is tevreden: meer bekendmaken loont.",
                        f"{lb.subject(o.subject)} is little known ({percent(known.estimate, code, 0)}) but "
                        f"{percent(o.estimate, code, 0)} "
                        "of its users are satisfied: making it better known pays off.",
                    )
                ),
                {"estimate": o.estimate, "ci_low": o.ci_low, "ci_high": o.ci_high, "n": o.n},
                a1,
            )
    if contact_result is not None and op.get("contact_suggestions", True):
        for answers in contact_result.open_answers:
            if answers.measure == "suggestion" and answers.n_answered > 0:
                add(
                    "opportunities",
                    f"contact_suggestions:{answers.question}",
                    {
                        "nl": f"{answers.n_answered} contactpersonen gaven suggesties; "
                        "lees ze bij het prioriteren.",
                        "en": f"{answers.n_answered} contact persons made suggestions; "
                        "read them when prioritising.",
                    },
                    {"n": answers.n_answered},
                    tr(lang, "Bevraging contactpersonen", "Contact-person wave"),
                )

    # --- Threats
    th = rules.get("threats", {})
    measures = set(th.get("decline_measures", []))
    changes: list[WaveChangeRow] = [
        w
        for w in result.wave_changes
        if w.group_var is None
        and w.measure in measures
        and not w.suppressed
        and _visible(w.p)
        and _visible(w.difference)
    ]
    method = str(th.get("adjust", "holm"))
    raw = [float(w.p or 1) for w in changes]
    adjusted = holm(raw) if method == "holm" else fdr_bh(raw) if method == "fdr_bh" else raw
    if not result.wave_changes:
        notes.append(
            tr(
                lang,
                "Geen vorige bevraging: de bedreigingen uit dalingen zijn niet bepaald.",
                "No previous wave: threats from declines were not determined.",
            )
        )
    for w, p_adj in zip(changes, adjusted, strict=True):
        if p_adj < alpha and (w.difference or 0) < 0:
            ref = numbers.get("changes")
            add(
                "threats",
                f"declined:{w.item}",
                both(
                    lambda lb, code, w=w: tr(
                        code,
                        f"'{lb.item(w.item)}' daalde significant sinds de vorige bevraging: van "
                        f"{percent(w.earlier, code, 0)} naar "
                        f"{percent(w.later, code, 0)}.",
                        f"'{lb.item(w.item)}' declined significantly since the previous wave: from "
                        f"{percent(w.earlier, code, 0)} to "
                        f"{percent(w.later, code, 0)}.",
                    )
                ),
                {
                    "estimate": w.later,
                    "ci_low": None,
                    "ci_high": None,
                    "difference": w.difference,
                    "test": tr(
                        lang, "verschil tussen bevragingen (t-toets)", "difference between waves (t test)"
                    ),
                    "p_adjusted": p_adj,
                    "adjust_method": method,
                    "kind": w.kind,
                },
                ref,
            )
    if not th.get("register_growth"):
        notes.append(
            tr(
                lang,
                "Regel 'groepen die groeien in het register maar minder bereikt worden': "
                "overgeslagen, want de groei "
                "per groep in het register is (nog) niet beschikbaar.",
                "Rule 'groups growing in the register but under-reached': skipped, as the register "
                "growth per group "
                "is not available (yet).",
            )
        )

    # --- Ambitions and results (the plan follow-up)
    for statement in plan_statements:
        kind = getattr(statement, "kind", None)
        section = "ambitions" if kind == "ambition" else "results" if kind == "result" else None
        if section is None:
            continue
        text = dict(getattr(statement, "text", {}))
        goal = getattr(statement, "goal_id", "")
        indicator = getattr(statement, "indicator_id", None)
        evidence = dict(getattr(statement, "evidence", {}) or {})
        add(
            section,
            f"{kind}:{goal}:{indicator or '-'}",
            {code: _with_goal(goal, text.get(code) or text.get("nl", "")) for code in ("nl", "en")},
            {"text": {code: _plan_evidence(evidence, code) for code in ("nl", "en")}, "plan": evidence},
            tr(lang, "Opvolging van het strategisch plan", "Strategic plan follow-up"),
        )
    if not plan_statements:
        notes.append(
            tr(
                lang,
                "Geen plan gevonden: ambities en resultaten ontbreken.",
                "No plan found: ambitions and results are missing.",
            )
        )

    wave = result.wave
    title = tr(lang, "SWO-ART-input", "SWO-ART input") + (f": {wave.title}" if wave and wave.title else "")
    if results_url:
        for name in SECTIONS:
            sections[name] = [
                s if s.reference else Statement(s.section, s.key, s.text, s.evidence, results_url)
                for s in sections[name]
            ]
    return SwoArt(lang, title, sections, notes)


PLAN_STATUS_TEXT = {
    "reached": {"nl": "doel bereikt", "en": "target reached"},
    "on_track": {"nl": "op schema", "en": "on track"},
    "behind": {"nl": "achter op schema", "en": "behind"},
    "no_data": {"nl": "nog geen meting", "en": "no value yet"},
    "no_baseline": {"nl": "vertrekpunt nog niet bekend", "en": "baseline not known yet"},
}


def _with_goal(goal: str, text: str) -> str:
    """The statement with its goal in front, once (a text may already start with it)."""
    if not goal or text.startswith(f"{goal}:") or text.startswith(f"{goal} "):
        return text
    return f"{goal}: {text}"


def _plan_evidence(evidence: Mapping[str, Any], lang: str) -> str:
    """An indicator's standing in words ("Stand: achter op schema"); actions say it in their text."""
    status = evidence.get("status")
    if not isinstance(status, str) or status not in PLAN_STATUS_TEXT:
        return ""
    return tr(lang, "Stand: ", "Status: ") + PLAN_STATUS_TEXT[status][lang]


# --------------------------------------------------------------------------------------------
# Documents
# --------------------------------------------------------------------------------------------


def swoart_of_wave(
    wave: Any, lang: str = "nl", options: AnalysisOptions | None = None, results_url: str | None = None
) -> SwoArt:
    """The SWO-ART input of a wave, with the plan follow-up of the rules' plan."""
    rules = load_rules()
    result = wave_result(wave, options)
    statements: list[Any] = []
    plan_id = (rules.get("plan") or {}).get("plan_id")
    if plan_id:
        from surveyapp.plan import ambitions_and_results
        from surveyapp.services import followup

        plan = followup.find_plan(str(plan_id))
        if plan is not None:
            statements = list(ambitions_and_results(plan, followup.followup_overview(plan)))
    return swoart_input(
        result, statements, rules, lang, questionnaire=wave_questionnaire(wave), results_url=results_url
    )


def render_html(
    wave: Any, lang: str = "nl", options: AnalysisOptions | None = None, swoart: SwoArt | None = None
) -> str:
    swoart = swoart or swoart_of_wave(wave, lang, options)
    return html_of(swoart)


def html_of(swoart: SwoArt) -> str:
    from flask import render_template

    lang = swoart.lang
    return render_template(
        "reports/swoart.html",
        swoart=swoart,
        lang=lang,
        sections=SECTIONS,
        titles={name: SECTION_TITLES[name][lang] for name in SECTIONS},
        t=lambda nl, en: tr(lang, nl, en),
    )


def render_pdf(wave: Any, lang: str = "nl", options: AnalysisOptions | None = None) -> bytes:
    from surveyapp.reports.pdf import pdf_bytes

    return pdf_bytes(render_html(wave, lang, options))


def docx_of(swoart: SwoArt) -> bytes:
    from docx import Document
    from docx.shared import Mm, Pt, RGBColor

    lang = swoart.lang
    document = Document()
    document.core_properties.title = swoart.title
    document.core_properties.language = lang
    # A4 with the print report's margins on every page, the first included.
    for section in document.sections:
        section.page_width, section.page_height = Mm(210), Mm(297)
        section.top_margin, section.bottom_margin = Mm(22), Mm(20)
        section.left_margin, section.right_margin = Mm(18), Mm(18)
    document.add_heading(swoart.title, level=0)
    for name in SECTIONS:
        document.add_heading(SECTION_TITLES[name][lang], level=1)
        statements = swoart.sections[name]
        if not statements:
            document.add_paragraph(
                tr(lang, "Geen uitspraken volgens de regels.", "No statements by the rules.")
            )
        for statement in statements:
            document.add_paragraph(
                statement.text.get(lang) or statement.text.get("nl", ""), style="List Bullet"
            )
            detail = statement.evidence_text(lang)
            reference = statement.reference_text(lang)
            if detail or reference:
                paragraph = document.add_paragraph()
                run = paragraph.add_run(" — ".join(part for part in (detail, reference) if part))
                run.font.size = Pt(8.5)
                run.font.color.rgb = RGBColor(0x33, 0x46, 0x4D)
    if swoart.notes:
        document.add_heading(tr(lang, "Opmerkingen", "Notes"), level=1)
        for note in swoart.notes:
            document.add_paragraph(note)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def render_docx(wave: Any, lang: str = "nl", options: AnalysisOptions | None = None) -> bytes:
    return docx_of(swoart_of_wave(wave, lang, options))
