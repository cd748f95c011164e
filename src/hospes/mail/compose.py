"""Render a templated email (``templates/<name>/{subject.txt,body.txt,body.html}``) into a MIME message.

The message text is written here (``compose``), not by the ``email`` package's generator, which cost more than
the rest of an invitation and folded long URLs into encoded words. Header safety: every header value built from
data is refused if it holds a control character, non-ASCII values become RFC 2047 encoded words
(``email.header``), and the written header block is checked for exactly the headers we set (the ``email`` package
itself had newline-injection bypasses, e.g. CVE-2024-6923).

Text that already looks like an encoded word (``=?utf-8?b?...?=``, from a display name, a tenant name, an inviter
name) is never written verbatim into a display name or the subject: a mail client would decode it, possibly to a
line break or another control character. Any such value containing ``=?`` is itself sent as an encoded word, which
a client decodes once, back to the characters as typed. (Quoting is not enough: many decoders, the ``email``
package's among them, decode encoded words inside quoted strings too.)
"""

from __future__ import annotations

import binascii
import datetime as dt
import email.policy
import re
import secrets
from dataclasses import dataclass, field
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from hospes.mail.i18n import babel_locale, translations

TEMPLATE_DIR = Path(__file__).parent / "templates"
RAW_LIMIT = 900  # longer header values are folded (as RFC 2047 encoded words)


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


# A URL in free text (an inviter's message, an error's detail), up to the first space or delimiter. One that
# already stands between double quotes or angle brackets is delimited (RFC 3986 appendix C) and stays as typed.
_URL_IN_TEXT = re.compile(r"(?<![<\w\"/=])(?:https?://|www\.)[^\s<>\"]+", re.I)
_TRAILING = ".,;:!?'\")]}"


def delimit_urls(text: str) -> str:
    """Free text for a plain-text body, its URLs in angle brackets (RFC 3986 appendix C): a mail client would
    otherwise take the full stop, comma or parenthesis after a URL into the link. Punctuation that ends a URL is
    read as the sentence's, except a closing parenthesis the URL itself opened."""

    def bracket(found: re.Match[str]) -> str:
        url, tail = found.group(0), ""
        while url and url[-1] in _TRAILING:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            url, tail = url[:-1], url[-1] + tail
        return f"<{url}>{tail}"

    return _URL_IN_TEXT.sub(bracket, text)


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
        auto_reload=False,  # templates ship with the package: no stat() of three files per email
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["delimit_urls"] = delimit_urls
    return env


def gettext_for(language: str, message: str, **values: Any) -> str:
    text = translations(language).gettext(message)
    return text % values if values else text


@dataclass(frozen=True)
class Mailbox:
    address: str
    name: str = ""


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


CRLF = "\r\n"


@dataclass(frozen=True)
class ComposedMail:
    """A message ready for SMTP: ``wire`` is CRLF, 7-bit and verified; ``subject`` is the plain subject."""

    wire: str
    subject: str

    def message(self) -> EmailMessage:
        """The wire parsed back by the email package: for tools and tests, not the sending path."""
        parsed: EmailMessage = email.message_from_string(self.wire, policy=email.policy.SMTP)
        return parsed


ENCODED_WORD_START = "=?"  # how every RFC 2047 encoded word begins


def _text(name: str, value: str, *, machine: bool = False) -> str:
    """An unstructured header value: ASCII verbatim on one line (RFC 5322 allows 998 characters; a folded URL
    would be broken), anything else RFC 2047 encoded words, folded. Text for people holding ``=?`` is encoded too
    (see the module docstring); ``machine`` values (an id, a URI) are never decoded by clients and stay verbatim."""
    header_safe(value, name)
    looks_encoded = ENCODED_WORD_START in value and not machine
    if value.isascii() and len(value) <= RAW_LIMIT and not looks_encoded:
        return value
    charset = "us-ascii" if value.isascii() and not looks_encoded else "utf-8"
    return Header(value, charset, header_name=name).encode(linesep=CRLF)


