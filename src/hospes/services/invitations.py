"""B2B invitations: create or re-invite the guest user, issue its redemption link, queue the invitation email.

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
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy import CompoundSelect, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.changes import ChangeType, ObjectType
from hospes.domain.errors import ConflictError, ForbiddenError, InvitationError, NotFoundError
from hospes.domain.ids import new_id
from hospes.domain.invitation import InvitationRequest
from hospes.domain.principals import Principal
from hospes.domain.schema import USER
from hospes.mail.compose import Mailbox, one_line
from hospes.mail.i18n import choose_language
from hospes.mail.invitation_mail import InvitationMailData, build_invitation_mail
from hospes.mail.outbox import enqueue_wire
from hospes.services import tickets
from hospes.services.b2b_policy import (
    ADMIN_ROLES,
    check_domain,
    check_may_invite,
    directory_roles,
    is_blocked_by_recipient,
    load_policy,
)
from hospes.services.base import Services, Write
from hospes.settings import Settings
from hospes.storage.engine import read_sessions
from hospes.storage.tables import B2BPolicy, Domain, Group, Invitation, InvitationBlock, Tenant, User, UserSponsor

EMAIL_MISMATCH = (
    "The email you\u2019re using to invite this user doesn\u2019t match any emails on the user object. "
    "Please add this email to the user object and try again."
)
RESET_PERMISSIONS = frozenset({"User.ReadWrite.All", "Directory.ReadWrite.All"})
_UPN_LOCAL_FORBIDDEN = set(' "\\,;<>()[]')


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


class _UserRaceError(Exception):
    """The guest UPN was inserted by a concurrent invitation; the retry will find that user."""


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


_GATES_LOCK = threading.Lock()


class _WriterGate:
    """A thread lock, plus an exclusive ``flock`` on a file beside the database so the processes of
    ``hospes serve --workers N`` take turns the same way (a blocked ``flock`` wakes as soon as it is released)."""

    def __init__(self, database: str | None) -> None:
        self.lock = threading.Lock()
        self.fd = (
            None
            if not database or database == ":memory:"
            else os.open(f"{database}-writers.lock", os.O_RDWR | os.O_CREAT, 0o600)
        )
        if self.fd is not None:
            weakref.finalize(self, os.close, self.fd)  # the gate lives as long as its session factory

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self.lock:
            if self.fd is None:
                yield
                return
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self.fd, fcntl.LOCK_UN)


@contextmanager
def writer_turn(sessions: sessionmaker[Session]) -> Iterator[None]:
    """SQLite has one write lock and its busy handler waits by sleeping (1, 2, 5 ... 100 ms), so 64 threads all
    issuing BEGIN IMMEDIATE mostly sleep while the lock is free. Invitation writers queue on a gate instead and
    are handed the database lock without delay. PostgreSQL needs nothing of the kind."""
    engine = sessions.kw["bind"]
    if engine.dialect.name != "sqlite":
        yield
        return
    gate: _WriterGate | None = getattr(sessions, "_hospes_writer_gate", None)
    if gate is None:
        with _GATES_LOCK:
            gate = getattr(sessions, "_hospes_writer_gate", None) or _WriterGate(engine.url.database)
            sessions._hospes_writer_gate = gate  # type: ignore[attr-defined]
    with gate.turn():
        yield


@dataclass
class BatchLookups:
    """Reads shared by the invitations of one batch (``invitation_batch``), valid for one session: its read
    snapshot, or its write transaction (which, on SQLite, holds the write lock; on PostgreSQL, a concurrent
    insert of the same guest still hits the unique index). Filled by the batch's prefetch; absent otherwise."""

    absent: set[tuple[str, str]] = field(default_factory=set)  # (tenant, key): no user has this mail or UPN key
    blocked: dict[tuple[str, str], bool] = field(default_factory=dict)  # (tenant, email key): blocked the tenant
    policies: dict[str, B2BPolicy] = field(default_factory=dict)
    home_languages: dict[str, str | None] = field(default_factory=dict)  # email domain -> its tenant's language
    tenants: dict[str, Tenant] = field(default_factory=dict)
    initial_domains: dict[str, str] = field(default_factory=dict)

    KEY: ClassVar[str] = "hospes_invitation_batch"

    @classmethod
    def of(cls, s: Session) -> BatchLookups | None:
        found: BatchLookups | None = s.info.get(cls.KEY)
        return found

    @classmethod
    def prefetch(cls, s: Session, invitees: list[tuple[str, str]]) -> None:
        """For (tenant, email) pairs: which have no user yet and which blocked the tenant, two queries per tenant
        instead of several per invitation, attached to the session for ``of``."""
        lookups = s.info[cls.KEY] = cls()
        emails: dict[str, set[str]] = {}
        for tenant_id, email in invitees:
            emails.setdefault(tenant_id, set()).add(email)
        for tenant_id, wanted in emails.items():
            initial = _initial_domain(s, tenant_id)
            keys = {e.lower() for e in wanted} | {guest_upn(e, initial).lower() for e in wanted}
            found: CompoundSelect[tuple[str | None]] = union_all(
                select(User.mail_key).where(User.tenant_id == tenant_id, User.mail_key.in_(keys)),
                select(User.upn_key).where(User.tenant_id == tenant_id, User.upn_key.in_(keys)),
            )
            present: set[str] = set(s.scalars(found))
            lookups.absent.update((tenant_id, key) for key in keys - present)
            email_keys = {e.lower() for e in wanted}
            query = select(InvitationBlock.email_key).where(
                InvitationBlock.tenant_id == tenant_id, InvitationBlock.email_key.in_(email_keys)
            )
            blocked = set(s.scalars(query))
            lookups.blocked.update(((tenant_id, key), key in blocked) for key in email_keys)


