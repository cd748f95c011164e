"""The invitation use case: create or re-invite the guest user, issue its redemption link, queue the invitation
email. One call, one invitation; ``batch`` commits many such calls in one transaction, ``bulk`` turns rows into
calls, ``jobs`` runs the portal's uploads in the background.

Everything of one invitation (guest user, invitation row, ticket, sponsors, outbox message, change log, audit) is
one transaction. Two concurrent invitations of one address both try to insert the same guest UPN; the unique
index on (tenant, UPN) lets one win, and the loser retries and finds the guest, becoming a re-invite.

Two phases, so the write transaction (on SQLite: the database's single write lock) holds only database work:

1. prepare, outside any write transaction: read a snapshot (tenant, inviter, the invitee if known, languages),
   draw the ids and the redeem token, and render and compose the email (Jinja2, Babel, MIME, header checks;
   a hostile value fails here, synchronously, as before);
2. commit, one transaction: every check that decides something is made again here on current data (policy,
   domain lists, who the invitee is, the recipient's block), then the rows are written. The email rendered in
   phase 1 is used only if the invitee it was rendered for is still the one found (same user, language and
   name, same block state); otherwise it is rendered again inside the transaction (rare: a race).

A caller that needs more in the same transaction (the portal's groups and app roles, a bulk job's row record)
passes ``also``: it runs after the invitation's rows are added, before the commit, and a failure there rolls the
invitation back with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hospes.domain.changes import ChangeType, ObjectType
from hospes.domain.errors import ConflictError, NotFoundError
from hospes.domain.ids import new_id
from hospes.domain.invitation import InvitationRequest
from hospes.domain.principals import Principal
from hospes.mail.compose import Mailbox, one_line
from hospes.mail.i18n import choose_language
from hospes.mail.invitation_mail import InvitationMailData, build_invitation_mail
from hospes.mail.outbox import enqueue_wire
from hospes.services.b2b_policy import check_domain, check_may_invite, load_policy
from hospes.services.base import Services, Write
from hospes.services.invitations import tickets
from hospes.services.invitations.blocks import is_blocked_by_recipient
from hospes.services.invitations.guests import (
    UserRaceError,
    add_sponsors,
    create_guest,
    find_guest,
    guest_by_id,
    guest_upn,
    initial_domain,
    reinvite,
    reset_redemption,
)
from hospes.settings import Settings
from hospes.storage.engine import Database
from hospes.storage.tables import Domain, Invitation, Tenant, User

if TYPE_CHECKING:  # the batch module builds on this one; only its lookups' type is needed here
    from hospes.services.invitations.batch import BatchLookups


@dataclass(frozen=True)
class InviteConfig:
    public_url: str
    link_lifetime: dt.timedelta
    mail_from: str
    platform: str
    seal: Callable[[str, Any], str]  # ServerKeys.seal: signs the "block future invitations" link

    @classmethod
    def from_settings(cls, settings: Settings, seal: Callable[[str, Any], str]) -> InviteConfig:
        return cls(
            settings.public_url,
            dt.timedelta(days=settings.invitation_link_lifetime_days),
            settings.mail_from,
            settings.mail_platform_name,
            seal,
        )


@dataclass
class InvitationResult:
    invitation: Invitation
    user: User
    redeem_url: str
    sponsors: list[tuple[str, str]] = field(default_factory=list)  # (type, id)


AlsoHook = Callable[[Write, InvitationResult], None]
"""A caller's extra writes in the invitation's own transaction (see the module docstring)."""


class DeferredInvitation(Exception):  # noqa: N818 - a signal, not an error
    """A batched invitation that is not a plain new guest after all: it runs again on its own."""


@dataclass(frozen=True)
class _Mail:
    """An invitation email rendered and composed in the prepare phase."""

    wire: str
    subject: str
    recipients: list[str]
    language: str


@dataclass(frozen=True)
class InvitationPlan:
    """The prepare phase's result. ``invitee`` is what the email was rendered for: (user id, preferredLanguage,
    displayName) of the existing user, or None for a new guest; ``blocked`` the recipient's block state then."""

    now: dt.datetime
    invitation_id: str
    token: str
    redeem_url: str
    initial_domain: str
    invitee: tuple[str, str | None, str] | None
    blocked: bool
    mail: _Mail | None


def _fingerprint(user: User | None) -> tuple[str, str | None, str] | None:
    return None if user is None else (user.id, user.preferred_language, user.display_name or "")


