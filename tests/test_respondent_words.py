"""What respondents are told follows the wave's mode: only an anonymous wave says "anonymous".

For each mode, on both databases, from an empty database: the wave's invitations and reminders
are sent with the command line, every mail (Dutch and English, text and HTML) is read from the
outbox, and respondents walk every page over HTTP from the link in their mail, in Dutch and in
English, to the thank-you page.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from surveyapp.extensions import db
from surveyapp.models import Wave
from surveyapp.services.questionnaires import store_file
from surveyapp.services.waves import RegisterRow, add_register, create_invitations, create_wave, set_state
from tests.conftest import REPO, make_app
from tests.test_invitations import _planner, body, outbox_messages, token_of

# "anoniem", "anonymous", "anonimiteit", "anonymity" ... in any case.
ANONYMITY = re.compile(r"anonie|anonym|anonim", re.IGNORECASE)
QUESTIONNAIRES = REPO / "questionnaires"
# Each mode with the shipped questionnaire written for it: the staff survey is anonymous, the
# contact persons' survey identified ("niet anoniem": the reviewer's finding).
MODES = {
    "anonymous": ("gerechtigden.yaml", "gerechtigden", True),
    "identified": ("contactpersonen-welzijn.yaml", "contactpersonen", False),
}
# What an identified wave says instead, in each language.
CONFIDENTIAL = {"nl": "vertrouwelijk", "en": "confidential"}


def says_anonymous(text: str) -> bool:
    return ANONYMITY.search(text) is not None


def make_wave(app: Flask, mode: str, slug: str = "words-2026") -> None:
    """An open wave of the mode, with two Dutch and two English people invited."""
    file_name, audience, anonymous = MODES[mode]
    with app.app_context():
        version, _ = store_file(QUESTIONNAIRES / file_name)
        wave = create_wave(version, slug=slug, title="Words", audience=audience, anonymous=anonymous)
        add_register(
            wave,
            [
                RegisterRow(f"p{i}", f"p{i}@example.org", "nl" if i % 2 == 0 else "en", {}, f"Person {i}")
                for i in range(4)
            ],
        )
        set_state(wave, "open")
        create_invitations(wave)
        db.session.commit()


class _Form(HTMLParser):
    """The questionnaire form of a page: for each field, an answer any validation accepts."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: dict[str, Any] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name", "")
        if tag == "input" and name and name != "csrf_token" and a.get("type") != "hidden":
            kind = a.get("type", "text")
            if kind in ("radio", "checkbox"):
                self.answers.setdefault(name, a["value"])  # the first option
            elif kind == "number" or a.get("inputmode") in ("numeric", "decimal"):
                self.answers[name] = a.get("min") or "1"
            else:
                self.answers[name] = "Test"
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and a.get("value") and self._select not in self.answers:
            self.answers[self._select] = a["value"]
        elif tag == "textarea" and name:
            self.answers[name] = "Test"

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def answers_for(html: str) -> dict[str, Any]:
    form = _Form()
    form.feed(html)
    return form.answers


def walk(client: FlaskClient, entry: str, lang: str) -> list[tuple[str, str]]:
    """Open ``entry`` (a personal or preview link), answer every page in ``lang`` and submit.

    Returns (what, html) of every page the respondent saw: welcome, each questionnaire page,
    the review, the thank-you page.
    """
    opened = client.get(f"{entry}?lang={lang}")
    assert opened.status_code == 302, opened.text
    seen: list[tuple[str, str]] = []
    welcome = client.get(opened.headers["Location"])
    assert welcome.status_code == 200
    assert f'<html lang="{lang}">' in welcome.text
    seen.append(("welcome", welcome.text))
    match = re.search(r'href="(/survey/p/[^"?]+)"', welcome.text)
    assert match, "no way into the questionnaire"
    location = match.group(1)
    for _step in range(40):
        if location.endswith("/survey/review"):
            break
        page = client.get(location)
        assert page.status_code == 200, location
        seen.append((location, page.text))
        saved = client.post(location, data={**answers_for(page.text), "action": "next"})
        assert saved.status_code == 302, (
            location,
            re.findall(r'class="error-message"[^<]*<[^>]*>[^<]*', saved.text),
        )
        location = saved.headers["Location"]
    review = client.get("/survey/review")
    assert review.status_code == 200 and "/survey/submit" in review.text
    seen.append(("review", review.text))
    submitted = client.post("/survey/submit")
    assert submitted.status_code == 302 and submitted.headers["Location"].endswith("/survey/thanks")
    thanks = client.get("/survey/thanks")
    assert thanks.status_code == 200
    seen.append(("thanks", thanks.text))
    return seen


def mails_by_language(messages: list[EmailMessage]) -> dict[tuple[str, str], list[EmailMessage]]:
    """The mails per (kind, language); the kind read from the subject."""
    found: dict[tuple[str, str], list[EmailMessage]] = {}
    for message in messages:
        subject = str(message["Subject"]).strip()
        kind = "reminder" if subject.startswith(("Herinnering", "Reminder")) else "invitation"
        found.setdefault((kind, str(message["Content-Language"])), []).append(message)
    return found


