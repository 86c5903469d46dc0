"""Stored XSS: script payloads planted everywhere people can put text are shown as text, never run.

The payloads go into a questionnaire (every label, help text, choice, subject, page title and
intro, welcome and thanks text, the version label), the staff register (names, group values,
column names, the file name: imported through the register service and through the planner's
upload page), open answers (typed into the respondent pages, shown again on the page and on the
review page), a wave title, a mail text, a failed login's e-mail address (shown in the audit log)
and an account's e-mail address. Then every page that shows them is opened:

* with the test client (no browser needed): the HTML never holds a payload's markup unescaped;
* in headless Chromium with the Content-Security-Policy bypassed, so that the escaping alone is
  what is tested: ``window.__xss`` stays undefined, no dialog opens, no element has an event
  handler attribute or a ``javascript:`` URL, and the payload text is visible as text;
* in Chromium with the app's CSP: every page sends ``script-src 'none'`` and the browser refuses
  an inline script even when one gets into the page.

Every GET route of ``app.url_map`` is visited, so a new page that shows these texts is covered.
"""

from __future__ import annotations

import copy
import email
import email.policy
import io
import json
import logging
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from surveyapp.extensions import db
from surveyapp.models import Job, Response, Wave
from surveyapp.questionnaire import load_questionnaire
from surveyapp.questionnaire.model import Questionnaire, localize
from surveyapp.services import audit
from surveyapp.services import register as reg
from surveyapp.services.questionnaires import store_file
from surveyapp.services.users import create_user
from surveyapp.services.waves import create_invitations, create_wave, set_state
from surveyapp.survey.service import questionnaire_of
from tests.conftest import DATA, make_app
from tests.test_auth import PASSWORD

HOSTILE = DATA / "hostile" / "fuzz.yaml"
SCRIPT_MARK = "window.__xss"


def payload(where: str, short: bool = False) -> str:
    """Every kind of script injection in one text, tagged with where it was planted.

    Markup (script, img onerror, svg onload), breaking out of an attribute and out of a textarea,
    a javascript: URL, a dialog and template syntax that must come out literally.
    """
    if short:  # for fields with a length limit (a register group value is at most 100 characters)
        return f'[{where}]"><img src=x onerror=alert(1)><script>{SCRIPT_MARK}=1</script>{{{{7*7}}}}'
    return (
        f"[{where}] <script>{SCRIPT_MARK}='{where}'</script>"
        f'"><img src=x onerror="{SCRIPT_MARK}=\'{where}\'">'
        f'</textarea><svg onload="{SCRIPT_MARK}=\'{where}\'"><a href="javascript:{SCRIPT_MARK}=1">link</a>'
        f"' onmouseover='{SCRIPT_MARK}=1' <img src=x onerror=alert('{where}')> {{{{7*7}}}} {{% print(7*7) %}}"
        " javascript:alert(1)"
    )


# What may never be in a page's HTML: the payloads' markup, unescaped.
RAW_MARKUP = (
    f"<script>{SCRIPT_MARK}",
    "<img src=x onerror",
    "<svg onload",
    f'href="javascript:{SCRIPT_MARK}',
    f"' onmouseover='{SCRIPT_MARK}",
)


# --- the hostile world ---------------------------------------------------------------------------


