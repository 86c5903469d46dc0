"""Accessibility of the respondent pages in a real browser: headless Chromium, axe-core, keyboard.

People answer the whole real questionnaire (gerechtigden) through the real pages, with CSRF
protection on: in Dutch with answers that make every page visible, and in English (switched with
the language link) along a short path of a retired person who knows little of the offer. On each
page type axe-core checks WCAG 2.0/2.1 A and AA, a 320 px wide viewport must not scroll sideways,
and screenshots (1280 and 320 px wide) go to tests/.artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from surveyapp.extensions import db
from surveyapp.models import DraftAnswers, PendingSubmission, Response
from surveyapp.questionnaire import Question, Questionnaire, load_questionnaire, localize
from surveyapp.survey import pending
from surveyapp.survey.service import DraftState, check_token, decrypt_draft
from tests.browser.conftest import ARTIFACTS, AXE, QUESTIONNAIRE, LiveApp

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 320, "height": 640}
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
NEXT = "button[name=action][value=next]"
SAVE = "button[name=action][value=save]"

# Dutch: answers that make every page visible. An active staff member with children who knows
# the service, knows and used part of the offer, and asked a social assistant for help.
DUTCH: dict[str, dict[str, Any]] = {
    "over_u": {
        "status": "actief",
        "leeftijd": "40_49",
        "gezin": "samenwonend_met_kinderen",
        "kinderen": "yes",
        "beperking": "nee",
        "herkomst": "belgisch",
    },
    "uw_werk": {
        "aantal_kinderen": 2,
        "entiteit": "wvg",
        "contract": "statutair",
        "niveau": "b",
        "dienstjaren": "10_19",
    },
    "bekendheid": {
        "ken_dienst": "goed",
        "ken_aanbod": {"*": "ja", "sportaanbod": "nee", "gezonde_levensstijl": "nee"},
    },
    "gebruik": {
        "gebruik_aanbod": {
            "*": "nee",
            "pluspas": "ja",
            "sintgeschenk": "ja",
            "e_loket": "ja",
            "individuele_hulp": "ja",
        }
    },
    "tevredenheid": {"tevredenheid_aanbod": {"*": "4", "pluspas": "5", "e_loket": "na"}},
    "maatschappelijk_assistent": {"ma_weet": "yes"},
    "ma_hulp": {"ma_weet_waarvoor": "yes", "ma_gevraagd": "yes"},
    "ma_contact": {
        "hulpvraag": ["financieel", "administratief"],
        "ma_tevredenheid": {"*": "5", "snelheid": "3"},
    },
    "behoeften": {
        "themas": ["mentaal_welzijn", "pensioenvoorbereiding"],
        "groepsaanbod": "workshop",
        "pensioen_info": "yes",
        "kanalen": ["email", "intranet"],
    },
    "mening": {
        "tevreden_dienst": "4",
        "mist_iets": "yes",
        "mist_wat": "Opvang voor kinderen tijdens de schoolvakanties.\nVoor alle ouders.",
        "drempels": ["openingsuren", "digitaal_moeilijk"],
        "suggesties": "Meer zitdagen in de regio's, ook 's avonds.",
    },
}

# English: a retired person who only knows the name of the service and two offers, used none.
ENGLISH: dict[str, dict[str, Any]] = {
    "over_u": {
        # status is chosen with the arrow keys (see the test)
        "leeftijd": "65plus",
        "gezin": "alleenstaand",
        "kinderen": "yes",
        "beperking": "zeg_niet",
        "herkomst": "eu",
    },
    "uw_werk": {"aantal_kinderen": 1, "entiteit": "omg"},
    "bekendheid": {"ken_dienst": "naam", "ken_aanbod": {"*": "nee", "pluspas": "ja", "website": "ja"}},
    "gebruik": {"gebruik_aanbod": {"*": "nee"}},
    "maatschappelijk_assistent": {"ma_weet": "no"},
    "ma_hulp": {},  # only the information text is left
    "behoeften": {"themas": ["geen"], "groepsaanbod": "nee", "kanalen": ["brief"]},
    "mening": {"mist_iets": "no", "drempels": ["weet_niet_hoe"]},
}


def starts_with(text: str) -> re.Pattern[str]:
    """An accessible name that begins with a label (a required field's name adds '(required)')."""
    return re.compile("^" + re.escape(text))


# WCAG 1.4.12: content must survive these text spacing overrides without loss.
TEXT_SPACING = """* { line-height: 1.5 !important; letter-spacing: .12em !important;
                   word-spacing: .16em !important; }
                 p { margin-bottom: 2em !important; }"""


@dataclass
class Audit:
    """Checks one page type at a time and keeps every problem for one report at the end.

    Screenshots are taken of the pages named in ``screenshots`` (all when None).
    """

    lang: str
    screenshots: set[str] | None = None
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def check(self, page: Any, name: str) -> None:
        label = f"{self.lang}/{name}"
        self.checked.append(label)
        assert page.locator("html").get_attribute("lang") == self.lang, f"{label}: wrong html lang"
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.add_script_tag(path=str(AXE))
        result = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
        assert result["testEngine"]["name"] == "axe-core"
        for violation in result["violations"]:
            nodes = violation["nodes"]
            targets = "; ".join(" ".join(node["target"]) for node in nodes[:8])
            self.problems.append(
                f"{label}: axe {violation['id']} ({violation['impact']}): {violation['help']}\n"
                f"    {len(nodes)} node(s): {targets}\n    {nodes[0].get('failureSummary', '')}".rstrip()
            )
        shoot = self.screenshots is None or name in self.screenshots
        stem = f"{self.lang}-{len(self.checked):02d}-{name}"
        if shoot:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{stem}-desktop.png"), full_page=True)
        page.set_viewport_size(MOBILE)
        try:
            self.check_no_sideways_scrolling(page, f"{label} at 320 px")
            if shoot:
                page.screenshot(path=str(ARTIFACTS / f"{stem}-mobile.png"), full_page=True)
            spacing = page.add_style_tag(content=TEXT_SPACING)
            assert page.evaluate("() => getComputedStyle(document.body).wordSpacing") != "0px"
            self.check_no_sideways_scrolling(page, f"{label} at 320 px with WCAG text spacing")
            spacing.evaluate("element => element.remove()")
        finally:
            page.set_viewport_size(DESKTOP)

    def check_no_sideways_scrolling(self, page: Any, label: str) -> None:
        scroll_width, inner_width = page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth]"
        )
        if scroll_width > inner_width:
            wide = page.evaluate(
                """() => [...document.querySelectorAll('body *')]
                     .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                     .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : ''))"""
            )
            self.problems.append(
                f"{label}: scrolls sideways ({scroll_width} > {inner_width}): {', '.join(wide)}"
            )

    def assert_clean(self) -> None:
        report = "\n".join(self.problems)
        assert not self.problems, f"{len(self.problems)} problem(s) on {len(self.checked)} pages:\n{report}"


