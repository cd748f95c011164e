"""The user properties a rule may read, their types, and where Hospes keeps them.

A property's ``column`` is the key a rule reads from the mapping it evaluates (the user row's attribute name,
or ``member_of``: the ids of the groups the user directly belongs to); ``graph`` is the user property whose
change-log entries can change it, so that processing re-evaluates a rule only when something it reads changed.
Properties the reference documents but Hospes does not store (``city``, ``extensionAttribute1``...) are accepted
and always read as null; ``Rule.unstored`` names them so that editors can say so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

BOOL, STRING, DATETIME, STRINGS, PLANS, GROUPS = "bool", "string", "datetime", "strings", "plans", "groups"
MEMBER_OF = "member_of"  # the column holding a user's direct group ids (lower case), filled by the reader


def _first(value: Any) -> Any:
    return value[0] if value else None


@dataclass(frozen=True)
class Attribute:
    name: str  # as the reference spells it
    kind: str  # BOOL | STRING | DATETIME | STRINGS | PLANS | GROUPS
    column: str | None = None  # None: Hospes has no such value (always null)
    graph: str | None = None  # the Graph user property whose change can change it ("members" for memberOf)
    transform: Callable[[Any], Any] | None = None


_STORED = (
    Attribute("accountEnabled", BOOL, "account_enabled", "accountEnabled"),
    Attribute("companyName", STRING, "company_name", "companyName"),
    Attribute("department", STRING, "department", "department"),
    Attribute("displayName", STRING, "display_name", "displayName"),
    Attribute("employeeId", STRING, "employee_id", "employeeId"),
    Attribute("givenName", STRING, "given_name", "givenName"),
    Attribute("jobTitle", STRING, "job_title", "jobTitle"),
    Attribute("mail", STRING, "mail", "mail"),
    Attribute("mailNickName", STRING, "mail_nickname", "mailNickname"),
    Attribute("mobile", STRING, "mobile_phone", "mobilePhone"),
    Attribute("objectId", STRING, "id", "id"),
    Attribute("physicalDeliveryOfficeName", STRING, "office_location", "officeLocation"),
    Attribute("preferredLanguage", STRING, "preferred_language", "preferredLanguage"),
    Attribute("surname", STRING, "surname", "surname"),
    Attribute("telephoneNumber", STRING, "business_phones", "businessPhones", _first),
    Attribute("usageLocation", STRING, "usage_location", "usageLocation"),
    Attribute("userPrincipalName", STRING, "user_principal_name", "userPrincipalName"),
    Attribute("userType", STRING, "user_type", "userType"),
    Attribute("otherMails", STRINGS, "other_mails", "otherMails"),
    Attribute("memberOf", GROUPS, MEMBER_OF, "members"),
)
_UNSTORED = (
    Attribute("dirSyncEnabled", BOOL),
    Attribute("employeeHireDate", DATETIME),
    *(
        Attribute(name, STRING)
        for name in (
            "city",
            "country",
            "facsimileTelephoneNumber",
            "onPremisesDistinguishedName",
            "onPremisesSecurityIdentifier",
            "passwordPolicies",
            "postalCode",
            "sipProxyAddress",
            "state",
            "streetAddress",
        )
    ),
    *(Attribute(f"extensionAttribute{n}", STRING) for n in range(1, 16)),
    Attribute("proxyAddresses", STRINGS),
    Attribute("assignedPlans", PLANS),
)
USER_ATTRIBUTES: dict[str, Attribute] = {a.name.lower(): a for a in (*_STORED, *_UNSTORED)}
# Direct Reports reads the manager reference.
MANAGER = Attribute("manager", STRING, "manager_id", "manager")
# The items of a collection, and the properties they expose to -any/-all.
ITEM_OBJECTS: dict[str, tuple[str, frozenset[str]]] = {
    PLANS: ("assignedPlan", frozenset({"capabilitystatus", "service", "serviceplanid"})),
    GROUPS: ("group", frozenset({"objectid"})),
}


def user_attribute(name: str) -> Attribute | None:
    """The attribute a rule names after ``user.`` (any case); custom extension properties
    (``extension_<appId>_<name>``) are single-valued strings Hospes does not store."""
    found = USER_ATTRIBUTES.get(name.lower())
    if found is None and name.lower().startswith("extension_") and name.count("_") >= 2:
        return Attribute(name, STRING)
    return found
