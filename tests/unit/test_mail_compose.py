"""Mail building blocks: header-injection safety (fuzzed), catalogs complete for every language, language choice,
domain rules, redemption tickets."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import re
from email.header import decode_header, make_header

import pytest
from babel.messages.pofile import read_po
from hypothesis import given, settings
from hypothesis import strategies as st

from hospes.mail.compose import HeaderInjectionError, Mailbox
from hospes.mail.i18n import LOCALE_DIR, SUPPORTED, choose_language, match_language
from hospes.mail.invitation_mail import InvitationMailData, build_invitation_mail
from hospes.mail.provisioning_mail import QuarantineMailData, build_quarantine_mail
from hospes.services.b2b_policy import domain_rule
from hospes.services.invitations.tickets import TOKEN_BYTES, new_token, token_hash

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def _data(**overrides: object) -> InvitationMailData:
    values: dict[str, object] = {
        "invitation_id": "inv-1",
        "language": "en-US",
        "platform": "Hospes",
        "sender_address": "invites@hospes.example",
        "tenant_name": "Contoso",
        "tenant_domain": "contoso.example",
        "inviter_name": "Ada",
        "inviter_email": "ada@contoso.example",
        "recipient": Mailbox("guest@partner.example", "Guest"),
        "cc": [],
        "message": None,
        "redirect_url": "https://app.example",
        "redeem_url": "https://hospes.example/redeem?x=1&y=2",
        "block_url": "https://hospes.example/invitations/block?token=t",
        "privacy_url": None,
        "expires_at": NOW,
    }
    values.update(overrides)
    return InvitationMailData(**values)  # type: ignore[arg-type]


def test_long_unsubscribe_link_stays_a_plain_uri_on_one_line() -> None:
    """A real block link carries a sealed token of a few hundred characters. Folding it at 78 columns made the
    email package emit RFC 2047 encoded words, which mail clients do not decode in List-Unsubscribe (RFC 2369):
    the one-click link would have been dead. A long non-ASCII subject is still folded and encoded."""
    link = "https://hospes.example/invitations/block?token=" + "Ab0-_" * 80
    subject_name = "Zoë " * 40
    wire = build_invitation_mail(_data(block_url=link, inviter_name=subject_name), NOW).wire
    head = wire.split("\r\n\r\n", 1)[0]
    assert f"\r\nList-Unsubscribe: <{link}>\r\n" in head
    assert "=?utf-8?" in head.partition("Subject:")[2] and "=?utf-8?" not in head.partition("List-Unsubscribe:")[2]
    assert all(len(line) <= 998 for line in head.split("\r\n"))
    parsed = email.message_from_string(wire, policy=email.policy.SMTP)
    assert parsed["List-Unsubscribe"] == f"<{link}>"
    assert parsed["Subject"].startswith("Zoë Zoë")


@settings(max_examples=150, deadline=None)
@given(tenant=st.text(max_size=40), inviter=st.text(max_size=40), message=st.text(max_size=80))
def test_directory_names_never_add_headers(tenant: str, inviter: str, message: str) -> None:
    """Hostile tenant and inviter names (stored data) end up on one line; the header set is always the same."""
    msg = build_invitation_mail(_data(tenant_name=tenant, inviter_name=inviter, message=message), NOW)
    parsed = email.message_from_string(msg.wire, policy=email.policy.SMTP)
    assert [k.lower() for k in parsed] == [
        "message-id",
        "date",
        "from",
        "to",
        "reply-to",
        "subject",
        "auto-submitted",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "mime-version",
        "content-type",
        "content-language",
    ]
    assert parsed["To"] == "Guest <guest@partner.example>"


@pytest.mark.parametrize("name", ["a\r\nBcc: x@evil.example", "a\nb", "a\rb", "a\x00b", "a\u2028b"])
def test_request_names_with_line_breaks_are_rejected(name: str) -> None:
    with pytest.raises(HeaderInjectionError):
        build_invitation_mail(_data(recipient=Mailbox("guest@partner.example", name)), NOW)


def test_every_catalog_translates_every_message() -> None:
    template = {m.id for m in read_po((LOCALE_DIR / "messages.pot").open("rb")) if m.id}
    for language in SUPPORTED[1:]:
        catalog = read_po((LOCALE_DIR / language.replace("-", "_") / "messages.po").open("rb"))
        translated = {m.id for m in catalog if m.id and m.string}
        assert translated == template, language
        for m in catalog:  # the same %(name)s placeholders on both sides
            if m.id:
                assert sorted(re.findall(r"%\(\w+\)s", str(m.id))) == sorted(re.findall(r"%\(\w+\)s", str(m.string))), (
                    language,
                    m.id,
                )


def test_language_choice() -> None:
    assert match_language("fr") == "fr-FR" and match_language("FR_ca") == "fr-FR"
    assert match_language("ja-JP") == "ja-JP" and match_language("xx") is None and match_language("") is None
    assert choose_language(None, "de-AT", "es") == "de-DE"
    assert choose_language("zz", None, None) == "en-US"


def test_every_language_renders() -> None:
    for language in SUPPORTED:
        msg = build_invitation_mail(_data(language=language), NOW).message()
        assert msg["Content-Language"] == language
        assert str(msg["Subject"]).strip()


@pytest.mark.parametrize("reason", ["EncounteredQuarantineException", "TooManyDeletes"])
def test_the_quarantine_notice_renders_in_every_language(reason: str) -> None:
    subjects = set()
    for language in SUPPORTED:
        data = QuarantineMailData(
            job_id="scim.1",
            language=language,
            platform="Hospes",
            sender_address="noreply@hospes.example",
            recipient="ops@contoso.example",
            app_name="8x8",
            tenant_name="Contoso",
            reason=reason,
            detail="HTTP 401: invalid token",
            next_attempt=NOW,
        )
        msg = build_quarantine_mail(data, NOW).message()
        assert msg["Content-Language"] == language and msg["To"] == "ops@contoso.example"
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        for body in (text, html):
            assert "8x8" in body and "Contoso" in body and reason in body and "HTTP 401" in body
            assert "2026-11-22 12:00 UTC" in body
            assert ("ForceDeletes" in body) == (reason == "TooManyDeletes")
        subjects.add(str(msg["Subject"]))
    assert len(subjects) == len(SUPPORTED)  # each language has its own words


def test_domain_rules() -> None:
    rules = ["contoso.example", "*.fabrikam.example"]
    assert domain_rule(rules, "contoso.example") == "contoso.example"
    assert domain_rule(rules, "CONTOSO.example.") == "contoso.example"
    assert domain_rule(rules, "eu.contoso.example") is None
    assert domain_rule(rules, "a.b.fabrikam.example") == "*.fabrikam.example"
    assert domain_rule(rules, "fabrikam.example") is None
    assert domain_rule(rules, "evilfabrikam.example") is None


def test_tickets_are_random_and_hashed() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(len(t) >= (TOKEN_BYTES * 8) // 6 for t in tokens)  # >= 256 bits of base64url
    token = tokens.pop()
    assert len(token_hash(token)) == 64 and token not in token_hash(token)


def _word(text: str, encoding: str = "b") -> str:
    if encoding == "b":
        return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="
    return "=?UTF-8?Q?" + "".join(f"={b:02X}" if b < 33 or b in b"=?_" else chr(b) for b in text.encode()) + "?="


ENCODED_WORD_NAMES = [
    _word("A\r\nBcc: x@evil.example"),
    _word("A\r\nBcc: x@evil.example", "q"),
    _word("\x00\x07\x1b[31m"),
    "Ada " + _word("\nX-Injected: 1") + " Lovelace",
    '"' + _word("A\r\nB") + '"',  # quoted: many decoders still decode inside quotes
    "=?utf-8?q?A=0D=0ABcc:_x@evil.example?=",
]


CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


def _decoded(raw: str) -> str:
    """What a mail client shows: every encoded word decoded (the email package's legacy decoder, as lenient as
    most clients; it also decodes words inside quoted strings)."""
    return str(make_header(decode_header(raw)))


@pytest.mark.parametrize("name", ENCODED_WORD_NAMES)
def test_names_that_are_encoded_words_are_shown_as_typed(name: str) -> None:
    """A display name or tenant name written as RFC 2047 encoded words would decode, in the reader's mail client,
    to a line break or other control characters. It is sent as an encoded word itself, so it decodes to the text
    as typed."""
    data = _data(recipient=Mailbox("guest@partner.example", name), inviter_name=name, tenant_name=name)
    wire = build_invitation_mail(data, NOW).wire
    head = wire.split("\r\n\r\n", 1)[0]
    unfolded = re.sub(r"\r\n[ \t]", " ", head)
    fields = dict(line.split(": ", 1) for line in unfolded.split("\r\n"))
    for field in ("From", "To", "Reply-To", "Subject"):
        shown = _decoded(fields[field])
        assert not CONTROL.search(shown), (field, shown)
        assert name in shown, (field, shown)
    assert _decoded(fields["To"]) == f"{name} <guest@partner.example>"
    # The email package's own parser (which raised on a decoded line break) reads the addresses back. (It keeps
    # the folding space between two encoded words of a long name, hence the comparison without spaces.)
    parsed = email.message_from_string(wire, policy=email.policy.SMTP)
    for field, address in (("To", "guest@partner.example"), ("Reply-To", "ada@contoso.example")):
        [mailbox] = parsed[field].addresses
        assert mailbox.addr_spec == address
        assert mailbox.display_name.replace(" ", "") == name.replace(" ", ""), field


def test_ordinary_names_are_not_encoded() -> None:
    wire = build_invitation_mail(_data(recipient=Mailbox("guest@partner.example", "Q. Guest =)")), NOW).wire
    assert '\r\nTo: "Q. Guest =)" <guest@partner.example>\r\n' in wire
    assert "=?" not in wire.split("\r\n\r\n", 1)[0]


_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"]+")


def _urls_stand_alone(text: str, urls: list[str]) -> None:
    """Every URL in a plain-text body is a line of its own or in angle brackets, and ends where the URL does: a
    mail client's link would otherwise take in the full stop, comma or parenthesis after it."""
    for found in _URL.finditer(text):
        end = text.find("\n", found.end())
        line = text[text.rfind("\n", 0, found.start()) + 1 : end if end >= 0 else len(text)]
        bracketed = text[found.start() - 1 : found.start()] == "<" and text[found.end() : found.end() + 1] == ">"
        assert bracketed or line.strip() == found.group(0), (found.group(0), line)
        assert found.group(0) in urls, (found.group(0), line)