@pytest.fixture(scope="module")
def questionnaire() -> Questionnaire:
    return load_questionnaire(QUESTIONNAIRE)


@pytest.fixture
def audit_context(browser: Any, axe_script: Path) -> Iterator[Any]:
    # bypass_csp only so that axe-core can be injected: the app's CSP (script-src 'none') forbids
    # every script, and the app itself ships none, so its pages behave exactly as without it.
    context = browser.new_context(bypass_csp=True, viewport=DESKTOP)
    context.set_default_timeout(10_000)
    yield context
    context.close()


@dataclass
class Respondent:
    """A person answering through the browser, finding every question and option by its label."""

    page: Any
    questionnaire: Questionnaire
    lang: str
    answers: dict[str, Any] = field(default_factory=dict)

    def text(self, text: Any) -> str:
        return localize(text, self.lang)

    def expect_heading(self, text: str) -> None:
        from playwright.sync_api import expect

        expect(self.page.locator("h1")).to_have_text(text)  # waits for the new page

    def expect_page(self, page_id: str) -> None:
        self.expect_heading(self.text(self.questionnaire.pages[self.questionnaire.page_index(page_id)].title))

    def group(self, question: Question) -> Any:
        """The fieldset of a choice question, found by its legend."""
        return self.page.get_by_role("group", name=starts_with(self.text(question.label)))

    def option(self, scope: Any, question: Question, code: str) -> Any:
        choice = question.choice(code)
        assert choice is not None, f"{question.id} has no option {code}"
        return scope.get_by_label(self.text(choice.label), exact=True)

    def answer(self, answers: dict[str, Any]) -> None:
        for question_id, value in answers.items():
            question = self.questionnaire.question(question_id)
            if question.type in {"number", "text", "long_text"}:
                self.page.get_by_label(starts_with(self.text(question.label))).fill(str(value))
            elif question.type == "multiple_choice":
                group = self.group(question)
                for code in value:
                    self.option(group, question, code).check()
            elif question.type == "matrix":
                self.answer_matrix(question, value)
                continue
            else:
                self.option(self.group(question), question, value).check()
            self.answers[question_id] = value

    def answer_matrix(self, question: Question, codes: dict[str, str]) -> None:
        group = self.group(question)
        shown = [
            item for item in question.items if self.questionnaire.item_visible(question, item, self.answers)
        ]
        # The server shows exactly the rows that the earlier answers make relevant.
        assert group.get_by_role("group").count() == len(shown), f"rows of {question.id}"
        for item in shown:
            row = group.get_by_role("group", name=self.text(item.label), exact=True)
            code = codes.get(item.id, codes["*"])
            self.option(row, question, code).check()
            self.answers[f"{question.id}/{item.id}"] = code

    def send(self, button: str = NEXT) -> int:
        """Press a form button and wait for the next page; the HTTP status of the POST itself
        (302 when the page was accepted, 422 when the same page comes back with errors)."""
        with self.page.expect_navigation() as navigation:
            self.page.locator(button).click()
        response = navigation.value
        posted = response.request.redirected_from
        if posted is None:
            return int(response.status)
        redirect = posted.response()
        assert posted.method == "POST" and redirect is not None
        return int(redirect.status)

    def next_to(self, page_id: str | None) -> None:
        status = self.send()
        assert status == 302, f"page not accepted (HTTP {status}): {self.page.locator('main').inner_text()}"
        if page_id is None:
            assert self.page.url.endswith("/survey/review"), self.page.url
        else:
            self.expect_page(page_id)

    def submit(self) -> None:
        self.page.locator("form[action$='/survey/submit'] button[type=submit]").click()
        self.page.wait_for_url("**/survey/thanks")


