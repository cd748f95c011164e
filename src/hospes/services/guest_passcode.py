"""The email one-time passcode step of a guest flow: a code for the flow's address, its email queued in the same
transaction, then the code checked (``services.email_otp`` keeps the codes and their limits). An address that is not
a guest of the tenant (or whose tenant turned the passcode off) gets the same answers but no email."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from hospes.mail.i18n import choose_language
from hospes.mail.otp_mail import OtpMailData, build_otp_mail
from hospes.mail.outbox import enqueue
from hospes.services.email_otp import EmailOtpService, SendOutcome, VerifyOutcome
from hospes.services.guest_flows import FlowView, GuestFlows
from hospes.services.guest_policy import load_guest_policy
from hospes.services.signin import audit_failure
from hospes.settings import Settings
from hospes.storage.tables import Invitation, Tenant, User


class GuestPasscodes:
    def __init__(
        self, sessions: sessionmaker[Session], otp: EmailOtpService, settings: Settings, flows: GuestFlows
    ) -> None:
        self.sessions, self.otp, self.settings, self.flows = sessions, otp, settings, flows

    def send_code(self, flow: FlowView, address: str, now: datetime) -> SendOutcome:
        """Issue a code and queue its email in one transaction. Unknown addresses get no email (same answer)."""
        with self.sessions.begin() as session:
            tenant = session.get(Tenant, flow.tenant_id) if flow.tenant_id else None
            user = session.get(User, flow.user_id) if flow.user_id else None
            deliverable = self._deliverable(session, flow, tenant, user)
            issued = self.otp.issue(
                session,
                flow_hash=flow.token_hash,
                tenant_id=flow.tenant_id,
                email=flow.email,
                deliverable=deliverable,
                address=address,
                now=now,
            )
            if issued.outcome != "sent" or issued.code is None or issued.code_id is None:
                return issued.outcome
            # From here on, known and unknown addresses take the same path (rendering included) so that the answer's
            # timing says little about whether the address has access; only the outbox row differs.
            invitation = session.get(Invitation, flow.invitation_id) if flow.invitation_id else None
            # The invitation email's order: messageLanguage, the invitee's preferredLanguage, then the
            # inviting tenant's language.
            language = choose_language(
                invitation.language if invitation else None,
                (invitation.message_info or {}).get("messageLanguage") if invitation else None,
                user.preferred_language if user else None,
                tenant.preferred_language if tenant else None,
            )
            data = OtpMailData(
                code_id=issued.code_id,
                language=language,
                platform=self.settings.mail_platform_name,
                sender_address=self.settings.mail_from,
                org_name=tenant.display_name if tenant else self.settings.mail_platform_name,
                recipient=flow.email,
                code=issued.code,
                minutes=self.settings.email_otp_lifetime_minutes,
            )
            message = build_otp_mail(data, now)
            if not issued.deliver:
                return "sent"
            enqueue(
                session,
                message,
                envelope_from=self.settings.mail_from,
                recipients=[flow.email],
                kind="otp",
                tenant_id=flow.tenant_id,
                related_id=issued.code_id,
                now=now,
            )
            return "sent"

    @staticmethod
    def _deliverable(session: Session, flow: FlowView, tenant: Tenant | None, user: User | None) -> bool:
        if flow.kind == "unsubscribe":
            return "@" in flow.email and len(flow.email) <= 256 and not any(ord(c) < 33 for c in flow.email)
        if flow.kind == "access":
            # Someone outside the directory asking for an access package: no guest exists yet, the code proves the
            # address.
            return (
                tenant is not None
                and "@" in flow.email
                and len(flow.email) <= 256
                and not any(ord(c) < 33 for c in flow.email)
                and load_guest_policy(session, tenant.id).email_otp
            )
        return (
            tenant is not None
            and user is not None
            and user.tenant_id == tenant.id
            and user.deleted_at is None
            and user.account_enabled
            and load_guest_policy(session, tenant.id).email_otp
        )

    def verify_code(self, flow: FlowView, code: str, address: str, now: datetime) -> VerifyOutcome:
        outcome = self.otp.verify(flow.token_hash, flow.email, code, address, now)
        if outcome != "ok" and flow.tenant_id is not None:
            # Like failed passwords: the tenant's audit log shows guessing against its guests.
            audit_failure(
                self.sessions,
                flow.tenant_id,
                now,
                "Redeem external user invite" if flow.kind == "redeem" else "Sign in",
                f"email one-time passcode: {outcome}",
                login_name=flow.email,
                address=address,
            )
        if outcome == "ok":
            self.flows.update(flow, verified_method="mail", verified_at=now, data={**flow.data, "amr": ["email"]})
        return outcome
