"""SCIM 2.0 connector (RFC 7643/7644) over httpx, with scim2-models for discovery and error documents.

* Auth: a static bearer token (``SecretToken``) or OAuth 2.0 client credentials (token fetched through the same
  SSRF-guarded transport, cached until shortly before expiry, refreshed once on a 401).
* Discovery: ``/ServiceProviderConfig`` gives ETag support, filter limits and bulk/patch support; ``/Schemas``
  and ``/ResourceTypes`` the target's attributes, for the mapping editor (``target_schema``).
* Concurrency: at most ``concurrency`` requests in flight per target; a 429 pauses *every* request to that target
  for its ``Retry-After`` (adaptive, instead of hammering a throttling target with the other workers).
* Errors are classified: 429/5xx/timeouts/dropped connections are transient (retried here for idempotent
  requests, then escrowed by the engine); 401/403 are credential failures (quarantine); other 4xx are permanent.
  A POST is never retried blindly: the engine re-matches first, so a create whose response was lost is linked,
  not duplicated.
* PATCH bodies are built by ``scim_patch`` (RFC 7644, or the reference service's shape with ``compat="entra"``).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from scim2_models import Error as ScimErrorDoc
from scim2_models import ServiceProviderConfig

from hospes.provisioning import mapping
from hospes.provisioning.answers import MAX_ANSWER_BYTES, AnswerTooLargeError, send_capped
from hospes.provisioning.connector import (
    Capabilities,
    Change,
    ComplianceError,
    ConflictError,
    ConnectorError,
    CredentialsError,
    PermanentError,
    TargetNotFoundError,
    TargetObject,
    TransientError,
)
from hospes.provisioning.paths import filter_literal, parse_path
from hospes.provisioning.scim_patch import member_operations, patch_operations
from hospes.provisioning.ssrf import GuardedTransport, OutboundBlockedError, OutboundPolicy

log = logging.getLogger("hospes.provisioning.scim")

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
_ENDPOINT = {"user": "/Users", "group": "/Groups"}
_MEDIA = "application/scim+json"
COMPAT_FLAG = "aadOptscim062020"


@dataclass
class ScimConfig:
    base_url: str
    token: str = ""
    auth: str = "bearer"  # bearer | oauth2
    token_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    scope: str = ""
    compat: str = "rfc"  # rfc | entra
    concurrency: int = 8
    timeout: float = 30.0
    max_attempts: int = 4
    max_wait: float = 30.0  # longest Retry-After honoured inline; longer ones escrow the object
    member_chunk: int = 0  # 0: from discovery (bulk maxOperations) or 100
    max_answer_bytes: int = MAX_ANSWER_BYTES


def _split_base(url: httpx.URL) -> str:
    """Drop a query string such as ``?aadOptscim062020`` (a flag of the reference service, not part of paths)."""
    return str(url.copy_with(raw_path=url.raw_path.split(b"?", 1)[0].rstrip(b"/"), fragment=None))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _error_detail(response: httpx.Response) -> str:
    try:
        doc = ScimErrorDoc.model_validate(response.json())
        detail = doc.detail or ""
        if doc.scim_type:
            detail = f"{doc.scim_type}: {detail}"
        return detail or response.reason_phrase
    except Exception:  # any body at all: the status is what matters (RFC 7644 §3.12)
        return response.text[:300] or response.reason_phrase


class ScimConnector:
    name = "SCIM"

    def __init__(
        self, config: ScimConfig, policy: OutboundPolicy, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.config = config
        try:
            base = policy.check_url(config.base_url)
        except OutboundBlockedError as exc:
            raise PermanentError("InvalidBaseAddress", str(exc)) from None
        if config.auth == "oauth2":
            try:
                policy.check_url(config.token_url)
            except OutboundBlockedError as exc:
                raise PermanentError("InvalidTokenEndpoint", f"token endpoint: {exc}") from None
        self.base = _split_base(base.url)
        if COMPAT_FLAG.lower() in config.base_url.lower() and config.compat == "entra":
            config.compat = "rfc"  # the reference's own flag asks for the RFC-correct behaviour
        self._client = httpx.Client(
            transport=GuardedTransport(policy, transport),
            timeout=config.timeout,
            follow_redirects=False,
            headers={"Accept": _MEDIA, "User-Agent": "Hospes-Provisioning/1.0"},
            limits=httpx.Limits(max_connections=config.concurrency, max_keepalive_connections=config.concurrency),
        )
        self._slots = threading.BoundedSemaphore(config.concurrency)
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._access_token: str | None = config.token if config.auth == "bearer" else None
        self._token_expires = float("inf") if config.auth == "bearer" else 0.0
        self.capabilities: Capabilities | None = None
        self.requests = 0  # counters for progress/bench
        self.throttled = 0

    # --- transport ----------------------------------------------------------------------------------------

    def close(self) -> None:
        self._client.close()

    def _token(self, refresh: bool = False) -> str:
        if self.config.auth != "oauth2":
            return self.config.token
        with self._lock:
            if refresh or self._access_token is None or time.time() > self._token_expires:
                self._access_token, self._token_expires = self._fetch_token()
            return self._access_token

    def _fetch_token(self) -> tuple[str, float]:
        request = self._client.build_request(
            "POST",
            self.config.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": self.config.client_id,
                "client_secret": self.config.client_secret,
                **({"scope": self.config.scope} if self.config.scope else {}),
            },
            headers={"Accept": "application/json"},
        )
        try:
            response = send_capped(self._client, request, self.config.max_answer_bytes)
        except OutboundBlockedError as exc:
            raise PermanentError("InvalidTokenEndpoint", str(exc)) from None
        except AnswerTooLargeError as exc:
            raise PermanentError("ResponseTooLarge", f"token endpoint: {exc}") from None
        except httpx.HTTPError as exc:
            raise TransientError("TokenEndpointUnreachable", f"token endpoint: {type(exc).__name__}") from None
        if response.status_code >= 500:
            raise TransientError("TokenEndpointError", f"token endpoint returned {response.status_code}")
        try:
            body = response.json()
            token = str(body["access_token"])
        except (ValueError, KeyError, TypeError):
            raise CredentialsError(
                "InvalidCredentials", f"the token endpoint refused the client credentials ({response.status_code})"
            ) from None
        lifetime = float(body.get("expires_in") or 3600)
        return token, time.time() + max(lifetime - 60, lifetime / 2)

    def _wait_for_pause(self) -> None:
        while True:
            with self._lock:
                wait = self._paused_until - time.monotonic()
            if wait <= 0:
                return
            time.sleep(min(wait, 1.0))

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """One logical request: retried with backoff for transient failures when ``idempotent``."""
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            try:
                return self._once(method, path, body, params, headers, refreshed)
            except CredentialsError:
                if self.config.auth == "oauth2" and not refreshed:
                    refreshed = True
                    self._token(refresh=True)
                    continue
                raise
            except TransientError as exc:
                if not idempotent or attempt >= self.config.max_attempts:
                    raise
                delay = exc.retry_after if exc.retry_after is not None else 0.2 * 2 ** (attempt - 1)
                if delay > self.config.max_wait:
                    raise
                time.sleep(delay * random.uniform(1.0, 1.2))

    def _once(
        self,
        method: str,
        path: str,
        body: Any,
        params: dict[str, Any] | None,
        headers: dict[str, str] | None,
        _refreshed: bool,
    ) -> httpx.Response:
        self._wait_for_pause()
        all_headers = {"Authorization": f"Bearer {self._token()}", **(headers or {})}
        content = None
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode()
            all_headers["Content-Type"] = _MEDIA
        with self._slots:
            self.requests += 1
            try:
                request = self._client.build_request(
                    method, self.base + path, content=content, params=params, headers=all_headers
                )
                response = send_capped(self._client, request, self.config.max_answer_bytes)
            except OutboundBlockedError as exc:
                raise PermanentError("InvalidBaseAddress", str(exc)) from None
            except AnswerTooLargeError as exc:
                raise PermanentError("ResponseTooLarge", f"{method} {path}: {exc}") from None
            except httpx.InvalidURL as exc:  # the base was checked: a path segment from the target is unusable
                raise PermanentError("InvalidUrl", f"{method} {path}: {exc}") from None
            except httpx.TimeoutException:
                raise TransientError("Timeout", f"{method} {path}: the target did not answer in time") from None
            except httpx.TransportError as exc:
                raise TransientError(
                    "WebExceptionProtocolError", f"{method} {path}: connection failed ({type(exc).__name__})"
                ) from None
        status = response.status_code
        if status < 400:
            return response
        detail = _error_detail(response)
        message = f"{method} {path} returned {status}: {detail}"
        if status == 429:
            retry = _retry_after(response.headers.get("Retry-After"))
            self.throttled += 1
            if retry:
                with self._lock:
                    self._paused_until = max(self._paused_until, time.monotonic() + min(retry, self.config.max_wait))
            raise TransientError("TooManyRequests", message, status, retry)
        if status >= 500:
            code = "NotImplemented" if status == 501 else "InternalServerError"
            if status == 501:
                raise PermanentError(code, message, status)
            raise TransientError(code, message, status, _retry_after(response.headers.get("Retry-After")))
        if status in (401, 403):
            raise CredentialsError("Unauthorized" if status == 401 else "InsufficientRights", message, status)
        if status == 404:
            raise TargetNotFoundError("NotFound", message, status)
        if status == 409:
            raise ConflictError("EntryConflict", message, status)
        if status == 412:
            raise TransientError("PreconditionFailed", message, status)
        codes = {400: "BadRequest", 405: "MethodNotAllowed", 413: "PayloadTooLarge", 422: "UnprocessableEntity"}
        raise PermanentError(codes.get(status, f"Http{status}"), message, status)

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise PermanentError("ServiceIncompatible", "the target returned a body that is not JSON") from None
        if not isinstance(data, dict):
            raise PermanentError("ServiceIncompatible", "the target returned a JSON value that is not an object")
        return data

    @staticmethod
    def _object(data: dict[str, Any], response: httpx.Response | None = None) -> TargetObject:
        target_id = data.get("id")
        if not isinstance(target_id, str) or not target_id:
            raise PermanentError("ServiceIncompatible", "the target returned a resource without an id")
        meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
        version = (response.headers.get("ETag") if response is not None else None) or (meta or {}).get("version")
        return TargetObject(target_id, version, data)

    # --- discovery and test -------------------------------------------------------------------------------

    def discover(self) -> Capabilities:
        if self.capabilities is not None:
            return self.capabilities
        caps = Capabilities(member_chunk=self.config.member_chunk or 100)
        try:
            response = self.request("GET", "/ServiceProviderConfig")
            raw = self._json(response)
            spc = ServiceProviderConfig.model_validate(raw)
            caps.raw = raw
            caps.etag = bool(spc.etag and spc.etag.supported)
            caps.patch = bool(spc.patch is None or spc.patch.supported)
            if spc.filter is not None:
                caps.filter = bool(spc.filter.supported)
                caps.max_results = int(spc.filter.max_results or 100)
            if not self.config.member_chunk and spc.bulk is not None and spc.bulk.max_operations:
                caps.member_chunk = max(1, min(int(spc.bulk.max_operations), 1000))
        except (TargetNotFoundError, PermanentError) as exc:
            if isinstance(exc, CredentialsError):
                raise
            log.info("no usable ServiceProviderConfig at %s (%s); assuming defaults", self.base, exc.code)
        except ValueError:
            log.info("ServiceProviderConfig at %s does not validate; assuming defaults", self.base)
        self.capabilities = caps
        return caps

    def test(self) -> None:
        """Test Connection as the reference does it: query a user that cannot exist, expect 200 and no result."""
        probe = str(uuid.uuid4())
        try:
            response = self.request("GET", "/Users", params={"filter": f"userName eq {filter_literal(probe)}"})
        except TargetNotFoundError as exc:
            raise ComplianceError(
                "ScimComplianceIssue", f"a query for a user that does not exist must return 200: {exc.message}", 404
            ) from None
        data = self._json(response)
        if int(data.get("totalResults", 0) or 0) != 0:
            raise ComplianceError("ScimComplianceIssue", "a query for a random userName returned results")
        self.discover()

    def _resources(self, path: str) -> list[dict[str, Any]] | None:
        """A discovery endpoint's resources (a ListResponse, or a bare JSON array as some targets answer); None
        when the target does not offer it."""
        try:
            response = self.request("GET", path)
        except CredentialsError:
            raise
        except PermanentError as exc:
            if exc.status is None:  # refused before any answer (the outbound guard, an unusable URL)
                raise
            return None  # the target answered 404, 501, 400...: it does not offer this endpoint
        try:
            data = response.json()
        except ValueError:
            return None
        items = data.get("Resources") if isinstance(data, dict) else data
        if not isinstance(items, list):
            return None
        return [item for item in items if isinstance(item, dict)]

    def schema_documents(self) -> dict[str, list[dict[str, Any]]] | None:
        schemas = self._resources("/Schemas")
        if not schemas:
            return None
        return {"schemas": schemas, "resourceTypes": self._resources("/ResourceTypes") or []}

    # --- objects ------------------------------------------------------------------------------------------

    def find(self, kind: str, path: str, value: Any) -> list[TargetObject]:
        params = {"filter": f"{path} eq {filter_literal(value)}"}
        if kind == "group":
            params["excludedAttributes"] = "members"
        try:
            response = self.request("GET", _ENDPOINT[kind], params=params)
        except TargetNotFoundError as exc:
            raise ComplianceError("ScimComplianceIssue", exc.message, 404) from None
        resources = self._json(response).get("Resources") or []
        return [self._object(r) for r in resources if isinstance(r, dict)]

    def scan(self, kind: str, paths: list[str]) -> Iterator[TargetObject]:
        caps = self.discover()
        attributes = sorted({parse_path(p).attribute_path for p in paths} | {"id"})
        count = max(1, min(caps.max_results, 1000))
        start = 1
        while True:
            response = self.request(
                "GET",
                _ENDPOINT[kind],
                params={"startIndex": start, "count": count, "attributes": ",".join(attributes)},
            )
            data = self._json(response)
            resources = [r for r in data.get("Resources") or [] if isinstance(r, dict)]
            for resource in resources:
                yield self._object(resource)
            total = int(data.get("totalResults", 0) or 0)
            start += len(resources)
            if not resources or start > total:
                return

    def get(self, kind: str, target_id: str, paths: list[str] | None = None) -> TargetObject | None:
        params: dict[str, Any] = {}
        if paths:
            params["attributes"] = ",".join(sorted({parse_path(p).attribute_path for p in paths}))
        try:
            response = self.request("GET", f"{_ENDPOINT[kind]}/{target_id}", params=params or None)
        except TargetNotFoundError:
            return None
        return self._object(self._json(response), response)

    def resource(self, kind: str, values: dict[str, Any]) -> dict[str, Any]:
        return mapping.build_resource(values, kind)

    def create(self, kind: str, resource: dict[str, Any]) -> TargetObject:
        body = dict(resource)
        body.setdefault("schemas", [USER_SCHEMA if kind == "user" else GROUP_SCHEMA])
        # Not idempotent: a lost response must be resolved by re-matching (the engine does), never by a re-POST.
        response = self.request("POST", _ENDPOINT[kind], body=body, idempotent=False)
        if response.status_code != 201 and response.status_code != 200:
            raise PermanentError("ServiceIncompatible", f"POST returned {response.status_code}, expected 201")
        return self._object(self._json(response), response)

    def _if_match(self, version: str | None) -> dict[str, str]:
        if version and self.discover().etag:
            return {"If-Match": version}
        return {}

    def _patch(self, kind: str, target_id: str, ops: list[dict[str, Any]], version: str | None) -> str | None:
        body = {"schemas": [PATCH_SCHEMA], "Operations": ops}
        path = f"{_ENDPOINT[kind]}/{target_id}"
        try:
            response = self.request("PATCH", path, body=body, headers=self._if_match(version))
        except TransientError as exc:
            if exc.status != 412:
                raise
            # Someone else changed the object: take its current version and apply our changes on top once.
            current = self.get(kind, target_id, ["id"])
            if current is None:
                raise TargetNotFoundError("InvalidAnchor", f"{path} no longer exists") from None
            response = self.request("PATCH", path, body=body, headers=self._if_match(current.version))
        etag: str | None = response.headers.get("ETag")
        if etag:
            return etag
        if response.status_code == 200 and response.content:
            try:
                meta = self._json(response).get("meta") or {}
                version = meta.get("version") if isinstance(meta, dict) else None
                return str(version) if version else None
            except PermanentError:
                return None
        return None

    def update(self, kind: str, target_id: str, changes: list[Change], version: str | None) -> str | None:
        ops = patch_operations(changes, self.config.compat)
        if not ops:
            return version
        return self._patch(kind, target_id, ops, version)

    def delete(self, kind: str, target_id: str, version: str | None) -> None:
        try:
            self.request("DELETE", f"{_ENDPOINT[kind]}/{target_id}", headers=self._if_match(version))
        except TargetNotFoundError:
            return  # already gone (a retried DELETE whose first response was lost): the goal is reached
        except TransientError as exc:
            if exc.status != 412:
                raise
            self.request("DELETE", f"{_ENDPOINT[kind]}/{target_id}")

    def change_members(self, target_id: str, add: list[str], remove: list[str], version: str | None) -> str | None:
        chunk = self.discover().member_chunk
        for ops in member_operations(add, remove, self.config.compat, chunk):
            version = self._patch("group", target_id, ops, version)
        return version

    def members(self, target_id: str) -> list[str] | None:
        """Current members of a target group (for drift repair); None when the target does not return them."""
        found = self.get("group", target_id, ["members"])
        if found is None:
            raise TargetNotFoundError("InvalidAnchor", f"/Groups/{target_id} no longer exists")
        members = found.data.get("members")
        if members is None:
            return []
        if not isinstance(members, list):
            return None
        return [str(m.get("value")) for m in members if isinstance(m, dict) and m.get("value")]


def connector_error(exc: Exception) -> ConnectorError:
    """Anything unexpected from a connector call becomes a permanent, logged error instead of a crash."""
    if isinstance(exc, ConnectorError):
        return exc
    return PermanentError("InternalError", f"{type(exc).__name__}: {exc}"[:500])
