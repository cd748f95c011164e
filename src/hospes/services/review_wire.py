"""Access review rows as Graph sees them (``accessReviewScheduleDefinition``, ``accessReviewInstance``,
``accessReviewInstanceDecisionItem``, ``accessReviewStage``), with Hospes's additions named ``hospes...``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hospes.domain.access_reviews import rules
from hospes.storage.tables_reviews import AccessReviewDefinition, AccessReviewInstance, AccessReviewItem

_SETTINGS_DEFAULTS: dict[str, Any] = {
    "mailNotificationsEnabled": False,
    "reminderNotificationsEnabled": False,
    "justificationRequiredOnApproval": False,
    "defaultDecisionEnabled": False,
    "defaultDecision": "None",
    "instanceDurationInDays": 14,
    "autoApplyDecisionsEnabled": False,
    "recommendationsEnabled": False,
    "recommendationLookBackDuration": "P30D",
    "decisionHistoriesForReviewersEnabled": False,
    "recurrence": None,
    "applyActions": [{"@odata.type": "#microsoft.graph.removeAccessApplyAction"}],
    "recommendationInsightSettings": [],
}


def when(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def definition(row: AccessReviewDefinition) -> dict[str, Any]:
    body = row.body
    return {
        "id": row.id,
        "displayName": row.display_name,
        "descriptionForAdmins": body.get("descriptionForAdmins"),
        "descriptionForReviewers": body.get("descriptionForReviewers"),
        "createdBy": row.created_by,
        "createdDateTime": when(row.created_at),
        "lastModifiedDateTime": when(row.modified_at),
        "status": row.status,
        "scope": body.get("scope"),
        "instanceEnumerationScope": body.get("instanceEnumerationScope"),
        "reviewers": body.get("reviewers") or [],
        "fallbackReviewers": body.get("fallbackReviewers") or [],
        "backupReviewers": [],
        "additionalNotificationRecipients": body.get("additionalNotificationRecipients") or [],
        "settings": {**_SETTINGS_DEFAULTS, **(body.get("settings") or {})},
        "stageSettings": body.get("stageSettings") or [],
        "hospesNextInstanceDateTime": when(row.next_start_at),
    }


def instance(row: AccessReviewInstance, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "startDateTime": when(row.start_at),
        "endDateTime": when(row.end_at),
        "status": "Applied" if row.applied_at is not None and row.status == "Completed" else row.status,
        "scope": row.scope,
        "reviewers": body.get("reviewers") or [],
        "fallbackReviewers": body.get("fallbackReviewers") or [],
        "hospesResource": {"id": row.resource_id, "type": row.resource_type, "displayName": row.resource_name},
        "hospesCurrentStage": row.stage,
        "hospesApplyState": row.apply_state or None,
    }


def stages(row: AccessReviewInstance, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The instance's stages, with the times each was (or will be) open."""
    checked = rules({**body, "displayName": body.get("displayName") or "-"})
    settings = body.get("stageSettings") or [{}]
    out: list[dict[str, Any]] = []
    start = row.start_at
    for number, (stage, raw) in enumerate(zip(checked.stages, settings, strict=False), start=1):
        end = min(row.end_at, start + timedelta(days=stage.days))
        if number == row.stage and row.status == "InProgress" and row.stage_end_at is not None:
            end = row.stage_end_at
        status = (
            "Completed"
            if number < row.stage or row.status != "InProgress"
            else ("InProgress" if number == row.stage else "NotStarted")
        )
        out.append(
            {
                "id": stage.stage_id,
                "startDateTime": when(start),
                "endDateTime": when(end),
                "status": status,
                "reviewers": raw.get("reviewers") or body.get("reviewers") or [],
                "fallbackReviewers": raw.get("fallbackReviewers") or body.get("fallbackReviewers") or [],
                "hospesOutcomeStrategy": stage.strategy,
            }
        )
        start = end
    return out


def decision(row: AccessReviewItem, base_url: str) -> dict[str, Any]:
    graph = f"{base_url}/v1.0"
    resource_path = "groups" if row.resource_type == "Group" else "servicePrincipals"
    return {
        "id": row.id,
        "accessReviewId": row.instance_id,
        "decision": row.decision,
        "justification": row.justification,
        "recommendation": row.recommendation,
        "applyResult": row.apply_result,
        "appliedBy": row.applied_by,
        "appliedDateTime": when(row.applied_at),
        "reviewedBy": row.reviewed_by,
        "reviewedDateTime": when(row.reviewed_at),
        "principal": {
            "@odata.type": "#microsoft.graph.userIdentity",
            "id": row.principal_id,
            "displayName": row.principal_name,
            "userPrincipalName": row.principal_upn,
        },
        "principalLink": f"{graph}/users/{row.principal_id}",
        "resource": {"id": row.resource_id, "displayName": row.resource_name, "type": row.resource_type},
        "resourceLink": f"{graph}/{resource_path}/{row.resource_id}",
        "insights": (
            [
                {
                    "@odata.type": "#microsoft.graph.userLastSignInRecommendationInsightSetting",
                    "hospesLastSignInDateTime": when(row.last_sign_in_at),
                }
            ]
            if row.recommendation != "NoInfoAvailable"
            else []
        ),
        "hospesStage": row.stage,
    }