def hostile_questionnaire(folder: Path) -> Path:
    """The fuzz questionnaire with a payload in every text a person reads."""
    source = yaml.safe_load(HOSTILE.read_text(encoding="utf-8"))
    counter = iter(range(1000))

    def plant(node: Any, where: str) -> Any:
        if isinstance(node, dict):
            if set(node) <= {"nl", "en"} and node and all(isinstance(v, str) for v in node.values()):
                number = next(counter)
                return {lang: payload(f"{where}#{number}.{lang}") + " " + text for lang, text in node.items()}
            return {key: plant(value, f"{where}.{key}") for key, value in node.items()}
        if isinstance(node, list):
            return [plant(value, where) for value in node]
        return node

    planted = plant(copy.deepcopy(source), "q")
    planted["id"] = "xss"
    planted["version"] = payload("version", short=True)
    for page in planted["pages"]:
        page["intro"] = {"nl": payload(f"intro-{page['id']}"), "en": payload(f"intro-{page['id']}")}
    path = folder / "xss.yaml"
    path.write_text(yaml.safe_dump(planted, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def register_csv(people: int, filename_tag: str) -> bytes:
    """A register whose names, group values and one column name are payloads."""
    header = [
        "Personeelsnummer",
        "E-mail",
        "Naam",
        "Taal",
        "Status",
        payload(f"column-{filename_tag}", short=True),
    ]
    lines = [";".join(header)]
    for i in range(people):
        name = payload(f"name-{filename_tag}-{i}", short=True).replace(";", ",")
        group = payload(f"group-{filename_tag}", short=True).replace(";", ",")
        lines.append(f"{1000 + i};p{i}.{filename_tag}@example.org;{name};nl;actief;{group}")
    return ("\n".join(lines) + "\n").encode("utf-8")


# Answers that make the open questions visible (the fuzz questionnaire's codes).
SUBMITTED = {
    "status": "actief",
    "kinderen": 2,
    "contract": "statutair",
    "ken_dienst": "yes",
    "ken_aanbod/pluspas": "ja",
    "ken_aanbod/sintgeschenk": "ja",
    "gebruik_aanbod/pluspas": "ja",
    "gebruik_aanbod/sintgeschenk": "nee",
    "hulp": ["financieel"],
    "tevreden_pluspas": "4",
}


@dataclass
class XssWorld:
    app: Flask
    url: str
    questionnaire: Questionnaire
    tokens: list[str]
    planted: dict[str, list[str]] = field(default_factory=dict)  # page kind → payload tags shown there

    def token(self) -> str:
        return self.tokens.pop()


def build(app: Flask, folder: Path) -> tuple[Questionnaire, list[str]]:
    with app.app_context():
        for role in ("admin", "planner"):
            create_user(f"{role}@example.org", PASSWORD, role)
        create_user(payload("account", short=True).lower() + "@example.org", PASSWORD, "viewer")
        version, questionnaire = store_file(hostile_questionnaire(folder))
        wave = create_wave(
            version, slug="xss-2026", title=payload("wave-title", short=True), suppression_threshold=5
        )
        # The register through the service, as the CLI and the upload page import it.
        table = reg.read_table(register_csv(6, "service"), "register.csv")
        mapping = reg.default_mapping(table.headers, questionnaire)
        extra = reg.GroupColumn(table.headers[-1], reg.group_key_for(table.headers[-1]))
        mapping = reg.ColumnMapping(
            email_column=mapping.email_column,
            id_column=mapping.id_column,
            language_column=mapping.language_column,
            name_column="Naam",
            groups=(*mapping.groups, extra),
        )
        result = reg.import_register(wave, table, mapping, questionnaire, actor="planner@example.org")
        assert result.ok, [p.message for p in result.problems.sorted()]
        set_state(wave, "open")
        tokens = list(create_invitations(wave).values())
        # A draft wave for the upload through the browser, and a mail text with a payload.
        draft = create_wave(version, slug="xss-draft", title=payload("draft-title", short=True))
        draft.mail_templates = {
            "invitation": {
                "nl": {"subject": payload("mail-subject", short=True), "html": payload("mail-html")}
            }
        }
        # Submitted responses with payloads as open answers, for the pages and documents that show them.
        for number in range(3):
            db.session.add(
                Response(
                    wave_id=wave.id,
                    questionnaire_version_id=version.id,
                    submitted_on=date(2026, 3, 2),
                    language="nl",
                    source="web",
                    answers={**SUBMITTED, **open_answers(questionnaire_of(version), f"response-{number}")},
                )
            )
        audit.record("login_failed", payload("audit", short=True))
        db.session.add(Job(kind="mail:invitation", wave_id=wave.id, state="failed", message=payload("job")))
        db.session.commit()
        return questionnaire_of(version), tokens


@pytest.fixture(scope="module")
def xss(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[XssWorld]:
    folder = tmp_path_factory.mktemp("xss-app")
    path = folder / "xss.sqlite3"
    shutil.copy(sqlite_template, path)
    qdir = folder / "questionnaires"
    qdir.mkdir()
    app = make_app(
        f"sqlite:///{path}",
        folder,
        WTF_CSRF_ENABLED=True,
        TESTING=False,
        RATELIMIT_ENABLED=False,
        QUESTIONNAIRE_DIR=str(qdir),
    )
    questionnaire, tokens = build(app, qdir)
    shutil.copy(qdir / "xss.yaml", qdir / "xss-copy.yaml")  # listed on the new-wave page
    quiet = logging.getLogger("werkzeug")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="xss-server", daemon=True)
    thread.start()
    try:
        yield XssWorld(app, f"http://127.0.0.1:{server.server_port}", questionnaire, tokens)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        quiet.setLevel(level)
        with app.app_context():
            db.engine.dispose()


def open_answer(where: str, limit: int) -> str:
    text = payload(where)
    return text if len(text) <= limit else payload(where, short=True)[:limit]


def open_answers(questionnaire: Questionnaire, tag: str) -> dict[str, str]:
    return {
        q.id: open_answer(f"answer-{tag}-{q.id}", q.max_length or 300)
        for q in questionnaire.questions
        if q.type in ("text", "long_text")
    }


# --- without a browser: the HTML itself --------------------------------------------------------


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def assert_escaped(html: str, where: str) -> None:
    for markup in RAW_MARKUP:
        assert markup not in html, f"{where}: unescaped {markup!r} in the HTML"


# Downloads a browser saves instead of showing (and that take long to render): not walked.
DOWNLOADS = (".pdf", ".docx", ".xlsx", ".png", ".zip", ".csv", ".sav")


def get_routes(app: Flask) -> list[str]:
    """Every GET route that shows a page, with the hostile waves' slugs and the job's id filled in."""
    with app.app_context():
        slugs = list(db.session.execute(select(Wave.slug)).scalars())
        job_ids = list(db.session.execute(select(Job.id)).scalars())
    paths = []
    for rule in app.url_map.iter_rules():
        if (
            "GET" not in (rule.methods or ())
            or rule.endpoint == "static"
            or rule.endpoint.startswith("survey.")
            or rule.rule.endswith(DOWNLOADS)
        ):
            continue
        values: dict[str, list[str]] = {"slug": slugs, "job_id": job_ids}
        combos: list[dict[str, str]] = [{}]
        for name in rule.arguments:
            combos = [{**c, name: v} for c in combos for v in values.get(name, [])]
        for combo in combos:
            paths.append(re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m, c=combo: c[m.group(1)], rule.rule))
    return sorted(set(paths))


def test_payloads_are_escaped_in_the_html(xss: XssWorld) -> None:
    """Test client only: every page with planted text holds it escaped (runs without Chromium)."""
    app = xss.app
    planner = app.test_client()
    token = _csrf(planner.get("/login").get_data(as_text=True))
    # A failed login with a payload as the e-mail address: the login page shows it back, the audit log too.
    failed = planner.post(
        "/login", data={"csrf_token": token, "email": payload("login", short=True), "password": "x" * 12}
    )
    assert failed.status_code == 401
    assert_escaped(failed.get_data(as_text=True), "the failed login page")
    assert (
        planner.post(
            "/login", data={"csrf_token": token, "email": "admin@example.org", "password": PASSWORD}
        ).status_code
        == 302
    )
    checked = 0
    for path in get_routes(app):
        response = planner.get(path)
        if response.mimetype != "text/html":
            continue
        html = response.get_data(as_text=True)
        assert_escaped(html, path)
        checked += 1
    assert checked >= 10
    assert "[login]&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in planner.get("/admin/audit").get_data(
        as_text=True
    )
    # The register through the upload page: the column mapping shows names and values.
    page = planner.get("/planner/waves/xss-draft/register").get_data(as_text=True)
    data = {
        "csrf_token": _csrf(page),
        "action": "analyse",
        "file": (io.BytesIO(register_csv(6, "upload")), payload("file", short=True) + ".csv"),
    }
    analysed = planner.post(
        "/planner/waves/xss-draft/register", data=data, content_type="multipart/form-data"
    )
    assert analysed.status_code == 200
    assert_escaped(analysed.get_data(as_text=True), "the column mapping")
    assert "[name-upload-0]" in analysed.get_data(as_text=True)
    # A respondent with payloads as open answers: the page again, and the review page.
    respondent = app.test_client()
    assert respondent.get(f"/s/{xss.token()}").status_code == 302
    assert_escaped(respondent.get("/survey/").get_data(as_text=True), "welcome")
    answers = {"status": "actief", "kinderen": "2", "contract": "statutair", "ken_dienst": "yes"}
    for page_ in xss.questionnaire.pages:
        html = respondent.get(f"/survey/p/{page_.id}").get_data(as_text=True)
        assert_escaped(html, f"page {page_.id}")
        form = {"csrf_token": _csrf(html), "action": "next"}
        for q in page_.questions:
            if q.type == "matrix":
                form.update({f"q_{q.id}__{i.id}": "ja" for i in q.items})
            elif q.type == "multiple_choice":
                form[f"q_{q.id}"] = q.codes[0]
            elif q.id in answers:
                form[f"q_{q.id}"] = answers[q.id]
            elif q.type in ("single_choice", "rating", "yes_no"):
                form[f"q_{q.id}"] = q.codes[0]
        form.update({f"q_{k}": v for k, v in open_answers(xss.questionnaire, "client").items()})
        respondent.post(f"/survey/p/{page_.id}", data=form)
    review = respondent.get("/survey/review").get_data(as_text=True)
    assert_escaped(review, "review")
    assert "[answer-client-suggestie]" in review, "the open answer is not on the review page"
    assert "{{7*7}}" in review and "{% print(7*7) %}" in review, "template syntax did not come out literally"
    again = respondent.get("/survey/p/tevredenheid").get_data(as_text=True)
    assert_escaped(again, "the page with the saved open answers")
    assert "&lt;/textarea&gt;&lt;svg" in again


