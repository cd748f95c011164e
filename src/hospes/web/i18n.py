"""Languages of the pages: gettext catalogs compiled from ``locale/<lang>/LC_MESSAGES/*.po`` in memory on first use
(the repository holds no binary ``.mo``, so a fresh clone works as is), and the choice of a language.

Each area of the pages (sign-in ``messages.po``, redemption, portal) keeps its own ``.po`` file so they can evolve
separately; a language's files are merged into one catalog.

Precedence: ``?lang=`` (remembered in a cookie), the language of the invitation of a guest (on the redemption
pages, and in the guest's session afterwards), the signed-in user's preferredLanguage, the tenant's
preferredLanguage, then the browser's ``Accept-Language``.
"""

from __future__ import annotations

import gettext
import re
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT = "en"
SUPPORTED = ("en", "fr", "de", "es", "ja")  # source language first; the languages of the email (mail/i18n.py)
NAMES = {"en": "English", "fr": "Français", "de": "Deutsch", "es": "Español", "ja": "日本語"}
_Q = re.compile(r"^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$")


def match(tag: str | None) -> str | None:
    """The supported language of a BCP 47 tag ('fr-CA', 'FR_fr', 'fr' -> 'fr'), or None."""
    if not tag or not isinstance(tag, str) or len(tag) > 35:
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in SUPPORTED else None


def from_accept_language(header: str | None) -> str | None:
    """The best supported language of an ``Accept-Language`` header (RFC 9110 §12.5.4 quality values)."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(header[:512].split(",")):
        tag, _, params = item.partition(";")
        quality = 1.0
        found = _Q.match(params) if params else None
        if params and found is None:
            continue
        if found:
            quality = float(found.group(1))
        language = match(tag)
        if language and quality > 0:
            ranked.append((-quality, index, language))
    return min(ranked)[2] if ranked else None


def choose(*candidates: str | None, accept_language: str | None = None) -> str:
    for candidate in candidates:
        found = match(candidate)
        if found:
            return found
    return from_accept_language(accept_language) or DEFAULT


@cache
def translations(language: str) -> gettext.NullTranslations:
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    files = sorted(folder.glob("*.po")) if language != DEFAULT else []
    if not files:
        return gettext.NullTranslations()
    merged = _compiled(files[0], language)
    for po in files[1:]:
        merged.merge(_compiled(po, language))
    return merged


def _compiled(po: Path, language: str) -> Translations:
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)
