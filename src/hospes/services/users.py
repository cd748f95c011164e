"""Users: create, read, update, soft delete, restore, hard delete, reset their authentication methods; a guest
leaving the organization."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hospes.auth.passwords import check_password_policy, hash_password
from hospes.domain.changes import ChangeType, ObjectType
from hospes.domain.errors import ConflictError, InvalidInputError, NotFoundError
from hospes.domain.ids import new_id
from hospes.domain.invitation import MAX_SPONSORS
from hospes.domain.schema import USER
from hospes.domain.validation import require
from hospes.services.base import Services, Write
from hospes.services.groups import GroupService
from hospes.services.guest_policy import load_guest_policy
from hospes.services.listing import ListQuery, Page, list_page
from hospes.services.orphans import note_orphans, sponsored_by
from hospes.services.web_sessions import revoke_user_sessions
from hospes.storage.tables import Domain, Group, User, UserSponsor
from hospes.storage.tables_signin import RecoveryCode, TotpAuthenticator

UPN_CONFLICT = "Another object with the same value for property userPrincipalName already exists."


def is_invited(user: User) -> bool:
    """A guest, or a member who came in through an invitation: they sign in with their address, not a password."""
    return user.user_type == "Guest" or user.creation_type == "Invitation"


class UserService(Services):
    def find(self, session: Session, key: str, *, include_deleted: bool = False) -> User:
        """By object id or userPrincipalName, in the caller's tenant only."""
        column = User.upn_key if "@" in key else User.id
        stmt = select(User).where(User.tenant_id == self.tenant_id, column == (key.lower() if "@" in key else key))
        if not include_deleted:
            stmt = stmt.where(User.deleted_at.is_(None))
        user = session.scalar(stmt)
        if user is None:
            raise NotFoundError(key)
        return user

    def get(self, key: str) -> User:
        with self.read() as session:
            return self.find(session, key)

    def groups_of(self, key: str, relation: str) -> list[Group]:
        """The user's ``memberOf`` (groups that contain the user directly), ``transitiveMemberOf`` (also through
        nested groups) or ``ownedObjects`` (groups the user owns)."""
        with self.read() as session:
            user = self.find(session, key)
            groups = GroupService(self.sessions, self.actor)
            if relation == "transitiveMemberOf":
                return groups.transitive_member_of(session, user.id)
            return groups.member_of(session, user.id, "owner" if relation == "ownedObjects" else "member")

    def sponsors(self, key: str) -> list[tuple[str, User | Group]]:
        """The user's sponsors that still exist, oldest first: ``("user" | "group", row)``."""
        with self.read() as session:
            user = self.find(session, key)
            rows = session.scalars(
                select(UserSponsor)
                .where(UserSponsor.tenant_id == self.tenant_id, UserSponsor.user_id == user.id)
                .order_by(UserSponsor.created_at, UserSponsor.sponsor_id)
            )
            out: list[tuple[str, User | Group]] = []
            for row in rows:
                sponsor: User | Group | None = (
                    session.get(User, row.sponsor_id)
                    if row.sponsor_type == "user"
                    else session.get(Group, row.sponsor_id)
                )
                if sponsor is not None and sponsor.deleted_at is None:
                    out.append((row.sponsor_type, sponsor))
            return out

    def page(self, query: ListQuery, *, deleted: bool = False) -> Page:
        with self.read() as session:
            state = User.deleted_at.is_not(None) if deleted else User.deleted_at.is_(None)
            return list_page(session, USER, User, [User.tenant_id == self.tenant_id, state], query)

    def create(self, values: dict[str, Any], password: str | None, force_change: bool = False) -> User:
        require(USER, values, "accountEnabled", "displayName", "mailNickname", "userPrincipalName")
        if password is None:
            raise InvalidInputError(
                "Invalid value specified for property 'passwordProfile' of resource 'User'.",
                target="passwordProfile",
            )
        password_hash = self.hash_new_password(password)  # slow by design: outside the transaction
        with self.write("UserManagement", "Add user") as op:
            return self.insert(op, values, password_hash, force_change)

    @staticmethod
    def hash_new_password(password: str) -> str:
        problem = check_password_policy(password)
        if problem:
            raise InvalidInputError(problem, target="passwordProfile")
        return hash_password(password)

    def insert(self, op: Write, values: dict[str, Any], password_hash: str | None, force_change: bool = False) -> User:
        """The create step on its own, for use inside a larger write (tenant bootstrap, invitations)."""
        upn = values["user_principal_name"]
        self._check_upn(op.session, upn)
        user = User(id=new_id(), tenant_id=self.tenant_id, created_at=op.now, **values)
        user.upn_key = upn.lower()
        user.mail_key = user.mail.lower() if user.mail else None
        user.user_type = values.get("user_type") or "Member"
        if user.user_type not in ("Member", "Guest"):
            raise InvalidInputError("Invalid value specified for property 'userType'.", target="userType")
        if password_hash is not None:
            user.password_hash = password_hash
            user.password_changed_at = op.now
            user.force_change_password = force_change
        op.session.add(user)
        self._flush_unique(op.session)
        op.target("User", user.id, upn)
        op.change(ObjectType.USER, user.id, ChangeType.CREATED, [p.name for p in USER.props])
        return user

    def update(self, key: str, values: dict[str, Any], password: str | None = None) -> User:
        password_hash = self.hash_new_password(password) if password is not None else None
        with self.write("UserManagement", "Update user") as op:
            user = self.find(op.session, key)
            op.target("User", user.id, user.user_principal_name)
            for attr in ("account_enabled", "display_name", "mail_nickname", "user_principal_name"):
                if attr in values and values[attr] in (None, ""):
                    raise InvalidInputError(f"Invalid value specified for property '{attr}'.")
            if "user_type" in values and values["user_type"] not in ("Member", "Guest"):
                raise InvalidInputError("Invalid value specified for property 'userType'.", target="userType")
            changed = op.record_changes(user, values, {p.attr: p.name for p in USER.props if p.attr})
            if set(values) == {"account_enabled"} and changed:
                # Entra names the audit row of blocking or allowing sign-in for what it did.
                op.name("Enable account" if values["account_enabled"] else "Disable account")
            if "user_principal_name" in values and values["user_principal_name"].lower() != user.upn_key:
                self._check_upn(op.session, values["user_principal_name"])
                user.upn_key = values["user_principal_name"].lower()
            for attr, value in values.items():
                setattr(user, attr, value)
            if "mail" in values:
                user.mail_key = user.mail.lower() if user.mail else None
            if password_hash is not None:
                user.password_hash = password_hash
                user.password_changed_at = op.now
                changed.append("passwordProfile")
            if not user.account_enabled or password_hash is not None:
                revoke_user_sessions(op.session, user.id, op.now)  # ASVS 7.4.2: disabling (or a reset) ends sessions
            if "accountEnabled" in changed and not user.account_enabled:
                note_orphans(self, op, sponsored_by(op, user.id), "sponsorBlocked")
            self._flush_unique(op.session)
            op.details["modifiedProperties"] = changed
            if changed:
                op.change(ObjectType.USER, user.id, ChangeType.UPDATED, changed)
            return user

    def soft_delete(self, key: str, activity: str = "Delete user") -> None:
        with self.write("UserManagement", activity) as op:
            user = self.find(op.session, key)
            op.target("User", user.id, user.user_principal_name)
            user.deleted_at = op.now
            revoke_user_sessions(op.session, user.id, op.now)
            op.change(ObjectType.USER, user.id, ChangeType.DELETED)
            note_orphans(self, op, sponsored_by(op, user.id), "sponsorDeleted")

    def add_sponsor(self, key: str, sponsor_id: str) -> None:
        """Make a user or group of this tenant a sponsor of the user (``POST /users/{id}/sponsors/$ref``)."""
        with self.write("UserManagement", "Update user") as op:
            user = self.find(op.session, key)
            op.target("User", user.id, user.user_principal_name)
            kind, sponsor = GroupService(self.sessions, self.actor).resolve(op.session, sponsor_id)
            if kind not in ("user", "group"):
                raise InvalidInputError("A sponsor is a user or a group.", target="sponsors")
            if sponsor.id == user.id:
                raise InvalidInputError("A user cannot sponsor themselves.", target="sponsors")
            count = op.session.scalar(select(func.count()).where(UserSponsor.user_id == user.id))
            if count is not None and count >= MAX_SPONSORS:
                raise InvalidInputError(f"A user has at most {MAX_SPONSORS} sponsors.", target="sponsors")
            if op.session.get(UserSponsor, (user.id, sponsor.id)) is not None:
                raise ConflictError(
                    "One or more added object references already exist for the following modified properties: "
                    "'sponsors'.",
                    target="sponsors",
                )
            op.session.add(
                UserSponsor(
                    user_id=user.id,
                    sponsor_id=sponsor.id,
                    sponsor_type=kind,
                    tenant_id=self.tenant_id,
                    created_at=op.now,
                )
            )
            op.details["modifiedProperties"] = ["sponsors"]
            op.details["changes"] = [{"property": "sponsors", "old": None, "new": sponsor.display_name}]
            op.change(ObjectType.USER, user.id, ChangeType.UPDATED, ["sponsors"])

    def remove_sponsor(self, key: str, sponsor_id: str) -> None:
        with self.write("UserManagement", "Update user") as op:
            user = self.find(op.session, key)
            op.target("User", user.id, user.user_principal_name)
            link = op.session.get(UserSponsor, (user.id, sponsor_id))
            if link is None or link.tenant_id != self.tenant_id:
                raise NotFoundError(sponsor_id)
            op.session.delete(link)
            table: Any = User if link.sponsor_type == "user" else Group
            gone = op.session.get(table, link.sponsor_id)
            op.details["modifiedProperties"] = ["sponsors"]
            op.details["changes"] = [
                {"property": "sponsors", "old": gone.display_name if gone else sponsor_id, "new": None}
            ]
            op.change(ObjectType.USER, user.id, ChangeType.UPDATED, ["sponsors"])
            note_orphans(self, op, [user.id], "sponsorRemoved")

    def soft_delete_many(self, ids: list[str]) -> int:
        """Delete several users in one transaction, all or none (the portal's multi-select); audited as one
        "Delete user" per user, as if each had been deleted on its own."""
        with self.write("UserManagement", "Delete user") as op:
            users = self.many(op.session, ids, deleted=False)
            for user in users:
                user.deleted_at = op.now
                revoke_user_sessions(op.session, user.id, op.now)
                op.change(ObjectType.USER, user.id, ChangeType.DELETED)
            self.audit_each(op, "UserManagement", "Delete user", users)
            note_orphans(self, op, [g for u in users for g in sponsored_by(op, u.id)], "sponsorDeleted")
            return len(users)

    def many(self, session: Session, ids: list[str], *, deleted: bool) -> list[User]:
        """The users of these ids, live or deleted; NotFoundError names the first one that is not."""
        wanted = list(dict.fromkeys(ids))
        state = User.deleted_at.is_not(None) if deleted else User.deleted_at.is_(None)
        rows = list(session.scalars(select(User).where(User.tenant_id == self.tenant_id, User.id.in_(wanted), state)))
        found = {u.id for u in rows}
        missing = [i for i in wanted if i not in found]
        if missing or not rows:
            raise NotFoundError(missing[0] if missing else "")
        return rows

    def revoke_sign_in_sessions(self, key: str) -> None:
        """Graph ``revokeSignInSessions``: every browser session of the user ends and the refresh tokens apps hold
        for them are revoked, so apps must sign the user in again."""
        with self.write("UserManagement", "Revoke sign-in sessions") as op:
            user = self.find(op.session, key)
            op.target("User", user.id, user.user_principal_name)
            revoke_user_sessions(op.session, user.id, op.now)

    def may_leave(self, user: User) -> bool:
        """Whether ``user`` may leave the organization on their own: an invited user, if the tenant allows it."""
        with self.read() as session:
            return is_invited(user) and load_guest_policy(session, self.tenant_id).allow_guests_to_leave

    def leave(self) -> bool:
        """The actor, an invited user, leaves the organization: their account is deleted (soft: the tenant's
        administrators can restore it while it is in the deleted users) and every session of theirs ends. False
        when the tenant does not let guests leave, or the actor is not an invited user."""
        user = self.get(self.actor.id)
        if not self.may_leave(user):
            return False
        self.soft_delete(user.id, "Leave organization")
        return True

    def reset_mfa(self, user_id: str) -> None:
        """An administrator's "require re-registering MFA" for a user who lost their authenticator: the
        authenticator and recovery codes go, and so do the user's sessions (a session opened with the lost phone
        must not outlive it). One transaction, audited under the administrator's name."""
        with self.write("UserManagement", "Reset authentication methods") as op:
            user = op.session.scalar(
                select(User).where(User.tenant_id == self.tenant_id, User.id == user_id, User.deleted_at.is_(None))
            )
            if user is None:
                raise NotFoundError(user_id)
            op.target("User", user.id, user.user_principal_name)
            op.session.execute(delete(TotpAuthenticator).where(TotpAuthenticator.user_id == user.id))
            op.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
            revoke_user_sessions(op.session, user.id, op.now)

    def restore(self, op: Write, user: User) -> None:
        """Restore keeps the object id and its memberships, as Entra does."""
        op.name("Restore user", "UserManagement")
        conflict = op.session.scalar(
            select(User.id).where(User.tenant_id == self.tenant_id, User.upn_key == user.upn_key, User.id != user.id)
        )
        if conflict:
            raise ConflictError(UPN_CONFLICT)
        user.deleted_at = None
        op.target("User", user.id, user.user_principal_name)
        op.change(ObjectType.USER, user.id, ChangeType.RESTORED, [p.name for p in USER.props])

    def hard_delete(self, op: Write, user: User) -> None:
        op.name("Hard delete user", "UserManagement")
        op.target("User", user.id, user.user_principal_name)
        GroupService(self.sessions, self.actor).detach(op, user.id, "user")
        op.session.delete(user)
        op.change(ObjectType.USER, user.id, ChangeType.HARD_DELETED)

    def _check_upn(self, session: Session, upn: str) -> None:
        local, at, domain = upn.rpartition("@")
        if not at or not local or any(c in local for c in ' "\\,;<>()[]'):
            raise InvalidInputError(
                "Invalid value specified for property 'userPrincipalName' of resource 'User'.",
                target="userPrincipalName",
            )
        owner = session.scalar(select(Domain.tenant_id).where(Domain.name == domain.lower()))
        if owner != self.tenant_id:
            raise InvalidInputError(
                "The domain portion of the userPrincipalName property is invalid. You must use one of the verified "
                "domain names in your organization.",
                target="userPrincipalName",
            )
        if session.scalar(select(User.id).where(User.tenant_id == self.tenant_id, User.upn_key == upn.lower())):
            raise ConflictError(UPN_CONFLICT, target="userPrincipalName")

    @staticmethod
    def _flush_unique(session: Session) -> None:
        # The unique index is the real guard against concurrent creates of the same UPN.
        try:
            session.flush()
        except IntegrityError:
            raise ConflictError(UPN_CONFLICT, target="userPrincipalName") from None
