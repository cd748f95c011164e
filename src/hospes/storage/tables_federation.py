"""Tables of guests' own identity providers; created by migrations only.

* ``external_identity_providers``: one row per SAML direct federation (``kind`` saml) or OpenID provider
  (``kind`` oidc) of a tenant. ``settings`` holds the kind's Graph properties (the partner's public certificate
  included); an OpenID provider's client secret is sealed (``SecretBox``) in ``client_secret_sealed``.
* ``external_federation_domains``: the email domains bound to a provider; a domain names one provider per tenant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hospes.domain.clock import utcnow
from hospes.storage.tables import Base, JsonType, UtcDateTime


class ExternalIdentityProvider(Base):
    __tablename__ = "external_identity_providers"
    __table_args__ = (Index("ix_external_identity_providers_tenant", "tenant_id", "created_at", "id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # saml | oidc
    display_name: Mapped[str] = mapped_column(String(256))
    issuer: Mapped[str] = mapped_column(String(2048))
    settings: Mapped[dict[str, Any]] = mapped_column(JsonType)
    client_secret_sealed: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ExternalFederationDomain(Base):
    __tablename__ = "external_federation_domains"
    __table_args__ = (Index("ix_external_federation_domains_provider", "provider_id"),)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("external_identity_providers.id", ondelete="CASCADE"))
