"""The portal's words for the directory's and the provisioning engine's codes: every state, action and result a
page shows goes through here, in the page's language, so no enum value reaches the screen. A code this module
does not know (a newer engine's) is shown as it is rather than hidden."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from babel import Locale, UnknownLocaleError

from hospes.domain.principals import DIRECTORY_ROLES, GLOBAL_ADMINISTRATOR, GUEST_INVITER, USER_ADMINISTRATOR

_CONNECTOR_PREFIX = "SystemForCrossDomainIdentityManagement"


@dataclass(frozen=True)
class Wording:
    _: Callable[[str], str]
    lang: str = "en"

    def language(self, tag: object) -> str:
        """A language tag (``fr-FR``) as the page's language names it."""
        text = str(tag or "")
        try:
            name = Locale.parse(text.replace("-", "_")).get_display_name(self.lang)
        except (ValueError, TypeError, UnknownLocaleError):
            return text or "—"
        return f"{name} ({text})" if name else text

    def _pick(self, table: dict[str, str], code: object) -> str:
        text = str(code or "")
        return table.get(text, text or "—")

    def roles(self) -> list[str]:
        """The directory roles an administrator can assign, in their usual order."""
        return list(DIRECTORY_ROLES)

    def role(self, role_id: object) -> str:
        """A directory role's name, as the portal of the page's language names it."""
        _ = self._
        table = {
            GLOBAL_ADMINISTRATOR: _("Global Administrator"),
            USER_ADMINISTRATOR: _("User Administrator"),
            GUEST_INVITER: _("Guest Inviter"),
        }
        return self._pick(table, role_id)

    def role_description(self, role_id: object) -> str:
        _ = self._
        table = {
            GLOBAL_ADMINISTRATOR: _("Can manage all aspects of the directory."),
            USER_ADMINISTRATOR: _("Can manage users and groups, and invite guests."),
            GUEST_INVITER: _("Can invite guest users, whatever the members' invitation setting."),
        }
        return self._pick(table, role_id)

    def outcome(self, code: object) -> str:
        """A provisioning log row's or step's status."""
        _ = self._
        return self._pick(
            {"success": _("Success"), "failure": _("Failure"), "skipped": _("Skipped"), "warning": _("Warning")}, code
        )

    def action(self, code: object) -> str:
        """What provisioning did to an object (provisioningAction, a dry run's action)."""
        _ = self._
        table = {
            "create": _("Create"),
            "update": _("Update"),
            "delete": _("Delete"),
            "disable": _("Disable"),
            "stagedDelete": _("Delete held by the threshold"),
            "other": _("No change"),
            "skip": _("No change"),
        }
        return self._pick(table, code)

    def cycle(self, code: object) -> str:
        _ = self._
        table = {
            "initial": _("initial cycle"),
            "reconcile": _("full cycle"),
            "incremental": _("incremental cycle"),
            "onDemand": _("on demand"),
            "dryRun": _("dry run"),
        }
        return self._pick(table, code)

    def execution(self, code: object) -> str:
        """A cycle's result (lastExecution.state)."""
        _ = self._
        table = {
            "Succeeded": _("Succeeded"),
            "EntryLevelErrors": _("Completed with errors on some objects"),
            "Failed": _("Failed"),
            "InProgress": _("In progress"),
        }
        return self._pick(table, code)

    def step(self, code: object) -> str:
        """A provisioning step's kind."""
        _ = self._
        table = {
            "import": _("Import from the source"),
            "scoping": _("Scope check"),
            "matching": _("Match in the target"),
            "export": _("Export to the target"),
            "referenceResolution": _("Resolve references"),
        }
        return self._pick(table, code)

    def identity(self, code: object) -> str:
        """The kind of a directory object (a log's identity, an audit entry's target)."""
        _ = self._
        table = {
            "User": _("User"),
            "Group": _("Group"),
            "user": _("User"),
            "group": _("Group"),
            "Policy": _("Policy"),
            "Role": _("Directory role"),
            "Application": _("Application"),
            "ServicePrincipal": _("Enterprise application"),
            "Organization": _("Organization"),
            "Tenant": _("Organization"),
            "BulkInviteJob": _("Bulk invite"),
        }
        return self._pick(table, code)

    def stop_reason(self, code: object) -> str:
        """Why a job went into quarantine."""
        _ = self._
        table = {
            "TargetUnavailable": _("the application could not be reached"),
            "EncounteredQuarantineException": _("the application refused the requests"),
            "EncounteredEscrowProportionThreshold": _("too many objects failed"),
            "TooManyDeletes": _("too many deletes at once"),
            "QuarantinedOnDemand": _("stopped by an administrator"),
        }
        return self._pick(table, code)

    def attempt(self, code: object) -> str:
        """One delivery attempt of an email."""
        _ = self._
        return self._pick({"sent": _("Sent"), "retry": _("Failed, to be tried again"), "failed": _("Failed")}, code)

    def invitation(self, code: object) -> str:
        _ = self._
        table = {
            "PendingAcceptance": _("Pending acceptance"),
            "Completed": _("Accepted"),
            "InProgress": _("In progress"),
            "Error": _("Not sent"),
        }
        return self._pick(table, code)

    def connector_error(self, code: object, detail: object = "") -> str:
        """A failed request to a provisioned application, in plain words; the target's own text follows, as it
        is the only clue when the cause is on its side."""
        _ = self._
        reason = str(code or "").removeprefix(_CONNECTOR_PREFIX)
        table = {
            "Unauthorized": _("The application refused the secret token. Check the token and save it again."),
            "InsufficientRights": _("The token was accepted, but it may not manage users and groups."),
            "InvalidBaseAddress": _("The tenant URL isn't a usable address."),
            "InvalidUrl": _("The tenant URL isn't a usable address."),
            "Timeout": _("The application did not answer in time."),
            "TooManyRequests": _("The application asked to slow down. Hospes tries again later."),
            "ServiceIncompatible": _("The application did not answer as a SCIM 2.0 service does."),
            "TokenEndpointUnreachable": _("The token endpoint could not be reached."),
            "InvalidTokenEndpoint": _("The token endpoint isn't a usable address."),
        }
        text = table.get(reason) or _("The request to the application failed.")
        detail = str(detail or "").strip()
        return f"{text} ({detail})" if detail else text