# --- in Chromium ------------------------------------------------------------------------------

# Inline handlers, javascript: URLs and script elements: none may exist in any page's DOM.
DOM_CHECK = """() => {
  const all = [...document.querySelectorAll('*')];
  const handlers = all.filter(e => [...e.attributes].some(a => a.name.toLowerCase().startsWith('on')))
                      .map(e => e.outerHTML.slice(0, 120));
  const urls = all.filter(e => ['href', 'src', 'action', 'formaction', 'data'].some(
                   n => (e.getAttribute(n) || '').trim().toLowerCase().startsWith('javascript:')))
                   .map(e => e.outerHTML.slice(0, 120));
  return {handlers, urls, scripts: document.scripts.length, xss: typeof window.__xss,
          text: document.body ? document.body.innerText : ''};
}"""


@dataclass
class Watch:
    """A browser page whose every navigation and dialog is checked."""

    page: Any
    dialogs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        def dialog(d: Any) -> None:
            self.dialogs.append(f"{d.type}: {d.message}")
            d.dismiss()

        self.page.on("dialog", dialog)

    def goto(self, url: str, expect: tuple[str, ...] = ()) -> Any:
        response = self.page.goto(url)
        self.check(response, expect)
        return response

    def check(self, response: Any, expect: tuple[str, ...] = ()) -> None:
        where = self.page.url
        self.visited.append(where)
        if response is not None:
            csp = response.headers.get("content-security-policy", "")
            if "script-src 'none'" not in csp:
                self.problems.append(f"{where}: no script-src 'none' in the CSP header ({csp!r})")
            if "text/html" in response.headers.get("content-type", ""):
                html = response.text()
                for markup in RAW_MARKUP:
                    if markup in html:
                        self.problems.append(f"{where}: unescaped {markup!r} in the HTML")
        found = self.page.evaluate(DOM_CHECK)
        if found["xss"] != "undefined":
            self.problems.append(
                f"{where}: a payload ran (window.__xss = {self.page.evaluate('window.__xss')!r})"
            )
        if found["handlers"] or found["urls"] or found["scripts"]:
            self.problems.append(f"{where}: injected markup in the DOM: {found}")
        if self.dialogs:
            self.problems.append(f"{where}: dialogs opened: {self.dialogs}")
            self.dialogs.clear()
        for tag in expect:
            if f"[{tag}]" not in found["text"]:
                self.problems.append(f"{where}: the planted text [{tag}] is not shown as text")

    def assert_clean(self) -> None:
        report = "\n".join(self.problems)
        assert not self.problems, f"{len(self.problems)} problem(s) on {len(self.visited)} pages:\n{report}"


