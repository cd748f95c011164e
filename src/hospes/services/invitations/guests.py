"""The invited user: the guest behind an address (found, created or re-invited), a reset of its redemption, its
sponsors. Steps of ``InvitationService.commit`` (and ``find_guest`` of its prepare phase), each on the caller's
session or write; ``changes`` collects the change-log entries the commit writes last."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import CompoundSelect, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hospes.domain.changes import ChangeType
from hospes.domain.errors import ForbiddenError, InvalidInputError, InvitationError, NotFoundError
from hospes.domain.ids import new_id
from hospes.domain.invitation import InvitationRequest
from hospes.domain.schema import USER
from hospes.services.b2b_policy import ADMIN_ROLES, directory_roles
from hospes.services.base import Write
from hospes.storage.tables import Domain, Group, User, UserSponsor

if TYPE_CHECKING:  # the batch module builds on the invitation service; only its lookups' type is needed here
    from hospes.services.invitations.batch import BatchLookups

EMAIL_MISMATCH = (
    "The email you\u2019re using to invite this user doesn\u2019t match any emails on the user object. "
    "Please add this email to the user object and try again."
)
RESET_PERMISSIONS = frozenset({"User.ReadWrite.All", "Directory.ReadWrite.All"})
_UPN_LOCAL_FORBIDDEN = set(' "\\,;<>()[]')


class UserRaceError(Exception):
    """The guest UPN was inserted by a concurrent invitation; the retry will find that user."""


def guest_upn(email: str, initial_domain: str) -> str:
    return f"{email.replace('@', '_')}#EXT#@{initial_domain}"


def initial_domain(s: Session, tenant_id: str, lookups: BatchLookups | None = None) -> str:
    if lookups is not None and tenant_id in lookups.initial_domains:
        return lookups.initial_domains[tenant_id]
    found = s.scalar(select(Domain.name).where(Domain.tenant_id == tenant_id, Domain.is_initial)) or ""
    if lookups is not None:
        lookups.initial_domains[tenant_id] = found
    return found


def find_guest(
    s: Session,
    tenant_id: str,
    email: str,
    upn: str,
    batch: BatchLookups | None,
    *,
    lock: bool = True,
    strict: bool = True,
) -> User | None:
    """The live guest behind this address, or None. ``strict`` (the commit phase) raises for members and
    soft-deleted users; the prepare phase only wants a best guess to render the email for."""
    key = email.lower()
    if batch and {(tenant_id, key), (tenant_id, upn.lower())} <= batch.absent:
        return None
    # One indexed lookup per key, then the rows by primary key. SQLite plans "tenant AND (mail OR upn OR upn)"
    # as a scan of the tenant's users; PostgreSQL, before its statistics caught up with a growing tenant,
    # planned "id IN (those lookups)" as a loop over every user of the tenant (up to a second per call).
    found: CompoundSelect[tuple[str]] = union_all(
        select(User.id).where(User.tenant_id == tenant_id, User.mail_key == key),
        select(User.id).where(User.tenant_id == tenant_id, User.upn_key.in_([key, upn.lower()])),
    )
    ids = set(s.scalars(found))
    if not ids:
        return None
    query = select(User).where(User.id.in_(sorted(ids)), User.tenant_id == tenant_id)
    # Concurrent re-invites of one guest queue here, so each revokes the ticket of the one before.
    rows = list(s.scalars(query.with_for_update() if lock else query))
    live = [u for u in rows if u.deleted_at is None]
    member = next((u for u in live if u.user_type == "Member" and u.creation_type != "Invitation"), None)
    if not strict:
        return live[0] if live and member is None else None
    if member is not None:
        raise InvitationError(
            f"The user '{email}' already exists in this directory as a member ({member.user_principal_name}); "
            "members cannot be invited."
        )
    if live:
        return live[0]
    if rows:
        raise InvitationError(
            f"A deleted user with the address '{email}' exists ({rows[0].id}); restore it or delete it "
            "permanently before inviting again."
        )
    return None


def guest_by_id(s: Session, tenant_id: str, user_id: str) -> User:
    user = s.get(User, user_id, with_for_update=True)
    if user is None or user.tenant_id != tenant_id or user.deleted_at is not None:
        raise NotFoundError(user_id)
    return user


def create_guest(
    op: Write,
    req: InvitationRequest,
    initial_domain: str,
    changes: list[tuple[ChangeType, list[str]]],
    *,
    flush: bool = True,
) -> User:
    """Insert the guest. UserService.insert would check that the UPN's domain is the tenant's (it is: the
    initial domain) and look the UPN up (``find_guest`` just did, and the unique index decides races)."""
    tenant_id = op.actor.tenant_id
    upn = guest_upn(req.email, initial_domain)
    local = req.email.rpartition("@")[0]
    if set(local) & _UPN_LOCAL_FORBIDDEN:
        raise InvitationError(
            "Invalid value specified for property 'userPrincipalName' of resource 'User'.",
            target="invitedUserEmailAddress",
        )
    user = User(
        id=new_id(),
        tenant_id=tenant_id,
        created_at=op.now,
        user_principal_name=upn,
        upn_key=upn.lower(),
        display_name=req.display_name or local,
        mail=req.email,
        mail_key=req.email.lower(),
        mail_nickname=req.email.replace("@", "_")[:59] + "#EXT#",
        other_mails=[req.email],
        account_enabled=True,
        user_type=req.user_type,
        external_user_state="PendingAcceptance",
        external_user_state_changed_at=op.now,
        creation_type="Invitation",
        identities=[{"signInType": "userPrincipalName", "issuer": initial_domain, "issuerAssignedId": upn}],
    )
    op.session.add(user)
    if flush:
        try:
            op.session.flush()  # the unique index on (tenant, UPN) is the real guard against a concurrent create
        except IntegrityError:
            raise UserRaceError() from None
    changes.append((ChangeType.CREATED, [p.name for p in USER.props]))
    return user


def reinvite(op: Write, user: User, req: InvitationRequest, changes: list[tuple[ChangeType, list[str]]]) -> User:
    """Same user, a new link (the old one dies when the new ticket is issued), the email again if asked."""
    if user.user_type == "Member" and user.creation_type != "Invitation":
        raise InvitationError(
            f"The user '{user.user_principal_name}' is a member of this directory; members cannot be invited."
        )
    emails = {(user.mail_key or ""), *(m.lower() for m in user.other_mails or [])}
    if req.invited_user_id and req.email.lower() not in emails:
        raise InvitationError(EMAIL_MISMATCH)
    if req.display_name and req.display_name != user.display_name and user.external_user_state != "Accepted":
        user.display_name = req.display_name
        changes.append((ChangeType.UPDATED, ["displayName"]))
    return user


def reset_redemption(
    op: Write, req: InvitationRequest, inviter: User | None, changes: list[tuple[ChangeType, list[str]]]
) -> User:
    """resetRedemption: the guest redeems again, possibly with another address or identity; object id, UPN,
    memberships and app assignments are kept. ``inviter``: the acting user, when a user acts."""
    if req.invited_user_id is None:
        raise InvalidInputError("resetRedemption needs invitedUser.id.", target="invitedUser")
    actor, tenant_id = op.actor, op.actor.tenant_id
    if actor.kind == "app" and not actor.has_any(*RESET_PERMISSIONS):
        raise ForbiddenError("Resetting the redemption status needs User.ReadWrite.All.")
    user = guest_by_id(op.session, tenant_id, req.invited_user_id)
    if actor.kind == "app" and directory_roles(op.session, tenant_id, user.id):
        raise ForbiddenError("For app-only calls, the redemption status can't be reset for a user with roles.")
    if actor.kind == "user":
        roles = directory_roles(op.session, tenant_id, inviter.id) if inviter else set()
        if not roles & ADMIN_ROLES:
            raise ForbiddenError("Resetting the redemption status needs the User Administrator role.")
    emails = {(user.mail_key or ""), *(m.lower() for m in user.other_mails or [])}
    if req.email.lower() not in emails:
        raise InvitationError(EMAIL_MISMATCH)
    others = [m for m in user.other_mails or [] if m.lower() != req.email.lower()]
    if user.mail and user.mail.lower() != req.email.lower():
        others.append(user.mail)
    user.mail, user.mail_key, user.other_mails = req.email, req.email.lower(), [req.email, *others][:250]
    user.external_user_state, user.external_user_state_changed_at = "PendingAcceptance", op.now
    # The old external identity no longer signs in; the next redemption binds a new one.
    user.identities = [i for i in user.identities or [] if i.get("signInType") == "userPrincipalName"]
    changes.append(
        (
            ChangeType.UPDATED,
            ["externalUserState", "externalUserStateChangeDateTime", "identities", "mail", "otherMails"],
        )
    )
    return user


def add_sponsors(
    op: Write,
    user: User,
    req: InvitationRequest,
    inviter: User | None,
    new: bool,
    changes: list[tuple[ChangeType, list[str]]],
) -> list[tuple[str, str]]:
    """invitedUserSponsors (users or groups of this tenant); without any, the inviting user is the sponsor of a new
    guest. A sponsor may block their guest and schedule its deletion, so the sponsors of a guest that already
    exists change only by an administrator's (or an app's) invitation, never by a re-invite any user may send."""
    tenant_id = op.actor.tenant_id
    if not new and op.actor.kind == "user" and not directory_roles(op.session, tenant_id, op.actor.id) & ADMIN_ROLES:
        if req.sponsors:
            raise ForbiddenError("Only administrators can change the sponsors of an existing guest.")
        return []
    wanted: list[tuple[str, str]] = []
    for sponsor_id in req.sponsors:
        if (u := op.session.get(User, sponsor_id)) is not None and u.tenant_id == tenant_id and not u.deleted_at:
            wanted.append(("user", u.id))
        elif (g := op.session.get(Group, sponsor_id)) is not None and g.tenant_id == tenant_id and not g.deleted_at:
            wanted.append(("group", g.id))
        else:
            raise NotFoundError(sponsor_id)
    if not wanted and inviter is not None and new:
        wanted.append(("user", inviter.id))
    for kind, sponsor_id in wanted:
        if new or op.session.get(UserSponsor, (user.id, sponsor_id)) is None:
            op.session.add(
                UserSponsor(
                    user_id=user.id,
                    sponsor_id=sponsor_id,
                    sponsor_type=kind,
                    tenant_id=tenant_id,
                    created_at=op.now,
                )
            )
    if wanted:
        changes.append((ChangeType.UPDATED, ["sponsors"]))
    return wanted