def walk(person: Respondent, audit: Audit, answers: dict[str, dict[str, Any]], names: dict[str, str]) -> None:
    """Answer pages in order (already on the first), auditing those named, up to the review page."""
    page_ids = list(answers)
    for index, page_id in enumerate(page_ids):
        person.answer(answers[page_id])
        if page_id in names:
            audit.check(person.page, names[page_id])
        person.next_to(page_ids[index + 1] if index + 1 < len(page_ids) else None)


def assert_stored(live: LiveApp, language: str, given: dict[str, Any]) -> None:
    with live.app.app_context():
        # Released responses, and submissions still waiting sealed for their batch of k.
        responses = [
            dict(r.answers)
            for r in db.session.execute(select(Response).where(Response.language == language)).scalars()
        ]
        for row in db.session.execute(select(PendingSubmission)).scalars():
            content = pending.unseal(row.wave_id, row.sealed)
            if content["language"] == language:
                responses.append(content["answers"])
        assert len(responses) == 1, f"expected one {language} response, found {len(responses)}"
        stored = responses[0]
    for key, value in given.items():
        if isinstance(stored.get(key), str):
            # Browsers send a textarea's line breaks as CRLF (HTML spec); the app keeps them as sent.
            stored[key] = stored[key].replace("\r\n", "\n")
        assert stored.get(key) == value, f"{key}: stored {stored.get(key)!r}, answered {value!r}"


def draft_of(live: LiveApp, token: str) -> DraftState:
    """The person's draft, opened with the app's key (the database holds only its ciphertext)."""
    with live.app.app_context():
        invitation = check_token(token).invitation
        assert invitation is not None
        draft = db.session.execute(
            select(DraftAnswers).where(DraftAnswers.invitation_id == invitation.id)
        ).scalar_one()
        return decrypt_draft(invitation.id, draft.sealed, draft.revision)