@pytest.fixture
def watch(browser: Any) -> Iterator[Watch]:
    # The CSP is bypassed so that only the escaping stands between a payload and its execution.
    context = browser.new_context(bypass_csp=True)
    context.set_default_timeout(15_000)
    yield Watch(context.new_page())
    context.close()


def tags_in(*texts: Any, lang: str = "nl") -> tuple[str, ...]:
    """The payload tags that localized texts start with."""
    found = (re.match(r"\[([^\]]+)\]", localize(text, lang)) for text in texts if text)
    return tuple(match.group(1) for match in found if match)


def questionnaire_tags(questionnaire: Questionnaire, page_id: str, lang: str = "nl") -> tuple[str, ...]:
    """The payload tags a respondent page shows: its title and intro, labels, help and choices."""
    page = questionnaire.pages[questionnaire.page_index(page_id)]
    texts = [page.title, page.intro]
    for q in page.questions:
        texts += [q.label, q.help, *(c.label for c in q.choices), *(i.label for i in q.items)]
    return tags_in(*texts, lang=lang)


def fill_page(watch: Watch, questionnaire: Questionnaire, page_id: str, answers: dict[str, str]) -> None:
    """Answer a page through the browser: the first option everywhere, the open answers typed."""
    page = watch.page
    for q in questionnaire.pages[questionnaire.page_index(page_id)].questions:
        if q.type in ("text", "long_text") and q.id in answers:
            page.locator(f"[name=q_{q.id}]").fill(answers[q.id])
        elif q.type == "number":
            page.locator(f"[name=q_{q.id}]").fill("2")
        elif q.type == "matrix":
            for item in q.items:
                boxes = page.locator(f"input[name=q_{q.id}__{item.id}]")
                if boxes.count():
                    boxes.first.check()
        elif q.type in ("single_choice", "yes_no", "rating", "multiple_choice"):
            boxes = page.locator(f"input[name=q_{q.id}]")
            if boxes.count():
                boxes.first.check()