def _addresses(name: str, boxes: list[Mailbox]) -> str:
    out = []
    for box in boxes:
        header_safe(box.name, "display name")
        header_safe(box.address, "address")
        if not box.address.isascii():
            raise HeaderInjectionError("the address has non-ASCII characters (SMTPUTF8 is not supported)")
        if not box.name:
            out.append(box.address)
        elif box.name.isascii() and ENCODED_WORD_START not in box.name:
            out.append(formataddr((box.name, box.address)))  # quotes specials, escapes quotes
        else:
            out.append(f"{Header(box.name, 'utf-8', header_name=name).encode(linesep=CRLF)} <{box.address}>")
    return f",{CRLF} ".join(out)


def _part(body: str, subtype: str) -> str:
    """A UTF-8 text part, quoted-printable: 7-bit, lines within 76 characters."""
    text = body.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    encoded = binascii.b2a_qp(text, istext=True).decode("ascii").replace("\n", CRLF)
    head = f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}Content-Transfer-Encoding: quoted-printable'
    return f"{head}{CRLF}{CRLF}{encoded}"


def compose(mail: OutgoingMail, content: Rendered, language: str, now: dt.datetime) -> ComposedMail:
    """Write the message directly: multipart/alternative (plain text, HTML), each value checked for control
    characters first and the header block checked again once written. (The email package's object model and
    generator cost more than the rest of an invitation together, see docs/invitations.md.)"""
    headers = [
        ("Message-ID", _text("Message-ID", f"<{mail.message_id}>", machine=True)),
        ("Date", format_datetime(now.astimezone(dt.UTC))),
        ("From", _addresses("From", [mail.sender])),
        ("To", _addresses("To", [mail.to])),
    ]
    if mail.cc:
        headers.append(("Cc", _addresses("Cc", mail.cc)))
    if mail.reply_to:
        headers.append(("Reply-To", _addresses("Reply-To", [mail.reply_to])))
    headers += [("Subject", _text("Subject", content.subject)), ("Auto-Submitted", "auto-generated")]
    if mail.unsubscribe_url:
        # RFC 8058: a one-click POST to the HTTPS link blocks further invitations; a GET only shows a page.
        headers.append(("List-Unsubscribe", _text("List-Unsubscribe", f"<{mail.unsubscribe_url}>", machine=True)))
        headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    for name, value in mail.extra_headers.items():
        headers.append((header_safe(name, "header name"), _text(name, value)))
    # QP-encoded parts never contain "=_", so this boundary cannot occur inside them.
    boundary = f"=_hospes_{secrets.token_hex(12)}"
    headers += [
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative;{CRLF} boundary="{boundary}"'),
        ("Content-Language", _text("Content-Language", language, machine=True)),
    ]
    head = CRLF.join(f"{name}: {value}" for name, value in headers)
    _verify(head, [name for name, _ in headers])
    body = CRLF.join(
        [f"--{boundary}", _part(content.text, "plain"), f"--{boundary}", _part(content.html, "html"), f"--{boundary}--"]
    )
    return ComposedMail(f"{head}{CRLF}{CRLF}{body}{CRLF}", content.subject)


def _verify(head: str, names: list[str]) -> None:
    """The header block must hold exactly the headers set, in order, 7-bit, with no bare CR or LF: what any
    parser would read from it. (Every value was already refused for control characters: this guards the
    encoders.)"""
    lines = head.split(CRLF)
    if not head.isascii() or any("\r" in line or "\n" in line for line in lines):
        raise HeaderInjectionError("the header block has a bare line break or 8-bit data")
    found = [line.partition(":")[0].lower() for line in lines if line[:1] not in (" ", "\t")]
    if found != [name.lower() for name in names]:
        raise HeaderInjectionError("the serialized message has unexpected headers")


def localized_date(value: dt.datetime, language: str) -> str:
    return format_date(value.date(), format="long", locale=babel_locale(language))
