"""The demo: synthetic data shaped like the real survey (pure) and ``surveyapp demo`` (both databases)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import pytest
from flask import Flask
from sqlalchemy import func, select

from surveyapp import demo_data
from surveyapp.demo import CONTACT_SLUG, PLANNER_EMAIL, WAVE_SLUG
from surveyapp.demo_data import Population
from surveyapp.extensions import db
from surveyapp.models import DraftAnswers, Invitation, RegisterPerson, Response, User, Wave
from surveyapp.questionnaire import Questionnaire, load_questionnaire
from surveyapp.services.users import authenticate
from surveyapp.survey.service import missing_required
from tests.conftest import REPO

QUESTIONNAIRES = REPO / "questionnaires"
Answers = list[dict[str, Any]]


@pytest.fixture(scope="module")
def questionnaire() -> Questionnaire:
    return load_questionnaire(QUESTIONNAIRES / "gerechtigden.yaml")


@pytest.fixture(scope="module")
def contact_questionnaire() -> Questionnaire:
    return load_questionnaire(QUESTIONNAIRES / "contactpersonen-welzijn.yaml")


@pytest.fixture(scope="module")
def population(questionnaire: Questionnaire) -> Population:
    return demo_data.generate_population(questionnaire, np.random.default_rng(7))


@pytest.fixture(scope="module")
def survey(questionnaire: Questionnaire, population: Population) -> tuple[np.ndarray, Answers]:
    """The full-size demo: 18,000 respondents of 44,982, generated strictly (no answer to clean away)."""
    rng = np.random.default_rng(11)
    index = demo_data.choose_respondents(population, rng, demo_data.RESPONSES)
    return index, demo_data.generate_answers(questionnaire, population, index, rng, strict=True)


@pytest.fixture(scope="module")
def answers(survey: tuple[np.ndarray, Answers]) -> Answers:
    return survey[1]


def share(rows: Answers, hit: Callable[[dict[str, Any]], bool]) -> float:
    assert rows
    return sum(1 for row in rows if hit(row)) / len(rows)


def aware(row: dict[str, Any]) -> bool:
    return row["ken_dienst"] in ("goed", "beetje")


def among(rows: Answers, key: str, value: str) -> Answers:
    return [row for row in rows if row.get(key) == value]


# --- the population ---------------------------------------------------------------------------------


def test_population_has_the_real_margins(population: Population) -> None:
    assert len(population) == 44_982
    status = Counter(population.columns["status"])
    assert status == {"actief": 30_523, "gepensioneerd": 14_459}
    assert population.keys[0] == "P000001" and population.keys[-1] == "P044982"
    assert len(set(population.keys)) == len(population)
    assert population.emails[0] == "p000001@demo.invalid"
    english = float(np.mean(population.languages == "en"))
    assert 0.08 <= english <= 0.12
    assert set(population.languages) == {"nl", "en"}


def test_smaller_population_keeps_the_proportion(questionnaire: Questionnaire) -> None:
    small = demo_data.generate_population(questionnaire, np.random.default_rng(1), 2000)
    assert len(small) == 2000
    assert int(small.active.sum()) == round(2000 * 30_523 / 44_982)


def test_group_columns_are_the_questionnaires_register_columns_and_codes(
    questionnaire: Questionnaire, population: Population
) -> None:
    groups = demo_data.group_questions(questionnaire)
    assert set(population.columns) == set(groups)
    assert {"status", "leeftijd", "gezin", "kinderen", "beperking", "herkomst", "entiteit"} <= set(groups)
    for column, question in groups.items():
        used = {str(v) for v in population.columns[column] if v}
        assert used <= set(question.codes), column
    active = population.active
    for column in demo_data.ACTIVE_ONLY:
        assert all(population.columns[column][active]), column
        assert not any(population.columns[column][~active]), column  # hidden question for retirees
    retired_ages = Counter(population.columns["leeftijd"][~active])
    assert (retired_ages["60_64"] + retired_ages["65plus"]) / (~active).sum() > 0.95
    active_ages = Counter(population.columns["leeftijd"][active])
    assert active_ages["65plus"] == 0 and active_ages["lt30"] / active.sum() < 0.12
    # Children at home go with the household situation.
    with_children = population.columns["gezin"] == "samenwonend_met_kinderen"
    assert set(population.columns["kinderen"][with_children]) == {"yes"}
    assert set(population.columns["kinderen"][population.columns["gezin"] == "alleenstaand"]) == {"no"}
    person = population.groups(len(population) - 1)
    assert person["status"] == "gepensioneerd" and "contract" not in person


# --- the answers --------------------------------------------------------------------------------------


def test_answers_are_exactly_what_the_form_stores(questionnaire: Questionnaire, answers: Answers) -> None:
    assert len(answers) == 18_000
    # strict=True made the generator compare every dict with clean_answers; check some again here.
    for row in answers[::6]:
        assert questionnaire.clean_answers(row) == row
        assert demo_data.unanswered_required(questionnaire, row) == []
    for row in answers[:500]:
        assert missing_required(questionnaire, row) is None  # the submit check of the web flow
    for row in answers[:2000]:
        for key, value in row.items():
            question = questionnaire.question(key.split("/", 1)[0])
            if question.type == "multiple_choice":
                assert isinstance(value, list) and value and set(value) <= set(question.codes), key
                assert value == [c for c in question.codes if c in value]  # in the form's order
            elif question.type == "number":
                assert type(value) is int and question.minimum <= value <= question.maximum, key
            elif question.type in {"text", "long_text"}:
                assert isinstance(value, str) and 0 < len(value) <= (question.max_length or 300)
            else:
                assert isinstance(value, str) and value in question.codes, (key, value)


def test_profile_answers_are_the_register_groups(
    questionnaire: Questionnaire, population: Population, survey: tuple[np.ndarray, Answers]
) -> None:
    index, rows = survey
    groups = demo_data.group_questions(questionnaire)
    for person, row in zip(index[:3000], rows[:3000]):
        profile = {column: row[q.id] for column, q in groups.items() if q.id in row}
        assert profile == population.groups(int(person))
    retired = among(rows, "status", "gepensioneerd")
    assert retired and not any("contract" in row for row in retired)


def test_response_is_lower_for_hard_to_reach_groups(
    population: Population, survey: tuple[np.ndarray, Answers]
) -> None:
    index, _ = survey
    responded = np.zeros(len(population), dtype=bool)
    responded[index] = True
    c = population.columns

    def rate(column: str, value: str) -> float:
        return float(responded[c[column] == value].mean())

    assert 0.38 < responded.mean() < 0.42  # 18,000 of 44,982, as 17,938 then
    assert rate("leeftijd", "lt30") < rate("leeftijd", "50_59") - 0.15
    assert rate("contract", "contractueel_bepaald") < rate("contract", "statutair") - 0.1
    assert rate("herkomst", "buiten_eu") < rate("herkomst", "belgisch") - 0.1
    assert rate("dienstjaren", "lt2") < rate("dienstjaren", "20plus") - 0.1
    assert rate("niveau", "a") < rate("niveau", "c")
    assert rate("status", "gepensioneerd") > rate("status", "actief")


def test_awareness_follows_the_documented_groups(answers: Answers) -> None:
    def aware_share(key: str, value: str) -> float:
        return share(among(answers, key, value), aware)

    assert aware_share("leeftijd", "lt30") < aware_share("leeftijd", "50_59") - 0.2
    assert aware_share("status", "gepensioneerd") > aware_share("status", "actief") + 0.05
    assert aware_share("contract", "contractueel_bepaald") < aware_share("contract", "statutair") - 0.15
    assert aware_share("gezin", "alleenstaand") < aware_share("gezin", "samenwonend_met_kinderen")
    assert aware_share("herkomst", "buiten_eu") < aware_share("herkomst", "belgisch") - 0.1
    assert aware_share("dienstjaren", "lt2") < aware_share("dienstjaren", "20plus") - 0.2
    assert aware_share("niveau", "a") < aware_share("niveau", "c") - 0.1
    assert aware_share("niveau", "d") > aware_share("niveau", "b")
    assert aware_share("beperking", "ja") > aware_share("beperking", "nee") + 0.05
    young = among(answers, "leeftijd", "lt30")
    old = among(answers, "leeftijd", "50_59")
    assert share(young, lambda r: r["ken_aanbod/pluspas"] == "ja") < share(
        old, lambda r: r["ken_aanbod/pluspas"] == "ja"
    )


def test_usage_three_quarters_mostly_pluspas_sintgeschenk_events(
    questionnaire: Questionnaire, answers: Answers
) -> None:
    offerings = [item.id for item in questionnaire.question("ken_aanbod").items]
    used_any = share(answers, lambda r: any(r.get(f"gebruik_aanbod/{o}") == "ja" for o in offerings))
    assert 0.71 <= used_any <= 0.79
    usage = {o: share(answers, lambda r, o=o: r.get(f"gebruik_aanbod/{o}") == "ja") for o in offerings}
    top = sorted(usage, key=usage.__getitem__, reverse=True)[:3]
    assert set(top) == {"pluspas", "sintgeschenk", "events"}
    assert usage["individuele_hulp"] < 0.1 < usage["events"]  # services far more than individual help
    childless = among(answers, "kinderen", "no")
    assert not any(row.get("gebruik_aanbod/sintgeschenk") == "ja" for row in childless)


def test_twelve_offerings_score_above_80_percent_satisfaction(
    questionnaire: Questionnaire, answers: Answers
) -> None:
    offerings = [item.id for item in questionnaire.question("ken_aanbod").items]
    top2 = {}
    for offering in offerings:
        scores = [
            r[f"tevredenheid_aanbod/{offering}"]
            for r in answers
            if r.get(f"tevredenheid_aanbod/{offering}") not in (None, "na")
        ]
        assert len(scores) > 300, offering
        top2[offering] = sum(s in ("4", "5") for s in scores) / len(scores)
    high = [o for o, value in top2.items() if value >= 0.8]
    low = [o for o, value in top2.items() if value < 0.75]
    assert 11 <= len(high) <= 13, top2
    assert 3 <= len(low) <= 4, top2
    assert share(answers, lambda r: r.get("tevreden_dienst") in ("4", "5")) > 0.6


def test_social_assistant_funnel_and_help_types(answers: Answers) -> None:
    knows = share(answers, lambda r: r["ma_weet"] == "yes")
    knows_what = share(answers, lambda r: r.get("ma_weet_waarvoor") == "yes")
    asked = share(answers, lambda r: r.get("ma_gevraagd") == "yes")
    assert abs(knows - 0.50) < 0.04
    assert abs(knows_what - 0.33) < 0.04
    assert abs(asked - 0.06) < 0.015
    helped = [r["hulpvraag"] for r in answers if "hulpvraag" in r]
    assert len(helped) > 0.9 * asked * len(answers)
    codes = ("financieel", "administratief", "psychosociaal", "werkgerelateerd")
    rates = {code: sum(code in h for h in helped) / len(helped) for code in codes}
    expected = {"financieel": 0.40, "administratief": 0.31, "psychosociaal": 0.21, "werkgerelateerd": 0.19}
    for code, rate in expected.items():
        assert abs(rates[code] - rate) < 0.04, rates  # about 1,000 askers: a few points of noise
    assert 1.05 < sum(len(h) for h in helped) / len(helped) < 1.25  # shares add up to ~110%
    # Asking the social assistant is the individual help of the offer.
    for row in answers:
        if row.get("gebruik_aanbod/individuele_hulp") == "ja":
            assert row["ma_gevraagd"] == "yes"


def test_almost_nine_in_ten_miss_nothing_and_a_few_hundred_suggestions(answers: Answers) -> None:
    given = [r["mist_iets"] for r in answers if "mist_iets" in r]
    assert abs(given.count("no") / len(given) - 0.88) < 0.02
    suggestions = [r["suggesties"] for r in answers if "suggesties" in r]
    assert 200 <= len(suggestions) <= 800
    assert len(set(suggestions)) >= 20
    assert all(r.get("mist_iets") == "yes" for r in answers if "mist_wat" in r)


def test_same_seed_same_data(questionnaire: Questionnaire) -> None:
    def make(seed: int) -> Answers:
        rng = np.random.default_rng(seed)
        population = demo_data.generate_population(questionnaire, rng, 1000)
        index = demo_data.choose_respondents(population, rng, 300)
        return demo_data.generate_answers(questionnaire, population, index, rng)

    assert make(5) == make(5)
    assert make(5) != make(6)


def test_drafts_are_the_first_pages_of_a_questionnaire(
    questionnaire: Questionnaire, population: Population
) -> None:
    rng = np.random.default_rng(3)
    drafts = demo_data.generate_drafts(questionnaire, population, np.arange(50, dtype=np.int64), rng)
    assert len(drafts) == 50
    for draft in drafts:
        assert questionnaire.clean_answers(draft.answers) == draft.answers
        pages = [page.id for page in questionnaire.visible_pages(draft.answers)]
        assert draft.pages_done == pages[: len(draft.pages_done)]
        assert draft.current_page not in draft.pages_done
        assert draft.answers["status"] == population.groups(draft.person)["status"]


def test_submission_dates_peak_at_the_invitation_and_stay_in_the_wave() -> None:
    opens = date(2026, 3, 2)  # a Monday
    days = demo_data.submission_dates(np.random.default_rng(1), 5000, opens, date(2026, 3, 22))
    assert days == sorted(days) and days[0] >= opens and days[-1] <= date(2026, 3, 22)
    counts = Counter(days)
    assert counts[opens] == max(counts.values())
    assert counts[date(2026, 3, 9)] > counts[date(2026, 3, 8)]  # the first reminder


def test_contact_persons_and_their_feedback(contact_questionnaire: Questionnaire) -> None:
    rng = np.random.default_rng(4)
    people = demo_data.generate_contact_people(contact_questionnaire, rng, 60)
    assert len(people) == 60 and len({p.key for p in people}) == 60
    entities = Counter(p.groups["entiteit"] for p in people)
    assert len(entities) >= 10 and set(entities) <= set(contact_questionnaire.question("entiteit").codes)
    rows = demo_data.generate_contact_answers(contact_questionnaire, people[:25], rng, strict=True)
    for person, row in zip(people, rows):
        assert row["entiteit"] == person.groups["entiteit"]
        assert contact_questionnaire.clean_answers(row) == row
        assert demo_data.unanswered_required(contact_questionnaire, row) == []
    texts = " ".join(str(row.get(key, "")) for row in rows for key in ("oordeel_toelichting", "suggesties"))
    for theme in ("laagdrempelig", "onafhankelijk", "professioneel", "verhalen", "welzijnsactoren"):
        assert theme in texts.lower(), theme


def test_unknown_register_column_is_a_clear_error(questionnaire: Questionnaire) -> None:
    import dataclasses

    from surveyapp.questionnaire.model import Measure

    page = questionnaire.pages[0]
    extra = dataclasses.replace(
        page.questions[0], id="regio", measure=Measure(type="group", register_column="regio")
    )
    changed = dataclasses.replace(
        questionnaire,
        pages=(dataclasses.replace(page, questions=(*page.questions, extra)), *questionnaire.pages[1:]),
    )
    with pytest.raises(demo_data.DemoDataError, match="regio"):
        demo_data.generate_population(changed, np.random.default_rng(1), 200)


# --- surveyapp demo on a database -----------------------------------------------------------------------

LINK = re.compile(r"(http://\S+)/s/(\S+)")


def run_demo(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["demo", "--no-serve", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def count(app: Flask, query: Any) -> int:
    with app.app_context():
        return int(db.session.execute(query).scalar_one())


def test_demo_command_seeds_a_small_database(app: Flask) -> None:
    output = run_demo(app, "--people", "2000", "--responses", "800")
    assert "[9/9] planner account" in output and "Demo ready" in output
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == WAVE_SLUG)).scalar_one()
        contact = db.session.execute(select(Wave).where(Wave.slug == CONTACT_SLUG)).scalar_one()
        assert wave.state == "open" and wave.base_population == 2000 and wave.anonymous
        assert contact.audience == "contactpersonen" and not contact.anonymous
        wave_id, contact_id = wave.id, contact.id

    def people(wave: int) -> int:
        return count(
            app, select(func.count()).select_from(RegisterPerson).where(RegisterPerson.wave_id == wave)
        )

    def invited(wave: int, *where: Any) -> int:
        return count(
            app, select(func.count()).select_from(Invitation).where(Invitation.wave_id == wave, *where)
        )

    def responses(wave: int) -> int:
        return count(app, select(func.count()).select_from(Response).where(Response.wave_id == wave))

    assert people(wave_id) == 2000 and invited(wave_id) == 2000
    assert responses(wave_id) == 800
    assert invited(wave_id, Invitation.submitted.is_(True)) == 800
    assert people(contact_id) == 60 and responses(contact_id) == 25
    assert invited(contact_id, Invitation.submitted.is_(True)) == 25
    assert count(app, select(func.count()).select_from(DraftAnswers)) == 10
    assert invited(wave_id, Invitation.started_on.is_not(None), Invitation.submitted.is_(False)) == 10
    with app.app_context():
        stored = db.session.execute(select(Response).where(Response.wave_id == wave_id).limit(50)).scalars()
        for response in stored:
            assert response.source == "web" and response.answers["status"] in ("actief", "gepensioneerd")

    links = {
        label: match.group(2)
        for label in ("Respondent link", "Half-way link", "Contact person")
        for line in output.splitlines()
        if line.strip().startswith(label) and (match := LINK.search(line))
    }
    assert set(links) == {"Respondent link", "Half-way link", "Contact person"}
    client = app.test_client()
    opened = client.get(f"/s/{links['Respondent link']}")
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/survey/")
    assert client.get("/survey/").status_code == 200
    resumed = app.test_client()
    assert resumed.get(f"/s/{links['Half-way link']}").status_code == 302
    assert "/survey/p/" in resumed.get("/survey/").text  # continues where the person stopped

    password = re.search(r"password:\s+(\S+)", output)
    assert password and PLANNER_EMAIL in output and "/login" in output
    with app.app_context():
        planner = authenticate(PLANNER_EMAIL, password.group(1))
        assert planner is not None and planner.role == "admin"


def test_demo_rebuilds_an_existing_demo_and_reuses_it_with_keep(app: Flask) -> None:
    run_demo(app, "--people", "500", "--responses", "100")
    again = run_demo(app, "--people", "600", "--responses", "150")
    assert "existing demo database dropped and rebuilt" in again
    assert count(app, select(func.count()).select_from(RegisterPerson)) == 600 + 60
    assert count(app, select(func.count()).select_from(Response)) == 150 + 25
    assert count(app, select(func.count()).select_from(User)) == 1

    kept = run_demo(app, "--keep")
    assert "existing demo database kept" in kept
    assert count(app, select(func.count()).select_from(Response)) == 150 + 25
    link = LINK.search(kept)
    assert link and app.test_client().get(f"/s/{link.group(2)}").status_code == 302
    password = re.search(r"password:\s+(\S+)", kept)
    with app.app_context():
        assert password and authenticate(PLANNER_EMAIL, password.group(1)) is not None


def test_demo_never_touches_a_database_with_other_data(app: Flask) -> None:
    from surveyapp.services.users import create_user

    with app.app_context():
        create_user("planner@example.org", "a-long-real-password", "admin")
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["demo", "--no-serve", "--people", "200"])
    assert result.exit_code != 0
    assert "not demo data" in result.output
    assert count(app, select(func.count()).select_from(User)) == 1
    assert count(app, select(func.count()).select_from(Wave)) == 0


def test_generated_answers_are_exactly_what_the_web_form_stores(app: Flask) -> None:
    """Three synthetic respondents answer through the real pages: the stored responses are their answers."""
    from surveyapp.demo import web_form_data
    from surveyapp.services.questionnaires import store_file
    from surveyapp.services.waves import RegisterRow, add_register, create_invitations, create_wave, set_state

    rng = np.random.default_rng(8)
    with app.app_context():
        version, questionnaire = store_file(QUESTIONNAIRES / "gerechtigden.yaml")
        population = demo_data.generate_population(questionnaire, rng, 200)
        wave = create_wave(version, slug="web", title="Web")
        add_register(
            wave,
            (
                RegisterRow(population.keys[i], None, "nl", population.groups(i))
                for i in range(len(population))
            ),
        )
        set_state(wave, "open")
        tokens = create_invitations(wave)
        db.session.commit()
    # A retiree, someone who asked a social assistant, and someone active.
    index = demo_data.choose_respondents(population, rng, 200)
    generated = demo_data.generate_answers(questionnaire, population, index, rng)
    picks = [
        next(i for i, a in enumerate(generated) if a["status"] == "gepensioneerd"),
        next(i for i, a in enumerate(generated) if a.get("ma_gevraagd") == "yes"),
        next(i for i, a in enumerate(generated) if a["status"] == "actief" and "suggesties" not in a),
    ]
    for pick in picks:
        given = generated[pick]
        client = app.test_client()
        assert client.get(f"/s/{tokens[population.keys[int(index[pick])]]}").status_code == 302
        page_id = questionnaire.visible_pages(given)[0].id
        while True:
            page = questionnaire.pages[questionnaire.page_index(page_id)]
            saved = client.post(f"/survey/p/{page_id}", data={**web_form_data(page, given), "action": "next"})
            assert saved.status_code == 302, (page_id, saved.text[:500])
            if saved.headers["Location"].endswith("/survey/review"):
                break
            page_id = saved.headers["Location"].rsplit("/", 1)[1]
        assert client.post("/survey/submit").headers["Location"].endswith("/survey/thanks")
    closed = app.test_cli_runner().invoke(args=["wave", "close", "web"])  # releases the three
    assert closed.exit_code == 0, closed.output
    with app.app_context():
        stored = db.session.execute(select(Response.answers)).scalars().all()
    assert sorted(json.dumps(a, sort_keys=True) for a in stored) == sorted(
        json.dumps(generated[p], sort_keys=True) for p in picks
    )


def test_demo_rebuilds_a_demo_database_the_migrations_cannot_upgrade(app: Flask) -> None:
    from sqlalchemy import text

    run_demo(app, "--people", "300", "--responses", "50")
    with app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = 'gone'"))
        db.session.commit()
        db.engine.dispose()
    kept = app.test_cli_runner().invoke(args=["demo", "--no-serve", "--keep"])
    assert kept.exit_code != 0 and "cannot upgrade" in kept.output
    assert count(app, select(func.count()).select_from(Response)) == 50 + 25  # untouched
    rebuilt = run_demo(app, "--people", "400", "--responses", "60")
    assert "could not upgrade dropped and rebuilt" in rebuilt
    assert count(app, select(func.count()).select_from(Response)) == 60 + 25