class InvitationService(Services):
    def __init__(self, database: Database, actor: Principal, config: InviteConfig) -> None:
        super().__init__(database.sessions, actor)
        self.database = database
        self.config = config

    def invite(self, req: InvitationRequest, *, also: AlsoHook | None = None) -> InvitationResult:
        for attempt in range(3):
            plan = self.prepare(req)
            try:
                with self.database.writer_turn(), self.write("Invitation", "Invite external user") as op:
                    return self.commit(op, req, plan, also=also)
            except UserRaceError:
                if attempt == 2:
                    raise ConflictError("The invited user was being created concurrently; retry.") from None
        raise AssertionError("unreachable")

    # -- phase 1: prepare (no write transaction) ---------------------------------------------------------------

    def prepare(
        self, req: InvitationRequest, s: Session | None = None, batch: BatchLookups | None = None
    ) -> InvitationPlan:
        """``s`` and ``batch``: the read session shared by a batch of invitations (``batch.invite_many``) and its
        lookups; the session's identity map then serves the tenant and the inviter once for the whole batch."""
        if s is None:
            with self.database.read_sessions() as session:
                return self.prepare(req, session)
        now = self.clock()
        invitation_id, token = new_id(), tickets.new_token()
        redeem_url = (
            f"{self.config.public_url}/redeem?tenant={self.tenant_id}&invitation={invitation_id}&ticket={token}"
        )
        tenant = batch.tenants.get(self.tenant_id) if batch else None
        if tenant is None:
            tenant = s.get(Tenant, self.tenant_id)
            if tenant is None:
                raise NotFoundError(self.tenant_id)
            if batch:
                batch.tenants[tenant.id] = tenant  # a strong reference: the identity map alone may drop it
        initial = initial_domain(s, tenant.id, batch)
        if not req.send_message:
            return InvitationPlan(now, invitation_id, token, redeem_url, initial, None, False, None)
        if req.invited_user_id:
            user = s.get(User, req.invited_user_id)
            if user is not None and (user.tenant_id != self.tenant_id or user.deleted_at is not None):
                user = None
        else:
            upn = guest_upn(req.email, initial)
            user = find_guest(s, self.tenant_id, req.email, upn, batch, lock=False, strict=False)
        blocked = self._blocked(s, req.email, batch)
        mail = None
        if not blocked:
            inviter = self._inviter(s)
            data = self._mail_data(s, req, user, tenant, initial, inviter, invitation_id, redeem_url, now, batch)
            mail = _render(data, req, now)
        return InvitationPlan(now, invitation_id, token, redeem_url, initial, _fingerprint(user), blocked, mail)

    # -- phase 2: commit (one transaction) ---------------------------------------------------------------------

    def commit(
        self,
        op: Write,
        req: InvitationRequest,
        plan: InvitationPlan,
        *,
        batch: BatchLookups | None = None,
        also: AlsoHook | None = None,
    ) -> InvitationResult:
        """``batch``: the lookups of a transaction shared by many new-guest invitations (``batch.invite_many``).
        Nothing is flushed then (the batch flushes once; the unique UPN index still decides races), and an invitee
        that turns out to exist raises ``DeferredInvitation`` before anything is added, to be re-run on its own.
        ``also``: see the module docstring."""
        s = op.session
        op.now = plan.now  # the email already carries this time (Date header, link expiry)
        changes: list[tuple[ChangeType, list[str]]] = []  # (change type, properties) of the invited user
        inviter = self._inviter(s)
        policy = batch.policies.get(self.tenant_id) if batch else None
        if policy is None:
            policy = load_policy(s, self.tenant_id)
            if batch:
                batch.policies[self.tenant_id] = policy
        check_may_invite(s, self.actor, inviter, member=req.user_type == "Member", policy=policy)
        check_domain(s, self.tenant_id, req.email, policy=policy)
        initial = plan.initial_domain
        new = False
        if req.reset_redemption:
            user = reset_redemption(op, req, inviter, changes)
        elif req.invited_user_id:
            user = guest_by_id(s, self.tenant_id, req.invited_user_id)
            reinvite(op, user, req, changes)
        else:
            # (no row lock in a batch: an existing invitee is re-invited on its own, which locks it then)
            upn = guest_upn(req.email, initial)
            existing = find_guest(s, self.tenant_id, req.email, upn, batch, lock=batch is None)
            if existing is not None and batch is not None:
                raise DeferredInvitation()
            if existing is not None:
                user = reinvite(op, existing, req, changes)
            else:
                user, new = create_guest(op, req, initial, changes, flush=batch is None), True
        snapshot = None if new else _fingerprint(user)
        sponsors = add_sponsors(op, user, req, inviter, new, changes)
        mail: _Mail | None = None
        blocked = req.send_message and self._blocked(s, req.email, batch)
        if req.send_message and not blocked:
            mail = plan.mail
            if mail is None or plan.blocked or plan.invitee != snapshot:
                # The invitee changed since phase 1 (a concurrent invitation created it, or it was edited).
                tenant = s.get(Tenant, self.tenant_id)
                if tenant is None:
                    raise NotFoundError("The organization no longer exists.")
                existing_user = None if new else user
                data = self._mail_data(
                    s, req, existing_user, tenant, initial, inviter, plan.invitation_id, plan.redeem_url, op.now, batch
                )
                mail = _render(data, req, op.now)
        invitation = Invitation(
            id=plan.invitation_id,
            tenant_id=self.tenant_id,
            invited_user_id=user.id,
            email=req.email,
            redirect_url=req.redirect_url,
            display_name=req.display_name,
            user_type=user.user_type,
            message_info=req.message_info(),
            send_message=req.send_message,
            reset_redemption=req.reset_redemption,
            status="Completed" if user.external_user_state == "Accepted" else "PendingAcceptance",
            message_status="NotRequested",
            language=mail.language if mail else None,
            inviter_type=self.actor.kind,
            inviter_id=self.actor.id or None,
            created_at=op.now,
            updated_at=op.now,
        )
        if blocked:
            # The recipient asked for no more invitations from this tenant: no email, and the status says so.
            invitation.status, invitation.message_status = "Error", "BlockedByRecipient"
        s.add(invitation)
        if mail is not None:
            invitation.message_status = "Queued"
            enqueue_wire(
                s,
                mail.wire,
                subject=mail.subject,
                envelope_from=self.config.mail_from,
                recipients=mail.recipients,
                kind="invitation",
                tenant_id=self.tenant_id,
                related_id=invitation.id,
                now=op.now,
            )
        # (no flush here: the unit of work inserts the invitation before its ticket, following the foreign key)
        tickets.issue(
            s,
            self.tenant_id,
            invitation.id,
            user.id,
            op.now,
            self.config.link_lifetime,
            token=plan.token,
            revoke=not new,
        )
        # Change-log rows last: on PostgreSQL the first one takes the tenant's ordering lock, held until commit.
        for change_type, properties in changes:
            op.change(ObjectType.USER, user.id, change_type, properties)
        op.target("User", user.id, user.user_principal_name)
        op.details.update({"invitationId": invitation.id, "invitedUserEmailAddress": req.email})
        result = InvitationResult(invitation, user, plan.redeem_url, sponsors)
        if also is not None:
            also(op, result)
        return result

    def _blocked(self, s: Session, email: str, batch: BatchLookups | None) -> bool:
        key = (self.tenant_id, email.lower())
        if batch and key in batch.blocked:
            return batch.blocked[key]
        return is_blocked_by_recipient(s, self.tenant_id, email)

    def _inviter(self, s: Session) -> User | None:
        if self.actor.kind != "user":
            return None
        user = s.get(User, self.actor.id)
        return user if user is not None and user.tenant_id == self.tenant_id else None

    def _mail_data(
        self,
        s: Session,
        req: InvitationRequest,
        user: User | None,
        tenant: Tenant,
        initial: str,
        inviter: User | None,
        invitation_id: str,
        redeem_url: str,
        now: dt.datetime,
        batch: BatchLookups | None,
    ) -> InvitationMailData:
        """What the email says: language, names, links. ``user`` is the existing invitee."""
        domain = req.email.rpartition("@")[2]
        if batch is None or domain not in batch.home_languages:
            home = s.scalar(
                select(Tenant.preferred_language)
                .join(Domain, Domain.tenant_id == Tenant.id)
                .where(Domain.name == domain, Domain.tenant_id != self.tenant_id)
            )
            if batch:
                batch.home_languages[domain] = home
        else:
            home = batch.home_languages[domain]
        language = choose_language(
            req.message_language, user.preferred_language if user else None, home, tenant.preferred_language
        )
        if inviter is not None:
            inviter_name, inviter_email = inviter.display_name or inviter.user_principal_name, inviter.mail
        else:
            # An app invites under its own name; the operator's CLI (system principal) under the tenant's.
            name = self.actor.display_name if self.actor.kind == "app" else ""
            inviter_name, inviter_email = name or tenant.display_name, None
        block = self.config.seal("invitation-block", {"t": self.tenant_id, "e": req.email.lower()})
        display = req.display_name or ((user.display_name or "") if user else req.email.rpartition("@")[0])
        return InvitationMailData(
            invitation_id=invitation_id,
            language=language,
            platform=self.config.platform,
            sender_address=self.config.mail_from,
            tenant_name=tenant.display_name,
            tenant_domain=initial,
            inviter_name=inviter_name,
            inviter_email=inviter_email,
            recipient=Mailbox(req.email, one_line(display or "")),
            cc=[Mailbox(address, one_line(name)) for address, name in req.cc],
            message=req.message_body,
            redirect_url=req.redirect_url,
            redeem_url=redeem_url,
            block_url=f"{self.config.public_url}/invitations/block?token={block}",
            privacy_url=tenant.privacy_statement_url,
            expires_at=now + self.config.link_lifetime,
        )


def _render(data: InvitationMailData, req: InvitationRequest, now: dt.datetime) -> _Mail:
    """Render, compose and verify the message (header checks raise here, before anything is written)."""
    message = build_invitation_mail(data, now)
    recipients = [req.email, *(m.address for m in data.cc)]
    return _Mail(message.wire, message.subject[:998], recipients, data.language)
