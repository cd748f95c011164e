"""The ``invitation`` request: parsing and validation of a ``POST /invitations`` body (and of bulk rows)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from hospes.domain.errors import InvitationError

# Graph: forbidden in the address: ~ ! # $ % ^ & * ( ) + = [ ] { } \ / | ; : " < > ? ,  (plus signs included:
# "Microsoft Entra doesn't currently support plus symbols in email addresses").
_FORBIDDEN = set("~!#$%^&*()+=[]{}\\/|;:\"<>?,' \t")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAX_MESSAGE = 10_000
MAX_SPONSORS = 5
KNOWN = frozenset(
    {
        "@odata.type",
        "invitedUserEmailAddress",
        "inviteRedirectUrl",
        "invitedUserDisplayName",
        "invitedUserType",
        "sendInvitationMessage",
        "invitedUserMessageInfo",
        "resetRedemption",
        "invitedUser",
        "invitedUserSponsors",
        # read-only response properties a client may echo back; ignored
        "id",
        "inviteRedeemUrl",
        "status",
    }
)


def _bad(message: str, target: str | None = None) -> InvitationError:
    return InvitationError(message, target=target)


def _controls(value: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 or c in "\u2028\u2029\x85" for c in value)


def check_email(value: Any, target: str = "invitedUserEmailAddress") -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"Invalid value specified for property '{target}': an email address is required.", target)
    address = value.strip()
    local, at, domain = address.rpartition("@")
    problem = None
    if not at or not local or len(address) > 254 or len(local) > 64 or _controls(address):
        problem = "it is not an email address"
    elif not local.isascii():
        # SMTPUTF8 (RFC 6531) is not supported: such an address can't be written in a 7-bit message header.
        problem = "addresses with non-ASCII characters before the '@' are not supported"
    elif set(local) & _FORBIDDEN or "@" in local:
        problem = "the local part contains a character that is not allowed"
    elif local[0] in ".-" or local[-1] in ".-" or ".." in local:
        problem = "'.' and '-' are not allowed at the start or end of the local part"
    elif not _DOMAIN.match(domain.lower()):
        problem = "the domain is not valid"
    if problem:
        raise _bad(f"Invalid value specified for property '{target}': {problem}.", target)
    return f"{local}@{domain.lower()}"


def check_redirect_url(value: Any) -> str:
    """Only absolute http(s) URLs with a host and no credentials; the server never fetches it (it only redirects
    the guest's browser there), so no SSRF check on the address itself is needed."""
    if not isinstance(value, str) or not value.strip():
        raise _bad("Invalid value specified for property 'inviteRedirectUrl': a URL is required.", "inviteRedirectUrl")
    url = value.strip()
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise _bad(
            "Invalid value specified for property 'inviteRedirectUrl': malformed URL.", "inviteRedirectUrl"
        ) from None
    if (
        len(url) > 2048
        or _controls(url)
        or " " in url
        or parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
    ):
        raise _bad(
            "Invalid value specified for property 'inviteRedirectUrl': an absolute http or https URL without "
            "credentials is required.",
            "inviteRedirectUrl",
        )
    return url


def _text(body: dict[str, Any], key: str, limit: int, *, one_line: bool = True) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"Invalid value specified for property '{key}': expected a string.", key)
    if len(value) > limit:
        raise _bad(f"Invalid value specified for property '{key}': the maximum length is {limit}.", key)
    if one_line and _controls(value):
        raise _bad(
            f"Invalid value specified for property '{key}': line breaks and control characters are not allowed.", key
        )
    return value.strip() or None


def _object_id(value: Any, target: str) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("id"), str) or not _GUID.match(value["id"]):
        raise _bad(f"Invalid value specified for property '{target}': expected an object with an 'id'.", target)
    return str(value["id"]).lower()


