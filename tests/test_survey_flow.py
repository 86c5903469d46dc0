"""The respondent's way through a survey, end to end through the real pages, on both databases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from surveyapp import crypto
from surveyapp.extensions import db
from surveyapp.models import DraftAnswers, Invitation, PendingSubmission, RegisterPerson, Response
from surveyapp.services.questionnaires import store_file
from surveyapp.services.waves import RegisterRow, add_register, create_invitations, create_wave, set_state
from surveyapp.survey import service, views
from tests.conftest import DATA, csrf_token_of

MINI = DATA / "questionnaires" / "mini.yaml"


def make_wave(app: Flask, people: int = 3, path: Path = MINI) -> dict[str, str]:
    with app.app_context():
        return _make_wave(people, path)


def _make_wave(people: int, path: Path) -> dict[str, str]:
    version, _ = store_file(path)
    wave = create_wave(version, slug="test-2026", title="Test wave")
    add_register(
        wave,
        (
            RegisterRow(f"p{i}", f"p{i}@example.org", "nl" if i % 2 == 0 else "en", {"status": "actief"})
            for i in range(people)
        ),
    )
    set_state(wave, "open")
    tokens = create_invitations(wave)
    db.session.commit()
    return tokens


def close_wave(app: Flask, slug: str = "test-2026") -> None:
    """Close the wave as a planner does on the command line: pending submissions become responses."""
    result = app.test_cli_runner().invoke(args=["wave", "close", slug])
    assert result.exit_code == 0, result.output


def fetch_all(app: Flask, query):  # type: ignore[no-untyped-def]
    """Rows of a query, read in a fresh app context as a separate observer would."""
    with app.app_context():
        return db.session.execute(query).scalars().all()


def draft_answers(app: Flask) -> dict[str, object]:
    """The answers of the one draft, opened with the app's key (the database holds ciphertext)."""
    with app.app_context():
        draft = db.session.execute(select(DraftAnswers)).scalar_one()
        return service.decrypt_draft(draft.invitation_id, draft.sealed).answers


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return int(db.session.execute(select(func.count()).select_from(model)).scalar_one())


@pytest.fixture
def tokens(app: Flask) -> dict[str, str]:
    return make_wave(app)


def post_page(client: FlaskClient, page: str, data: dict[str, object], action: str = "next"):  # type: ignore[no-untyped-def]
    return client.post(f"/survey/p/{page}", data={**data, "action": action})


def answer_everything(client: FlaskClient, token: str) -> None:
    assert client.get(f"/s/{token}").status_code == 302
    assert (
        post_page(client, "profiel", {"q_status": "actief", "q_kinderen": "2"})
        .headers["Location"]
        .endswith("/survey/p/werk")
    )
    assert post_page(client, "werk", {"q_contract": "statutair"}).status_code == 302
    response = post_page(
        client,
        "kennis",
        {"q_ken_dienst": "yes", "q_ken_aanbod__pluspas": "ja", "q_ken_aanbod__sintgeschenk": "nee"},
    )
    assert response.headers["Location"].endswith("/survey/p/gebruik")
    assert (
        post_page(
            client, "gebruik", {"q_gebruik_aanbod__pluspas": "ja", "q_hulp": ["financieel", "psychosociaal"]}
        )
        .headers["Location"]
        .endswith("/survey/p/tevredenheid")
    )
    response = post_page(
        client,
        "tevredenheid",
        {"q_tevreden_pluspas": "4", "q_financieel_detail": "Studiekosten", "q_suggestie": "Meer info"},
    )
    assert response.headers["Location"].endswith("/survey/review")


