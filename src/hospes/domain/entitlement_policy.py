"""An access package assignment policy: the validation of Graph's body into the stored form, and the questions a
request asks of it (who may request, approval stages, expiry, extension, questions). No I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hospes.domain.entitlements import (
    EXPIRATION_TYPES,
    MAX_EXPIRY,
    MAX_STAGES,
    QUESTION_TYPES,
    SUBJECT_SETS,
    TARGET_SCOPES,
    bad,
    enum,
    flag,
    format_duration,
    obj,
    only,
    parse_duration,
    parse_time,
    stamp,
    text,
)

POLICY_FIELDS = (
    "displayName",
    "description",
    "allowedTargetScope",
    "specificAllowedTargets",
    "expiration",
    "requestorSettings",
    "requestApprovalSettings",
    "reviewSettings",
    "automaticRequestSettings",
    "notificationSettings",
    "questions",
    "accessPackage",
    "catalog",
    "customExtensionStageSettings",
    "id",
    "createdDateTime",
    "modifiedDateTime",
)
REQUESTOR_FLAGS = (
    "enableTargetsToSelfAddAccess",
    "enableTargetsToSelfUpdateAccess",
    "enableTargetsToSelfRemoveAccess",
    "allowCustomAssignmentSchedule",
    "enableOnBehalfRequestorsToAddAccess",
    "enableOnBehalfRequestorsToUpdateAccess",
    "enableOnBehalfRequestorsToRemoveAccess",
)
APPROVER_LISTS = ("primaryApprovers", "fallbackPrimaryApprovers", "escalationApprovers", "fallbackEscalationApprovers")
DEFAULT_STAGE_TIMEOUT = timedelta(days=14)


def subject_sets(value: Any, name: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 25:
        raise bad(f"'{name}' must be an array of at most 25 subject sets.", name)
    out = []
    for item in value:
        item = obj(item, name)
        kind = item.get("@odata.type")
        if kind not in SUBJECT_SETS:
            raise bad(f"Unknown subject set '{kind}' in '{name}'.", name)
        key = SUBJECT_SETS[kind]
        clean: dict[str, Any] = {"@odata.type": kind}
        if key is not None:
            clean[key] = text(item, key, required=True, limit=2048)
        if kind == "#microsoft.graph.requestorManager":
            level = item.get("managerLevel", 1)
            if level not in (1, 2):
                raise bad("'managerLevel' is 1 or 2.", name)
            clean["managerLevel"] = level
        if isinstance(item.get("description"), str):
            clean["description"] = item["description"][:1024]
        out.append(clean)
    return out


def _expiration(value: Any) -> dict[str, Any]:
    value = obj(value if value is not None else {"type": "noExpiration"}, "expiration")
    kind = enum(value.get("type", "noExpiration"), EXPIRATION_TYPES, "expiration.type")
    out: dict[str, Any] = {"type": kind, "endDateTime": None, "duration": None}
    if kind == "afterDuration":
        duration = parse_duration(value.get("duration"), "expiration.duration")
        if not timedelta(0) < duration <= MAX_EXPIRY:
            raise bad(f"'expiration.duration' is between one hour and {MAX_EXPIRY.days} days.", "expiration.duration")
        out["duration"] = format_duration(duration)
    elif kind == "afterDateTime":
        out["endDateTime"] = stamp(parse_time(value.get("endDateTime"), "expiration.endDateTime"))
    return out


def _stage(value: Any, index: int) -> dict[str, Any]:
    name = f"requestApprovalSettings.stages[{index}]"
    value = obj(value, name)
    timeout = parse_duration(value.get("durationBeforeAutomaticDenial", "P14D"), "durationBeforeAutomaticDenial")
    if not timedelta(days=1) <= timeout <= timedelta(days=14):
        raise bad("'durationBeforeAutomaticDenial' is between 1 and 14 days.", name)
    escalation = flag(value, "isEscalationEnabled")
    escalate_after = parse_duration(value.get("durationBeforeEscalation") or "PT0S", "durationBeforeEscalation")
    if escalation and (timeout < timedelta(days=4) or not timedelta(0) < escalate_after < timeout - timedelta(days=1)):
        raise bad("Escalation needs a timeout of at least 4 days and forwards at least a day before it.", name)
    stage: dict[str, Any] = {
        "durationBeforeAutomaticDenial": format_duration(timeout),
        "isApproverJustificationRequired": flag(value, "isApproverJustificationRequired"),
        "isEscalationEnabled": escalation,
        "durationBeforeEscalation": format_duration(escalate_after),
        "approverInformationVisibility": value.get("approverInformationVisibility") or "default",
    }
    for key in APPROVER_LISTS:
        stage[key] = subject_sets(value.get(key), f"{name}.{key}")
    if not stage["primaryApprovers"] and not stage["fallbackPrimaryApprovers"]:
        raise bad(f"Approval stage {index + 1} has no approvers.", name)
    return stage


def _questions(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 20:
        raise bad("'questions' must be an array of at most 20 questions.", "questions")
    out = []
    for sequence, item in enumerate(value):
        item = obj(item, "questions")
        kind = item.get("@odata.type", QUESTION_TYPES[0])
        if kind not in QUESTION_TYPES:
            raise bad(f"Unknown question type '{kind}'.", "questions")
        question: dict[str, Any] = {
            "@odata.type": kind,
            "id": item.get("id") if isinstance(item.get("id"), str) else str(uuid.uuid4()),
            "text": text(item, "text", required=True, limit=1000),
            "sequence": item.get("sequence") if isinstance(item.get("sequence"), int) else sequence,
            "isRequired": flag(item, "isRequired"),
            "isAnswerEditable": flag(item, "isAnswerEditable", True),
            "localizations": item.get("localizations") if isinstance(item.get("localizations"), list) else [],
        }
        if kind.endswith("MultipleChoiceQuestion"):
            choices = item.get("choices")
            if not isinstance(choices, list) or not choices:
                raise bad("A multiple-choice question needs 'choices'.", "questions")
            question["choices"] = [
                {"actualValue": str(c.get("actualValue")), "localizations": c.get("localizations") or []}
                for c in choices
                if isinstance(c, dict) and c.get("actualValue") is not None
            ]
            question["allowsMultipleSelection"] = flag(item, "allowsMultipleSelection")
        else:
            question["isSingleLineQuestion"] = flag(item, "isSingleLineQuestion", True)
            if isinstance(item.get("regexPattern"), str):
                question["regexPattern"] = item["regexPattern"][:512]
        out.append(question)
    return out


def parse_policy(body: Any) -> tuple[dict[str, Any], str | None]:
    """The policy's columns (``settings`` holds the nested shapes, normalized) and the package id it names."""
    body = obj(body, "accessPackageAssignmentPolicy")
    only(body, POLICY_FIELDS, "accessPackageAssignmentPolicy")
    scope = enum(body.get("allowedTargetScope", "notSpecified"), TARGET_SCOPES, "allowedTargetScope")
    targets = subject_sets(body.get("specificAllowedTargets"), "specificAllowedTargets")
    if scope.startswith("specific") and not targets:
        raise bad(f"'{scope}' needs 'specificAllowedTargets'.", "specificAllowedTargets")
    requestor = obj(body.get("requestorSettings") or {}, "requestorSettings")
    approval = obj(body.get("requestApprovalSettings") or {}, "requestApprovalSettings")
    stages = approval.get("stages") or []
    if not isinstance(stages, list) or len(stages) > MAX_STAGES:
        raise bad(f"A policy has at most {MAX_STAGES} approval stages.", "requestApprovalSettings.stages")
    required = flag(approval, "isApprovalRequiredForAdd", bool(stages))
    if required and not stages:
        raise bad("Approval is required but the policy has no approval stages.", "requestApprovalSettings")
    automatic = body.get("automaticRequestSettings")
    settings = {
        "specificAllowedTargets": targets,
        "expiration": _expiration(body.get("expiration")),
        "requestorSettings": {
            **{key: flag(requestor, key) for key in REQUESTOR_FLAGS},
            "onBehalfRequestors": subject_sets(requestor.get("onBehalfRequestors"), "onBehalfRequestors"),
        },
        "requestApprovalSettings": {
            "isApprovalRequiredForAdd": required,
            "isApprovalRequiredForUpdate": flag(approval, "isApprovalRequiredForUpdate"),
            "isRequestorJustificationRequired": flag(approval, "isRequestorJustificationRequired"),
            "stages": [_stage(s, i) for i, s in enumerate(stages)] if required else [],
        },
        "automaticRequestSettings": obj(automatic, "automaticRequestSettings") if automatic else None,
        "reviewSettings": body.get("reviewSettings") if isinstance(body.get("reviewSettings"), dict) else None,
        "notificationSettings": body.get("notificationSettings")
        if isinstance(body.get("notificationSettings"), dict)
        else {"isAssignmentNotificationDisabled": False},
        "questions": _questions(body.get("questions")),
    }
    package = body.get("accessPackage")
    package_id = obj(package, "accessPackage").get("id") if package is not None else None
    columns = {
        "display_name": text(body, "displayName", required=True),
        "description": text(body, "description", limit=4000),
        "allowed_target_scope": scope,
        "settings": settings,
    }
    return columns, package_id if isinstance(package_id, str) else None


