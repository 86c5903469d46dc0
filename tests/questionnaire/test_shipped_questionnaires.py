"""The questionnaires shipped in questionnaires/: they load, are complete in both languages and
their profile, funnel and conditions do what the analysis and the demo data rely on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from surveyapp.questionnaire import Question, Questionnaire, load_questionnaire

FOLDER = Path(__file__).resolve().parents[2] / "questionnaires"
GERECHTIGDEN = FOLDER / "gerechtigden.yaml"
CONTACTPERSONEN = FOLDER / "contactpersonen-welzijn.yaml"

# The staff register uses these column names and codes; the survey must use the same ones.
GROUP_CODES: dict[str, tuple[str, ...]] = {
    "status": ("actief", "gepensioneerd"),
    "leeftijd": ("lt30", "30_39", "40_49", "50_59", "60_64", "65plus"),
    "contract": (
        "statutair",
        "contractueel_onbepaald",
        "contractueel_bepaald",
        "kabinet",
        "andere",
    ),
    "niveau": ("a", "b", "c", "d", "onbekend"),
    "gezin": (
        "alleenstaand",
        "samenwonend_zonder_kinderen",
        "samenwonend_met_kinderen",
        "alleenstaand_met_kinderen",
        "andere",
    ),
    "kinderen": ("yes", "no"),
    "beperking": ("ja", "nee", "zeg_niet"),
    "herkomst": ("belgisch", "eu", "buiten_eu", "zeg_niet"),
    "dienstjaren": ("lt2", "2_4", "5_9", "10_19", "20plus"),
    "entiteit": ("kb", "fb", "ov", "wvg", "mow", "omg", "wse", "cjm", "ewi", "lv", "andere"),
}
ACTIVE_ONLY = ("contract", "niveau", "dienstjaren")


@pytest.fixture(scope="module")
def gerechtigden() -> Questionnaire:
    return load_questionnaire(GERECHTIGDEN)


@pytest.fixture(scope="module")
def contactpersonen() -> Questionnaire:
    return load_questionnaire(CONTACTPERSONEN)


def offerings(qn: Questionnaire) -> list[str]:
    return [s.id for s in qn.subjects if s.kind == "offering"]


def all_texts(qn: Questionnaire) -> Iterator[tuple[str, Any]]:
    """Every localised text of a questionnaire, with where it is."""
    yield "title", qn.title
    yield "organisation", qn.organisation
    yield "welcome", qn.welcome
    yield "thanks", qn.thanks
    for subject in qn.subjects:
        yield f"subject {subject.id}", subject.label
    for page in qn.pages:
        yield f"page {page.id} title", page.title
        if page.intro is not None:
            yield f"page {page.id} intro", page.intro
        for question in page.questions:
            yield f"{question.id} label", question.label
            if question.help is not None:
                yield f"{question.id} help", question.help
            for choice in question.choices:
                yield f"{question.id} choice {choice.code}", choice.label
            for item in question.items:
                yield f"{question.id} item {item.id}", item.label


def answers_of_active_user(**overrides: Any) -> dict[str, Any]:
    """A realistic respondent: an active, young contract worker who knows and used the PlusPas."""
    answers: dict[str, Any] = {
        "status": "actief",
        "leeftijd": "30_39",
        "gezin": "samenwonend_met_kinderen",
        "kinderen": "yes",
        "beperking": "nee",
        "herkomst": "belgisch",
        "aantal_kinderen": 2,
        "entiteit": "omg",
        "contract": "contractueel_bepaald",
        "niveau": "b",
        "dienstjaren": "lt2",
        "ken_dienst": "beetje",
        "ken_aanbod/pluspas": "ja",
        "ken_aanbod/sintgeschenk": "ja",
        "gebruik_aanbod/pluspas": "ja",
        "gebruik_aanbod/sintgeschenk": "nee",
        "tevredenheid_aanbod/pluspas": "5",
        "ma_weet": "yes",
        "ma_weet_waarvoor": "no",
        "ma_gevraagd": "no",
        "themas": ["mentaal_welzijn", "werk_prive"],
        "groepsaanbod": "webinar",
        "pensioen_info": "no",
        "kanalen": ["email", "website"],
        "tevreden_dienst": "4",
        "mist_iets": "no",
        "drempels": ["geen_nood"],
        "suggesties": "Meer activiteiten voor jonge gezinnen.",
    }
    for offering in [
        "events",
        "info_pensioen",
        "financiele_tegemoetkomingen",
        "jeugdvakanties",
        "sociale_vakanties",
        "individuele_hulp",
        "zitdagen",
        "e_loket",
        "website",
        "brochures",
        "webinars",
        "workshops",
        "sportaanbod",
        "gezonde_levensstijl",
    ]:
        answers[f"ken_aanbod/{offering}"] = "nee"
    answers.update(overrides)
    return answers


def visible_question_ids(qn: Questionnaire, answers: dict[str, Any]) -> set[str]:
    return {q.id for q in qn.questions if qn.question_visible(q, answers)}


def page_ids(qn: Questionnaire, answers: dict[str, Any]) -> list[str]:
    return [page.id for page in qn.visible_pages(answers)]


# --- both files --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [GERECHTIGDEN, CONTACTPERSONEN], ids=lambda p: p.stem)
def test_loads_with_dutch_first_and_english(path: Path) -> None:
    qn = load_questionnaire(path)
    assert qn.languages == ("nl", "en")
    assert qn.welcome
    assert qn.thanks
    assert qn.organisation
    assert qn.estimated_minutes


@pytest.mark.parametrize("path", [GERECHTIGDEN, CONTACTPERSONEN], ids=lambda p: p.stem)
def test_every_text_has_dutch_and_english(path: Path) -> None:
    qn = load_questionnaire(path)
    missing = [
        f"{where} ({lang})"
        for where, text in all_texts(qn)
        for lang in ("nl", "en")
        if not text or not str(text.get(lang, "")).strip()
    ]
    assert missing == []


@pytest.mark.parametrize("path", [GERECHTIGDEN, CONTACTPERSONEN], ids=lambda p: p.stem)
def test_satisfaction_counts_the_top_two_boxes(path: Path) -> None:
    qn = load_questionnaire(path)
    satisfaction = [q for q in qn.questions if q.measure and q.measure.type == "satisfaction"]
    assert satisfaction
    for question in satisfaction:
        assert question.measure is not None
        assert question.measure.positive == ("4", "5"), question.id
        assert {"1", "2", "3", "4", "5"} <= set(question.codes), question.id
        # "don't know" is excluded from the score, not counted as dissatisfied
        missing = {c.code for c in question.choices if c.missing}
        assert missing, question.id
        assert set(question.measure.exclude) == missing, question.id


# --- gerechtigden --------------------------------------------------------------------------------


def test_gerechtigden_identity(gerechtigden: Questionnaire) -> None:
    assert gerechtigden.id == "gerechtigden"
    assert gerechtigden.audience == "gerechtigden"
    assert gerechtigden.estimated_minutes == 15
    welcome = gerechtigden.welcome["nl"] if gerechtigden.welcome else ""
    assert "2026-2029" in welcome
    assert "anoniem" in welcome
    assert "10" in welcome


def test_gerechtigden_has_eight_to_twelve_pages(gerechtigden: Questionnaire) -> None:
    assert 8 <= len(gerechtigden.pages) <= 12


def test_gerechtigden_subjects(gerechtigden: Questionnaire) -> None:
    kinds = {s.id: s.kind for s in gerechtigden.subjects}
    assert kinds["sociale_dienst"] == "service"
    assert kinds["maatschappelijk_assistent"] == "assistant"
    assert len(offerings(gerechtigden)) >= 15
    for expected in ("pluspas", "sintgeschenk", "events", "info_pensioen", "jeugdvakanties"):
        assert kinds[expected] == "offering"


@pytest.mark.parametrize("column", sorted(GROUP_CODES))
def test_group_question_matches_the_register(gerechtigden: Questionnaire, column: str) -> None:
    question = gerechtigden.question(column)
    assert question.measure is not None
    assert question.measure.type == "group"
    assert question.measure.register_column == column
    assert question.codes == GROUP_CODES[column]


def test_active_only_questions_come_after_status(gerechtigden: Questionnaire) -> None:
    status_page = gerechtigden.page_index(gerechtigden.question("status").page_id)
    for qid in ACTIVE_ONLY:
        question = gerechtigden.question(qid)
        assert question.show_if_source == "status = 'actief'"
        assert gerechtigden.page_index(question.page_id) > status_page


def test_key_questions_are_required(gerechtigden: Questionnaire) -> None:
    for qid in ("status", "leeftijd", "entiteit", "ken_dienst", "ken_aanbod", "ma_weet"):
        assert gerechtigden.question(qid).required, qid


def test_has_a_bounded_number_and_an_information_text(gerechtigden: Questionnaire) -> None:
    numbers = [q for q in gerechtigden.questions if q.type == "number"]
    assert numbers
    assert all(q.minimum is not None and q.maximum is not None for q in numbers)
    assert any(q.type == "info" for q in gerechtigden.questions)


def test_awareness_usage_and_satisfaction_matrices(gerechtigden: Questionnaire) -> None:
    know = gerechtigden.question("ken_aanbod")
    use = gerechtigden.question("gebruik_aanbod")
    rate = gerechtigden.question("tevredenheid_aanbod")
    offers = offerings(gerechtigden)
    for question, measure in ((know, "awareness"), (use, "usage"), (rate, "satisfaction")):
        assert question.type == "matrix"
        assert question.measure is not None
        assert question.measure.type == measure
        assert [item.subject for item in question.items] == offers
    assert know.measure is not None
    assert know.measure.positive == ("ja",)
    assert use.measure is not None
    assert use.measure.positive == ("ja",)
    # each on its own, later page: conditions only look at earlier pages
    pages = [gerechtigden.page_index(q.page_id) for q in (know, use, rate)]
    assert pages == sorted(set(pages))


def test_usage_implies_not_used_when_hidden(gerechtigden: Questionnaire) -> None:
    use = gerechtigden.question("gebruik_aanbod")
    assert use.implied_if_hidden == "nee"
    assert use.measure is not None
    assert use.implied_if_hidden not in use.measure.positive
    for item in use.items:
        assert item.show_if_source == f"ken_aanbod/{item.id} = 'ja'"
    rate = gerechtigden.question("tevredenheid_aanbod")
    for item in rate.items:
        assert item.show_if_source == f"gebruik_aanbod/{item.id} = 'ja'"


def funnel(qn: Questionnaire) -> list[Question]:
    steps = [
        q
        for q in qn.questions
        if q.measure and q.measure.funnel_step and q.measure.subject == "maatschappelijk_assistent"
    ]
    return sorted(steps, key=lambda q: q.measure.funnel_step if q.measure else 0)


def test_social_assistant_funnel(gerechtigden: Questionnaire) -> None:
    steps = funnel(gerechtigden)
    assert [q.measure.funnel_step for q in steps if q.measure] == [1, 2, 3]
    step1, step2, step3 = steps
    assert step1.measure
    assert step1.measure.type == "awareness"
    assert step2.measure
    assert step2.measure.type == "awareness"
    assert step2.measure.aspect == "purpose"
    assert step3.measure
    assert step3.measure.type == "usage"
    assert step3.implied_if_hidden == "no"
    assert step1.required
    # step 2 and 3 only for those who know they can call on a social assistant
    knows_not = {step1.id: "no"}
    assert not gerechtigden.question_visible(step2, knows_not)
    assert not gerechtigden.question_visible(step3, knows_not)
    knows = {step1.id: "yes"}
    assert gerechtigden.question_visible(step2, knows)
    assert gerechtigden.question_visible(step3, knows)


def test_help_type_and_contact_satisfaction_only_for_those_who_asked(
    gerechtigden: Questionnaire,
) -> None:
    help_type = gerechtigden.question("hulpvraag")
    assert help_type.type == "multiple_choice"
    assert help_type.measure is not None
    assert help_type.measure.type == "help_type"
    assert set(help_type.codes) == {
        "financieel",
        "administratief",
        "psychosociaal",
        "werkgerelateerd",
        "andere",
    }
    contact = gerechtigden.question("ma_tevredenheid")
    assert contact.measure is not None
    assert contact.measure.subject == "maatschappelijk_assistent"
    assert [item.id for item in contact.items] == ["houding", "aanpak", "snelheid", "deskundigheid"]
    asked = answers_of_active_user(ma_gevraagd="yes")
    not_asked = answers_of_active_user()
    assert "ma_contact" in page_ids(gerechtigden, asked)
    assert "ma_contact" not in page_ids(gerechtigden, not_asked)


def test_other_measures_are_present(gerechtigden: Questionnaire) -> None:
    measures = {q.measure.type for q in gerechtigden.questions if q.measure}
    assert {"missing_offer", "need", "suggestion", "help_type", "group"} <= measures
    suggestion = [q for q in gerechtigden.questions if q.measure and q.measure.type == "suggestion"]
    assert all(q.type == "long_text" for q in suggestion)


# --- visibility on realistic answers ------------------------------------------------------------


def test_active_respondent_sees_the_work_questions(gerechtigden: Questionnaire) -> None:
    answers = answers_of_active_user()
    visible = visible_question_ids(gerechtigden, answers)
    assert {"contract", "niveau", "dienstjaren", "pensioen_info", "aantal_kinderen"} <= visible
    assert gerechtigden.clean_answers(answers)["contract"] == "contractueel_bepaald"


def test_retired_respondent_does_not_see_contract(gerechtigden: Questionnaire) -> None:
    answers = answers_of_active_user(status="gepensioneerd", leeftijd="65plus")
    visible = visible_question_ids(gerechtigden, answers)
    assert not {"contract", "niveau", "dienstjaren", "pensioen_info"} & visible
    assert "entiteit" in visible  # the domain where they last worked
    # an answer given before switching to "retired" is dropped
    cleaned = gerechtigden.clean_answers(answers)
    for qid in (*ACTIVE_ONLY, "pensioen_info"):
        assert qid not in cleaned
    assert cleaned["entiteit"] == "omg"
    assert "uw_werk" in page_ids(gerechtigden, answers)


def test_children_count_only_with_children_at_home(gerechtigden: Questionnaire) -> None:
    answers = answers_of_active_user(kinderen="no", gezin="alleenstaand")
    assert "aantal_kinderen" not in visible_question_ids(gerechtigden, answers)
    assert "aantal_kinderen" not in gerechtigden.clean_answers(answers)


def test_someone_who_knows_no_offering_sees_no_usage_page(gerechtigden: Questionnaire) -> None:
    answers = {
        key: value
        for key, value in answers_of_active_user(ken_dienst="niet").items()
        if not key.startswith(("gebruik_aanbod/", "tevredenheid_aanbod/", "tevreden_dienst"))
    }
    answers.update({f"ken_aanbod/{o}": "nee" for o in offerings(gerechtigden)})
    pages = page_ids(gerechtigden, answers)
    assert "gebruik" not in pages
    assert "tevredenheid" not in pages
    assert "bekendheid" in pages
    assert "behoeften" in pages
    assert "tevreden_dienst" not in visible_question_ids(gerechtigden, answers)


def test_changing_awareness_to_no_drops_later_answers(gerechtigden: Questionnaire) -> None:
    # Someone first said they know and used offerings, then went back and said they know none.
    stale = answers_of_active_user(
        **{f"ken_aanbod/{o}": "nee" for o in offerings(gerechtigden)}, ken_dienst="niet"
    )
    cleaned = gerechtigden.clean_answers(stale)
    assert not any(key.startswith(("gebruik_aanbod/", "tevredenheid_aanbod/")) for key in cleaned)
    assert "tevreden_dienst" not in cleaned  # does not know the service well enough to rate it
    # Visibility is judged on the cleaned answers: the stale usage answers must not count.
    pages = page_ids(gerechtigden, cleaned)
    assert "gebruik" not in pages
    assert "tevredenheid" not in pages


def test_usage_and_satisfaction_follow_what_is_known_and_used(gerechtigden: Questionnaire) -> None:
    answers = answers_of_active_user()
    pages = page_ids(gerechtigden, answers)
    assert pages.index("bekendheid") < pages.index("gebruik") < pages.index("tevredenheid")
    use = gerechtigden.question("gebruik_aanbod")
    shown = [item.id for item in use.items if gerechtigden.item_visible(use, item, answers)]
    assert shown == ["pluspas", "sintgeschenk"]
    rate = gerechtigden.question("tevredenheid_aanbod")
    rated = [item.id for item in rate.items if gerechtigden.item_visible(rate, item, answers)]
    assert rated == ["pluspas"]
    # a satisfaction answer for something not used (any more) is dropped
    changed = answers_of_active_user(**{"gebruik_aanbod/pluspas": "nee"})
    cleaned = gerechtigden.clean_answers(changed)
    assert "tevredenheid_aanbod/pluspas" not in cleaned
    assert "tevredenheid" not in page_ids(gerechtigden, changed)


def test_full_path_for_an_active_respondent(gerechtigden: Questionnaire) -> None:
    answers = answers_of_active_user()
    assert page_ids(gerechtigden, answers) == [
        "over_u",
        "uw_werk",
        "bekendheid",
        "gebruik",
        "tevredenheid",
        "maatschappelijk_assistent",
        "ma_hulp",
        "behoeften",
        "mening",
    ]
    assert gerechtigden.clean_answers(answers) == answers


# --- contactpersonen welzijn ----------------------------------------------------------------------


def test_contactpersonen_identity_and_pages(contactpersonen: Questionnaire) -> None:
    assert contactpersonen.id == "contactpersonen_welzijn"
    assert contactpersonen.audience == "contactpersonen"
    assert 5 <= len(contactpersonen.pages) <= 7
    welcome = contactpersonen.welcome["nl"] if contactpersonen.welcome else ""
    # Identified (the wave says so): it warns that answers may be recognisable, and never uses
    # the word "anoniem", not even negated (respondents skim it as "anonymous").
    assert "herkenbaar" in welcome
    assert "anonie" not in welcome.lower()


def test_contactpersonen_entity_matches_register_and_staff_survey(
    contactpersonen: Questionnaire, gerechtigden: Questionnaire
) -> None:
    entity = contactpersonen.question("entiteit")
    assert entity.measure is not None
    assert entity.measure.register_column == "entiteit"
    assert entity.codes == GROUP_CODES["entiteit"]
    assert entity.required


def test_contactpersonen_shares_subject_ids(
    contactpersonen: Questionnaire, gerechtigden: Questionnaire
) -> None:
    staff_subjects = {s.id for s in gerechtigden.subjects}
    assert {s.id for s in contactpersonen.subjects} <= staff_subjects


def test_contactpersonen_measures(contactpersonen: Questionnaire) -> None:
    by_type: dict[str, list[Question]] = {}
    for question in contactpersonen.questions:
        if question.measure:
            by_type.setdefault(question.measure.type, []).append(question)
    awareness_subjects = {q.measure.subject for q in by_type["awareness"] if q.measure}
    assert {"sociale_dienst", "maatschappelijk_assistent"} <= awareness_subjects
    assert {"need", "suggestion", "satisfaction", "group"} <= set(by_type)
    statements = contactpersonen.question("stellingen")
    assert {"toegankelijk", "onafhankelijk", "professioneel"} <= {i.id for i in statements.items}
    signals = contactpersonen.question("signalen")
    expected = {"financiele_problemen", "stress_burnout", "conflicten", "verslaving", "eenzaamheid"}
    assert expected <= set(signals.codes)


def random_answers(qn: Questionnaire, rng: Any) -> dict[str, Any]:
    """Any answers the questions allow, each question left out now and then (part-way)."""
    answers: dict[str, Any] = {}
    for question in qn.questions:
        for key in question.variable_names():
            if rng.random() < 0.3:
                continue
            codes = list(question.codes)
            if question.type == "multiple_choice":
                answers[key] = [code for code in codes if rng.random() < 0.4]
            elif codes:
                answers[key] = codes[rng.integers(len(codes))]
            elif question.type == "number":
                answers[key] = int(rng.integers(0, 50))
            else:
                answers[key] = "tekst"
    return answers


@pytest.mark.parametrize("path", [GERECHTIGDEN, CONTACTPERSONEN], ids=lambda p: p.stem)
def test_visible_pages_kept_per_condition_answers_equal_a_fresh_evaluation(path: Path) -> None:
    # visible_pages keeps its result per combination of the answers conditions read; a page
    # view must never get the pages of another combination. Checked against evaluating afresh.
    import numpy as np

    qn = load_questionnaire(path)
    rng = np.random.default_rng(7)
    cases = [random_answers(qn, rng) for _ in range(400)]
    seen = set()
    for answers in cases * 2:  # the second round is served from what the first one kept
        fresh = [
            page.id
            for page in qn.pages
            if qn.page_visible(page, answers) and any(qn.question_visible(q, answers) for q in page.questions)
        ]
        assert page_ids(qn, answers) == fresh
        seen.add(tuple(fresh))
    if path == GERECHTIGDEN:
        assert len(seen) > 1  # its conditions really vary the pages shown (a retiree skips "werk")


def test_visible_pages_memo_keeps_the_recently_used_within_its_bound() -> None:
    import numpy as np

    from surveyapp.questionnaire import model

    qn = load_questionnaire(GERECHTIGDEN)
    rng = np.random.default_rng(11)
    memo = qn._visible_pages_by_condition_answers
    recent = random_answers(qn, rng)
    expected = page_ids(qn, recent)
    for _ in range(3 * model._VISIBLE_PAGES_MEMO_MAX):
        page_ids(qn, random_answers(qn, rng))
        page_ids(qn, recent)  # used all along: never the least recently used
        assert len(memo) <= model._VISIBLE_PAGES_MEMO_MAX
    assert len(memo) == model._VISIBLE_PAGES_MEMO_MAX  # full, not emptied
    kept = len(memo)
    assert page_ids(qn, recent) == expected and len(memo) == kept  # a hit: nothing added
