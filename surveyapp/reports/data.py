"""The shared presentation model of a wave's results: one cached analysis, labels and number text.

`wave_analysis(wave, options)` runs `surveyapp.services.extract.analyze_wave` once per wave,
analysis settings and state of the wave's data (an in-process LRU cache keyed by a fingerprint:
the counts and highest ids of the wave's responses and register), so a results page, its charts
and its downloads share one analysis. `item_label` gives an item's label in a language
and `SUPPRESSED_MARK` is what a suppressed cell shows (numbers as text: `surveyapp.formatting`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from sqlalchemy import func, select

from surveyapp.analysis.measures import measure_items
from surveyapp.analysis.result import AnalysisOptions, AnalysisResult
from surveyapp.extensions import db
from surveyapp.models import RegisterPerson, Response, Wave
from surveyapp.questionnaire import Questionnaire
from surveyapp.questionnaire.model import localize

SUPPRESSED_MARK = "–"
CACHE_SIZE = 16
NOT_ASKED = "_not_asked"

# What each measure (and derived measure) is called in front of people: never its key.
MEASURE_NAMES: dict[str, dict[str, str]] = {
    "awareness": {"nl": "Bekendheid", "en": "Awareness"},
    "usage": {"nl": "Gebruik", "en": "Use"},
    "satisfaction": {"nl": "Tevredenheid", "en": "Satisfaction"},
    "satisfaction_mean": {"nl": "Tevredenheid (gemiddelde score)", "en": "Satisfaction (mean score)"},
    "need": {"nl": "Behoeften", "en": "Needs"},
    "missing_offer": {"nl": "Ontbrekend aanbod", "en": "Missing offer"},
    "help_type": {"nl": "Soort hulpvraag", "en": "Type of help question"},
    "suggestion": {"nl": "Suggesties", "en": "Suggestions"},
    "group": {"nl": "Groep", "en": "Group"},
    "funnel": {"nl": "Trechter maatschappelijk assistent", "en": "Social assistant funnel"},
    "funnel_conversion": {"nl": "Trechter (doorstroming)", "en": "Funnel (conversion)"},
}
CI_METHOD_NAMES = {
    "logit": {"nl": "logit-methode", "en": "logit method"},
    "beta": {"nl": "Korn-Graubard-methode (beta)", "en": "Korn-Graubard method (beta)"},
}

_lock = threading.Lock()
_cache: OrderedDict[Hashable, AnalysisResult] = OrderedDict()
_questionnaires: dict[str, Questionnaire] = {}
_labels: dict[tuple[str, str], dict[str, str]] = {}


def data_fingerprint(wave: Wave) -> tuple[str, ...]:
    """The state of the wave's data: count, lowest and highest (random) id of its responses,
    latest submission day, and count and highest id of its register."""
    responses = db.session.execute(
        select(
            func.count(Response.id),
            func.min(Response.id),
            func.max(Response.id),
            func.max(Response.submitted_on),
        ).where(Response.wave_id == wave.id)
    ).one()
    register = db.session.execute(
        select(func.count(RegisterPerson.id), func.max(RegisterPerson.id)).where(
            RegisterPerson.wave_id == wave.id
        )
    ).one()
    return tuple(str(value) for value in (*responses, *register))


def analysis_key(
    wave: Wave, options: AnalysisOptions | None = None, previous_wave: Wave | None = None
) -> tuple[Hashable, ...]:
    """The cache key: wave, effective options, data fingerprint (and those of the earlier wave)."""
    from surveyapp.services.extract import wave_options

    effective = wave_options(wave, options)
    key: tuple[Hashable, ...] = (wave.id, wave.base_population, effective, data_fingerprint(wave))
    if previous_wave is not None:
        key += (previous_wave.id, previous_wave.base_population, data_fingerprint(previous_wave))
    return key


def analysis_etag(key: tuple[Hashable, ...], *parts: str) -> str:
    """A short stable tag of an analysis key and extra parts (chart name, language, filters)."""
    text = repr(key) + "|" + "|".join(parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def wave_analysis(
    wave: Wave, options: AnalysisOptions | None = None, previous_wave: Wave | None = None
) -> AnalysisResult:
    """The wave's analysis (and its change since `previous_wave`), computed once per data state."""
    key = analysis_key(wave, options, previous_wave)
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    from surveyapp.services.extract import analyze_wave
    from surveyapp.survey.service import questionnaire_of

    result = analyze_wave(wave, options, previous_wave)
    questionnaire = questionnaire_of(wave.questionnaire_version)
    with _lock:
        _questionnaires[questionnaire.content_hash] = questionnaire
        _cache[key] = result
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def clear_cache() -> None:
    """Forget every cached analysis (tests)."""
    with _lock:
        _cache.clear()


