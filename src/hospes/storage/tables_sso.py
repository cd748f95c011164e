"""Tables of single sign-on (OpenID Connect and SAML); created by migrations only.

* ``key_credentials``: certificates. On an application (``application_id``): the client's certificates for
  ``private_key_jwt`` client assertions (public half only). On a service principal (``service_principal_id``):
  SAML token-signing certificates (the private key sealed with the deployment's SecretBox) and the certificates
  that verify a service provider's signed requests.
* ``oauth2_permission_grants``: delegated consent — a client may act for one user (``Principal``) or for every user
  (``AllPrincipals``, admin consent) on a resource, with these scopes.
* ``authorization_codes``: OAuth codes, kept only as SHA-256 hashes; single use, short-lived. ``family_id`` names
  the refresh-token family the exchange started, revoked when the code is presented again.
* ``refresh_tokens``: hashes only; rotated on each use. A token used twice revokes its whole ``family_id``.
* ``sso_participants``: which apps a browser session (its ``sid``) signed into, and with which SAML NameID and
  SessionIndex, so signing out reaches every one of them.
* ``sign_ins``: the sign-in log (Graph ``signIn``): every interactive and token sign-in to an app, success or
  failure with its AADSTS code.

One-use identifiers (SAML AuthnRequest ids, client-assertion ``jti``) go to ``used_assertions`` (redemption area),
keyed by the SHA-256 of a purpose-qualified value, kept until they expire.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from hospes.domain.clock import utcnow
from hospes.storage.tables import Base, JsonType, UtcDateTime


class KeyCredential(Base):
    __tablename__ = "key_credentials"
    __table_args__ = (
        Index("ix_key_credentials_application", "application_id"),
        Index("ix_key_credentials_service_principal", "service_principal_id"),
    )
    key_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    application_id: Mapped[str | None] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    service_principal_id: Mapped[str | None] = mapped_column(ForeignKey("service_principals.id", ondelete="CASCADE"))
    # client_assertion (app) | token_signing | request_verification (service principal)
    purpose: Mapped[str] = mapped_column(String(24))
    type: Mapped[str] = mapped_column(String(32), default="AsymmetricX509Cert")
    usage: Mapped[str] = mapped_column(String(8), default="Verify")  # Verify | Sign (as Graph shows it)
    display_name: Mapped[str | None] = mapped_column(String(256))
    custom_key_identifier: Mapped[str | None] = mapped_column(String(128))
    certificate: Mapped[str] = mapped_column(Text)  # base64 DER
    thumbprint: Mapped[str] = mapped_column(String(40))  # SHA-1 of the DER, upper-case hex (Entra's thumbprint)
    private_key: Mapped[str | None] = mapped_column(Text)  # sealed PKCS#8; only for token_signing
    start_at: Mapped[datetime] = mapped_column(UtcDateTime)
    end_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class OAuth2PermissionGrant(Base):
    __tablename__ = "oauth2_permission_grants"
    __table_args__ = (Index("ix_oauth2_permission_grants_client", "tenant_id", "client_id", "resource_id"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(ForeignKey("service_principals.id", ondelete="CASCADE"))
    consent_type: Mapped[str] = mapped_column(String(16))  # AllPrincipals | Principal
    principal_id: Mapped[str | None] = mapped_column(String(36))  # the user, when consent_type is Principal
    resource_id: Mapped[str] = mapped_column(ForeignKey("service_principals.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(Text, default="")  # space-separated delegated permission values
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AuthorizationCode(Base):
    __tablename__ = "authorization_codes"
    __table_args__ = (Index("ix_authorization_codes_expires", "expires_at"),)
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(36))  # the app id
    user_id: Mapped[str] = mapped_column(String(36))
    sid: Mapped[str] = mapped_column(String(64))  # the browser session that signed in
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    scope: Mapped[str] = mapped_column(Text, default="")
    nonce: Mapped[str | None] = mapped_column(String(512))
    code_challenge: Mapped[str | None] = mapped_column(String(128))  # S256 only
    auth_time: Mapped[datetime] = mapped_column(UtcDateTime)
    amr: Mapped[list[str]] = mapped_column(JsonType, default=list)
    family_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_family", "family_id"),
        Index("ix_refresh_tokens_user", "tenant_id", "user_id"),
        Index("ix_refresh_tokens_expires", "expires_at"),
    )
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    family_id: Mapped[str] = mapped_column(String(36))
    client_id: Mapped[str] = mapped_column(String(36))  # the app id
    user_id: Mapped[str] = mapped_column(String(36))
    sid: Mapped[str | None] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text, default="")
    auth_time: Mapped[datetime] = mapped_column(UtcDateTime)
    amr: Mapped[list[str]] = mapped_column(JsonType, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Obtained by a public client (no credential): only then may it be refreshed without one.
    public_client: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SsoParticipant(Base):
    __tablename__ = "sso_participants"
    __table_args__ = (Index("ix_sso_participants_tenant_user", "tenant_id", "user_id"),)
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    protocol: Mapped[str] = mapped_column(String(8), primary_key=True)  # oidc | saml
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(36))
    name_id: Mapped[str | None] = mapped_column(String(512))  # SAML: what the service provider knows the user by
    name_id_format: Mapped[str | None] = mapped_column(String(128))
    session_index: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SignIn(Base):
    __tablename__ = "sign_ins"
    __table_args__ = (
        Index("ix_sign_ins_tenant_created", "tenant_id", "created_at", "id"),  # retention
        # Listings (newest first, interactive unless the filter says): what a filter pins, then the keyset.
        Index("ix_sign_ins_tenant_interactive_created", "tenant_id", "is_interactive", "created_at", "id"),
        Index("ix_sign_ins_tenant_user_created", "tenant_id", "user_id", "is_interactive", "created_at", "id"),
        Index("ix_sign_ins_tenant_app_created", "tenant_id", "app_id", "is_interactive", "created_at", "id"),
        Index("ix_sign_ins_tenant_error_created", "tenant_id", "error_code", "is_interactive", "created_at", "id"),
        Index(
            "ix_sign_ins_tenant_access_created",
            "tenant_id",
            "conditional_access_status",
            "is_interactive",
            "created_at",
            "id",
        ),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))  # the resource tenant
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    user_id: Mapped[str | None] = mapped_column(String(36))  # None: the name given matched no account
    user_principal_name: Mapped[str | None] = mapped_column(String(1024))
    user_display_name: Mapped[str | None] = mapped_column(String(256))
    user_type: Mapped[str | None] = mapped_column(String(16))  # Member | Guest
    home_tenant_id: Mapped[str | None] = mapped_column(String(36))  # a guest's home tenant, if it is one of ours
    app_id: Mapped[str | None] = mapped_column(String(36))
    app_display_name: Mapped[str | None] = mapped_column(String(256))
    resource_display_name: Mapped[str | None] = mapped_column(String(256))
    # oidc | saml | web (Hospes's own pages) | password | clientCredentials | refreshToken
    protocol: Mapped[str] = mapped_column(String(24))
    is_interactive: Mapped[bool] = mapped_column(Boolean, default=True)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[int] = mapped_column(Integer, default=0)  # 0: success, else the AADSTS number
    failure_reason: Mapped[str | None] = mapped_column(Text)
    conditional_access_status: Mapped[str] = mapped_column(String(16), default="notApplied")
    details: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)  # applied policies, amr, ...
