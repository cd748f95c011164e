"""Synchronization secrets (``BaseAddress``, ``SecretToken``, ``SyncNotificationSettings``, ``SyncAll``...) and the
settings a job reads from them. The whole key/value set is one AES-GCM ciphertext bound to the service principal;
nothing here is ever returned by the API."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from hospes.auth.crypto import DecryptionError, SecretBox
from hospes.domain.errors import InvalidInputError
from hospes.settings import Settings

log = logging.getLogger("hospes.provisioning")
PURPOSE = "provisioning-secrets"
DEFAULT_DELETE_THRESHOLD = 500

# The key names of Graph ``synchronizationSecret``.
SECRET_KEYS = frozenset(
    [
        "None",
        "UserName",
        "Password",
        "SecretToken",
        "AppKey",
        "BaseAddress",
        "ClientIdentifier",
        "ClientSecret",
        "SingleSignOnType",
        "Sandbox",
        "Url",
        "Domain",
        "ConsumerKey",
        "ConsumerSecret",
        "TokenKey",
        "TokenExpiration",
        "Oauth2AccessToken",
        "Oauth2AccessTokenCreationTime",
        "Oauth2RefreshToken",
        "SyncAll",
        "InstanceName",
        "Oauth2ClientId",
        "Oauth2ClientSecret",
        "CompanyId",
        "UpdateKeyOnSoftDelete",
        "SynchronizationSchedule",
        "SystemOfRecord",
        "SandboxName",
        "EnforceDomain",
        "SyncNotificationSettings",
        "SkipOutOfScopeDeletions",
        "Oauth2AuthorizationCode",
        "Oauth2RedirectUri",
        "ApplicationTemplateIdentifier",
        "Oauth2TokenExchangeUri",
        "Oauth2AuthorizationUri",
        "AuthenticationType",
        "Server",
        "PerformInboundEntitlementGrants",
        "HardDeletesEnabled",
        "SyncAgentCompatibilityKey",
        "SyncAgentADContainer",
        "ValidateDomain",
        "TestReferences",
        "ConnectionString",
    ]
)

# Job settings (``synchronizationJobSettings``) Hospes understands, with their defaults.
JOB_SETTINGS = {
    "QuarantineTooManyDeletesThreshold": str(DEFAULT_DELETE_THRESHOLD),
    "PatchCompatibility": "rfc",  # rfc | entra (the reference service's non-standard PATCH shape)
    "Concurrency": "",  # empty: HOSPES_PROVISIONING_CONCURRENCY
    "MemberChunkSize": "",  # empty: from the target's discovery, else 100
}


def seal(box: SecretBox, sp_id: str, values: dict[str, str]) -> str:
    return box.encrypt(PURPOSE, json.dumps(values, sort_keys=True).encode(), context=sp_id)


def unseal(box: SecretBox, sp_id: str, sealed: str | None) -> dict[str, str]:
    if not sealed:
        return {}
    try:
        data = json.loads(box.decrypt(PURPOSE, sealed, context=sp_id))
    except (DecryptionError, ValueError):
        # Another deployment key (HOSPES_SECRET_KEY / secret.key) than the one that sealed them: the job shows
        # as NotConfigured until the secrets are entered again.
        log.warning("the provisioning secrets of service principal %s cannot be decrypted with this key", sp_id)
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def normalize_secrets(values: Any) -> dict[str, str]:
    """Accept ``{"value": [{key, value}]}``, a list of pairs, or a plain dict; refuse unknown keys."""
    if isinstance(values, dict) and "value" in values and isinstance(values["value"], list):
        values = values["value"]
    pairs: dict[str, str] = {}
    if isinstance(values, list):
        for item in values:
            if not isinstance(item, dict) or "key" not in item:
                raise InvalidInputError("Each secret must be an object with 'key' and 'value'.", target="value")
            pairs[str(item["key"])] = "" if item.get("value") is None else str(item["value"])
    elif isinstance(values, dict):
        pairs = {str(k): "" if v is None else str(v) for k, v in values.items()}
    else:
        raise InvalidInputError("Secrets must be a list of key/value pairs.", target="value")
    unknown = sorted(set(pairs) - SECRET_KEYS)
    if unknown:
        raise InvalidInputError(f"Unknown synchronization secret: {', '.join(unknown)}.", target="key")
    return pairs


def _truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("true", "1", "yes")


@dataclass
class JobConfig:
    base_address: str = ""
    token: str = ""
    auth: str = "bearer"
    token_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    sync_all: bool = False
    skip_out_of_scope_deletions: bool = False
    notify: bool = False
    recipients: list[str] = field(default_factory=list)
    delete_threshold_enabled: bool = True
    delete_threshold: int = DEFAULT_DELETE_THRESHOLD
    compat: str = "rfc"
    concurrency: int = 8
    member_chunk: int = 0
    # Cross-tenant synchronization (``AuthenticationType=SyncPolicy``, ``CompanyId``): the target tenant in this
    # deployment, and the job's own tenant (set by whoever builds the config for a job).
    target_tenant: str = ""
    source_tenant: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.base_address or self.target_tenant)

    @property
    def remote(self) -> bool:
        """Cross-tenant synchronization into another deployment (over Graph), not into this one."""
        return self.cross_tenant and bool(self.base_address)

    @property
    def cross_tenant(self) -> bool:
        """Leaving scope soft-deletes the target user (instead of disabling it), and a disabled source user is
        an update of ``accountEnabled``, not a reason to leave scope."""
        return bool(self.target_tenant)

    @classmethod
    def build(cls, secrets: dict[str, str], job_settings: dict[str, str], settings: Settings) -> JobConfig:
        config = cls(
            base_address=secrets.get("BaseAddress", "").strip(),
            token=secrets.get("SecretToken", ""),
            sync_all=_truthy(secrets.get("SyncAll")),
            skip_out_of_scope_deletions=_truthy(secrets.get("SkipOutOfScopeDeletions")),
            concurrency=settings.provisioning_concurrency,
        )
        auth = secrets.get("AuthenticationType", "").lower()
        if auth == "syncpolicy":
            config.target_tenant = secrets.get("CompanyId", "").strip().lower()
            config.skip_out_of_scope_deletions = False  # cross-tenant sync ignores SkipOutOfScopeDeletions
            # With a BaseAddress the target tenant is in another Hospes deployment, reached over its Graph API
            # with the client credentials of an app registered in that tenant.
            config.client_id = (secrets.get("ClientIdentifier") or secrets.get("Oauth2ClientId") or "").strip()
            config.client_secret = secrets.get("ClientSecret") or secrets.get("Oauth2ClientSecret") or ""
        elif auth in ("oauth2clientcredentials", "oauth2", "clientcredentials") or (
            secrets.get("Oauth2ClientId") and secrets.get("Oauth2TokenExchangeUri") and not config.token
        ):
            config.auth = "oauth2"
            config.token_url = secrets.get("Oauth2TokenExchangeUri", "")
            config.client_id = secrets.get("Oauth2ClientId") or secrets.get("ClientIdentifier", "")
            config.client_secret = secrets.get("Oauth2ClientSecret") or secrets.get("ClientSecret", "")
        try:
            notice = json.loads(secrets.get("SyncNotificationSettings") or "{}")
        except ValueError:
            notice = {}
        if isinstance(notice, dict):
            config.notify = bool(notice.get("Enabled", False))
            recipients = str(notice.get("Recipients") or "")
            config.recipients = [r.strip() for r in recipients.replace(",", ";").split(";") if "@" in r]
            if "DeleteThresholdEnabled" in notice:
                config.delete_threshold_enabled = bool(notice["DeleteThresholdEnabled"])
            if notice.get("DeleteThresholdValue"):
                config.delete_threshold = _int(notice["DeleteThresholdValue"], config.delete_threshold)
        merged = {**JOB_SETTINGS, **job_settings}
        if job_settings.get("QuarantineTooManyDeletesThreshold"):
            config.delete_threshold = _int(merged["QuarantineTooManyDeletesThreshold"], config.delete_threshold)
        config.compat = "entra" if merged["PatchCompatibility"].strip().lower() == "entra" else "rfc"
        if merged["Concurrency"]:
            config.concurrency = max(1, min(_int(merged["Concurrency"], config.concurrency), 64))
        if merged["MemberChunkSize"]:
            config.member_chunk = max(1, min(_int(merged["MemberChunkSize"], 100), 1000))
        return config


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return default