def _initial_domain(s: Session, tenant_id: str) -> str:
    cache = BatchLookups.of(s)
    if cache is not None and tenant_id in cache.initial_domains:
        return cache.initial_domains[tenant_id]
    found = s.scalar(select(Domain.name).where(Domain.tenant_id == tenant_id, Domain.is_initial)) or ""
    if cache is not None:
        cache.initial_domains[tenant_id] = found
    return found


def guest_upn(email: str, initial_domain: str) -> str:
    return f"{email.replace('@', '_')}#EXT#@{initial_domain}"


class InvitationService(Services):
    def __init__(self, sessions: sessionmaker[Session], actor: Principal, config: InviteConfig) -> None:
        super().__init__(sessions, actor)
        self.config = config

    def invite(self, req: InvitationRequest) -> InvitationResult:
        for attempt in range(3):
            plan = self.prepare(req)
            try:
                with writer_turn(self.sessions), self.write("Invitation", "Invite external user") as op:
                    return self.commit(op, req, plan)
            except _UserRaceError:
                if attempt == 2:
                    raise ConflictError("The invited user was being created concurrently; retry.") from None
        raise AssertionError("unreachable")

    # -- phase 1: prepare (no write transaction) ---------------------------------------------------------------

    def prepare(self, req: InvitationRequest, s: Session | None = None) -> InvitationPlan:
        """``s``: a read session shared by a batch of invitations (``invitation_batch``); its identity map then
        serves the tenant and the inviter once for the whole batch."""
        if s is None:
            with read_sessions(self.sessions)() as session:
                return self.prepare(req, session)
        now = self.clock()
        invitation_id, token = new_id(), tickets.new_token()
        redeem_url = (
            f"{self.config.public_url}/redeem?tenant={self.tenant_id}&invitation={invitation_id}&ticket={token}"
        )
        cache = BatchLookups.of(s)
        tenant = cache.tenants.get(self.tenant_id) if cache else None
        if tenant is None:
            tenant = s.get(Tenant, self.tenant_id)
            if tenant is None:
                raise NotFoundError(self.tenant_id)
            if cache:
                cache.tenants[tenant.id] = tenant  # a strong reference: the identity map alone may drop it
        initial = _initial_domain(s, tenant.id)
        if not req.send_message:
            return InvitationPlan(now, invitation_id, token, redeem_url, initial, None, False, None)
        if req.invited_user_id:
            user = s.get(User, req.invited_user_id)
            if user is not None and (user.tenant_id != self.tenant_id or user.deleted_at is not None):
                user = None
        else:
            user = self._existing(s, req.email, guest_upn(req.email, initial), lock=False, strict=False)
        blocked = self._blocked(s, req.email)
        mail = None
        if not blocked:
            data = self._mail_data(s, req, user, tenant, initial, self._inviter(s), invitation_id, redeem_url, now)
            mail = _render(data, req, now)
        return InvitationPlan(now, invitation_id, token, redeem_url, initial, _fingerprint(user), blocked, mail)

    # -- phase 2: commit (one transaction) ---------------------------------------------------------------------

    def commit(
        self, op: Write, req: InvitationRequest, plan: InvitationPlan, *, batch: bool = False
    ) -> InvitationResult:
        """``batch``: one of many new-guest invitations sharing a transaction (``invitation_batch``). Nothing is
        flushed here (the batch flushes once; the unique UPN index still decides races), and an invitee that
        turns out to exist raises ``DeferredInvitation`` before anything is added, to be re-run on its own."""
        s = op.session
        op.now = plan.now  # the email already carries this time (Date header, link expiry)
        changes: list[tuple[ChangeType, list[str]]] = []  # (change type, properties) of the invited user
        inviter = self._inviter(s)
        cache = BatchLookups.of(s)
        policy = cache.policies.get(self.tenant_id) if cache else None
        if policy is None:
            policy = load_policy(s, self.tenant_id)
            if cache:
                cache.policies[self.tenant_id] = policy
        check_may_invite(s, self.actor, inviter, member=req.user_type == "Member", policy=policy)
        check_domain(s, self.tenant_id, req.email, policy=policy)
        initial = plan.initial_domain
        new = False
        if req.reset_redemption:
            user = self._reset(op, req, changes)
        elif req.invited_user_id:
            user = self._by_id(s, req.invited_user_id)
            self._reinvite(op, user, req, changes)
        else:
            # (no row lock in a batch: an existing invitee is re-invited on its own, which locks it then)
            existing = self._existing(s, req.email, guest_upn(req.email, initial), lock=not batch)
            if existing is not None and batch:
                raise DeferredInvitation()
            if existing is not None:
                user = self._reinvite(op, existing, req, changes)
            else:
                user, new = self._create_guest(op, req, initial, changes, flush=not batch), True
        snapshot = None if new else _fingerprint(user)
        sponsors = self._sponsors(op, user, req, inviter, new, changes)
        mail: _Mail | None = None
        blocked = req.send_message and self._blocked(s, req.email)
        if req.send_message and not blocked:
            mail = plan.mail
            if mail is None or plan.blocked or plan.invitee != snapshot:
                # The invitee changed since phase 1 (a concurrent invitation created it, or it was edited).
                tenant = s.get(Tenant, self.tenant_id)
                assert tenant is not None
                data = self._mail_data(
                    s, req, None if new else user, tenant, initial, inviter, plan.invitation_id, plan.redeem_url, op.now
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
        return InvitationResult(invitation, user, plan.redeem_url, sponsors)

    def _blocked(self, s: Session, email: str) -> bool:
        cache = BatchLookups.of(s)
        key = (self.tenant_id, email.lower())
        if cache and key in cache.blocked:
            return cache.blocked[key]
        return is_blocked_by_recipient(s, self.tenant_id, email)

    def _inviter(self, s: Session) -> User | None:
        if self.actor.kind != "user":
            return None
        user = s.get(User, self.actor.id)
        return user if user is not None and user.tenant_id == self.tenant_id else None

    def _existing(self, s: Session, email: str, upn: str, *, lock: bool = True, strict: bool = True) -> User | None:
        """The live guest behind this address, or None. ``strict`` (the commit phase) raises for members and
        soft-deleted users; the prepare phase only wants a best guess to render the email for."""
        key = email.lower()
        cache = BatchLookups.of(s)
        if cache and {(self.tenant_id, key), (self.tenant_id, upn.lower())} <= cache.absent:
            return None
        # One indexed lookup per key, then the rows by primary key. SQLite plans "tenant AND (mail OR upn OR upn)"
        # as a scan of the tenant's users; PostgreSQL, before its statistics caught up with a growing tenant,
        # planned "id IN (those lookups)" as a loop over every user of the tenant (up to a second per call).
        found: CompoundSelect[tuple[str]] = union_all(
            select(User.id).where(User.tenant_id == self.tenant_id, User.mail_key == key),
            select(User.id).where(User.tenant_id == self.tenant_id, User.upn_key.in_([key, upn.lower()])),
        )
        ids = set(s.scalars(found))
        if not ids:
            return None
        query = select(User).where(User.id.in_(sorted(ids)), User.tenant_id == self.tenant_id)
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

    def _by_id(self, s: Session, user_id: str) -> User:
        user = s.get(User, user_id, with_for_update=True)
        if user is None or user.tenant_id != self.tenant_id or user.deleted_at is not None:
            raise NotFoundError(user_id)
        return user

    def _create_guest(
        self,
        op: Write,
        req: InvitationRequest,
        initial_domain: str,
        changes: list[tuple[ChangeType, list[str]]],
        *,
        flush: bool = True,
    ) -> User:
        """Insert the guest. UserService.insert would check that the UPN's domain is the tenant's (it is: the
        initial domain) and look the UPN up (``_existing`` just did, and the unique index decides races)."""
        upn = guest_upn(req.email, initial_domain)
        local = req.email.rpartition("@")[0]
        if set(local) & _UPN_LOCAL_FORBIDDEN:
            raise InvitationError(
                "Invalid value specified for property 'userPrincipalName' of resource 'User'.",
                target="invitedUserEmailAddress",
            )
        user = User(
            id=new_id(),
            tenant_id=self.tenant_id,
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
                raise _UserRaceError() from None
        changes.append((ChangeType.CREATED, [p.name for p in USER.props]))
        return user

    def _reinvite(
        self, op: Write, user: User, req: InvitationRequest, changes: list[tuple[ChangeType, list[str]]]
    ) -> User:
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

    def _reset(self, op: Write, req: InvitationRequest, changes: list[tuple[ChangeType, list[str]]]) -> User:
        """resetRedemption: the guest redeems again, possibly with another address or identity; object id, UPN,
        memberships and app assignments are kept."""
        assert req.invited_user_id is not None
        if self.actor.kind == "app" and not self.actor.has_any(*RESET_PERMISSIONS):
            raise ForbiddenError("Resetting the redemption status needs User.ReadWrite.All.")
        user = self._by_id(op.session, req.invited_user_id)
        if self.actor.kind == "app" and directory_roles(op.session, self.tenant_id, user.id):
            raise ForbiddenError("For app-only calls, the redemption status can't be reset for a user with roles.")
        if self.actor.kind == "user":
            inviter = self._inviter(op.session)
            roles = directory_roles(op.session, self.tenant_id, inviter.id) if inviter else set()
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

    def _sponsors(
        self,
        op: Write,
        user: User,
        req: InvitationRequest,
        inviter: User | None,
        new: bool,
        changes: list[tuple[ChangeType, list[str]]],
    ) -> list[tuple[str, str]]:
        """invitedUserSponsors (users or groups of this tenant); without any, the inviting user is the sponsor."""
        wanted: list[tuple[str, str]] = []
        for sponsor_id in req.sponsors:
            if (
                (u := op.session.get(User, sponsor_id)) is not None
                and u.tenant_id == self.tenant_id
                and not u.deleted_at
            ):
                wanted.append(("user", u.id))
            elif (
                (g := op.session.get(Group, sponsor_id)) is not None
                and g.tenant_id == self.tenant_id
                and not g.deleted_at
            ):
                wanted.append(("group", g.id))
            else:
                raise NotFoundError(sponsor_id)
        if not wanted and inviter is not None:
            wanted.append(("user", inviter.id))
        for kind, sponsor_id in wanted:
            if new or op.session.get(UserSponsor, (user.id, sponsor_id)) is None:
                op.session.add(
                    UserSponsor(
                        user_id=user.id,
                        sponsor_id=sponsor_id,
                        sponsor_type=kind,
                        tenant_id=self.tenant_id,
                        created_at=op.now,
                    )
                )
        if wanted:
            changes.append((ChangeType.UPDATED, ["sponsors"]))
        return wanted

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
    ) -> InvitationMailData:
        """What the email says: language (seed 004 order), names, links. ``user`` is the existing invitee."""
        domain = req.email.rpartition("@")[2]
        cache = BatchLookups.of(s)
        if cache is None or domain not in cache.home_languages:
            home = s.scalar(
                select(Tenant.preferred_language)
                .join(Domain, Domain.tenant_id == Tenant.id)
                .where(Domain.name == domain, Domain.tenant_id != self.tenant_id)
            )
            if cache:
                cache.home_languages[domain] = home
        else:
            home = cache.home_languages[domain]
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

