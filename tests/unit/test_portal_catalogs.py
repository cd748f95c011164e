"""The admin portal's catalogs: every page language translates every message of the portal (Python and templates)
with the same placeholders, and its plural rule is the one of the language's page catalog."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from hospes.web import i18n

WEB = Path(i18n.__file__).parent
MAPPING = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _portal_messages() -> set[str]:
    return {
        message if isinstance(message, str) else message[0]
        for file, _line, message, _comments, _context in extract_from_dir(str(WEB), MAPPING, OPTIONS)
        if "portal" in file
    }


def _translations(language: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for po in sorted((i18n.LOCALE_DIR / language / "LC_MESSAGES").glob("*.po")):
        for m in read_po(po.open("rb"), locale=language):
            if m.id:
                key = m.id if isinstance(m.id, str) else m.id[0]
                string = m.string if isinstance(m.string, str) else (m.string or [""])[0]
                if string:
                    found.setdefault(key, string)
    return found


@pytest.mark.parametrize("language", i18n.SUPPORTED[1:])
def test_every_language_translates_the_whole_portal(language: str) -> None:
    wanted = _portal_messages()
    assert "Invite external user" in wanted and "Test connection" in wanted and len(wanted) > 300
    found = _translations(language)
    assert wanted <= set(found), sorted(wanted - set(found))
    for key in wanted:
        assert sorted(_PLACEHOLDER.findall(key)) == sorted(_PLACEHOLDER.findall(found[key])), (language, key)


@pytest.mark.parametrize("language", i18n.SUPPORTED[1:])
def test_portal_catalog_plurals_match_the_page_catalog(language: str) -> None:
    folder = i18n.LOCALE_DIR / language / "LC_MESSAGES"
    pages = read_po((folder / "messages.po").open("rb"), locale=language)
    portal = read_po((folder / "portal.po").open("rb"), locale=language)
    assert pages.plural_expr == portal.plural_expr and pages.num_plurals == portal.num_plurals


def test_plural_and_merge() -> None:
    assert i18n.translations("fr").ngettext("%(num)d user", "%(num)d users", 2) % {"num": 2} == "2 utilisateurs"
    assert i18n.translations("de").gettext("Test connection") == "Verbindung testen"
    assert i18n.translations("ja").gettext("Sign out") != "Sign out"  # the page catalog is merged in too