@pytest.mark.browser
def test_respondent_pages_run_no_payload(xss: XssWorld, watch: Watch) -> None:
    """Welcome, every page, the open answers again, review, saved, submit and thanks."""
    questionnaire = xss.questionnaire
    answers = open_answers(questionnaire, "browser")
    watch.goto(f"{xss.url}/s/{xss.token()}", tags_in(questionnaire.title, questionnaire.welcome))
    with watch.page.expect_navigation() as navigation:
        watch.page.locator("a.button").first.click()
    seen = set()
    while "/survey/p/" in watch.page.url:
        page_id = watch.page.url.rsplit("/", 1)[-1].split("?")[0]
        if page_id in seen:
            break
        seen.add(page_id)
        watch.check(navigation.value, questionnaire_tags(questionnaire, page_id))
        fill_page(watch, questionnaire, page_id, answers)
        with watch.page.expect_navigation() as navigation:
            watch.page.locator("button[name=action][value=next]").click()
    assert watch.page.url.endswith("/survey/review"), (
        f"stuck on {watch.page.url}: {watch.page.inner_text('main')[:500]}"
    )
    watch.check(navigation.value, tuple(f"answer-browser-{q}" for q in answers))
    # The page with the saved answers: the textarea must hold the payload as its text.
    for q in questionnaire.questions:
        if q.id in answers:
            watch.goto(f"{xss.url}/survey/p/{q.page_id}")
            assert watch.page.locator(f"[name=q_{q.id}]").input_value().replace("\r\n", "\n") == answers[q.id]
    watch.goto(f"{xss.url}/survey/saved")
    watch.goto(f"{xss.url}/survey/review")
    with watch.page.expect_navigation() as navigation:
        watch.page.locator("form[action$='/survey/submit'] button[type=submit]").click()
    watch.check(navigation.value, tags_in(questionnaire.thanks))
    assert watch.page.url.endswith("/survey/thanks")
    watch.assert_clean()


