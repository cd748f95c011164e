"""Render a templated email (``templates/<name>/{subject.txt,body.txt,body.html}``) into a MIME message.

Header safety does not rely on the ``email`` package alone (CPython had newline-injection bypasses, e.g.
CVE-2024-6923): every header value built from data is checked here for control characters first, and the
serialized header block is checked again for exactly the headers we set.
"""

from __future__ import annotations

import binascii
import datetime as dt
import email.policy
import re
import secrets
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.parser import HeaderParser
from email.utils import format_datetime, formataddr
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from hospes.mail.i18n import babel_locale, translations

TEMPLATE_DIR = Path(__file__).parent / "templates"
# SMTP line endings, and values we set raw are written as they are: the default ("long") refolds any line over 78
# characters, and an unbreakable one (the List-Unsubscribe URL with its sealed token) came out as RFC 2047
# encoded words, which no mail client decodes in that header. RFC 5322 allows lines up to 998 characters.
POLICY = email.policy.SMTP.clone(refold_source="none")
RAW_LIMIT = 900  # longer values go through the header registry, which folds them


class HeaderInjectionError(ValueError):
    """A value meant for a mail header contains a line break or another control character."""


_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


def header_safe(value: str, what: str) -> str:
    if _CONTROL.search(value):
        raise HeaderInjectionError(f"{what} contains a line break or a control character")
    return value


def one_line(value: str, limit: int = 256) -> str:
    """Directory data (tenant and user names) shown in headers: control characters become spaces."""
    return " ".join(_CONTROL.sub(" ", value).split())[:limit]


@cache
def environment(language: str) -> Environment:
    """One environment per language (the gettext callables are environment-wide). HTML templates autoescape;
    text templates are plain text and must not be HTML-escaped."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        keep_trailing_newline=False,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


def gettext_for(language: str, message: str, **values: Any) -> str:
    text = translations(language).gettext(message)
    return text % values if values else text


@dataclass(frozen=True)
class Mailbox:
    address: str
    name: str = ""

    def header(self) -> Address:
        local, _, domain = self.address.rpartition("@")
        return Address(display_name=header_safe(self.name, "display name"), username=local, domain=domain)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@dataclass
class OutgoingMail:
    sender: Mailbox
    to: Mailbox
    message_id: str  # without angle brackets: "local@domain"
    cc: list[Mailbox] = field(default_factory=list)
    reply_to: Mailbox | None = None
    unsubscribe_url: str | None = None  # RFC 8058 one-click target
    extra_headers: dict[str, str] = field(default_factory=dict)


def render(template: str, language: str, context: dict[str, Any]) -> Rendered:
    env = environment(language)
    subject = one_line(env.get_template(f"{template}/subject.txt").render(context), 998)
    text = env.get_template(f"{template}/body.txt").render(context).strip() + "\n"
    html = env.get_template(f"{template}/body.html").render({**context, "subject": subject})
    return Rendered(subject, text, html)


def _set_addresses(msg: EmailMessage, name: str, boxes: list[Mailbox]) -> None:
    """ASCII names and addresses are formatted directly (``formataddr`` quotes specials and escapes quotes),
    skipping the email package's address parser, the costly part of composing. Anything else (non-ASCII names
    need RFC 2047 encoded words) goes through the header registry as before."""
    for box in boxes:
        header_safe(box.name, "display name")
        header_safe(box.address, "address")
    raw = ", ".join(formataddr((b.name, b.address)) for b in boxes)
    if raw.isascii() and len(raw) <= RAW_LIMIT:
        msg.set_raw(name, raw)
    else:
        msg[name] = [b.header() for b in boxes] if len(boxes) > 1 else boxes[0].header()


def _set_text(msg: EmailMessage, name: str, value: str) -> None:
    """An unstructured header: ASCII values verbatim (one line, see POLICY), others RFC 2047-encoded and folded by
    the header registry."""
    if value.isascii() and len(value) <= RAW_LIMIT:
        msg.set_raw(name, value)
    else:
        msg[name] = value


def _text_part(body: str, subtype: str) -> MIMEPart:
    """A UTF-8 text part, quoted-printable (7-bit on the wire, lines within 76 characters)."""
    part = MIMEPart(policy=POLICY)
    # Content-* through the registry: the generator reads them back many times, and parses raw values each time.
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(binascii.b2a_qp(body.encode("utf-8"), istext=True).decode("ascii"))
    return part


def compose(mail: OutgoingMail, content: Rendered, language: str, now: dt.datetime) -> EmailMessage:
    msg = EmailMessage(policy=POLICY)
    _set_text(msg, "Message-ID", f"<{header_safe(mail.message_id, 'Message-ID')}>")
    msg.set_raw("Date", format_datetime(now.astimezone(dt.UTC)))
    _set_addresses(msg, "From", [mail.sender])
    _set_addresses(msg, "To", [mail.to])
    if mail.cc:
        _set_addresses(msg, "Cc", mail.cc)
    if mail.reply_to:
        _set_addresses(msg, "Reply-To", [mail.reply_to])
    _set_text(msg, "Subject", header_safe(content.subject, "subject"))
    msg.set_raw("Auto-Submitted", "auto-generated")
    if mail.unsubscribe_url:
        # RFC 8058: a one-click POST to the HTTPS link blocks further invitations; a GET only shows a page.
        _set_text(msg, "List-Unsubscribe", f"<{header_safe(mail.unsubscribe_url, 'unsubscribe URL')}>")
        msg.set_raw("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
    for name, value in mail.extra_headers.items():
        _set_text(msg, header_safe(name, "header name"), header_safe(value, name))
    msg.set_raw("MIME-Version", "1.0")
    # QP-encoded parts never contain "=_", so this boundary cannot occur inside them.
    msg["Content-Type"] = f'multipart/alternative; boundary="=_hospes_{secrets.token_hex(12)}"'
    msg.set_payload([_text_part(content.text, "plain"), _text_part(content.html, "html")])
    _set_text(msg, "Content-Language", header_safe(language, "Content-Language"))
    return msg


def serialize(msg: EmailMessage) -> str:
    """The wire form (CRLF, 7-bit: non-ASCII is MIME-encoded), serialized once, then parsed back: its header
    names must be exactly those set, or something injected a header."""
    wire = msg.as_string()
    parsed = HeaderParser(policy=POLICY).parsestr(wire)
    if [k.lower() for k in parsed] != [k.lower() for k in msg]:
        raise HeaderInjectionError("the serialized message has unexpected headers")
    return wire


def localized_date(value: dt.datetime, language: str) -> str:
    return format_date(value.date(), format="long", locale=babel_locale(language))
