"""Every page language has every message of the redemption and sign-in pages, with the same placeholders, and
the passcode email renders in each email language."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from hospes.mail.i18n import SUPPORTED as MAIL_LANGUAGES
from hospes.mail.otp_mail import OtpMailData, build_otp_mail
from hospes.web import i18n

WEB = Path(i18n.__file__).parent
MAPPING = [("**.py", "python"), ("**/templates/*.html", "jinja2")]
OPTIONS = {"**/templates/*.html": {"extensions": "jinja2.ext.i18n"}}


def _page_messages() -> set[str]:
    ids: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(WEB), MAPPING, OPTIONS):
        if "portal" in _file:
            continue  # the admin portal keeps its own catalogs (portal.po)
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_pages_speak_the_email_languages() -> None:
    assert {lang.split("-")[0] for lang in MAIL_LANGUAGES} == set(i18n.SUPPORTED)


def test_every_page_language_translates_every_message() -> None:
    wanted = _page_messages()
    assert "Review permissions" in wanted and "Sign in" in wanted
    for language in i18n.SUPPORTED[1:]:
        translated: dict[str, str] = {}
        for po in (i18n.LOCALE_DIR / language / "LC_MESSAGES").glob("*.po"):
            if po.name == "portal.po":
                continue
            for m in read_po(po.open("rb"), locale=language):
                if m.id:
                    key = m.id if isinstance(m.id, str) else m.id[0]
                    string = m.string if isinstance(m.string, str) else (m.string or [""])[0]
                    assert string, (language, key)
                    assert sorted(re.findall(r"%\(\w+\)[sd]", key)) == sorted(re.findall(r"%\(\w+\)[sd]", string)), (
                        language,
                        key,
                    )
                    translated[key] = string
        assert wanted <= set(translated), (language, sorted(wanted - set(translated)))


def test_otp_email_in_every_language() -> None:
    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    subjects = set()
    for language in MAIL_LANGUAGES:
        data = OtpMailData("c1", language, "Hospes", "invites@hospes.example", "Contoso", "a@b.example", "12345678", 10)
        message = build_otp_mail(data, now).message()
        assert message["Content-Language"] == language
        body = message.get_body(preferencelist=("plain",))
        assert body is not None and "12345678" in body.get_content()
        subjects.add(str(message["Subject"]))
    assert len(subjects) == len(MAIL_LANGUAGES)