def login(watch: Watch, url: str, email: str, password: str) -> None:
    watch.goto(f"{url}/login")
    watch.page.fill("input[name=email]", email)
    watch.page.fill("input[name=password]", password)
    with watch.page.expect_navigation() as navigation:
        watch.page.locator("main form button[type=submit]").first.click()
    watch.check(navigation.value)


@pytest.mark.browser
def test_planner_pages_run_no_payload(xss: XssWorld, watch: Watch) -> None:
    """Every planner and admin page, the register upload and mail texts included."""
    url = xss.url
    # A failed login with a payload as the address: shown back on the login page and in the audit log.
    login(watch, url, payload("browser-login", short=True), "not the password")
    login(watch, url, "admin@example.org", PASSWORD)
    assert "/login" not in watch.page.url, watch.page.inner_text("main")[:300]
    for path in get_routes(xss.app):
        watch.goto(f"{url}{path}")
    watch.goto(f"{url}/planner/waves/", ("wave-title", "draft-title"))
    watch.goto(f"{url}/planner/waves/xss-2026", ("wave-title",))
    watch.goto(f"{url}/planner/waves/xss-2026/monitor", ("group-service",))
    watch.goto(f"{url}/admin/audit", ("audit", "browser-login"))
    watch.goto(f"{url}/admin/users", ("account",))
    watch.goto(f"{url}/planner/waves/new")
    # The register upload: the column mapping shows the file's names, values and column names.
    watch.goto(f"{url}/planner/waves/xss-draft/register")
    watch.page.set_input_files(
        "input[type=file]",
        {
            "name": payload("file", short=True) + ".csv",
            "mimeType": "text/csv",
            "buffer": register_csv(6, "upload"),
        },
    )
    with watch.page.expect_navigation() as navigation:
        watch.page.locator("main form button[type=submit]").first.click()
    watch.check(navigation.value, ("name-upload-0", "group-upload", "column-upload"))
    watch.page.set_input_files(
        "input[type=file]",
        {"name": "register.csv", "mimeType": "text/csv", "buffer": register_csv(6, "upload")},
    )
    for box in watch.page.locator("input[name=extra_group]").all():
        box.check()  # keep the payload column as a group: the result page shows its values
    with watch.page.expect_navigation() as navigation:
        watch.page.locator("button[name=action][value=import]").click()
    watch.check(navigation.value, ("group-upload",))
    # Mail texts with payloads: the editing page, a preview of the changed text, the saved preview.
    watch.goto(f"{url}/planner/waves/xss-draft/mail/templates")
    watch.page.locator("textarea").first.fill(payload("mail-edit"))
    with watch.page.expect_navigation() as navigation:
        watch.page.locator("button[name=action][value=preview]").click()
    watch.check(navigation.value)
    watch.goto(f"{url}/planner/waves/xss-draft/mail/preview?kind=invitation&lang=nl", ("mail-subject",))
    watch.assert_clean()