def test_full_flow_submits_one_anonymous_response(
    app: Flask, client: FlaskClient, tokens: dict[str, str]
) -> None:
    token = tokens["p0"]
    answer_everything(client, token)
    review = client.get("/survey/review")
    assert review.status_code == 200
    assert "Studiekosten" in review.text and "Statutair" in review.text
    response = client.post("/survey/submit")
    assert response.status_code == 302 and response.headers["Location"].endswith("/survey/thanks")
    assert "Bedankt voor uw tijd." in client.get("/survey/thanks").text
    # Final at once, but a response only in a batch of k (or at closing): one waits, sealed.
    assert count(app, Response) == 0 and count(app, PendingSubmission) == 1
    close_wave(app)
    assert count(app, PendingSubmission) == 0

    stored = fetch_all(app, select(Response))
    assert len(stored) == 1
    answers = stored[0].answers
    assert answers["status"] == "actief"
    assert answers["kinderen"] == 2
    assert answers["ken_aanbod/pluspas"] == "ja"
    assert "gebruik_aanbod/sintgeschenk" not in answers  # hidden row: not asked, not stored
    assert answers["hulp"] == ["financieel", "psychosociaal"]
    assert answers["tevreden_pluspas"] == "4"
    # The draft under the invitation is gone; the invitation only knows the day.
    assert count(app, DraftAnswers) == 0
    submitted = fetch_all(
        app, select(RegisterPerson.person_key).join(Invitation).where(Invitation.submitted.is_(True))
    )
    assert submitted == ["p0"]


def test_link_cannot_submit_twice(app: Flask, client: FlaskClient, tokens: dict[str, str]) -> None:
    answer_everything(client, tokens["p0"])
    assert client.post("/survey/submit").status_code == 302
    again = client.get(f"/s/{tokens['p0']}")
    assert (again.status_code == 200 and "already answered" in again.text.lower()) or "al " in again.text
    # A second browser that had the survey open cannot submit either.
    other = app.test_client()
    (invitation_id,) = fetch_all(app, select(Invitation.id).where(Invitation.submitted.is_(True)))
    with other.session_transaction() as session:
        session[views.SESSION_KEY] = crypto.keys(app.config).seal_handle(invitation_id)
    assert other.post("/survey/submit").status_code == 409
    assert count(app, Response) + count(app, PendingSubmission) == 1


def test_resume_on_another_device(app: Flask, client: FlaskClient, tokens: dict[str, str]) -> None:
    client.get(f"/s/{tokens['p1']}")
    post_page(client, "profiel", {"q_status": "gepensioneerd", "q_kinderen": "0"})
    post_page(client, "kennis", {"q_ken_dienst": "yes", "q_ken_aanbod__pluspas": "ja"}, action="save")

    phone = app.test_client()
    phone.get(f"/s/{tokens['p1']}")
    welcome = phone.get("/survey/")
    assert "/survey/p/kennis" in welcome.text  # continues where the person stopped
    page = phone.get("/survey/p/kennis").text
    assert re.search(r'<input checked id="q_ken_aanbod__pluspas-0"[^>]*value="ja"', page)
    # The retired person skips the work page entirely (condition evaluated on the server).
    assert phone.get("/survey/p/werk").status_code == 404


def test_required_and_invalid_answers_give_422_with_errors_next_to_fields(
    app: Flask, client: FlaskClient, tokens: dict[str, str]
) -> None:
    client.get(f"/s/{tokens['p0']}")
    response = post_page(client, "profiel", {"q_kinderen": "99"})
    assert response.status_code == 422
    assert 'id="q_status-error"' in response.text
    assert 'id="q_kinderen-error"' in response.text
    assert 'aria-describedby="kinderen-help q_kinderen-error"' in response.text
    tampered = post_page(client, "profiel", {"q_status": "<script>alert(1)</script>"})
    assert tampered.status_code == 422
    assert "<script>alert(1)</script>" not in tampered.text
    # Nothing invalid was saved.
    assert "status" not in draft_answers(app)


def test_changing_an_earlier_answer_drops_answers_that_no_longer_apply(
    app: Flask, client: FlaskClient, tokens: dict[str, str]
) -> None:
    answer_everything(client, tokens["p0"])
    post_page(client, "profiel", {"q_status": "gepensioneerd", "q_kinderen": "2"})
    post_page(
        client,
        "kennis",
        {"q_ken_dienst": "yes", "q_ken_aanbod__pluspas": "nee", "q_ken_aanbod__sintgeschenk": "nee"},
    )
    answers = draft_answers(app)
    assert "contract" not in answers
    assert "gebruik_aanbod/pluspas" not in answers
    assert "tevreden_pluspas" not in answers  # hidden because its condition's row went


