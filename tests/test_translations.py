"""The Dutch UI catalogue: complete for the current source, compiled, and used by the pages.

Dutch is the default language, so an English msgid without a Dutch translation shows English on
a Dutch page (WCAG 3.1.2). When a test here fails after you added or changed a UI string, run

    .venv/bin/python scripts/translations.py extract
    .venv/bin/python scripts/translations.py update
    # translate the listed msgids in surveyapp/translations/nl/LC_MESSAGES/messages.po
    .venv/bin/python scripts/translations.py compile

and commit messages.pot, messages.po and messages.mo together.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import REPO
from tests.test_survey_flow import make_wave

FIX = (
    "run `.venv/bin/python scripts/translations.py extract`, then `update`, translate these msgids in "
    "surveyapp/translations/nl/LC_MESSAGES/messages.po (plain Dutch, 'u'-form; keep every "
    "%(placeholder)s), then `compile`, and commit the .pot, .po and .mo"
)


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "surveyapp_translations_script", REPO / "scripts" / "translations.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


translations = _load_script()
PO = translations.po_path("nl")
MO = translations.mo_path("nl")


def _listing(items: list[str]) -> str:
    return "\n".join(f"  - {item}" for item in items)


def test_every_msgid_in_the_source_has_a_dutch_translation(tmp_path: Path) -> None:
    """Extract the current source (templates and Python) and look each msgid up in nl."""
    pot = tmp_path / "messages.pot"
    translations.extract(pot)
    with pot.open("rb") as handle:
        template = read_po(handle)
    wanted = translations.msgids(template)
    assert len(wanted) > 100, f"extraction found only {len(wanted)} msgids: is babel.cfg right?"
    assert ("Next", None) in wanted and ("required", None) in wanted  # templates are read
    assert ("Please answer this question.", None) in wanted  # Python is read

    with PO.open("rb") as handle:
        catalog = read_po(handle, locale="nl")
    missing = translations.untranslated(catalog, wanted)
    assert not missing, (
        f"{len(missing)} UI strings have no Dutch translation (missing, empty or fuzzy):\n"
        f"{_listing(missing)}\nTo fix: {FIX}."
    )


def test_the_dutch_catalogue_compiles_and_keeps_every_placeholder(tmp_path: Path) -> None:
    with PO.open("rb") as handle:
        catalog = read_po(handle, locale="nl")
    errors = translations.format_errors(catalog)
    assert not errors, f"translations that break their message:\n{_listing(errors)}"
    assert catalog.plural_forms == "nplurals=2; plural=(n != 1);"
    compiled = tmp_path / "messages.mo"
    compiled.write_bytes(translations.mo_bytes(catalog))
    assert translations.mo_messages(compiled.read_bytes())[("Next", None)] == "Volgende"


def test_the_committed_mo_matches_the_po(tmp_path: Path) -> None:
    """The app reads the committed .mo at run time: it must say what the .po says."""
    with PO.open("rb") as handle:
        catalog = read_po(handle, locale="nl")
    fresh = tmp_path / "messages.mo"
    fresh.write_bytes(translations.mo_bytes(catalog))
    assert MO.exists(), f"{MO.relative_to(REPO)} is missing: run scripts/translations.py compile"
    with MO.open("rb") as handle:
        committed = read_mo(handle)
    with fresh.open("rb") as handle:
        expected = read_mo(handle)

    def table(mo_catalog: object) -> dict[tuple[str, str | None], object]:
        return {translations.key(m): m.string for m in mo_catalog if m.id}  # type: ignore[attr-defined]

    have, want = table(committed), table(expected)
    stale = sorted(
        msgid
        for (msgid, context) in set(have) | set(want)
        if have.get((msgid, context)) != want.get((msgid, context))
    )
    assert not stale, (
        f"messages.mo is stale for {len(stale)} msgids:\n{_listing(stale)}\n"
        "To fix: .venv/bin/python scripts/translations.py compile, and commit the .mo"
    )
    assert committed.plural_forms == expected.plural_forms


def _visible_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def respondent(app: Flask) -> FlaskClient:
    """A client that opened the personal link of p0, whose preferred language is Dutch."""
    tokens = make_wave(app)
    client = app.test_client()
    assert client.get(f"/s/{tokens['p0']}").status_code == 302
    return client


def test_a_respondent_page_is_dutch_by_default_and_english_on_request(respondent: FlaskClient) -> None:
    dutch = respondent.get("/survey/p/profiel")
    assert dutch.status_code == 200
    assert '<html lang="nl">' in dutch.text
    text = _visible_text(dutch.text)
    for expected in ("Volgende", "(verplicht)", "Bewaren en later verdergaan", "Naar de inhoud"):
        assert expected in text, f"{expected!r} is not on the Dutch page"
    for english in ("Next", "(required)", "Save and continue later", "Skip to content"):
        assert english not in text, f"English {english!r} on the Dutch page"

    english_page = respondent.get("/survey/p/profiel?lang=en")
    assert '<html lang="en">' in english_page.text
    text = _visible_text(english_page.text)
    for expected in ("Next", "(required)", "Save and continue later", "Skip to content"):
        assert expected in text, f"{expected!r} is not on the English page"
    assert "Volgende" not in text and "(verplicht)" not in text


def test_validation_messages_follow_the_language(respondent: FlaskClient) -> None:
    """Our own messages come from the catalogue, WTForms' built-in ones from WTForms' own
    catalogue (Flask-WTF's i18n), so an invalid number is explained in Dutch too."""
    dutch = respondent.post("/survey/p/profiel", data={"q_kinderen": "twee", "action": "next"})
    assert dutch.status_code == 422
    text = _visible_text(dutch.text)
    assert "Beantwoord deze vraag." in text  # the required question left empty
    assert "Ongeldig getal." in text  # WTForms' IntegerField, in Dutch
    assert "Fout:" in text
    assert "Please answer this question." not in text and "Not a valid" not in text

    respondent.get("/survey/p/profiel?lang=en")
    english = respondent.post("/survey/p/profiel", data={"q_kinderen": "twee", "action": "next"})
    assert english.status_code == 422
    text = _visible_text(english.text)
    assert "Please answer this question." in text
    assert "Not a valid integer value." in text


def test_templates_follow_force_locale_within_one_request(tmp_path: Path) -> None:
    # Templates look the catalogue up once per request and locale; reports render parts in
    # another language with force_locale, and those parts must switch, then switch back.
    from flask import render_template_string
    from flask_babel import force_locale

    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'unused.sqlite3'}", tmp_path)
    template = '{{ _("Next") }} · {{ ngettext("%(num)d problem:", "%(num)d problems:", 2) }}'
    with app.test_request_context("/"):
        assert render_template_string(template) == "Volgende · 2 problemen:"
        with force_locale("en"):
            assert render_template_string(template) == "Next · 2 problems:"
        assert render_template_string(template) == "Volgende · 2 problemen:"
    with app.test_request_context("/?lang=en"):
        assert render_template_string(template) == "Next · 2 problems:"
        # As Jinja's newstyle gettext: the text is safe, the values filled in are escaped.
        filled = (
            '{{ _("Hello %(name)s", name=who) }} '
            '{{ ngettext("%(num)d for %(x)s", "%(num)d for %(x)s", 3, x=who) }}'
        )
        assert render_template_string(filled, who="<b>") == "Hello &lt;b&gt; 3 for &lt;b&gt;"