def finish(person: Respondent, audit: Audit, live: LiveApp, token: str, thanks: str) -> None:
    """Review, submit, thanks; then the used link, a wrong link and the survey without a link."""
    page = person.page
    audit.check(page, "review")
    person.submit()
    assert thanks in page.locator("main").inner_text()
    audit.check(page, "thanks")
    assert_stored(live, person.lang, person.answers)

    page.goto(f"{live.url}/s/{token}")
    assert page.locator("form").count() == 0  # nothing left to answer
    audit.check(page, "already-answered")
    response = page.goto(f"{live.url}/s/not-a-valid-link")
    assert response is not None and response.status == 404
    audit.check(page, "invalid-link-404")
    response = page.goto(f"{live.url}/survey/")  # back after submit: the "already answered" page
    assert response is not None and response.status == 200 and page.locator("form").count() == 0
    page.context.clear_cookies()
    response = page.goto(f"{live.url}/survey/?lang={person.lang}")  # a browser that never opened a link
    assert response is not None and response.status == 403
    audit.check(page, "no-access-403")


def check_skip_link(page: Any) -> None:
    """On a freshly loaded page the first Tab shows the skip link; Enter moves focus to the content."""
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    assert page.evaluate("() => document.activeElement.getBoundingClientRect().left") >= 0  # on screen
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"