@pytest.mark.browser
def test_the_csp_stops_an_inline_script(xss: XssWorld, browser: Any) -> None:
    """With the app's own policy, an inline script that gets into a page does not run."""
    context = browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(f"{xss.url}/login")
        assert response is not None and "script-src 'none'" in response.headers["content-security-policy"]
        ran = page.evaluate(
            """() => new Promise(resolve => {
                 const violations = [];
                 document.addEventListener('securitypolicyviolation',
                                           e => violations.push(e.violatedDirective));
                 const script = document.createElement('script');
                 script.textContent = 'window.__csp_ran = 1';
                 document.body.appendChild(script);
                 const img = document.createElement('img');
                 img.setAttribute('onerror', 'window.__csp_ran = 2');
                 img.src = 'data:,x';
                 document.body.appendChild(img);
                 setTimeout(() => resolve({ran: window.__csp_ran || null, violations}), 300);
               })"""
        )
        assert ran["ran"] is None, "an inline script ran despite the CSP"
        assert any(v.startswith("script-src") for v in ran["violations"]), ran
    finally:
        context.close()


def test_every_page_sends_the_csp(xss: XssWorld) -> None:
    """The header on every page, the error pages too (test client)."""
    client = xss.app.test_client()
    for path in ["/", "/login", "/survey/", "/s/nope", "/planner/", "/no-such-page", *get_routes(xss.app)]:
        response = client.get(path)
        assert "script-src 'none'" in response.headers.get("Content-Security-Policy", ""), path
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path


def test_planted_texts_reach_the_pages(xss: XssWorld) -> None:
    """The questionnaire really holds the payloads (so the tests above are not vacuous)."""
    text = json.dumps(load_questionnaire(Path(xss.app.config["QUESTIONNAIRE_DIR"]) / "xss.yaml").source)
    assert text.count("<script>") > 20


@pytest.mark.browser
def test_the_watch_sees_a_payload_that_runs(watch: Watch) -> None:
    """The control: the same checks on a page that holds the payload unescaped do report it."""
    watch.page.set_content(f"<main><p>{payload('control')}</p></main>")
    watch.page.wait_for_timeout(300)  # the img onerror handlers fire once the broken images fail
    watch.check(None)
    found = "\n".join(watch.problems)
    assert "a payload ran" in found and "dialogs opened" in found and "injected markup" in found, found


def test_invitation_mails_escape_planted_texts(xss: XssWorld) -> None:
    """The register's names and the questionnaire's titles in real invitation mails (HTML part escaped)."""
    from surveyapp.services.invitations import start_mail_job
    from surveyapp.services.waves import wave_by_slug

    with xss.app.app_context():
        wave = wave_by_slug("xss-2026")
        assert wave is not None
        job = start_mail_job(wave, "invitation", "planner@example.org", mode="sync")
        assert job.state == "done", job.message
    mails = sorted(Path(xss.app.config["OUTBOX_DIR"]).glob("*.eml"))
    assert mails, "no invitation was written to the outbox"
    for path in mails:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        html_part = message.get_body(("html",))
        text_part = message.get_body(("plain",))
        assert html_part is not None and text_part is not None
        html = html_part.get_content()
        assert_escaped(html, path.name)
        assert "[name-service-" in html and "{{7*7}}" in html, "the name is not in the mail literally"
        assert "[name-service-" in text_part.get_content()
