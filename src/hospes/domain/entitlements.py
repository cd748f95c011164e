"""Entitlement management's vocabulary, without I/O: the enums Graph uses (read in any case, written in Graph's),
ISO 8601 durations, and the validation of catalog, package, policy, connected-organization, settings and request
bodies into the stored forms. The use cases are ``hospes.services.entitlement``.

State machines (one transition per unit of work):

    request: submitted -> pendingApproval -> denied | canceled
             submitted | pendingApproval (every stage approved) -> [scheduled ->] delivering -> delivered
                                                                  | partiallyDelivered | deliveryFailed
    assignment: delivering -> delivered | partiallyDelivered | deliveryFailed; delivered -> expired (expiry or removal)
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hospes.domain.errors import InvalidInputError

CATALOG_TYPES = ("userManaged", "serviceDefault", "serviceManaged", "unknownFutureValue")
CATALOG_STATES = ("unpublished", "published", "unknownFutureValue")
TARGET_SCOPES = (
    "notSpecified",
    "specificDirectoryUsers",
    "specificConnectedOrganizationUsers",
    "specificDirectoryServicePrincipals",
    "allMemberUsers",
    "allDirectoryUsers",
    "allDirectoryServicePrincipals",
    "allConfiguredConnectedOrganizationUsers",
    "allExternalUsers",
    "unknownFutureValue",
)
EXTERNAL_SCOPES = frozenset(
    {"specificConnectedOrganizationUsers", "allConfiguredConnectedOrganizationUsers", "allExternalUsers"}
)
EXPIRATION_TYPES = ("notSpecified", "noExpiration", "afterDateTime", "afterDuration")
REQUEST_TYPES = (
    "notSpecified",
    "userAdd",
    "userUpdate",
    "userRemove",
    "adminAdd",
    "adminUpdate",
    "adminRemove",
    "systemAdd",
    "systemUpdate",
    "systemRemove",
    "onBehalfAdd",
    "unknownFutureValue",
)
ORG_STATES = ("configured", "proposed", "unknownFutureValue")
LIFECYCLE_ACTIONS = ("none", "blockSignIn", "blockSignInAndDelete", "unknownFutureValue")
REVIEW_INPUT = {"approve": "Approved", "deny": "Denied", "approved": "Approved", "denied": "Denied"}
# Requests that still wait for something, and the states a cancel accepts.
OPEN_REQUEST_STATES = frozenset({"submitted", "pendingApproval", "scheduled"})
LIVE_ASSIGNMENT_STATES = frozenset({"delivering", "delivered", "partiallyDelivered"})
GROUP, APP = "AadGroup", "AadApplication"
ORIGIN_SYSTEMS = (GROUP, APP)
SUBJECT_SETS = {
    "#microsoft.graph.singleUser": "userId",
    "#microsoft.graph.groupMembers": "groupId",
    "#microsoft.graph.connectedOrganizationMembers": "connectedOrganizationId",
    "#microsoft.graph.attributeRuleMembers": "membershipRule",
    "#microsoft.graph.requestorManager": None,
    "#microsoft.graph.internalSponsors": None,
    "#microsoft.graph.externalSponsors": None,
    "#microsoft.graph.targetUserSponsors": None,
}
QUESTION_TYPES = (
    "#microsoft.graph.accessPackageTextInputQuestion",
    "#microsoft.graph.accessPackageMultipleChoiceQuestion",
)
IDENTITY_SOURCES = {
    "#microsoft.graph.azureActiveDirectoryTenant": ("tenantId",),
    "#microsoft.graph.crossCloudAzureActiveDirectoryTenant": ("tenantId",),
    "#microsoft.graph.domainIdentitySource": ("domainName",),
    "#microsoft.graph.externalDomainFederation": ("domainName",),
    "#microsoft.graph.socialIdentitySource": (),
}
MAX_STAGES = 3
MAX_EXPIRY = timedelta(days=3660)
_NS = uuid.UUID("6f1d52a4-8a1b-4a0c-9c1e-3d0d1f7c2b10")
_PYTHON_DELTA = re.compile(r"^(?:(\d{1,5}) days?, )?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d{1,6})?)$")
_DURATION = re.compile(
    r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def bad(message: str, target: str | None = None) -> InvalidInputError:
    return InvalidInputError(message, target=target)


def enum(value: Any, allowed: tuple[str, ...], name: str) -> str:
    """``value`` as Graph spells it, whatever case the client sent (Graph's own examples send ``"None"``)."""
    if isinstance(value, str):
        for choice in allowed:
            if choice.lower() == value.lower():
                return choice
    raise bad(f"Invalid value '{value}' for '{name}'; expected one of {', '.join(allowed)}.", name)


def parse_duration(value: Any, name: str) -> timedelta:
    """An ISO 8601 duration (``P180D``, ``PT3H``); a year counts 365 days and a month 30, as Graph's portal does.
    Also the form msgraph-sdk for Python writes a ``timedelta`` in (``7 days, 0:00:00``, ``3:00:00``)."""
    python = _PYTHON_DELTA.match(value) if isinstance(value, str) else None
    if python is not None:
        days, hours, minutes, seconds = python.groups()
        return timedelta(days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=float(seconds))
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise bad(f"'{name}' must be an ISO 8601 duration such as P14D or PT12H.", name)
    y, mo, w, d, h, mi, s = (float(g) if g else 0.0 for g in match.groups())
    return timedelta(days=y * 365 + mo * 30 + w * 7 + d, hours=h, minutes=mi, seconds=s)


def format_duration(value: timedelta) -> str:
    days, rest = value.days, int(value.seconds)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    return f"P{days}D" + (f"T{time}" if time else "") if days or not time else f"PT{time}"


def parse_time(value: Any, name: str) -> datetime:
    try:
        if not isinstance(value, str):
            raise ValueError
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad(f"'{name}' must be a date and time such as 2027-01-01T00:00:00Z.", name) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def stamp(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def obj(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(f"'{name}' must be an object.", name)
    return value


def text(body: dict[str, Any], key: str, *, required: bool = False, limit: int = 256) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit or "\x00" in value:
        raise bad(f"'{key}' must be a non-empty string of at most {limit} characters.", key)
    return value


def flag(body: dict[str, Any], key: str, default: bool = False) -> bool:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad(f"'{key}' must be true or false.", key)
    return value


def only(body: dict[str, Any], allowed: tuple[str, ...], name: str) -> None:
    for key in body:
        if not key.startswith("@odata.") and key not in allowed:
            raise bad(f"Property '{key}' does not exist on '{name}'.", key)


def role_id(resource_id: str, role_origin_id: str) -> str:
    """Resource roles are not stored: each has a stable id derived from its resource and origin."""
    return str(uuid.uuid5(_NS, f"{resource_id}/role/{role_origin_id}"))


def scope_id(resource_id: str) -> str:
    return str(uuid.uuid5(_NS, f"{resource_id}/scope"))


# -- catalogs, packages, connected organizations, settings ----------------------------------------------------------

CATALOG_FIELDS = ("displayName", "description", "catalogType", "state", "isExternallyVisible")


def parse_catalog(body: Any, *, partial: bool) -> dict[str, Any]:
    body = obj(body, "accessPackageCatalog")
    only(body, (*CATALOG_FIELDS, "id", "createdDateTime", "modifiedDateTime"), "accessPackageCatalog")
    out: dict[str, Any] = {}
    if not partial or "displayName" in body:
        out["display_name"] = text(body, "displayName", required=True)
    if "description" in body:
        out["description"] = text(body, "description", limit=4000)
    if "catalogType" in body or not partial:
        out["catalog_type"] = enum(body.get("catalogType", "userManaged"), CATALOG_TYPES, "catalogType")
    if "state" in body or not partial:
        out["state"] = enum(body.get("state", "published"), CATALOG_STATES, "state")
    if "isExternallyVisible" in body or not partial:
        out["is_externally_visible"] = flag(body, "isExternallyVisible", True)  # new catalogs accept external requests
    return out


def parse_package(body: Any, *, partial: bool) -> tuple[dict[str, Any], str | None]:
    """The package's columns and, on create, its catalog id."""
    body = obj(body, "accessPackage")
    only(
        body,
        ("displayName", "description", "isHidden", "catalog", "id", "createdDateTime", "modifiedDateTime"),
        "accessPackage",
    )
    out: dict[str, Any] = {}
    if not partial or "displayName" in body:
        out["display_name"] = text(body, "displayName", required=True)
    if "description" in body:
        out["description"] = text(body, "description", limit=4000)
    if "isHidden" in body or not partial:
        out["is_hidden"] = flag(body, "isHidden")
    catalog = None
    if not partial:
        catalog = obj(body.get("catalog"), "catalog").get("id")
        if not isinstance(catalog, str) or not catalog:
            raise bad("An access package needs 'catalog': {'id': ...}.", "catalog")
    return out, catalog


def parse_identity_sources(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > 20:
        raise bad("'identitySources' must be an array of at most 20 identity sources.", "identitySources")
    out = []
    for item in value:
        source = obj(item, "identitySources")
        kind = source.get("@odata.type")
        if kind not in IDENTITY_SOURCES:
            raise bad(
                f"Unknown identity source '{kind}'; expected one of {', '.join(IDENTITY_SOURCES)}.", "identitySources"
            )
        clean: dict[str, Any] = {"@odata.type": kind}
        for key in (*IDENTITY_SOURCES[kind], "displayName", "issuerUri", "cloudInstance"):
            if key in source:
                clean[key] = text(source, key, required=key in IDENTITY_SOURCES[kind])
        for key in IDENTITY_SOURCES[kind]:
            if key not in clean:
                raise bad(f"A {kind.rsplit('.', 1)[-1]} needs '{key}'.", "identitySources")
            clean[key] = clean[key].lower()
        out.append(clean)
    return out


def parse_connected_org(body: Any, *, partial: bool) -> dict[str, Any]:
    body = obj(body, "connectedOrganization")
    only(
        body,
        ("displayName", "description", "state", "identitySources", "id", "createdDateTime", "modifiedDateTime"),
        "connectedOrganization",
    )
    out: dict[str, Any] = {}
    if not partial or "displayName" in body:
        out["display_name"] = text(body, "displayName", required=True)
    if "description" in body:
        out["description"] = text(body, "description", limit=4000)
    if "state" in body or not partial:
        out["state"] = enum(body.get("state", "configured"), ORG_STATES, "state")
    if "identitySources" in body or not partial:
        out["identity_sources"] = parse_identity_sources(body.get("identitySources", []))
    return out


def parse_settings(body: Any) -> dict[str, Any]:
    body = obj(body, "entitlementManagementSettings")
    only(
        body,
        ("externalUserLifecycleAction", "durationUntilExternalUserDeletedAfterBlocked", "id"),
        "entitlementManagementSettings",
    )
    out: dict[str, Any] = {}
    if "externalUserLifecycleAction" in body:
        out["lifecycle_action"] = enum(
            body["externalUserLifecycleAction"], LIFECYCLE_ACTIONS, "externalUserLifecycleAction"
        )
    if "durationUntilExternalUserDeletedAfterBlocked" in body:
        name = "durationUntilExternalUserDeletedAfterBlocked"
        duration = parse_duration(body[name], name)
        if duration > MAX_EXPIRY:
            raise bad(f"'{name}' is at most {MAX_EXPIRY.days} days.", name)
        out["delete_after"] = format_duration(duration)
    return out


# -- requests ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestForm:
    """A ``POST /assignmentRequests`` body, with the aliases Graph's own examples use folded in."""

    request_type: str
    assignment_id: str | None
    target_id: str | None
    target_email: str | None
    package_id: str | None
    policy_id: str | None
    justification: str | None
    answers: list[dict[str, Any]]
    schedule: dict[str, Any] | None
    start_at: datetime | None
    end_at: datetime | None


def parse_request(body: Any) -> RequestForm:
    body = obj(body, "accessPackageAssignmentRequest")
    kind = enum(body.get("requestType", "notSpecified"), REQUEST_TYPES, "requestType")
    if kind in ("notSpecified", "unknownFutureValue", "onBehalfAdd") or kind.startswith("system"):
        raise bad(f"Requests of type '{kind}' cannot be made.", "requestType")
    assignment = obj(body.get("assignment", body.get("accessPackageAssignment", {})), "assignment")
    target = assignment.get("target") or {}
    email = target.get("email") if isinstance(target, dict) else None
    ids = {
        "assignment": assignment.get("id"),
        "target": assignment.get("targetId") or (target.get("objectId") if isinstance(target, dict) else None),
        "package": assignment.get("accessPackageId") or (body.get("accessPackage") or {}).get("id"),
        "policy": assignment.get("assignmentPolicyId"),
    }
    for key, value in ids.items():
        if value is not None and (not isinstance(value, str) or len(value) > 64):
            raise bad(f"Invalid {key} id.", "assignment")
    if email is not None and (not isinstance(email, str) or "@" not in email or len(email) > 256):
        raise bad("'assignment.target.email' must be an email address.", "assignment")
    if kind.endswith(("Remove", "Update")) and not ids["assignment"]:
        raise bad(f"A {kind} request names the assignment: 'assignment': {{'id': ...}}.", "assignment")
    if kind.endswith("Add") and not ids["package"]:
        raise bad("An add request names the package: 'assignment': {'accessPackageId': ...}.", "assignment")
    justification = text(body, "justification", limit=4000)
    answers = body.get("answers") or []
    if not isinstance(answers, list) or not all(isinstance(a, dict) for a in answers):
        raise bad("'answers' must be an array of answers.", "answers")
    schedule = body.get("schedule")
    start = end = None
    if schedule is not None:
        schedule = obj(schedule, "schedule")
        if schedule.get("startDateTime"):
            start = parse_time(schedule["startDateTime"], "schedule.startDateTime")
        expiration = schedule.get("expiration") or {}
        if isinstance(expiration, dict) and expiration.get("endDateTime"):
            end = parse_time(expiration["endDateTime"], "schedule.expiration.endDateTime")
        elif isinstance(expiration, dict) and expiration.get("duration"):
            end = (start or datetime.now(UTC)) + parse_duration(expiration["duration"], "schedule.expiration.duration")
    return RequestForm(
        kind,
        ids["assignment"],
        ids["target"],
        email.lower() if email else None,
        ids["package"],
        ids["policy"],
        justification,
        answers,
        schedule,
        start,
        end,
    )


def answer_map(answers: list[dict[str, Any]]) -> dict[str, str]:
    """Question id -> the answer's value."""
    out: dict[str, str] = {}
    for answer in answers:
        question = answer.get("answeredQuestion") or {}
        value = answer.get("value")
        if isinstance(question, dict) and isinstance(question.get("id"), str) and isinstance(value, str):
            out[question["id"]] = value[:4000]
    return out
