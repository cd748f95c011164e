"""What the email one-time passcode pages (redemption, unsubscribe portal) say about a code sent or a code entered:
one table, so an outcome added to ``services.email_otp`` is worded once."""

from __future__ import annotations

from collections.abc import Callable

from hospes.services.email_otp import VerifyOutcome


def sent_notice(sent: str | None, masked_email: str, _: Callable[[str], str]) -> str | None:
    """The notice for ``?sent=`` (a ``SendOutcome`` the send step redirected with), or None."""
    notices = {
        "sent": _("We sent a code to %(email)s.") % {"email": masked_email},
        "too_soon": _("A code was sent less than 30 seconds ago. Wait a moment before asking for another."),
        "limited": _("Too many codes were requested for this address. Try again in an hour."),
    }
    return notices.get(sent or "")


def code_error(outcome: VerifyOutcome, _: Callable[[str], str]) -> tuple[int, str]:
    """The status and message of a code that did not work."""
    errors = {
        "invalid": (401, _("That code is not right. Check the latest email and try again.")),
        "exhausted": (401, _("Too many wrong codes. Ask for a new code.")),
        "expired": (401, _("This code has expired or was already used. Ask for a new code.")),
        "locked": (429, _("Too many failed attempts. Wait a few minutes, then try again.")),
    }
    return errors[outcome]
