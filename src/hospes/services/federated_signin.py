"""Guests signing in with their organization's own identity provider, bound to their email domain: SAML direct
federation (Hospes as service provider) or OpenID Connect (Hospes as relying party). No HTTP here.

A guest flow (``services.guest_flows``) whose address's domain is bound to a provider goes there (``begin``); the
answer comes back to ``accept_saml`` (the consumer URL ``{base}/login.srf``, the flow named by ``RelayState`` and
the request id it sent) or ``accept_oidc`` (``{base}/te/{tenant}/oauth2/authresp``, the flow of this browser's
cookie, its ``state``). Either way the asserted email must be the flow's address and its domain one of the
provider's domains, and an assertion (or ID token) is used once. The flow then records ``verified_method``
``saml`` or ``oidc`` and the federated identity (issuer, subject) that ``identities`` will hold.

Trust: an OpenID provider that is a Hospes tenant (``tid`` in the token, issuer ``…/{tid}/v2.0``) and says ``mfa``
in ``amr`` brings a claim of MFA done at home; it counts only where the cross-tenant access settings trust that
tenant's MFA (``home_mfa_trusted``). SAML guests always do MFA here.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hospes.auth.crypto import DecryptionError, SecretBox
from hospes.domain import federation as shape
from hospes.domain.cross_tenant import PRIMARY_IDPS
from hospes.saml.bindings import InboundMessage, read_post
from hospes.saml.common import SamlError, new_message_id
from hospes.saml.federation import EMAIL_REFUSED, SKEW, Expectation, authn_request_url, read_response
from hospes.services.access_decision import home_mfa_trusted
from hospes.services.federation import SECRET_PURPOSE
from hospes.services.guest_flows import FlowView, GuestFlows, guest_by_email
from hospes.services.guest_policy import load_guest_policy
from hospes.services.guest_signin_log import record_refusal
from hospes.services.oidc_federation import FederationError, OidcProvider, OidcRelyingParty, mapped
from hospes.storage.tables import User
from hospes.storage.tables_cross_tenant import CrossTenantPolicy
from hospes.storage.tables_federation import ExternalFederationDomain, ExternalIdentityProvider
from hospes.storage.tables_redemption import UsedAssertion

OIDC_LIFETIME = timedelta(minutes=10)  # how long a used ID token is remembered (longer than any sane token)
Client = tuple[str | None, str | None]  # the browser's address and user agent, for the sign-in log


@dataclass(frozen=True)
class ProviderView:
    id: str
    kind: str  # saml | oidc
    display_name: str
    issuer: str


def _view(row: ExternalIdentityProvider) -> ProviderView:
    return ProviderView(row.id, row.kind, row.display_name, row.issuer)


def _replay_key(kind: str, issuer: str, value: str) -> str:
    return kind + ":" + hashlib.sha256(f"{issuer}\x00{value}".encode()).hexdigest()[:59]


def hospes_home_tenant(issuer: str, claims: dict[str, object]) -> str | None:
    """The partner's tenant id when the token comes from a Hospes (or Entra v2) tenant: ``tid``, and an issuer
    ending in ``/{tid}/v2.0``."""
    tid = claims.get("tid")
    return tid.lower() if isinstance(tid, str) and tid.lower() == shape.tenant_of_issuer(issuer) else None


class FederatedSignIn:
    def __init__(
        self, sessions: sessionmaker[Session], box: SecretBox, flows: GuestFlows, public_url: str, rp: OidcRelyingParty
    ) -> None:
        self.sessions, self.box, self.flows, self.rp = sessions, box, flows, rp
        self.public_url = public_url.rstrip("/")
        self._certificates: dict[tuple[str, str], x509.Certificate] = {}
        self._lock = threading.Lock()

    # --- addresses -----------------------------------------------------------------------------------------------

    @property
    def acs_url(self) -> str:
        return f"{self.public_url}/login.srf"

    def entity_id(self, tenant_id: str) -> str:
        return f"{self.public_url}/{tenant_id}/"

    def redirect_uri(self, tenant_id: str) -> str:
        return f"{self.public_url}/te/{tenant_id}/oauth2/authresp"

    # --- which provider ------------------------------------------------------------------------------------------

    def for_address(self, tenant_id: str, email: str) -> ProviderView | None:
        """The provider the address's domain is bound to in this tenant."""
        with self.sessions() as session:
            bound = session.get(ExternalFederationDomain, (tenant_id, shape.email_domain(email)))
            row = session.get(ExternalIdentityProvider, bound.provider_id) if bound is not None else None
            return _view(row) if row is not None and row.tenant_id == tenant_id else None

    def buttons(self, tenant_id: str) -> list[ProviderView]:
        """The OpenID providers bound to no domain: offered as buttons on the guest sign-in pages."""
        with self.sessions() as session:
            bound = select(ExternalFederationDomain.provider_id).where(ExternalFederationDomain.tenant_id == tenant_id)
            stmt = select(ExternalIdentityProvider).where(
                ExternalIdentityProvider.tenant_id == tenant_id,
                ExternalIdentityProvider.kind == shape.KIND_OIDC,
                ExternalIdentityProvider.id.not_in(bound),
            )
            order = (ExternalIdentityProvider.created_at, ExternalIdentityProvider.id)
            return [_view(row) for row in session.scalars(stmt.order_by(*order))]

    def by_issuer(self, tenant_id: str, issuer: str) -> ProviderView | None:
        with self.sessions() as session:
            stmt = select(ExternalIdentityProvider).where(
                ExternalIdentityProvider.tenant_id == tenant_id, ExternalIdentityProvider.issuer == issuer
            )
            row = session.scalars(stmt).first()
            return _view(row) if row is not None else None

    def for_flow(self, flow: FlowView) -> ProviderView | None:
        """The provider this flow signs in with: the one the guest redeemed with (an accepted guest keeps it),
        else the one of the address's domain."""
        assert flow.tenant_id is not None
        issuers: list[str] = []
        with self.sessions() as session:
            user = session.get(User, flow.user_id) if flow.user_id else None
            if user is not None and user.tenant_id == flow.tenant_id and user.external_user_state == "Accepted":
                issuers = [
                    str(i.get("issuer") or "") for i in user.identities or [] if i.get("signInType") == "federated"
                ]
        for issuer in issuers:
            found = self.by_issuer(flow.tenant_id, issuer)
            if found is not None:
                return found
        return self.for_address(flow.tenant_id, flow.email)

    def precedence(self, tenant_id: str) -> list[str]:
        """The tenant's redemption order (the cross-tenant default's
        ``invitationRedemptionIdentityProviderConfiguration``): which of a tenant of this deployment
        (``azureActiveDirectory``) and a federation by domain (``externalFederation``) is tried first."""
        with self.sessions() as session:
            policy = session.get(CrossTenantPolicy, tenant_id)
            stored = (policy.default_config if policy is not None else None) or {}
        config = stored.get("invitationRedemptionIdentityProviderConfiguration") or {}
        order = config.get("primaryIdentityProviderPrecedenceOrder") or list(PRIMARY_IDPS)
        return [str(step) for step in order]

    def _row(self, session: Session, flow: FlowView, kind: str) -> ExternalIdentityProvider:
        started = flow.data.get("federation") or {}
        row = session.get(ExternalIdentityProvider, str(started.get("provider", "")))
        if row is None or row.tenant_id != flow.tenant_id or row.kind != kind or started.get("kind") != kind:
            raise FederationError(
                EMAIL_REFUSED, "This sign-in was not started here, or its identity provider was removed."
            )
        return row

    def _certificate(self, row: ExternalIdentityProvider) -> x509.Certificate:
        """The partner's certificate, parsed once per process and version of the configuration."""
        text = str((row.settings or {}).get("signingCertificate", ""))
        key = (row.id, text[-64:] + str(len(text)))
        with self._lock:
            cached = self._certificates.get(key)
        if cached is None:
            cached = shape.certificate(text)
            with self._lock:
                self._certificates[key] = cached
        return cached

    def _oidc(self, row: ExternalIdentityProvider) -> OidcProvider:
        settings = row.settings or {}
        try:
            secret = self.box.decrypt(SECRET_PURPOSE, row.client_secret_sealed or "", row.id).decode()
        except DecryptionError:
            raise FederationError(
                "50027", "The identity provider's client secret can't be read; set it again."
            ) from None
        return OidcProvider(
            id=row.id,
            issuer=row.issuer,
            client_id=str(settings.get("clientId", "")),
            client_secret=secret,
            well_known=str(settings.get("wellKnownEndpoint", "")),
            scope=str(settings.get("scope", "openid profile email")),
            claim_mapping=dict(settings.get("inboundClaimMapping") or {}),
        )

    # --- going there ---------------------------------------------------------------------------------------------

    def begin(self, flow: FlowView, provider_id: str, now: datetime) -> str:
        """Where the browser goes to sign in at the provider; the flow remembers what it sent."""
        assert flow.tenant_id is not None
        with self.sessions() as session:
            row = session.get(ExternalIdentityProvider, provider_id)
            if row is None or row.tenant_id != flow.tenant_id:
                raise FederationError(EMAIL_REFUSED, "This identity provider is no longer configured.")
            sign_in_url = str((row.settings or {}).get("passiveSignInUri", ""))
            provider = self._oidc(row) if row.kind == shape.KIND_OIDC else None
        started: dict[str, str]
        if provider is None:
            request_id = new_message_id()
            url = authn_request_url(
                request_id=request_id,
                sign_in_url=sign_in_url,
                sp_entity_id=self.entity_id(flow.tenant_id),
                acs_url=self.acs_url,
                relay_state=flow.flow_id,
                now=now,
            )
            started = {"kind": "saml", "provider": provider_id, "request": request_id}
        else:
            # Discovery may call the provider: no database transaction is open meanwhile.
            pkce = self.rp.start(provider, self.redirect_uri(flow.tenant_id), flow.email or None)
            url = pkce.url
            started = {"kind": "oidc", "provider": provider.id, "state": pkce.state, "nonce": pkce.nonce}
            started["verifier"] = pkce.verifier
        self.flows.update(flow, data={**flow.data, "federation": started})
        return url

    # --- coming back ---------------------------------------------------------------------------------------------

    def _check_address(
        self, session: Session, flow: FlowView, row: ExternalIdentityProvider, email: str | None, verified: bool
    ) -> str:
        """The asserted email: present; in one of the provider's domains, or (a provider bound to no domain, a
        button) said verified by the provider; and the flow's address when the flow has one."""
        if not email or "@" not in email:
            raise FederationError(EMAIL_REFUSED, "Your organization's identity provider sent no email address.")
        domain = shape.email_domain(email)
        bound = session.get(ExternalFederationDomain, (row.tenant_id, domain))
        any_domain = session.scalars(
            select(ExternalFederationDomain.domain).where(ExternalFederationDomain.provider_id == row.id).limit(1)
        ).first()
        if any_domain is None and row.kind == shape.KIND_OIDC:
            if bound is not None:
                # A federated domain signs in at its own provider only, never around it through a button.
                raise FederationError(
                    EMAIL_REFUSED,
                    f"The email address '{email}' signs in with its organization's identity provider, not "
                    f"'{row.display_name}'.",
                )
            if not verified:
                raise FederationError(
                    EMAIL_REFUSED, f"The identity provider '{row.display_name}' did not say that '{email}' is verified."
                )
        elif bound is None or bound.provider_id != row.id:
            raise FederationError(
                EMAIL_REFUSED,
                f"The email address '{email}' is not in a domain of the identity provider '{row.display_name}'.",
            )
        if flow.email and email.lower() != flow.email.lower():
            raise FederationError(EMAIL_REFUSED, f"You signed in as '{email}', but this sign-in is for '{flow.email}'.")
        return email.lower()

    def _spend(self, key: str, expires: datetime, now: datetime) -> None:
        try:
            with self.sessions.begin() as session:
                session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at <= now))
                session.add(UsedAssertion(jti=key, expires_at=expires))
        except IntegrityError:
            raise FederationError("50008", "This sign-in answer was already used. Start the sign-in again.") from None

    def _logged(self, flow: FlowView, now: datetime, client: Client, verify: Callable[[], None]) -> None:
        """``verify`` the answer for ``flow``; a refusal also leaves a sign-in log row."""
        try:
            verify()
        except FederationError as exc:
            address, agent = client
            record_refusal(self.sessions, flow, int(exc.code), exc.text, at=now, address=address, user_agent=agent)
            raise

    def accept_saml(self, form: dict[str, str], now: datetime, client: Client = (None, None)) -> FlowView:
        """A Response posted to the consumer URL: the flow it answers, now verified."""
        try:
            message = read_post(form)
        except SamlError as exc:
            raise FederationError(exc.code, exc.message) from None
        flow = self.flows.by_flow_id(message.relay_state or "", now)
        if message.param != "SAMLResponse" or flow is None or flow.tenant_id is None:
            raise FederationError("50008", "This sign-in answer belongs to no sign-in in progress. Start again.")
        self._logged(flow, now, client, lambda: self._verify_saml(flow, message, now))
        return flow

    def _verify_saml(self, flow: FlowView, message: InboundMessage, now: datetime) -> None:
        assert flow.tenant_id is not None
        with self.sessions() as session:
            row = self._row(session, flow, shape.KIND_SAML)
            expect = Expectation(
                certificate=self._certificate(row),
                issuer=row.issuer,
                audience=self.entity_id(flow.tenant_id),
                acs_url=self.acs_url,
                request_id=str(flow.data["federation"].get("request", "")),
            )
            try:
                assertion = read_response(message.xml, expect, now)
            except SamlError as exc:
                raise FederationError(exc.code, exc.message) from None
            email = self._check_address(session, flow, row, assertion.email, False)
        self._spend(_replay_key("saml", row.issuer, assertion.assertion_id), assertion.expires + SKEW, now)
        identity = {"provider": row.id, "issuer": row.issuer, "sub": assertion.name_id, "email": email}
        data = {**flow.data, "federated": identity, "amr": ["pwd"]}
        data.pop("federation", None)
        self.flows.update(flow, verified_method="saml", verified_at=now, data=data)

    def accept_oidc(self, flow: FlowView, params: dict[str, str], now: datetime, client: Client = (None, None)) -> None:
        """The provider's redirect back (``code`` and ``state``, or ``error``) for this browser's flow."""
        self._logged(flow, now, client, lambda: self._verify_oidc(flow, params, now))

    def _verify_oidc(self, flow: FlowView, params: dict[str, str], now: datetime) -> None:
        started = flow.data.get("federation") or {}
        if not started.get("state") or params.get("state") != started.get("state"):
            raise FederationError("50027", "This sign-in answer belongs to no sign-in in progress. Start again.")
        if params.get("error"):
            detail = (params.get("error_description") or params["error"])[:200]
            raise FederationError("50027", f"Your organization's identity provider did not sign you in: {detail}")
        with self.sessions() as session:
            row = self._row(session, flow, shape.KIND_OIDC)
            provider = self._oidc(row)
            session.expunge(row)
        # The provider is called with no database transaction open.
        claims = self.rp.redeem_code(
            provider,
            code=params.get("code", "")[:2048],
            redirect_uri=self.redirect_uri(str(flow.tenant_id)),
            verifier=str(started.get("verifier", "")),
            nonce=str(started.get("nonce", "")),
            now=now,
        )
        email = mapped(claims, provider.claim_mapping, "email")
        verified = mapped(claims, provider.claim_mapping, "email_verified") in (True, "true")
        with self.sessions() as session:
            email = self._check_address(session, flow, row, email if isinstance(email, str) else None, verified)
            guest = guest_by_email(session, row.tenant_id, email) if not flow.email else None
        if not flow.email:  # a button's flow learns who signs in from the provider
            flow.email, flow.user_id = email, guest.id if guest is not None else None
            self.flows.update(flow, email=email, user_id=flow.user_id)
        sub = str(mapped(claims, provider.claim_mapping, "sub") or claims["sub"])
        self._spend(_replay_key("oidc", row.issuer, f"{sub}\x00{started.get('nonce')}"), now + OIDC_LIFETIME, now)
        amr = claims.get("amr")
        home_tenant_id = hospes_home_tenant(row.issuer, claims)
        claimed = isinstance(amr, list) and "mfa" in amr
        trusted = False
        if claimed and home_tenant_id is not None:
            with self.sessions() as session:
                setting = load_guest_policy(session, row.tenant_id).trust_home_mfa
                trusted = home_mfa_trusted(session, row.tenant_id, home_tenant_id, setting=setting)
        identity = {
            "provider": row.id,
            "issuer": row.issuer,
            "sub": sub,
            "email": email,
            "homeTenantId": home_tenant_id,
            "homeObjectId": str(claims.get("oid") or "")[:64] if home_tenant_id else None,
            "mfaClaim": claimed,
            "mfaTrusted": trusted,
        }
        # A trusted claim is a second factor of this sign-in ("mfa"); an untrusted one is only logged.
        data = {**flow.data, "federated": identity, "amr": ["pwd", "mfa"] if trusted else ["pwd"]}
        data.pop("federation", None)
        self.flows.update(flow, verified_method="oidc", verified_at=now, data=data)
