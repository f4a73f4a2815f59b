"""Maintain the pages' gettext catalogs (needs Babel, a development dependency).

``python -m webui.catalogs update`` extracts every translatable string from the
templates and the Python code (the pages', and the node's policy reasons and service
errors, marked with ``translatable``) and merges it into each language's ``.po``
(new strings arrive untranslated, vanished ones become obsolete);
``python -m webui.catalogs compile`` writes the ``.mo`` files the pages read;
``python -m webui.catalogs check`` fails when a string lacks a translation or a
``.mo`` is out of date (the tests run the same check);
``python -m webui.catalogs fill LANG FILE.json`` sets translations from a JSON object
``{"English message": "translation"}`` (for a plural, a list of forms), then compiles.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from webui.i18n import DEFAULT_LANGUAGE, DOMAIN, LANGUAGES, TRANSLATIONS_DIR

WEBUI_DIR = Path(__file__).parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy": None, "translatable": None}
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n"}
# Where the node writes texts the pages show: policy reasons and the services' errors.
NODE_SOURCES = ("node/policy", "node/services")
NODE_METHODS = [("**.py", "python")]


def extract() -> Catalog:
    """Every translatable message of the pages, with where it occurs."""
    catalog = Catalog(project="Fedwall", domain=DOMAIN)
    found = extract_from_dir(
        WEBUI_DIR,
        method_map=METHODS,
        options_map={"templates/**.html": JINJA_OPTIONS},
        keywords=KEYWORDS,
    )
    for filename, lineno, message, comments, context in found:
        catalog.add(message, locations=[(filename, lineno)], auto_comments=comments,
                    context=context)  # fmt: skip
    for source in NODE_SOURCES:
        found = extract_from_dir(
            WEBUI_DIR.parent / source, method_map=NODE_METHODS, keywords=KEYWORDS
        )
        for filename, lineno, message, comments, context in found:
            catalog.add(message, locations=[(f"{source}/{filename}", lineno)],
                        auto_comments=comments, context=context)  # fmt: skip
    return catalog


def po_path(language: str) -> Path:
    return TRANSLATIONS_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(language: str) -> Catalog:
    with po_path(language).open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


def compiled(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


def translated_languages() -> list[str]:
    return [code for code in LANGUAGES if code != DEFAULT_LANGUAGE]


def update() -> None:
    template = extract()
    for language in translated_languages():
        path = po_path(language)
        if path.exists():
            catalog = read_catalog(language)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=language, domain=DOMAIN, project="Fedwall")
        catalog.update(template, no_fuzzy_matching=True)
        with path.open("wb") as handle:
            write_po(handle, catalog, width=100, sort_output=False, omit_header=False)


def compile_all() -> None:
    for language in translated_languages():
        po_path(language).with_suffix(".mo").write_bytes(compiled(read_catalog(language)))


def fill(language: str, translations: dict[str, str | list[str]]) -> list[str]:
    """Set the translations of messages already in ``language``'s catalog; returns unknown ids."""
    catalog = read_catalog(language)
    unknown = []
    for message_id, translated in translations.items():
        message = catalog.get(message_id)
        if message is None:
            # Plural messages are keyed by their singular form.
            message = next((m for m in catalog if isinstance(m.id, tuple)
                            and m.id[0] == message_id), None)  # fmt: skip
        if message is None:
            unknown.append(message_id)
            continue
        message.string = tuple(translated) if isinstance(translated, list) else translated
        message.flags.discard("fuzzy")
    with po_path(language).open("wb") as handle:
        write_po(handle, catalog, width=100, sort_output=False, omit_header=False)
    return unknown


def problems() -> list[str]:
    """What keeps the catalogs from being complete and compiled."""
    found: list[str] = []
    expected = {m.id for m in extract() if m.id}
    for language in translated_languages():
        catalog = read_catalog(language)
        for message in catalog:
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if message.id in expected and (message.fuzzy or not all(strings)):
                found.append(f"{language}: no translation for {message.id!r}")
        present = {m.id for m in catalog if m.id}
        found.extend(f"{language}: missing {mid!r} (run update)" for mid in expected - present)
        mo = po_path(language).with_suffix(".mo")
        if not mo.exists() or mo.read_bytes() != compiled(catalog):
            found.append(f"{language}: {mo.name} is out of date (run compile)")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webui.catalogs", description=__doc__)
    parser.add_argument("command", choices=["update", "compile", "check", "fill"])
    parser.add_argument("language", nargs="?", help="fill: the language code (e.g. fr)")
    parser.add_argument("file", nargs="?", help="fill: JSON object of message -> translation")
    args = parser.parse_args(argv)
    if args.command == "update":
        update()
    elif args.command == "fill":
        if args.language not in translated_languages() or not args.file:
            parser.error(f"fill needs a language ({', '.join(translated_languages())}) and a file")
        with open(args.file, encoding="utf-8") as handle:
            unknown = fill(args.language, json.load(handle))
        for message_id in unknown:
            print(f"not in the catalog (run update first): {message_id!r}", file=sys.stderr)
        compile_all()
        return 1 if unknown else 0
    elif args.command == "compile":
        compile_all()
    else:
        found = problems()
        for line in found:
            print(line, file=sys.stderr)
        return 1 if found else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
