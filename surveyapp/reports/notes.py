"""The analysis' technical notes in front of people: in their language, with labels for codes.

`surveyapp.analysis` is pure and writes its notes in English with the ids it works with
(``'leeftijd'``, ``'65plus'``, ``'ken_dienst'``); the JSON keeps them as they are. The workbook
and the PDF report show them through `analysis_note`: each known note in Dutch or English, its
question, item and group ids replaced by their labels. A note of an unknown form stays as
written in English and only in the English output; the Dutch output names it in general words.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from surveyapp.formatting import number
from surveyapp.questionnaire import Questionnaire
from surveyapp.questionnaire.model import localize

Labeller = Callable[[str], str]


def _question_label(questionnaire: Questionnaire | None, lang: str) -> Labeller:
    def label(name: str) -> str:
        if questionnaire is not None:
            for question in questionnaire.questions:
                if question.id == name or (
                    question.measure is not None and question.measure.register_column == name
                ):
                    return localize(question.label, lang).rstrip("?").strip() or name
        return name

    return label


def _choice_label(questionnaire: Questionnaire | None, question_name: str, lang: str) -> Labeller:
    def label(code: str) -> str:
        if code == "_not_asked":
            return "niet gevraagd" if lang == "nl" else "not asked"
        if questionnaire is not None:
            for question in questionnaire.questions:
                if question.id == question_name or (
                    question.measure is not None and question.measure.register_column == question_name
                ):
                    for choice in question.choices:
                        if choice.code == code:
                            return localize(choice.label, lang) or code
        return code

    return label


def _quoted(text: str) -> list[str]:
    return re.findall(r"'([^']*)'", text)


def _list(values: list[str]) -> str:
    return ", ".join(f"‘{value}’" for value in values)


def analysis_note(
    note: str, lang: str, questionnaire: Questionnaire | None = None, items: Labeller | None = None
) -> str:
    """One analysis note in `lang` with labels for its ids (see the module docstring)."""
    nl = lang == "nl"
    question = _question_label(questionnaire, lang)
    item = items or (lambda name: name)
    match = re.fullmatch(r"Raking variable '([^']*)' left out: (.*)", note, re.S)
    if match:
        name, reason = match.groups()
        reason_text = analysis_note(reason, lang, questionnaire, items)
        return (
            f"Weegvariabele ‘{question(name)}’ niet gebruikt: {reason_text}"
            if nl
            else f"Raking variable ‘{question(name)}’ left out: {reason_text}"
        )
    match = re.fullmatch(
        r"raking variable '([^']*)': (\d+) respondent\(s\) were asked but did not answer.*", note
    )
    if match:
        name, count = match.group(1), number(int(match.group(2)), lang)
        return (
            f"{count} respondent(en) kregen de vraag ‘{question(name)}’ maar antwoordden niet."
            if nl
            else f"{count} respondent(s) were asked ‘{question(name)}’ but did not answer."
        )
    match = re.fullmatch(
        r"raking variable '([^']*)': respondents have (.*), which the register column.*", note
    )
    if match:
        name, codes = match.groups()
        choices = _choice_label(questionnaire, name, lang)
        shown = _list([choices(code) for code in _quoted(codes)])
        return (
            f"respondenten antwoordden op ‘{question(name)}’ {shown}, wat het register niet kent."
            if nl
            else f"respondents answered ‘{question(name)}’ with {shown}, which the register does not have."
        )
    match = re.fullmatch(r"raking variable '([^']*)': the register has (\d+) (.*) in column.*", note, re.S)
    if match:
        name, count, what = match.group(1), number(int(match.group(2)), lang), match.group(3)
        choices = _choice_label(questionnaire, name, lang)
        codes = _quoted(what)
        group = choices(codes[0]) if codes and "category" in what else choices("_not_asked")
        return (
            f"het register telt {count} mensen in de groep ‘{group}’ van ‘{question(name)}’, maar geen "
            "respondent: geen gewicht kan hen vertegenwoordigen."
            if nl
            else f"the register has {count} people in the group ‘{group}’ of ‘{question(name)}’ but no "
            "respondent, so no weight can represent them."
        )
    match = re.fullmatch(
        r"Group '([^']*)': no respondent in (.*); those rows have n = 0 and no numbers\.", note
    )
    if match:
        name, codes = match.groups()
        choices = _choice_label(questionnaire, name, lang)
        shown = _list([choices(code) for code in _quoted(codes)])
        return (
            f"‘{question(name)}’: geen respondent in {shown}; die rijen hebben n = 0 en geen cijfers."
            if nl
            else f"‘{question(name)}’: no respondent in {shown}; those rows have n = 0 and no numbers."
        )
    match = re.fullmatch(r"Reach by '([^']*)': answers (.*) do not occur in the register.*", note)
    if match:
        name, codes = match.groups()
        choices = _choice_label(questionnaire, name, lang)
        shown = _list([choices(code) for code in _quoted(codes)])
        return (
            f"Bereik per ‘{question(name)}’: de antwoorden {shown} komen niet voor in het register en "
            "tellen als onbekende groep (niet in de aandelen)."
            if nl
            else f"Reach by ‘{question(name)}’: the answers {shown} do not occur in the register and "
            "count as unknown group (left out of the shares)."
        )
    match = re.fullmatch(r"(\d+) item\(s\) have no answers at all.*?: (.*)", note, re.S)
    if match:
        count, names = number(int(match.group(1)), lang), match.group(2)
        more = names.endswith(" ...")
        listed = _list([item(name) for name in names.removesuffix(" ...").split(", ") if name])
        listed += " …" if more else ""
        return (
            f"{count} item(s) zonder enig antwoord (n = 0, geen cijfers): {listed}"
            if nl
            else f"{count} item(s) have no answers at all (n = 0, no numbers): {listed}"
        )
    match = re.fullmatch(
        r"p_adjusted: (.*) correction across the whole report, separately for the (\d+) "
        r"Rao-Scott tests and the (\d+) group-versus-rest comparisons\.",
        note,
    )
    if match:
        name, tests, comparisons = (match.group(1), *(number(int(n), lang) for n in match.groups()[1:]))
        return (
            f"Gecorrigeerde p-waarden: {name}-correctie over het hele rapport, apart voor de {tests} "
            f"Rao-Scott-toetsen en de {comparisons} vergelijkingen van een groep met de rest."
            if nl
            else f"Adjusted p-values: {name} correction across the whole report, separately for the "
            f"{tests} Rao-Scott tests and the {comparisons} group-versus-rest comparisons."
        )
    match = re.fullmatch(r"Group question '([^']*)' is a (\S+) question: not used for breakdowns\.", note)
    if match:
        name = match.group(1)
        return (
            f"De groepsvraag ‘{question(name)}’ is geen keuzevraag: niet gebruikt om op te splitsen."
            if nl
            else f"The group question ‘{question(name)}’ is not a choice question: not used for breakdowns."
        )
    fixed = {
        "No register given: every respondent has weight 1 (unweighted); no raking and no reach.": (
            "Geen register: elke respondent telt even zwaar (ongewogen); geen weging en geen bereik."
        ),
        "No raking variable could be used: every respondent has the base weight N/n.": (
            "Geen enkele weegvariabele was bruikbaar: elke respondent heeft het basisgewicht N/n."
        ),
        "No multiplicity correction (adjust = none): p-values are per comparison.": (
            "Geen correctie voor meervoudig toetsen: de p-waarden gelden per vergelijking."
        ),
    }
    if note in fixed:
        return fixed[note] if nl else note
    if nl:
        return "Technische opmerking van de analyse (alleen in de Engelse versie uitgeschreven)."
    return note


__all__ = ["analysis_note"]
