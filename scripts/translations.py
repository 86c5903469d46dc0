#!/usr/bin/env python3
"""Keep the Dutch UI catalogue in step with the source.

The UI strings are English msgids (``_()``, ``gettext``, ``ngettext``, ``lazy_gettext``/``_l``
in Python; ``_()``/``gettext``/``ngettext`` and ``{% trans %}`` in the Jinja templates). Dutch is
the default language, so every msgid needs a Dutch translation; English needs no catalogue
(Flask-Babel falls back to the msgid).

    .venv/bin/python scripts/translations.py extract   source → surveyapp/translations/messages.pot
    .venv/bin/python scripts/translations.py update    messages.pot → nl/LC_MESSAGES/messages.po
    .venv/bin/python scripts/translations.py compile   messages.po → messages.mo (committed)
    .venv/bin/python scripts/translations.py check     exit 1 if anything is missing or stale

After adding strings: ``extract``, ``update``, translate the new (empty or ``#, fuzzy``)
entries in ``messages.po``, ``compile``, and commit the .pot, .po and .mo together.
``all`` runs extract, update and compile in one go.

Only Babel's Python API is used, so this works from a fresh clone with the project's virtualenv.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "babel.cfg"
TRANSLATIONS = ROOT / "surveyapp" / "translations"
POT = TRANSLATIONS / "messages.pot"
DOMAIN = "messages"
# Locales that need a catalogue. The msgids are English, so "en" needs none.
LOCALES = ("nl",)
# Babel's defaults (_, gettext, ngettext, pgettext, ...) plus Flask-Babel's lazy variants.
KEYWORDS: dict[str, object] = {
    **DEFAULT_KEYWORDS,
    "_l": None,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "lazy_pgettext": ((1, "c"), 2),
}
WIDTH = 76
PROJECT = "surveyapp"
CREATION_DATE_PREFIX = '"POT-Creation-Date:'


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"


def _read_mapping() -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    from babel.messages import frontend

    parse = getattr(frontend, "parse_mapping_cfg", None) or frontend.parse_mapping
    with MAPPING.open(encoding="utf-8") as handle:
        method_map, options_map = parse(handle, filename=str(MAPPING))
    return method_map, options_map


def extract_catalog() -> Catalog:
    """Every msgid in the source, as a template catalogue (read with babel.cfg and KEYWORDS)."""
    method_map, options_map = _read_mapping()
    catalog = Catalog(project=PROJECT, charset="utf-8", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT),
        method_map,
        options_map,
        keywords=KEYWORDS,  # type: ignore[arg-type]
        comment_tags=("TRANSLATORS:",),
        strip_comment_tags=True,
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def _po_text(catalog: Catalog, *, ignore_obsolete: bool = True) -> str:
    buffer = io.BytesIO()
    write_po(
        buffer,
        catalog,
        width=WIDTH,
        no_location=True,
        ignore_obsolete=ignore_obsolete,
        include_previous=False,
    )
    return buffer.getvalue().decode("utf-8")


def _without_dates(text: str) -> str:
    return "\n".join(
        line
        for line in text.splitlines()
        if not line.startswith((CREATION_DATE_PREFIX, '"PO-Revision-Date:', "# Copyright", "# FIRST AUTHOR"))
    )


def _write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` unless the file says the same apart from dates (keeps diffs small)."""
    if path.exists() and _without_dates(path.read_text(encoding="utf-8")) == _without_dates(text):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def _read_po(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def extract(pot: Path = POT) -> Catalog:
    """Extract the source's msgids into ``pot`` (no locations: small diffs)."""
    catalog = extract_catalog()
    changed = _write_if_changed(pot, _po_text(catalog))
    name = pot.relative_to(ROOT) if pot.is_relative_to(ROOT) else pot
    print(f"{name}: {len(msgids(catalog))} msgids ({'updated' if changed else 'unchanged'})")
    return catalog


UNUSED = "unused: no longer in the working tree; `update --prune` removes it"


def update(locales: Iterable[str] = LOCALES, pot: Path = POT, *, prune: bool = False) -> None:
    """Merge the template into each locale's .po: new msgids appear empty (or fuzzy when a
    similar msgid was translated).

    A translated msgid that left the source is kept (marked "unused") unless ``prune``: other
    people's work may still be uncommitted, so the committed source can still use a string that
    the working tree has just dropped. Prune once every branch is in.
    """
    template = _read_po(pot)
    in_source = set(msgids(template))
    for locale in locales:
        path = po_path(locale)
        if path.exists():
            catalog = _read_po(path, locale)
        else:
            catalog = Catalog(locale=locale, project=PROJECT, charset="utf-8", fuzzy=False)
            catalog.language_team = f"{locale} <LL@li.org>"
        before = {key(m): m for m in catalog if m.id and is_translated(m)}
        catalog.update(template)
        catalog.fuzzy = False  # the header is not a translation
        kept = 0
        for (msgid, context), old in before.items():
            if (msgid, context) in in_source or prune:
                continue
            comments = [c for c in old.user_comments if c != UNUSED] + [UNUSED]
            catalog.add(old.id, old.string, flags=old.flags, user_comments=comments, context=old.context)
            kept += 1
        for message in catalog:
            if message.id and key(message) in in_source and UNUSED in message.user_comments:
                message.user_comments = [c for c in message.user_comments if c != UNUSED]
        changed = _write_if_changed(path, _po_text(catalog))
        todo = untranslated(catalog, msgids(template))
        print(
            f"{path.relative_to(ROOT)}: {'updated' if changed else 'unchanged'}, {len(todo)} to translate"
            + (f", {kept} unused kept (update --prune drops them)" if kept else "")
        )
        for msgid in todo:
            print(f"  {msgid!r}")


def compile_catalogs(locales: Iterable[str] = LOCALES) -> bool:
    """Compile each .po to its .mo; False (nothing written) when a translation has errors."""
    ok = True
    for locale in locales:
        catalog = _read_po(po_path(locale), locale)
        errors = format_errors(catalog)
        if errors:
            ok = False
            print(f"{po_path(locale).relative_to(ROOT)}: not compiled, {len(errors)} errors", file=sys.stderr)
            for error in errors:
                print(f"  {error}", file=sys.stderr)
            continue
        target = mo_path(locale)
        data = mo_bytes(catalog)
        if not target.exists() or target.read_bytes() != data:
            target.write_bytes(data)
            print(f"{target.relative_to(ROOT)}: compiled")
        else:
            print(f"{target.relative_to(ROOT)}: unchanged")
    return ok


def mo_bytes(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def key(message: Message) -> tuple[str, str | None]:
    msgid = message.id[0] if isinstance(message.id, tuple | list) else message.id
    return (str(msgid), message.context)


def msgids(catalog: Catalog) -> list[tuple[str, str | None]]:
    return [key(m) for m in catalog if m.id]


def is_translated(message: Message) -> bool:
    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
    return not message.fuzzy and bool(strings) and all(s and s.strip() for s in strings)


def untranslated(catalog: Catalog, wanted: Iterable[tuple[str, str | None]]) -> list[str]:
    """The msgids of ``wanted`` that ``catalog`` lacks, or has empty or fuzzy."""
    missing = []
    for msgid, context in wanted:
        message = catalog.get(msgid, context)
        if message is None or not is_translated(message):
            state = "missing" if message is None else ("fuzzy" if message.fuzzy else "untranslated")
            missing.append(f"{msgid} [{state}]" if context is None else f"{context}|{msgid} [{state}]")
    return missing


PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[#0 +\-]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa%]")


def placeholders(text: str) -> list[str]:
    """The %-placeholders of a message (``%(n)d``, ``%s``, ``%%``), sorted."""
    return sorted(match.group(0) for match in PLACEHOLDER.finditer(text))


def format_errors(catalog: Catalog) -> list[str]:
    """Babel's checks, plus: each translation has exactly the placeholders of its msgid
    (Babel only rejects unknown ones; a dropped ``%(n)d`` would silently lose the number)."""
    errors = [f"{key(m)[0]!r}: {error}" for m, found in catalog.check() for error in found if found]
    for message in catalog:
        if not message.id or not message.python_format or not is_translated(message):
            continue
        ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
        strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
        for index, string in enumerate(strings):
            source = str(ids[min(index, len(ids) - 1)])
            if placeholders(str(string)) != placeholders(source):
                errors.append(
                    f"{ids[0]!r}: the translation has placeholders {placeholders(str(string))}, "
                    f"the msgid {placeholders(source)}"
                )
    return errors


def mo_messages(data: bytes) -> dict[tuple[str, str | None], object]:
    """The translations of a compiled catalogue, for comparing two .mo files by content."""
    catalog = read_mo(io.BytesIO(data))
    result: dict[tuple[str, str | None], object] = {(key(m)[0], m.context): m.string for m in catalog if m.id}
    result[("", None)] = catalog.plural_forms
    return result


def check(locales: Iterable[str] = LOCALES, source: Catalog | None = None) -> list[str]:
    """Every problem that makes the catalogues unfit to ship; empty when all is well."""
    problems: list[str] = []
    wanted = msgids(source if source is not None else extract_catalog())
    for locale in locales:
        path = po_path(locale)
        if not path.exists():
            problems.append(f"{path.relative_to(ROOT)} is missing: run extract, update, translate, compile")
            continue
        catalog = _read_po(path, locale)
        problems += [f"{locale}: {entry}" for entry in untranslated(catalog, wanted)]
        problems += [f"{locale}: {error}" for error in format_errors(catalog)]
        target = mo_path(locale)
        if not target.exists():
            problems.append(f"{target.relative_to(ROOT)} is missing: run compile")
        elif mo_messages(target.read_bytes()) != mo_messages(mo_bytes(catalog)):
            problems.append(f"{target.relative_to(ROOT)} is stale (it differs from the .po): run compile")
    return problems


def pot_is_current(source: Catalog) -> bool:
    if not POT.exists():
        return False
    return _without_dates(POT.read_text(encoding="utf-8")) == _without_dates(_po_text(source))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "command",
        choices=["extract", "update", "compile", "check", "all"],
        help="all = extract, update and compile",
    )
    parser.add_argument(
        "--prune", action="store_true", help="update: drop translations whose msgid left the source"
    )
    args = parser.parse_args(argv)
    if args.command in ("extract", "all"):
        extract()
    if args.command in ("update", "all"):
        update(prune=args.prune)
    if args.command in ("compile", "all"):
        return 0 if compile_catalogs() else 1
    if args.command == "check":
        source = extract_catalog()
        problems = check(source=source)
        if not pot_is_current(source):
            print("note: messages.pot is out of date; run extract (the check itself reads the source)")
        for locale in LOCALES:
            if po_path(locale).exists():
                unused = [m for m in _read_po(po_path(locale), locale) if m.id and UNUSED in m.user_comments]
                if unused:
                    print(
                        f"note: {locale} keeps {len(unused)} unused translations (update --prune drops them)"
                    )
        if problems:
            print(f"{len(problems)} translation problems:", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            print(
                "To fix: run this script with extract, then update; translate the listed msgids in "
                "surveyapp/translations/nl/LC_MESSAGES/messages.po; then compile.",
                file=sys.stderr,
            )
            return 1
        print(f"translations OK: {len(msgids(source))} msgids, all translated in {', '.join(LOCALES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
