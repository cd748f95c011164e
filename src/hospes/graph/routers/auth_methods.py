"""``/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email``: the email one-time
passcode method. ``allowExternalIdToUseEmailOtp`` decides whether guests may redeem and sign in with a code sent
by email (``default`` = on, as in Entra since October 2021); ``state`` is kept and returned.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from hospes.domain.errors import InvalidInputError
from hospes.graph.deps import BodyDep, GuestPolicyReader, GuestPolicyWriter, RuntimeDep
from hospes.graph.wire import context_url
from hospes.services.guest_policy import GuestPolicy

router = APIRouter()
PATH = "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email"
OTP_VALUES = ("default", "enabled", "disabled")
STATES = ("enabled", "disabled")


def _wire(policy: GuestPolicy) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.emailAuthenticationMethodConfiguration",
        "id": "Email",
        "state": policy.email_method_state,
        "allowExternalIdToUseEmailOtp": policy.allow_external_id_email_otp,
        "includeTargets": [],
        "excludeTargets": [],
    }


@router.get(PATH)
def get_email_method(state: RuntimeDep, guest_policy: GuestPolicyReader) -> dict[str, Any]:
    policy = guest_policy.get()
    return {"@odata.context": context_url(state, "authenticationMethodConfigurations", entity=True), **_wire(policy)}


@router.patch(PATH, status_code=204)
def patch_email_method(body: BodyDep, guest_policy: GuestPolicyWriter) -> Response:
    if not isinstance(body, dict):
        raise InvalidInputError("The request body must be a JSON object.")
    otp, method_state = body.get("allowExternalIdToUseEmailOtp"), body.get("state")
    for key in body:
        if key not in (
            "@odata.type",
            "id",
            "state",
            "allowExternalIdToUseEmailOtp",
            "includeTargets",
            "excludeTargets",
        ):
            raise InvalidInputError(
                f"Property '{key}' does not exist on type 'emailAuthenticationMethodConfiguration'."
            )
    if otp is not None and otp not in OTP_VALUES:
        raise InvalidInputError(
            f"Invalid value '{otp}' for property 'allowExternalIdToUseEmailOtp'.", target="allowExternalIdToUseEmailOtp"
        )
    if method_state is not None and method_state not in STATES:
        raise InvalidInputError(f"Invalid value '{method_state}' for property 'state'.", target="state")
    guest_policy.update(email_otp=otp, email_method_state=method_state)
    return Response(status_code=204)
