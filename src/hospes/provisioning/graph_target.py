"""Cross-tenant synchronization into a tenant of **another** Hospes deployment, over its Graph API: the same
``Connector`` as ``directory.py`` (target paths are Graph user property names, the same anchor, the same soft
deletion), so the engine cannot tell them apart.

The job's secrets name the other deployment (``BaseAddress``), the target tenant (``CompanyId``) and an app
registered there (``ClientIdentifier``/``ClientSecret``, granted ``User.ReadWrite.All`` and ``Policy.Read.All``);
its token comes from the target's ``/{tenant}/oauth2/v2.0/token`` (client credentials) and is cached per app
until shortly before it expires. Requests go through the SSRF guard like SCIM's.

* create: ``POST /invitations`` redeemed automatically (no email, no consent page) carrying the anchor in
  ``invitedUser.alternativeSecurityIds``; the target refuses it unless it allows the partner's sync;
* match: ``$filter=alternativeSecurityIds/any(...)`` on users, then on deleted users (a return restores), then
  an existing B2B guest with the source user's mail that no synchronization owns (linked by an invitation naming
  it, not duplicated; its userType changes only when the mapping says Always);
* update: ``PATCH /users/{id}``; leaving scope: ``DELETE`` (soft); returning: ``/directory/deletedItems/{id}/restore``;
* drift: the target's ``/users/delta`` (``graph_drift``) names the users the engine compares and repairs.

Refusals become quarantine: 401/403, a policy the target withdrew (read from its partner settings at each
pass's start), and a ``Retry-After`` longer than the engine waits inline (a quota).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.alt_sec_id import ANCHOR_TYPE
from hospes.provisioning import graph_drift
from hospes.provisioning.answers import MAX_ANSWER_BYTES, AnswerTooLargeError, send_capped
from hospes.provisioning.connector import (
    Capabilities,
    Change,
    ConflictError,
    CredentialsError,
    PermanentError,
    TargetNotFoundError,
    TargetObject,
    TransientError,
)
from hospes.provisioning.directory import ANCHOR, ANCHOR_PREFIX, MANAGER, SOFT_DELETED, UPN, WRITABLE
from hospes.provisioning.scim import _retry_after
from hospes.provisioning.ssrf import GuardedTransport, OutboundBlockedError, OutboundPolicy
from hospes.services.cross_tenant_policy import NO_AUTO_REDEEM, NO_INBOUND_SYNC, POLICY_CHECK_FAILURE, outbound_refusal
from hospes.storage.tables import User

log = logging.getLogger("hospes.provisioning")
_PLAIN = "AzureActiveDirectory"
SCOPE = "https://graph.microsoft.com/.default"
# What a match reads back (the attributes the engine compares, the anchor, and what tells a guest).
_SELECT = ",".join(
    ("id", "alternativeSecurityIds", "userPrincipalName", "userType", "creationType", "deletedDateTime", *WRITABLE)
)
_INVITABLE = frozenset(WRITABLE) - {"mail", "userType"}
_BOOLEANS = ("accountEnabled", "showInAddressList")
_BOOLEAN_TEXT = {"true": True, "false": False}

# Tokens and policy answers outlive one connector (the engine opens one per pass): keyed by target and app.
_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
_cache_lock = threading.Lock()


@dataclass
class GraphTargetConfig:
    base_url: str  # the other deployment's address (its public URL); "/v1.0" may follow
    tenant: str  # the target tenant's id
    client_id: str
    client_secret: str
    source_tenant: str
    timeout: float = 30.0
    concurrency: int = 8
    max_attempts: int = 4
    max_wait: float = 30.0  # longest Retry-After honoured inline; a longer one is a quota: quarantine
    max_answer_bytes: int = MAX_ANSWER_BYTES


def _key(anchor: str) -> str:
    return base64.b64encode(anchor.removeprefix(ANCHOR_PREFIX).encode()).decode("ascii")


def _quote(value: str) -> str:
    return value.replace("'", "''")


def _graph_error(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json().get("error") or {}
        return str(error.get("code") or ""), str(error.get("message") or "")[:500]
    except (ValueError, AttributeError):
        return "", response.text[:300] or response.reason_phrase


class GraphConnector:
    name = "graph"

    def __init__(
        self,
        config: GraphTargetConfig,
        sessions: sessionmaker[Session],
        policy: OutboundPolicy,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config, self.sessions = config, sessions
        if not config.tenant or not config.client_id or not config.client_secret:
            raise PermanentError(
                "InvalidCredentials",
                "Cross-tenant synchronization into another deployment needs CompanyId (the target tenant), "
                "ClientIdentifier and ClientSecret (an app registered in the target tenant).",
                prefix=_PLAIN,
            )
        try:
            base = policy.check_url(config.base_url)
        except OutboundBlockedError as exc:
            raise PermanentError("InvalidBaseAddress", str(exc), prefix=_PLAIN) from None
        root = str(base.url.copy_with(query=None, fragment=None)).rstrip("/")
        self.root = root.removesuffix("/v1.0")
        self.graph = f"{self.root}/v1.0"
        self.token_url = f"{self.root}/{config.tenant}/oauth2/v2.0/token"
        secret_digest = hashlib.sha256(config.client_secret.encode()).hexdigest()
        self._token_key = (self.token_url, config.client_id, secret_digest)
        self._client = httpx.Client(
            transport=GuardedTransport(policy, transport),
            timeout=config.timeout,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "Hospes-CrossTenantSync/1.0"},
            limits=httpx.Limits(max_connections=config.concurrency, max_keepalive_connections=config.concurrency),
        )
        self.requests = 0

    # -- transport --------------------------------------------------------------------------------------------

    def close(self) -> None:
        self._client.close()

    def _token(self, refresh: bool = False) -> str:
        with _cache_lock:
            cached = _tokens.get(self._token_key)
        if cached is not None and not refresh and time.time() < cached[1]:
            return cached[0]
        form = {
            "grant_type": "client_credentials",
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret,
            "scope": SCOPE,
        }
        try:
            request = self._client.build_request("POST", self.token_url, data=form)
            response = send_capped(self._client, request, self.config.max_answer_bytes)
        except OutboundBlockedError as exc:
            raise PermanentError("InvalidBaseAddress", str(exc), prefix=_PLAIN) from None
        except AnswerTooLargeError as exc:
            raise PermanentError("ResponseTooLarge", f"{self.token_url}: {exc}", prefix=_PLAIN) from None
        except httpx.HTTPError as exc:
            raise TransientError(
                "TokenEndpointUnreachable", f"{self.token_url}: connection failed ({type(exc).__name__})", prefix=_PLAIN
            ) from None
        if response.status_code >= 500 or response.status_code == 429:
            retry = _retry_after(response.headers.get("Retry-After"))
            raise TransientError(
                "TokenEndpointError", f"token endpoint returned {response.status_code}", response.status_code, retry
            )
        try:
            body = response.json()
            token = str(body["access_token"])
        except (ValueError, KeyError, TypeError):
            try:
                detail = str(response.json().get("error_description") or "")[:300]
            except (ValueError, AttributeError):
                detail = ""
            raise CredentialsError(
                "InvalidCredentials",
                f"the target tenant's token endpoint refused the app's client credentials "
                f"({response.status_code}){': ' + detail if detail else ''}",
                response.status_code,
                prefix=_PLAIN,
            ) from None
        lifetime = float(body.get("expires_in") or 3600)
        with _cache_lock:
            _tokens[self._token_key] = (token, time.time() + max(lifetime - 60, lifetime / 2))
        return token

    def request(
        self, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None, idempotent: bool = True
    ) -> httpx.Response:
        """One logical request; transient failures retried (with ``Retry-After``) when ``idempotent``; a token
        the target no longer takes is fetched again once."""
        attempt, refreshed = 0, False
        while True:
            attempt += 1
            try:
                return self._once(method, path, body, params, refreshed)
            except CredentialsError as exc:
                if exc.status == 401 and not refreshed:
                    refreshed = True
                    continue
                raise
            except TransientError as exc:
                if not idempotent or attempt >= self.config.max_attempts:
                    raise
                time.sleep(exc.retry_after if exc.retry_after is not None else 0.2 * 2 ** (attempt - 1))

    def _once(self, method: str, path: str, body: Any, params: dict[str, str] | None, refresh: bool) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._token(refresh)}"}
        self.requests += 1
        try:
            request = self._client.build_request(method, self.graph + path, json=body, params=params, headers=headers)
            response = send_capped(self._client, request, self.config.max_answer_bytes)
        except OutboundBlockedError as exc:
            raise PermanentError("InvalidBaseAddress", str(exc), prefix=_PLAIN) from None
        except AnswerTooLargeError as exc:
            raise PermanentError("ResponseTooLarge", f"{method} {path}: {exc}", prefix=_PLAIN) from None
        except httpx.TimeoutException:
            message = f"{method} {path}: the target did not answer in time"
            raise TransientError("Timeout", message, prefix=_PLAIN) from None
        except httpx.TransportError as exc:
            raise TransientError(
                "ConnectionFailed", f"{method} {path}: connection failed ({type(exc).__name__})", prefix=_PLAIN
            ) from None
        status = response.status_code
        if status < 400:
            return response
        code, detail = _graph_error(response)
        message = f"{method} {path} returned {status}: {code + ' ' if code else ''}{detail}".strip()
        if code == POLICY_CHECK_FAILURE:
            raise CredentialsError(POLICY_CHECK_FAILURE, detail or NO_INBOUND_SYNC, status, prefix="")
        if status == 429:
            retry = _retry_after(response.headers.get("Retry-After"))
            if retry is not None and retry > self.config.max_wait:
                raise CredentialsError(
                    "QuotaLimitExceeded", f"{message} (the target asks to wait {int(retry)} s)", status, prefix=_PLAIN
                )
            raise TransientError("TooManyRequests", message, status, retry, prefix=_PLAIN)
        if status >= 500:
            raise TransientError(
                "ServiceUnavailable", message, status, _retry_after(response.headers.get("Retry-After")), prefix=_PLAIN
            )
        if status == 401:
            raise CredentialsError("Unauthorized", message, status, prefix=_PLAIN)
        if status == 403:
            raise CredentialsError("Forbidden", message, status, prefix=_PLAIN)
        if status == 404:
            raise TargetNotFoundError("InvalidAnchor", message, status, prefix=_PLAIN)
        if status == 409:
            raise ConflictError("Conflict", message, status, prefix=_PLAIN)
        code = "InvalidPropertyValue" if status == 400 else f"Http{status}"
        raise PermanentError(code, message, status, prefix=_PLAIN)

    def json_of(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise PermanentError("ServiceIncompatible", "the target answered something that is not a JSON object")
        return data

    def _list(self, path: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        data = self.json_of(self.request("GET", path, params=params))
        while True:
            for item in data.get("value") or []:
                if isinstance(item, dict):
                    yield item
            link = data.get("@odata.nextLink")
            if not isinstance(link, str) or not link.startswith(self.graph + "/"):
                return
            data = self.json_of(self.request("GET", link.removeprefix(self.graph)))

    # -- the policy -------------------------------------------------------------------------------------------

    def _check_policy(self) -> None:
        """Both halves of the pair's policy: the source's (read here) and the target's (read over Graph, at the
        start of every pass that has work, so a target that withdraws stops the next change)."""
        with self.sessions() as session:
            refusal = outbound_refusal(session, self.config.source_tenant, self.config.tenant)
        if refusal is not None:
            raise CredentialsError(POLICY_CHECK_FAILURE, refusal, prefix="")
        partner = f"/policies/crossTenantAccessPolicy/partners/{self.config.source_tenant}"
        try:
            sync = self.json_of(self.request("GET", f"{partner}/identitySynchronization"))
            settings = self.json_of(self.request("GET", partner))
        except TargetNotFoundError:
            raise CredentialsError(POLICY_CHECK_FAILURE, NO_INBOUND_SYNC, 404, prefix="") from None
        except CredentialsError as exc:
            if exc.status == 403:
                raise CredentialsError(
                    "Forbidden",
                    "the app cannot read the target tenant's cross-tenant access settings: grant it Policy.Read.All "
                    "(and User.ReadWrite.All) in the target tenant",
                    403,
                    prefix=_PLAIN,
                ) from None
            raise
        inbound = sync.get("userSyncInbound") if isinstance(sync.get("userSyncInbound"), dict) else {}
        if not (inbound or {}).get("isSyncAllowed"):
            raise CredentialsError(POLICY_CHECK_FAILURE, NO_INBOUND_SYNC, prefix="")
        consent = settings.get("automaticUserConsentSettings") or {}
        if not isinstance(consent, dict) or consent.get("inboundAllowed") is not True:
            raise CredentialsError(POLICY_CHECK_FAILURE, NO_AUTO_REDEEM, prefix="")

    # -- the connector ----------------------------------------------------------------------------------------

    def discover(self) -> Capabilities:
        self._check_policy()
        return Capabilities(etag=False, filter=True, max_results=500, patch=True)

    def test(self) -> None:
        self._token(refresh=True)
        self._check_policy()
        # The app must be able to read users (the probe of an anchor that cannot exist).
        self.request("GET", "/users", params={"$filter": self._anchor_filter(f"{ANCHOR_PREFIX}0"), "$select": "id"})

    @staticmethod
    def _kind(kind: str) -> None:
        if kind != "user":
            raise PermanentError("NotSupported", "Cross-tenant synchronization provisions users only", prefix=_PLAIN)

    @staticmethod
    def _anchor_filter(anchor: str) -> str:
        return f"alternativeSecurityIds/any(x:x/type eq {ANCHOR_TYPE} and x/key eq '{_key(anchor)}')"

    def wire(self, item: dict[str, Any], deleted: bool = False) -> TargetObject:
        data = {name: item.get(name) for name in WRITABLE}
        data["businessPhones"] = item.get("businessPhones") or []
        ids = item.get("alternativeSecurityIds") or []
        key = ids[0].get("key") if ids and isinstance(ids[0], dict) else None
        try:
            data[ANCHOR] = f"{ANCHOR_PREFIX}{base64.b64decode(key).decode()}" if key else None
        except ValueError:
            data[ANCHOR] = None
        data[SOFT_DELETED] = deleted or bool(item.get("deletedDateTime"))
        data["id"], data[UPN] = item.get("id"), item.get("userPrincipalName")
        target_id = item.get("id")
        if not isinstance(target_id, str) or not target_id:
            raise PermanentError("ServiceIncompatible", "the target returned a user without an id", prefix=_PLAIN)
        return TargetObject(target_id, None, data)

    def find(self, kind: str, path: str, value: Any) -> list[TargetObject]:
        self._kind(kind)
        if path != ANCHOR:
            raise PermanentError("SchemaInvalid", f"Users are matched on {ANCHOR} only", prefix=_PLAIN)
        anchor = str(value)
        params = {"$filter": self._anchor_filter(anchor), "$select": _SELECT}
        found = [self.wire(item) for item in self._list("/users", params)]
        if not found:
            found = [self.wire(i, True) for i in self._list("/directory/deletedItems/microsoft.graph.user", params)]
        if found:
            return found
        with self.sessions() as session:
            mail = session.scalar(
                select(User.mail).where(
                    User.tenant_id == self.config.source_tenant, User.id == anchor.removeprefix(ANCHOR_PREFIX)
                )
            )
        if not mail:
            return []
        guests = self._list("/users", {"$filter": f"mail eq '{_quote(mail)}'", "$select": _SELECT})
        for item in guests:
            is_b2b = item.get("userType") == "Guest" or item.get("creationType") == "Invitation"
            if is_b2b and not item.get("alternativeSecurityIds"):
                return [self.wire(item)]
        return []

    def scan(self, kind: str, paths: list[str]) -> Iterator[TargetObject]:
        self._kind(kind)
        params = {"$select": _SELECT, "$top": "999"}
        for item in self._list("/users", params):
            if item.get("alternativeSecurityIds"):
                yield self.wire(item)
        for item in self._list("/directory/deletedItems/microsoft.graph.user", params):
            if item.get("alternativeSecurityIds"):
                yield self.wire(item, True)

    def get(self, kind: str, target_id: str, paths: list[str] | None = None) -> TargetObject | None:
        self._kind(kind)
        for path, deleted in ((f"/users/{target_id}", False), (f"/directory/deletedItems/{target_id}", True)):
            try:
                return self.wire(self.json_of(self.request("GET", path, params={"$select": _SELECT})), deleted)
            except TargetNotFoundError:
                continue
        return None

    def resource(self, kind: str, values: dict[str, Any]) -> dict[str, Any]:
        return dict(values)

    @staticmethod
    def _patch_body(values: dict[str, Any]) -> dict[str, Any]:
        """Mapped values -> a Graph user PATCH body (the anchor, soft deletion and UPN are handled apart; the
        manager is a reference this connector does not write)."""
        body: dict[str, Any] = {}
        for name, value in values.items():
            if name in (ANCHOR, SOFT_DELETED, UPN, MANAGER):
                continue
            if name not in WRITABLE:
                raise PermanentError(
                    "InvalidPropertyValue", f"'{name}' is not a user property synchronization can write", prefix=_PLAIN
                )
            if name == "businessPhones":
                value = [] if value in (None, "") else value if isinstance(value, list) else [str(value)]
            elif name in _BOOLEANS:
                if isinstance(value, str):
                    value = _BOOLEAN_TEXT.get(value.strip().lower())
                if value is None:
                    continue
            elif isinstance(value, list):
                value = value[0] if value else None
            body[name] = value
        return body

    def _anchor_item(self, anchor: str) -> dict[str, Any]:
        return {"type": ANCHOR_TYPE, "identityProvider": self.config.source_tenant, "key": _key(anchor)}

    def create(self, kind: str, resource: dict[str, Any]) -> TargetObject:
        self._kind(kind)
        anchor = resource.get(ANCHOR)
        if not anchor:
            raise PermanentError("InvalidPropertyValue", f"{ANCHOR} is required", prefix=_PLAIN)
        address = resource.get("mail") or resource.get(UPN)
        if not address or "@" not in str(address):
            raise PermanentError("InvalidPropertyValue", "A synchronized user needs a mail or UPN", prefix=_PLAIN)
        body = self._patch_body(resource)
        invited = {name: value for name, value in body.items() if name in _INVITABLE}
        invitation = {
            "invitedUserEmailAddress": str(address),
            "invitedUserDisplayName": body.get("displayName"),
            "invitedUserType": body.get("userType") or "Member",
            "inviteRedirectUrl": f"{self.root}/{self.config.tenant}/myapps",
            "sendInvitationMessage": False,
            "invitedUser": {"alternativeSecurityIds": [self._anchor_item(str(anchor))], **invited},
        }
        # Not retried blindly: the engine matches on the anchor again before another create.
        answer = self.json_of(self.request("POST", "/invitations", body=invitation, idempotent=False))
        user = answer.get("invitedUser") or {}
        target_id = user.get("id") if isinstance(user, dict) else None
        if not isinstance(target_id, str) or not target_id:
            raise PermanentError("ServiceIncompatible", "the invitation answer names no user", prefix=_PLAIN)
        return TargetObject(target_id, None, {})

    def update(self, kind: str, target_id: str, changes: list[Change], version: str | None) -> str | None:
        self._kind(kind)
        by_path = {change.path: change.new for change in changes}
        anchor = by_path.get(ANCHOR)
        if SOFT_DELETED in by_path and not by_path[SOFT_DELETED]:
            # Not in deleted items: the PATCH below finds whether it exists at all.
            with contextlib.suppress(TargetNotFoundError):
                self.request("POST", f"/directory/deletedItems/{target_id}/restore")
        if anchor:
            # Linking an existing guest matched by mail: the invitation names it, redeemed automatically.
            current = self.get(kind, target_id)
            if current is None:
                raise TargetNotFoundError("InvalidAnchor", f"user {target_id} is gone from the target", 404)
            link = {
                "invitedUserEmailAddress": current.data.get("mail") or by_path.get("mail") or "",
                "inviteRedirectUrl": f"{self.root}/{self.config.tenant}/myapps",
                "sendInvitationMessage": False,
                "invitedUser": {"id": target_id, "alternativeSecurityIds": [self._anchor_item(str(anchor))]},
            }
            self.request("POST", "/invitations", body=link)
        body = self._patch_body(by_path)
        if body:
            try:
                self.request("PATCH", f"/users/{target_id}", body=body)
            except TargetNotFoundError:
                if self.get(kind, target_id) is not None:  # in the target's deleted items: its admin deleted it
                    raise PermanentError(
                        "ObjectDeletedInTarget",
                        f"User {target_id} was deleted in the target tenant; synchronization does not restore it.",
                        404,
                        prefix=_PLAIN,
                    ) from None
                raise
        return None

    def delete(self, kind: str, target_id: str, version: str | None) -> None:
        self._kind(kind)
        try:
            self.request("DELETE", f"/users/{target_id}")
        except TargetNotFoundError:
            return  # already gone: deleting again is not an error for synchronization

    def change_members(self, target_id: str, add: list[str], remove: list[str], version: str | None) -> str | None:
        raise PermanentError("NotSupported", "Cross-tenant synchronization provisions users only", prefix=_PLAIN)

    def members(self, target_id: str) -> list[str] | None:
        return None

    drift = graph_drift.read  # the optional ``DriftFeed`` capability: the target's ``/users/delta``

    def schema_documents(self) -> dict[str, list[dict[str, Any]]] | None:
        return None