@pytest.mark.parametrize("language", SUPPORTED)
def test_the_plain_text_invitation_never_runs_punctuation_into_a_url(language: str) -> None:
    urls = [
        "https://app.example/start?x=1",
        "https://hospes.example/redeem?tenant=t&invitation=i&ticket=abc",
        "https://hospes.example/invitations/block?token=t",
        "https://contoso.example/privacy",
        "https://wiki.example/Foo_(bar)",
        "https://partner.example/agenda",
    ]
    message = f"See {urls[4]}, the agenda (at {urls[5]}). Or https://partner.example/agenda."
    data = _data(
        language=language,
        redirect_url=urls[0],
        redeem_url=urls[1],
        block_url=urls[2],
        privacy_url=urls[3],
        message=message,
    )
    msg = build_invitation_mail(data, NOW).message()
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    _urls_stand_alone(text, urls)
    for url in urls[:4]:
        assert url in text.splitlines(), url


@pytest.mark.parametrize("language", SUPPORTED)
def test_the_plain_text_quarantine_notice_never_runs_punctuation_into_a_url(language: str) -> None:
    target = "https://scim.example/v2/Users"
    data = QuarantineMailData(
        job_id="scim.1",
        language=language,
        platform="Hospes",
        sender_address="noreply@hospes.example",
        recipient="ops@contoso.example",
        app_name="8x8",
        tenant_name="Contoso",
        reason="EncounteredQuarantineException",
        detail=f"HTTP 401 from {target}. The token was refused (at {target}), try again.",
        next_attempt=NOW,
    )
    text = build_quarantine_mail(data, NOW).message().get_body(("plain",)).get_content()  # type: ignore[union-attr]
    _urls_stand_alone(text, [target])
    assert f"<{target}>." in text and f"<{target}>)," in text