def test_language_switch_and_invitation_language(
    app: Flask, client: FlaskClient, tokens: dict[str, str]
) -> None:
    client.get(f"/s/{tokens['p1']}")  # p1's preferred language is English
    assert "About you" in client.get("/survey/p/profiel").text
    dutch = client.get("/survey/p/profiel?lang=nl").text
    assert "Over u" in dutch and '<html lang="nl">' in dutch
    assert "Over u" in client.get("/survey/p/profiel").text  # the choice sticks


def _without_token(html: str) -> str:
    return re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "", html)


def test_a_page_opened_fresh_is_rendered_once_and_shows_each_respondent_their_own_state(
    app: Flask, tokens: dict[str, str]
) -> None:
    from surveyapp.forms import build_page_form, builder
    from surveyapp.survey import views

    builder._FORM_CLASSES.clear()
    views._PAGE_FRAMES.clear()
    one, two = app.test_client(), app.test_client()
    one.get(f"/s/{tokens['p0']}")
    two.get(f"/s/{tokens['p2']}")
    first = one.get("/survey/p/profiel").text
    (form_class,) = builder._FORM_CLASSES.values()
    # The questions are seen once, for the Dutch interface, not kept yet: many form classes are
    # seen only once (a matrix's rows follow earlier answers). The page around them is kept at
    # once: it is the same whatever the rows (here page 1 of 4).
    assert form_class.blank_html == {"nl": None}
    # (the last three: an anonymous wave, its threshold, not a preview: what the footer says)
    assert [key[1:] for key in views._PAGE_FRAMES] == [("profiel", "nl", "nl", 0, 4, True, 10, False)]
    second = two.get("/survey/p/profiel").text
    assert form_class.blank_html["nl"]  # now kept
    cached = one.get("/survey/p/profiel").text
    assert _without_token(cached) == _without_token(first) == _without_token(second)
    assert csrf_token_of(cached) != csrf_token_of(second)  # each browser its own token
    assert csrf_token_of(cached) and csrf_token_of(second)
    # The same as a page rendered in full, the way a page with answers is.
    with app.app_context():
        version = db.session.execute(select(Invitation)).scalars().first().wave.questionnaire_version
        questionnaire = views.service.questionnaire_by_hash(version.content_hash, version.id)
    page = questionnaire.pages[questionnaire.page_index("profiel")]
    with app.test_request_context("/survey/p/profiel"):
        full = views._render_page(
            questionnaire,
            page,
            {},
            "nl",
            form=build_page_form(questionnaire, page, "nl", {}),
            mode={"anonymous": True, "threshold": 10, "wave_preview": False},
        )
    assert _without_token(full) == _without_token(cached)
    # A query string is rendered in full (from the kept questions), not served the kept page.
    frames = dict(views._PAGE_FRAMES)
    incomplete = two.get("/survey/p/profiel?incomplete=1").text
    assert "Beantwoord eerst de verplichte vragen op deze pagina." in incomplete
    assert frames == views._PAGE_FRAMES
    # Another interface language is another rendering; saved answers are never served from it.
    english = two.get("/survey/p/profiel?lang=en").text
    assert "(required)" in english and "(verplicht)" in first
    assert sorted(locale for cls in builder._FORM_CLASSES.values() for locale in cls.blank_html) == [
        "en",
        "nl",
    ]
    post_page(one, "profiel", {"q_status": "actief", "q_kinderen": "3"}, action="save")
    again = one.get("/survey/p/profiel").text
    assert re.search(r'<input checked id="q_status-0"[^>]*value="actief"', again)
    assert 'value="3"' in again
    assert "checked" not in two.get("/survey/p/profiel").text


