"""Service errors in plain words for the portal's forms: the services speak Graph's language ("Invalid value
specified for property 'invitedUserEmailAddress'", a policy's id), which an administrator at a form should never
have to read. Each known message becomes a sentence in the page's language about what to change; an unknown
message that names a property or an id becomes a general one, and any other message is shown as it is (it is
already plain, such as a target application's own answer)."""

from __future__ import annotations

import re
from collections.abc import Callable

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_INTERNAL = re.compile(r"property '|resource '|microsoft\.graph\.|odata", re.I)


def plain_message(_: Callable[[str], str], message: str) -> str:
    """``message`` (a service error's) as the portal says it."""
    text = message or ""

    def has(*parts: str) -> bool:
        return all(p in text for p in parts)

    if found := re.search(r"the maximum length is (\d+)", text):
        return _("This is too long: at most %(num)d characters.") % {"num": int(found.group(1))}
    if found := re.search(r"The domain of the user '([^']+)' is currently blocked", text):
        return _("Your organization doesn't allow invitations to addresses at %(domain)s.") % {"domain": found.group(1)}
    if found := re.search(r"^'([^']*)' is not a domain name or a '\*\.domain' wildcard", text):
        return _("“%(domain)s” isn't a domain name (contoso.com) or a wildcard (*.contoso.com).") % {
            "domain": found.group(1)
        }
    if found := re.search(r"The user '([^']+)' already exists in this directory as a member", text):
        return _("%(email)s is already a member of your organization; members can't be invited.") % {
            "email": found.group(1)
        }
    rules: list[tuple[bool, str]] = [
        (has("an email address is required"), _("Enter an email address.")),
        (has("it is not an email address"), _("This isn't an email address.")),
        (
            has("non-ASCII characters before the '@'"),
            _("Addresses with accented or non-Latin letters before the @ can't receive invitations."),
        ),
        (has("local part contains a character"), _("This address has a character that isn't allowed before the @.")),
        (has("not allowed at the start or end"), _("The part before the @ can't start or end with a dot or a hyphen.")),
        (has("the domain is not valid"), _("The part after the @ isn't a valid domain.")),
        (has("'inviteRedirectUrl': a URL is required"), _("Enter the address where guests go after accepting.")),
        (
            has("'inviteRedirectUrl'"),
            _("Enter a web address starting with https:// (without a user name or password in it)."),
        ),
        (has("'messageLanguage'"), _("Choose a language from the list.")),
        (has("contains control characters"), _("The message has characters that can't be sent by email.")),
        (
            has("is a member of this directory; members cannot be invited"),
            _("Members of your organization can't be invited."),
        ),
        (
            has("A deleted user with the address"),
            _("A deleted user has this address. Restore it, or delete it permanently, from the deleted users first."),
        ),
        (
            has("Guest invitations not allowed"),
            _("Your organization doesn't let you invite guests. Ask an administrator."),
        ),
        (has("Only administrators can invite users of type Member"), _("Only administrators can invite members.")),
        (
            has("same value for property userPrincipalName"),
            _("Another user already has this user name. Choose another one."),
        ),
        (has("domain portion of the userPrincipalName"), _("Choose one of the organization's domains.")),
        (
            has("property 'userPrincipalName'"),
            _("This user name can't be used. Use letters, digits, dots, hyphens and underscores."),
        ),
        (has("An allow list needs at least one domain"), _("An allow list needs at least one domain.")),
        (has("at least 8 characters"), _("The password must be at least 8 characters long.")),
        (has("at most 256 characters"), _("The password must be at most 256 characters long.")),
        (has("password is too common"), _("This password is too common. Choose another one.")),
        (
            has("cannot be a member of itself"),
            _("A group can't contain itself, directly or through the groups it contains."),
        ),
    ]
    for matched, said in rules:
        if matched:
            return said
    if _INTERNAL.search(text) or _GUID.search(text):
        return _("This value can't be used. Check it and try again.")
    return text
