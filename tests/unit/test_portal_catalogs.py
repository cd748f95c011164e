"""The admin portal's catalogs: French translates every message of the portal (Python and templates) with the
same placeholders; the other page languages fall back to English for portal-only messages."""

from __future__ import annotations

import re
from pathlib import Path

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


def test_french_translates_the_whole_portal() -> None:
    wanted = _portal_messages()
    assert "Invite external user" in wanted and "Test connection" in wanted and len(wanted) > 300
    french = _translations("fr")
    assert wanted <= set(french), sorted(wanted - set(french))
    for key in wanted:
        assert sorted(_PLACEHOLDER.findall(key)) == sorted(_PLACEHOLDER.findall(french[key])), key


def test_portal_catalog_plurals_match_the_page_catalog() -> None:
    headers = {}
    for name in ("messages.po", "portal.po"):
        catalog = read_po((i18n.LOCALE_DIR / "fr" / "LC_MESSAGES" / name).open("rb"), locale="fr")
        headers[name] = catalog.plural_forms
    assert headers["messages.po"] == headers["portal.po"]
    translate = i18n.translations("fr")
    assert translate.ngettext("%(num)d user", "%(num)d users", 2) % {"num": 2} == "2 utilisateurs"