def test_the_page_around_fresh_questions_is_shared_by_every_shape_of_a_matrix(
    app: Flask, tokens: dict[str, str]
) -> None:
    """Rows shown by earlier answers differ per respondent; the frame around them does not."""
    from surveyapp.survey import views

    views._PAGE_FRAMES.clear()
    pages = []
    for person, sint in (("p0", "nee"), ("p2", "ja")):
        client = app.test_client()
        client.get(f"/s/{tokens[person]}")
        post_page(client, "profiel", {"q_status": "actief", "q_kinderen": "2"})
        post_page(client, "werk", {"q_contract": "statutair"})
        knows = {"q_ken_dienst": "yes", "q_ken_aanbod__pluspas": "ja", "q_ken_aanbod__sintgeschenk": sint}
        assert post_page(client, "kennis", knows).headers["Location"].endswith("/survey/p/gebruik")
        pages.append(client.get("/survey/p/gebruik").text)
    frames = [key for key in views._PAGE_FRAMES if key[1] == "gebruik"]
    assert len(frames) == 1  # two shapes of the matrix, one frame
    assert "q_gebruik_aanbod__sintgeschenk" in pages[1] and "q_gebruik_aanbod__sintgeschenk" not in pages[0]
    assert "q_gebruik_aanbod__pluspas" in pages[0] and "q_gebruik_aanbod__pluspas" in pages[1]
    assert pages[0].count("<h1>") == pages[1].count("<h1>") == 1


@pytest.mark.parametrize("token", ["nonsense", "x" * 300, "../../etc/passwd"])
def test_bad_tokens_give_404(app: Flask, client: FlaskClient, tokens: dict[str, str], token: str) -> None:
    response = client.get(f"/s/{token}")
    assert response.status_code == 404
    assert "<h1>" in response.text and "Traceback" not in response.text
    if "/" not in token:  # a token-shaped path reaches the view, which explains what is wrong
        assert "not valid" in response.text or "niet geldig" in response.text


def test_pages_need_an_opened_link(app: Flask, client: FlaskClient, tokens: dict[str, str]) -> None:
    assert client.get("/survey/p/profiel").status_code == 403
    assert client.post("/survey/submit").status_code == 403


def test_csrf_is_required(database_url: str, tmp_path: Path) -> None:
    from tests.conftest import make_app

    csrf_app = make_app(database_url, tmp_path, WTF_CSRF_ENABLED=True)
    tokens = make_wave(csrf_app)
    client = csrf_app.test_client()
    client.get(f"/s/{tokens['p0']}")
    page = client.get("/survey/p/profiel").text
    rejected = client.post("/survey/p/profiel", data={"q_status": "actief", "action": "next"})
    assert rejected.status_code == 400
    assert "expired" in rejected.text or "verlopen" in rejected.text
    accepted = client.post(
        "/survey/p/profiel", data={"q_status": "actief", "action": "next", "csrf_token": csrf_token_of(page)}
    )
    assert accepted.status_code == 302
    with csrf_app.app_context():
        db.engine.dispose()


def test_response_cannot_be_joined_to_a_person(
    app: Flask, client: FlaskClient, tokens: dict[str, str]
) -> None:
    answer_everything(client, tokens["p0"])
    client.post("/survey/submit")
    close_wave(app)
    response_table = Response.__table__
    # No column of the response table refers to an invitation, a person or the register.
    assert not response_table.foreign_keys or all(
        fk.column.table.name in {"waves", "questionnaire_versions"} for fk in response_table.foreign_keys
    )
    assert {c.name for c in response_table.columns} == {
        "id",
        "wave_id",
        "questionnaire_version_id",
        "submitted_on",
        "language",
        "source",
        "answers",
    }
    (stored,) = fetch_all(app, select(Response))
    assert len(stored.id) == 32 and stored.id != str(1)
    # The ledger knows whether, never when: no date is shared that could match the two tables.
    invitation_columns = {c.name for c in Invitation.__table__.columns}
    assert invitation_columns & {c.name for c in response_table.columns} == {"id", "wave_id", "language"}
    assert not any("submitted_" in name for name in invitation_columns)
