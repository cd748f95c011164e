"""Invitations with automatic redemption from a tenant in another deployment: how cross-tenant synchronization
over Graph creates (or links) its users here.

``POST /invitations`` whose ``invitedUser`` carries ``alternativeSecurityIds`` (one anchor; ``identityProvider``
names the source tenant) is such an invitation. It is made by an application of this tenant holding
``User.ReadWrite.All`` (the app the admin registered for the partner), sends nothing (``sendInvitationMessage``
must be false) and is redeemed at once: the user is written by ``SyncedUsers`` exactly as a synchronization from
a tenant of this deployment writes it, after this tenant's half of the policy allowed it (the partner allows
inbound sync and automatic redemption), checked inside the write's transaction.

The same anchor twice answers the user already there (a retry after a lost response creates nothing);
``invitedUser.id`` links an existing B2B user of this tenant (matched by mail by the source) instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hospes.domain import alt_sec_id
from hospes.domain.errors import ForbiddenError, InvalidInputError, NotFoundError
from hospes.domain.invitation import check_email, check_redirect_url
from hospes.domain.schema import USER
from hospes.domain.validation import validate_body
from hospes.services.base import Services
from hospes.services.cross_tenant_users import SyncedUsers
from hospes.storage.tables import User

_KNOWN = frozenset(
    {
        "invitedUserEmailAddress",
        "inviteRedirectUrl",
        "invitedUserDisplayName",
        "invitedUserType",
        "sendInvitationMessage",
        "invitedUser",
        "@odata.type",
    }
)
# Properties the invitation may set on the user it creates (the rest follow by PATCH).
_SETTABLE = frozenset(
    {
        "accountEnabled",
        "businessPhones",
        "companyName",
        "department",
        "displayName",
        "employeeId",
        "givenName",
        "jobTitle",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "showInAddressList",
        "surname",
        "usageLocation",
    }
)


def is_sync_invitation(body: Any) -> bool:
    invited = body.get("invitedUser") if isinstance(body, dict) else None
    return isinstance(invited, dict) and "alternativeSecurityIds" in invited


@dataclass(frozen=True)
class SyncInvitation:
    email: str
    redirect_url: str
    display_name: str | None
    user_type: str
    anchor: str
    source_tenant: str
    link_user_id: str | None
    values: dict[str, Any]  # storage attributes


def parse_sync_invitation(body: dict[str, Any]) -> SyncInvitation:
    unknown = sorted(set(body) - _KNOWN)
    if unknown:
        raise InvalidInputError(f"Property '{unknown[0]}' does not exist on type 'microsoft.graph.invitation'.")
    if body.get("sendInvitationMessage") not in (None, False):
        raise InvalidInputError(
            "An invitation redeemed automatically for cross-tenant synchronization sends no message: "
            "'sendInvitationMessage' must be false.",
            target="sendInvitationMessage",
        )
    user_type = body.get("invitedUserType") or "Guest"
    if user_type not in ("Guest", "Member"):
        raise InvalidInputError("Invalid value specified for property 'invitedUserType': expected 'Guest' or 'Member'.")
    invited = dict(body["invitedUser"])
    anchor, source = alt_sec_id.from_wire(invited.pop("alternativeSecurityIds"))
    if not source:
        raise InvalidInputError(
            "'identityProvider' of the alternativeSecurityId must name the source tenant.", target="identityProvider"
        )
    link = invited.pop("id", None)
    if link is not None and (not isinstance(link, str) or not 0 < len(link) <= 64):
        raise InvalidInputError("'invitedUser.id' must be a user id.", target="invitedUser")
    invited.pop("@odata.type", None)
    extra = sorted(set(invited) - _SETTABLE)
    if extra:
        raise InvalidInputError(f"Property '{extra[0]}' cannot be set by an invitation.", target=extra[0])
    values, _ = validate_body(USER, invited)
    display = body.get("invitedUserDisplayName")
    if display is not None and (not isinstance(display, str) or len(display) > 256):
        raise InvalidInputError("'invitedUserDisplayName' must be text of at most 256 characters.")
    return SyncInvitation(
        email=check_email(body.get("invitedUserEmailAddress")),
        redirect_url=check_redirect_url(body.get("inviteRedirectUrl")),
        display_name=display,
        user_type=user_type,
        anchor=anchor,
        source_tenant=source,
        link_user_id=link,
        values=values,
    )


class SyncInvitations(Services):
    def invite(self, body: dict[str, Any]) -> tuple[User, SyncInvitation]:
        """The user the invitation made, linked or found (its status is always Completed)."""
        if self.actor.kind != "app" or not self.actor.has_any("User.ReadWrite.All"):
            raise ForbiddenError(
                "Invitations redeemed automatically for cross-tenant synchronization need an application with "
                "User.ReadWrite.All."
            )
        req = parse_sync_invitation(body)
        users = SyncedUsers(self.sessions, self.actor, source_tenant=req.source_tenant, remote=True)
        with self.read() as session:
            existing = users.by_anchor(session, req.anchor)
        if existing is not None:
            users.check()  # a source that is refused learns it here too
            return existing, req
        if req.link_user_id is not None:
            with self.read() as session:
                user = users.by_id(session, req.link_user_id)
                if user is None or user.deleted_at is not None:
                    raise NotFoundError(req.link_user_id)
                if user.alt_sec_id is not None or not (user.user_type == "Guest" or user.creation_type == "Invitation"):
                    raise InvalidInputError(
                        "Only a B2B user that no synchronization owns can be linked.", target="invitedUser"
                    )
            return users.update(user.id, {}, anchor=req.anchor), req
        values = {**req.values, "mail": req.email, "user_principal_name": req.email, "user_type": req.user_type}
        if req.display_name and "display_name" not in values:
            values["display_name"] = req.display_name
        source_user = req.anchor.partition("::")[2]
        return users.create(req.anchor, source_user, values), req