@dataclass
class InvitationRequest:
    email: str
    redirect_url: str
    display_name: str | None = None
    user_type: str = "Guest"
    send_message: bool = False
    message_body: str | None = None
    message_language: str | None = None
    cc: list[tuple[str, str]] = field(default_factory=list)  # (address, name)
    reset_redemption: bool = False
    invited_user_id: str | None = None
    sponsors: list[str] = field(default_factory=list)

    def message_info(self) -> dict[str, Any]:
        return {
            "messageLanguage": self.message_language,
            "customizedMessageBody": self.message_body,
            "ccRecipients": [{"emailAddress": {"address": a, "name": n or None}} for a, n in self.cc],
        }


def parse_invitation(body: Any) -> InvitationRequest:
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.")
    for key in body:
        if key not in KNOWN:
            raise _bad(f"Property '{key}' does not exist on type 'microsoft.graph.invitation'.", key)
    req = InvitationRequest(
        email=check_email(body.get("invitedUserEmailAddress")),
        redirect_url=check_redirect_url(body.get("inviteRedirectUrl")),
        display_name=_text(body, "invitedUserDisplayName", 256),
    )
    user_type = body.get("invitedUserType") or "Guest"
    if user_type not in ("Guest", "Member"):
        raise _bad("Invalid value specified for property 'invitedUserType': expected 'Guest' or 'Member'.")
    req.user_type = user_type
    for key in ("sendInvitationMessage", "resetRedemption"):
        if body.get(key) is not None and not isinstance(body.get(key), bool):
            raise _bad(f"Invalid value specified for property '{key}': expected a boolean.", key)
    req.send_message = bool(body.get("sendInvitationMessage"))
    req.reset_redemption = bool(body.get("resetRedemption"))
    if body.get("invitedUser") is not None:
        req.invited_user_id = _object_id(body["invitedUser"], "invitedUser")
    if req.reset_redemption and not req.invited_user_id:
        raise _bad("When resetRedemption is true, invitedUser with its id is required.", "invitedUser")
    _message_info(body.get("invitedUserMessageInfo"), req)
    sponsors = body.get("invitedUserSponsors")
    if sponsors is not None:
        if not isinstance(sponsors, list) or len(sponsors) > MAX_SPONSORS:
            raise _bad(f"'invitedUserSponsors' must be an array of at most {MAX_SPONSORS} objects.")
        req.sponsors = list(dict.fromkeys(_object_id(s, "invitedUserSponsors") for s in sponsors))
    return req


def _message_info(info: Any, req: InvitationRequest) -> None:
    if info is None:
        return
    if not isinstance(info, dict):
        raise _bad("'invitedUserMessageInfo' must be an object.", "invitedUserMessageInfo")
    req.message_body = _text(info, "customizedMessageBody", MAX_MESSAGE, one_line=False)
    if req.message_body and any((ord(c) < 32 and c not in "\n\r\t") or ord(c) == 127 for c in req.message_body):
        raise _bad("'customizedMessageBody' contains control characters.", "customizedMessageBody")
    language = _text(info, "messageLanguage", 35)
    if language and not re.fullmatch(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*", language):
        raise _bad("Invalid value specified for property 'messageLanguage': expected an ISO 639 language tag.")
    req.message_language = language
    cc = info.get("ccRecipients") or []
    if not isinstance(cc, list):
        raise _bad("'ccRecipients' must be an array.", "ccRecipients")
    for item in cc:
        address = item.get("emailAddress") if isinstance(item, dict) else None
        if not isinstance(address, dict):
            raise _bad("Each ccRecipients item needs an 'emailAddress' object.", "ccRecipients")
        if address.get("address") in (None, "") and address.get("name") in (None, ""):
            continue  # the SDK and Graph's own examples send an empty placeholder recipient
        name = address.get("name") or ""
        if not isinstance(name, str) or len(name) > 256 or _controls(name):
            raise _bad("Invalid ccRecipients name: line breaks and control characters are not allowed.", "ccRecipients")
        req.cc.append((check_email(address.get("address"), "ccRecipients"), name.strip()))
    if len(req.cc) > 1:
        raise _bad("Only one additional recipient (ccRecipients) is supported.", "ccRecipients")