def check_keyboard_from_error_summary(page: Any) -> None:
    """From the focused error summary: Tab to the first error, Enter jumps to its question, Tab
    reaches the first option, whose focus ring is visible, and Space chooses it."""
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.getAttribute('href')") == "#q_status"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "q_status-0"
    outline, width, shadow = page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   return [s.outlineStyle, s.outlineWidth, s.boxShadow]; }"""
    )
    assert (outline != "none" and width != "0px") or shadow != "none", "keyboard focus is not visible"
    box = page.locator("#q_status-0").bounding_box()
    clip = {"x": box["x"] - 16, "y": box["y"] - 16, "width": 360, "height": box["height"] + 32}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "focus-radio.png"), clip=clip)
    page.keyboard.press("Space")
    assert page.evaluate("() => document.activeElement.checked")


def test_whole_questionnaire_in_dutch(
    live_app: LiveApp, audit_context: Any, questionnaire: Questionnaire
) -> None:
    audit = Audit("nl")
    page = audit_context.new_page()
    person = Respondent(page, questionnaire, "nl")
    token = live_app.token()

    page.goto(f"{live_app.url}/s/{token}")
    assert page.url.endswith("/survey/")  # the token left the address bar
    person.expect_heading(localize(questionnaire.title, "nl"))
    audit.check(page, "welcome")
    check_skip_link(page)
    page.locator("main a.button").click()
    person.expect_page("over_u")

    # A page with required questions sent empty: 422 and an error summary linking to each question.
    assert person.send() == 422
    assert page.locator(".error-summary").get_by_role("link").count() == len(DUTCH["over_u"])
    # Focus starts on the error summary (autofocus, no script), so it is read and tabbed from first.
    assert page.evaluate("() => document.activeElement.className") == "error-summary"
    assert page.title().startswith(("Error", "Fout"))
    audit.check(page, "errors-required")
    check_keyboard_from_error_summary(page)

    walk(
        person,
        audit,
        DUTCH,
        {
            "uw_werk": "single-choice-and-number",
            "bekendheid": "matrix",
            "gebruik": "matrix-conditional-rows",
            "tevredenheid": "matrix-rating",
            "maatschappelijk_assistent": "yes-no",
            "ma_hulp": "yes-no-and-info",
            "ma_contact": "multiple-choice-and-matrix",
            "behoeften": "multiple-choice",
            "mening": "long-text",
        },
    )
    review = page.locator("main").inner_text()
    assert "Meer zitdagen in de regio's" in review and "Statutair (vastbenoemd)" in review
    finish(person, audit, live_app, token, "Hartelijk dank voor uw tijd")
    audit.assert_clean()


def test_short_path_in_english_with_save_and_resume(
    live_app: LiveApp, audit_context: Any, questionnaire: Questionnaire
) -> None:
    # Every page is checked in English too; screenshots only of the pages the Dutch walk has not.
    audit = Audit(
        "en", screenshots={"welcome", "errors-number-and-choice", "saved", "welcome-resume", "info-only"}
    )
    page = audit_context.new_page()
    person = Respondent(page, questionnaire, "en")
    token = live_app.token()

    page.goto(f"{live_app.url}/s/{token}")
    assert page.locator("html").get_attribute("lang") == "nl"  # the invitation's language
    page.get_by_role("navigation").get_by_role("link", name="English", exact=True).click()
    person.expect_heading(localize(questionnaire.title, "en"))
    audit.check(page, "welcome")
    page.locator("main a.button").click()
    person.expect_page("over_u")

    # Keyboard only: focus the first option of a radio group, the arrow key moves and chooses.
    status = questionnaire.question("status")
    person.option(person.group(status), status, "actief").focus()
    page.keyboard.press("ArrowDown")
    assert person.option(person.group(status), status, "gepensioneerd").is_checked()
    person.answers["status"] = "gepensioneerd"
    person.answer(ENGLISH["over_u"])
    person.next_to("uw_werk")

    # A number out of range and a required question left open: both explained at their field.
    page.get_by_label(starts_with("How many children")).fill("99")
    assert person.send() == 422
    number = page.get_by_label(starts_with("How many children"))
    assert number.get_attribute("aria-invalid") == "true"
    error_id = f"{number.get_attribute('id')}-error"
    assert error_id in (number.get_attribute("aria-describedby") or "").split()
    assert "1 to 15" in page.locator(f"#{error_id}").inner_text()
    assert page.locator(".error-summary").get_by_role("link").count() == 2
    audit.check(page, "errors-number-and-choice")
    person.answer(ENGLISH["uw_werk"])
    person.next_to("bekendheid")

    # Save and continue later, then resume: the answers on the page are kept.
    person.answer(ENGLISH["bekendheid"])
    audit.check(page, "matrix")
    assert person.send(SAVE) == 302
    assert page.url.endswith("/survey/saved")
    audit.check(page, "saved")
    page.locator("main a.button").click()
    person.expect_heading(localize(questionnaire.title, "en"))
    audit.check(page, "welcome-resume")
    page.get_by_role("link", name="Continue where you stopped").click()
    person.expect_page("bekendheid")
    ken = questionnaire.question("ken_dienst")
    assert person.option(person.group(ken), ken, "naam").is_checked()
    person.next_to("gebruik")

    done = {"over_u", "uw_werk", "bekendheid"}
    rest = {page_id: answers for page_id, answers in ENGLISH.items() if page_id not in done}
    walk(
        person,
        audit,
        rest,
        {
            "gebruik": "matrix-two-rows",
            "maatschappelijk_assistent": "yes-no",
            "ma_hulp": "info-only",
            "behoeften": "multiple-choice",
            "mening": "long-text",
        },
    )
    assert "(not answered)" in page.locator("main").inner_text()
    finish(person, audit, live_app, token, "Thank you very much for your time")
    audit.assert_clean()


def test_answerable_without_javascript(live_app: LiveApp, browser: Any, questionnaire: Questionnaire) -> None:
    """No script is needed: with JavaScript off (and the app's real CSP) two pages are answered."""
    context = browser.new_context(java_script_enabled=False, viewport=MOBILE)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        person = Respondent(page, questionnaire, "nl")
        token = live_app.token()
        response = page.goto(f"{live_app.url}/s/{token}")
        assert response is not None and "script-src 'none'" in response.headers["content-security-policy"]
        page.locator("main a.button").click()
        person.expect_page("over_u")
        person.answer(DUTCH["over_u"])
        person.next_to("uw_werk")
        person.answer(DUTCH["uw_werk"])
        person.next_to("bekendheid")
        draft = draft_of(live_app, token)
        assert draft.pages_done == ["over_u", "uw_werk"]
        assert draft.answers["status"] == "actief" and draft.answers["aantal_kinderen"] == 2
        assert draft.current_page == "bekendheid"
    finally:
        context.close()