@dataclass(frozen=True)
class PolicyView:
    """The questions a request asks of a stored policy."""

    scope: str
    settings: dict[str, Any]

    @property
    def stages(self) -> list[dict[str, Any]]:
        return list(self.settings["requestApprovalSettings"]["stages"])

    def needs_approval(self, request_type: str) -> bool:
        approval = self.settings["requestApprovalSettings"]
        if request_type == "userAdd":
            return bool(approval["isApprovalRequiredForAdd"] and approval["stages"])
        if request_type == "userUpdate":
            return bool(approval["isApprovalRequiredForUpdate"] and approval["stages"])
        return False

    @property
    def justification_required(self) -> bool:
        return bool(self.settings["requestApprovalSettings"]["isRequestorJustificationRequired"])

    def allows(self, request_type: str) -> bool:
        requestor = self.settings["requestorSettings"]
        key = {
            "userAdd": "enableTargetsToSelfAddAccess",
            "userUpdate": "enableTargetsToSelfUpdateAccess",
            "userRemove": "enableTargetsToSelfRemoveAccess",
        }.get(request_type)
        return key is None or bool(requestor.get(key))

    def end_for(self, start: datetime, asked: datetime | None) -> datetime | None:
        """When an assignment starting at ``start`` ends: the policy's expiry, or an earlier one the requestor
        asked for (a custom schedule cannot outlast the policy)."""
        expiration = self.settings["expiration"]
        end: datetime | None = None
        if expiration["type"] == "afterDuration":
            end = start + parse_duration(expiration["duration"], "duration")
        elif expiration["type"] == "afterDateTime":
            end = parse_time(expiration["endDateTime"], "endDateTime")
        if asked is not None and (end is None or asked < end):
            return asked
        return end

    def questions(self) -> list[dict[str, Any]]:
        return list(self.settings.get("questions") or [])

    def missing_answers(self, answers: dict[str, str]) -> list[str]:
        return [q["text"] for q in self.questions() if q["isRequired"] and not answers.get(q["id"], "").strip()]


def policy_wire(row: Any) -> dict[str, Any]:
    settings = dict(row.settings)
    return {
        "id": row.id,
        "displayName": row.display_name,
        "description": row.description,
        "allowedTargetScope": row.allowed_target_scope,
        "createdDateTime": stamp(row.created_at),
        "modifiedDateTime": stamp(row.modified_at),
        **{k: v for k, v in settings.items() if k != "questions"},
        "questions": settings.get("questions") or [],
    }