def questionnaire_of_result(result: AnalysisResult) -> Questionnaire | None:
    """The questionnaire a cached analysis was made with (None if it was never seen here)."""
    return _questionnaires.get(result.questionnaire.content_hash)


def item_labels(questionnaire: Questionnaire, lang: str) -> dict[str, str]:
    """Every item's label in a language (falling back to Dutch)."""
    key = (questionnaire.content_hash, lang)
    if key not in _labels:
        languages = (lang, *(code for code in questionnaire.languages if code != lang))
        localized = dataclasses.replace(questionnaire, languages=languages)
        _labels[key] = {item.item: item.label for item in measure_items(localized)}
        _questionnaires.setdefault(questionnaire.content_hash, questionnaire)
    return _labels[key]


def item_label(source: AnalysisResult | Questionnaire, row: Any, lang: str) -> str:
    """The label of an item (a row with an `item` field, or an item name) in a language."""
    item = row if isinstance(row, str) else str(row.item)
    questionnaire = source if isinstance(source, Questionnaire) else questionnaire_of_result(source)
    if questionnaire is not None:
        label = item_labels(questionnaire, lang).get(item)
        if label:
            return label
    if isinstance(source, AnalysisResult):
        for info in source.items:
            if info.item == item:
                return info.label
    return item


def group_var_label(questionnaire: Questionnaire | None, group_var: str, lang: str) -> str:
    """A group variable's label (its question's label)."""
    if questionnaire is not None:
        for question in questionnaire.questions:
            if question.id == group_var or (
                question.measure is not None and question.measure.register_column == group_var
            ):
                return localize(question.label, lang) or group_var
    return group_var


def group_label(questionnaire: Questionnaire | None, group_var: str, group: str, lang: str) -> str:
    """A group's label (its answer label in the group question)."""
    if group == NOT_ASKED:
        return "niet gevraagd" if lang == "nl" else "not asked"
    if questionnaire is not None:
        for question in questionnaire.questions:
            if question.id == group_var or (
                question.measure is not None and question.measure.register_column == group_var
            ):
                for choice in question.choices:
                    if choice.code == group:
                        return localize(choice.label, lang) or group
    return group


def subject_label(questionnaire: Questionnaire | None, subject: str | None, lang: str) -> str:
    """A subject's (offering's) label."""
    if subject is None:
        return ""
    if questionnaire is not None:
        for found in questionnaire.subjects:
            if found.id == subject:
                return localize(found.label, lang) or subject
    return subject


def localize_text(text: Any, lang: str) -> str:
    """A questionnaire text (language → text) in a language, falling back to Dutch."""
    return localize(text, lang)


def adjust_name(method: str, lang: str = "nl") -> str:
    """The multiplicity correction's name as reports show it."""
    none = "geen correctie" if lang == "nl" else "no correction"
    return {"holm": "Holm", "fdr_bh": "Benjamini-Hochberg", "none": none}.get(method, method)


def measure_label(measure: str, lang: str) -> str:
    """A measure's name in a language (its key only for a measure nobody named yet)."""
    return MEASURE_NAMES.get(measure, {}).get(lang) or measure.replace("_", " ")


def group_order(questionnaire: Questionnaire | None, group_var: str, groups: list[str]) -> list[str]:
    """Groups in the questionnaire's answer order (unknown ones after, as found; not asked last)."""
    order: dict[str, int] = {}
    if questionnaire is not None:
        for question in questionnaire.questions:
            if question.id == group_var or (
                question.measure is not None and question.measure.register_column == group_var
            ):
                order = {choice.code: index for index, choice in enumerate(question.choices)}
                break
    found = {group: index for index, group in enumerate(groups)}
    return sorted(groups, key=lambda g: (g == NOT_ASKED, order.get(g, len(order) + found[g])))


__all__ = [
    "MEASURE_NAMES",
    "SUPPRESSED_MARK",
    "adjust_name",
    "analysis_etag",
    "analysis_key",
    "clear_cache",
    "group_label",
    "group_order",
    "group_var_label",
    "item_label",
    "item_labels",
    "measure_label",
    "subject_label",
    "wave_analysis",
]