@pytest.mark.parametrize("mode", list(MODES))
def test_mails_and_pages_use_the_words_of_the_wave_mode(app: Flask, mode: str) -> None:
    anonymous = MODES[mode][2]
    make_wave(app, mode)
    runner = app.test_cli_runner()
    sent = runner.invoke(args=["invitations", "send", "words-2026"])
    assert sent.exit_code == 0, sent.output
    invitations = outbox_messages(app)
    reminded = runner.invoke(args=["invitations", "remind", "words-2026", "--number", "1"])
    assert reminded.exit_code == 0, reminded.output
    messages = outbox_messages(app)
    by_kind = mails_by_language(messages)
    assert sorted(by_kind) == [
        ("invitation", "en"),
        ("invitation", "nl"),
        ("reminder", "en"),
        ("reminder", "nl"),
    ]
    for (kind, lang), group in by_kind.items():
        for message in group:
            for subtype in ("plain", "html"):
                text = body(message, subtype)
                where = f"{mode} {kind} {lang} {subtype}"
                assert says_anonymous(text) is anonymous, where
                if not anonymous:
                    assert CONFIDENTIAL[lang] in text.lower(), where

    # Two respondents walk every page from their invitation's link: one in Dutch, one in English.
    links = {str(m["To"].addresses[0].addr_spec): token_of(m) for m in invitations}
    for person, lang in (("p0@example.org", "nl"), ("p1@example.org", "en")):
        pages = walk(app.test_client(), f"/s/{links[person]}", lang)
        assert len(pages) >= 5
        for what, html in pages:
            assert says_anonymous(html) is anonymous, f"{mode} {lang} {what}"
        footer = pages[1][1].split('<footer class="site-footer">', 1)[1]
        if anonymous:
            assert ANONYMITY.search(footer) and "10" in footer
        else:
            assert CONFIDENTIAL[lang] in footer.lower()


def test_pages_where_the_wave_is_unknown_claim_no_anonymity(client: FlaskClient) -> None:
    """Error pages and the start page know no wave: they promise nothing about it."""
    for url, status in (("/", 200), ("/s/no-such-token", 404), ("/survey/", 403), ("/preview/nope", 404)):
        page = client.get(url)
        assert page.status_code == status, url
        assert not says_anonymous(page.text), url


def test_an_identified_wave_refuses_mail_texts_that_say_anonymous(app: Flask) -> None:
    """The planner's own texts too: saving one is refused, and so is sending an older one."""
    make_wave(app, "identified")
    client = _planner(app)
    refused = client.post(
        "/planner/waves/words-2026/mail/templates",
        data={"action": "save", "reminder-en-text": "Hi {{ name }}, your answers are anonymous: {{ link }}"},
    )
    assert refused.status_code == 422 and "not anonymous" in refused.text
    conditional = client.post(
        "/planner/waves/words-2026/mail/templates",
        data={
            "action": "save",
            "reminder-en-text": (
                "Hi {{ name }}{% if anonymous %}, your answers are anonymous{% endif %}: {{ link }}"
            ),
        },
    )
    assert conditional.status_code in (200, 303), conditional.text
    # Texts stored while the wave was still anonymous (its mode changed since): nothing is sent.
    with app.app_context():
        wave = db.session.execute(select(Wave).where(Wave.slug == "words-2026")).scalar_one()
        wave.mail_templates = {"invitation": {"nl": {"text": "Uw antwoorden zijn anoniem. {{ link }}"}}}
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["invitations", "send", "words-2026"])
    assert result.exit_code != 0
    assert "not anonymous" in result.output
    assert outbox_messages(app) == []


def test_thank_you_page_gives_the_service_contact_from_configuration(
    database_url: str, tmp_path: Path
) -> None:
    configured = make_app(
        database_url,
        tmp_path,
        SERVICE_NAME="Sociale Dienst Vlaamse Overheid",
        SERVICE_CONTACT_EMAIL="vragen@example.org",
        SERVICE_CONTACT_PHONE="+32 2 123 45 67",
        SERVICE_CONTACT_URL="https://example.org/contact",
    )
    make_wave(configured, "anonymous")
    sent = configured.test_cli_runner().invoke(args=["invitations", "send", "words-2026"])
    assert sent.exit_code == 0, sent.output
    token = token_of(outbox_messages(configured)[0])
    thanks = walk(configured.test_client(), f"/s/{token}", "nl")[-1][1]
    assert "Sociale Dienst Vlaamse Overheid" in thanks
    assert 'href="mailto:vragen@example.org"' in thanks
    assert 'href="tel:+3221234567"' in thanks and "+32 2 123 45 67" in thanks
    assert 'href="https://example.org/contact"' in thanks
    assert "Vragen over deze bevraging?" in thanks  # Dutch, like the page

    # Without contact settings the page has no contact section (and no empty links).
    plain = make_app(database_url, tmp_path)
    other = next(m for m in outbox_messages(configured) if token not in body(m))
    page = walk(plain.test_client(), f"/s/{token_of(other)}", "en")[-1][1]
    assert "Thank you" in page
    assert "Questions about this survey?" not in page and "mailto:" not in page
    for each in (configured, plain):
        with each.app_context():
            db.engine.dispose()
