"""``parse_csv``: the bulk-invite file reader shared by the portal, the CLI and the API."""

from __future__ import annotations

import pytest

from hospes.services.invitations.bulk import CsvFileError, parse_csv

HEADER = (
    "Email address to invite [inviteeEmail] Required;Redirection url [inviteRedirectURL] Required;"
    "Send invitation message (true or false) [sendEmail];Customized invitation message [customizedMessageBody]"
)


def test_entra_template_with_semicolons_and_translated_booleans() -> None:
    text = (
        f"version:v1.0;;;\r\n{HEADER}\r\nExample: a@b.example;x;TRUE;y\r\na@p.example;https://r.example;VRAI;Salut\r\n"
    )
    text += "b@p.example;;falsch;\r\nc@p.example;;maybe;\r\n;;;\r\n"
    parsed = parse_csv(b"\xef\xbb\xbf" + text.encode(), {"inviteRedirectUrl": "https://d.example"})
    assert (parsed.found.encoding, parsed.found.delimiter, parsed.found.entra_template) == ("utf-8-bom", ";", True)
    first, second, third = parsed.rows
    assert first == {
        "invitedUserEmailAddress": "a@p.example",
        "inviteRedirectUrl": "https://r.example",
        "sendInvitationMessage": True,
        "invitedUserMessageInfo": {"customizedMessageBody": "Salut"},
    }
    assert second["sendInvitationMessage"] is False and second["inviteRedirectUrl"] == "https://d.example"
    assert third["sendInvitationMessage"] == "maybe"  # the row fails with its own error


def test_cp1252_and_no_email_column() -> None:
    parsed = parse_csv("email,name\nq@p.example,“Zoë”\n".encode("cp1252"), {})
    assert parsed.found.encoding == "latin-1" and parsed.rows[0]["invitedUserDisplayName"] == "“Zoë”"
    with pytest.raises(CsvFileError) as caught:
        parse_csv(b"name\nx\n", {})
    assert caught.value.problem == "no-email-column" and caught.value.found is not None
