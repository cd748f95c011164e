"""The portal says the services' errors in plain words: the real messages of the invitation, user, password and
policy checks become sentences about what to change, never a property name or a policy id."""

from __future__ import annotations

import pytest

from hospes.auth.passwords import check_password_policy
from hospes.domain.errors import DomainError
from hospes.domain.invitation import check_email, check_redirect_url
from hospes.services.b2b_policy import NOT_ALLOWED
from hospes.services.users import UPN_CONFLICT
from hospes.web import i18n
from hospes.web.portal.plain import plain_message

EN = i18n.translations("en").gettext
FR = i18n.translations("fr").gettext


def _message(check: object, *args: object) -> str:
    with pytest.raises(DomainError) as caught:
        check(*args)  # type: ignore[operator]
    return caught.value.message


@pytest.mark.parametrize(
    ("message", "said"),
    [
        (_message(check_email, ""), "Enter an email address."),
        (_message(check_email, "no-at-sign"), "This isn't an email address."),
        (_message(check_email, "a,b@x.example"), "This address has a character that isn't allowed before the @."),
        (_message(check_email, ".a@x.example"), "The part before the @ can't start or end with a dot or a hyphen."),
        (_message(check_email, "a@-x"), "The part after the @ isn't a valid domain."),
        (
            _message(check_email, "é@x.example"),
            "Addresses with accented or non-Latin letters before the @ can't receive invitations.",
        ),
        (
            _message(check_redirect_url, "javascript:alert(1)"),
            "Enter a web address starting with https:// (without a user name or password in it).",
        ),
        (UPN_CONFLICT, "Another user already has this user name. Choose another one."),
        (NOT_ALLOWED, "Your organization doesn't let you invite guests. Ask an administrator."),
        (
            "The domain of the user 'x.example' is currently blocked by your invitation policy: it matches the "
            "blocked domain rule 'x.example' of policy '6c1c3b8e-1111-4222-8333-944445555666'.",
            "Your organization doesn't allow invitations to addresses at x.example.",
        ),
        (
            "Invalid value specified for property 'jobTitle': the maximum length is 128.",
            "This is too long: at most 128 characters.",
        ),
        ("Something about property 'surname' nobody mapped.", "This value can't be used. Check it and try again."),
        ("The target answered 503 Service Unavailable.", "The target answered 503 Service Unavailable."),
    ],
)
def test_known_messages_in_plain_words(message: str, said: str) -> None:
    assert plain_message(EN, message) == said


def test_passwords_and_french() -> None:
    assert plain_message(EN, check_password_policy("short") or "") == "The password must be at least 8 characters long."
    assert plain_message(FR, _message(check_email, "no-at-sign")) == "Ce n’est pas une adresse e-mail."
