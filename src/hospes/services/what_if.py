"""What-if (``POST /identity/conditionalAccess/evaluate``): which policies would apply to a sign-in, and why the
others don't, decided by the same function as a live sign-in with the facts the request gives."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from hospes.domain import ca_evaluation as ca
from hospes.domain.conditional_access import CLIENT_APP_TYPES, GUEST_TYPES, PLATFORMS
from hospes.domain.errors import InvalidInputError, NotFoundError
from hospes.services.access_decision import AccessRequest, facts_of
from hospes.services.access_rules import rules_of
from hospes.services.base import Services
from hospes.services.conditional_access import policies_of, policy_wire
from hospes.storage.tables import User

_ALLOWED = ("signInIdentity", "signInContext", "signInConditions", "appliedPoliciesOnly")


def _obj(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInputError(f"'{name}' must be an object.", target=name)
    return value


def _enum(value: Any, name: str, choices: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if value not in choices:
        raise InvalidInputError(f"Invalid value '{value}' for '{name}'; expected one of {', '.join(choices)}.")
    return str(value)


class WhatIfService(Services):
    def evaluate(self, body: Any, now: datetime) -> list[dict[str, Any]]:
        return self.analyse(body, now)[1]

    def analyse(self, body: Any, now: datetime) -> tuple[ca.Decision, list[dict[str, Any]]]:
        """The decision a live sign-in with these facts would get, and each policy's what-if result."""
        if not isinstance(body, dict):
            raise InvalidInputError("The request body must be a JSON object.")
        for key in body:
            if key not in _ALLOWED and key != "@odata.type":
                raise InvalidInputError(f"Property '{key}' does not exist on the evaluate action.", target=key)
        identity = _obj(body.get("signInIdentity"), "signInIdentity")
        context = _obj(body.get("signInContext"), "signInContext")
        conditions = _obj(body.get("signInConditions"), "signInConditions")
        if identity.get("@odata.type", "#microsoft.graph.userSignIn") != "#microsoft.graph.userSignIn":
            raise InvalidInputError(
                "Only a #microsoft.graph.userSignIn identity can be evaluated.", target="signInIdentity"
            )
        user_id = identity.get("userId")
        if not isinstance(user_id, str) or not user_id:
            raise InvalidInputError("signInIdentity.userId is required.", target="signInIdentity")
        apps = context.get("includeApplications") or []
        action = context.get("userAction")
        if not isinstance(apps, list) or not all(isinstance(a, str) for a in apps) or len(apps) > 1:
            raise InvalidInputError("signInContext.includeApplications names one application.", target="signInContext")
        device = _obj(conditions.get("deviceInfo"), "signInConditions.deviceInfo")
        client = _enum(conditions.get("clientAppType"), "clientAppType", CLIENT_APP_TYPES) or "browser"
        platform = _enum(conditions.get("devicePlatform"), "devicePlatform", PLATFORMS)
        external = _enum(identity.get("externalUserType"), "externalUserType", GUEST_TYPES)
        only_applied = body.get("appliedPoliciesOnly", False)
        if not isinstance(only_applied, bool):
            raise InvalidInputError("'appliedPoliciesOnly' must be a boolean.", target="appliedPoliciesOnly")
        with self.read() as session:
            user = session.get(User, user_id[:64])
            if user is None or user.tenant_id != self.tenant_id or user.deleted_at is not None:
                raise NotFoundError(user_id)
            app = apps[0] if apps else None
            rules = rules_of(session, self.tenant_id)
            request = AccessRequest(
                self.tenant_id,
                user,
                now,
                ["pwd"],
                now,
                app_id=app if app not in ("MicrosoftAdminPortals",) else None,
                admin_portal=app == "MicrosoftAdminPortals",
                client_app_type=client,
                ip_address=conditions.get("ipAddress") if isinstance(conditions.get("ipAddress"), str) else None,
            )
            facts = replace(
                facts_of(session, request, rules),
                user_action=action if isinstance(action, str) else None,
                platform=platform,
                country=conditions.get("country") if isinstance(conditions.get("country"), str) else None,
                device_compliant=device.get("isCompliant") is True,
            )
            if external is not None:
                facts = replace(facts, external_user_type=None if external == "none" else external)
            if isinstance(identity.get("externalTenantId"), str):
                facts = replace(facts, home_tenant_id=identity["externalTenantId"])
            wires = {row.id: policy_wire(row) for row in policies_of(session, self.tenant_id)}
        decision = ca.evaluate(facts, rules, explain=True)
        out = []
        for result in decision.results:
            if only_applied and not result.applies:
                continue
            reasons = list(result.not_matched)
            if result.state == "disabled":
                reasons = ["policyNotEnabled"]
            out.append(
                {
                    **wires[result.policy_id],
                    "@odata.type": "#microsoft.graph.whatIfAnalysisResult",
                    "policyApplies": result.applies,
                    "analysisReasons": ",".join(reasons) or "notSet",
                }
            )
        return decision, out
