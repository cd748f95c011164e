"""Default attribute-mapping sets, as data, for the provisioning engine and the bench.

Each entry is ``(target path, source expression text, flow type, matching priority)``; matching priority 0
means "not a matching attribute", the lowest positive one is tried first.
"""

from __future__ import annotations

from typing import NamedTuple

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ACTIVE_FROM_SOFT_DELETE = 'Switch([IsSoftDeleted], , "False", "True", "True", "False")'


class DefaultMapping(NamedTuple):
    target: str
    source: str
    flow_type: str = "Always"  # Always | ObjectAddOnly ("Only during object creation")
    matching_priority: int = 0


M = DefaultMapping

# Generic non-gallery SCIM app ("customappsso").
SCIM_USER_MAPPINGS: tuple[DefaultMapping, ...] = (
    M("userName", "[userPrincipalName]", matching_priority=1),
    M("active", ACTIVE_FROM_SOFT_DELETE),
    M("displayName", "[displayName]"),
    M("title", "[jobTitle]"),
    M('emails[type eq "work"].value', "[mail]"),
    M("preferredLanguage", "[preferredLanguage]"),
    M("name.givenName", "[givenName]"),
    M("name.familyName", "[surname]"),
    M("name.formatted", 'Join(" ", [givenName], [surname])'),
    M('addresses[type eq "work"].formatted', "[physicalDeliveryOfficeName]"),
    M('addresses[type eq "work"].streetAddress', "[streetAddress]"),
    M('addresses[type eq "work"].locality', "[city]"),
    M('addresses[type eq "work"].region', "[state]"),
    M('addresses[type eq "work"].postalCode', "[postalCode]"),
    M('addresses[type eq "work"].country', "[country]"),
    M('phoneNumbers[type eq "work"].value', "[telephoneNumber]"),
    M('phoneNumbers[type eq "mobile"].value', "[mobile]"),
    M('phoneNumbers[type eq "fax"].value', "[facsimileTelephoneNumber]"),
    M("externalId", "[mailNickname]"),
    M(f"{ENTERPRISE}:employeeNumber", "[employeeId]"),
    M(f"{ENTERPRISE}:department", "[department]"),
    M(f"{ENTERPRISE}:manager", "[manager]"),
)

SCIM_GROUP_MAPPINGS: tuple[DefaultMapping, ...] = (
    M("displayName", "[displayName]", matching_priority=1),
    M("externalId", "[objectId]"),
    M("members", "[members]"),
)

# 8x8 gallery app: 8x8's site cannot be changed after the user is created, hence ObjectAddOnly. No source is
# prescribed for site; the office location is the closest Entra attribute.
EIGHT_BY_EIGHT_USER_MAPPINGS: tuple[DefaultMapping, ...] = (
    M("userName", "[userPrincipalName]", matching_priority=1),
    M("externalId", "[mailNickname]"),
    M("active", ACTIVE_FROM_SOFT_DELETE),
    M("title", "[jobTitle]"),
    M('emails[type eq "work"].value', "[mail]"),
    M("name.givenName", "[givenName]"),
    M("name.familyName", "[surname]"),
    M('phoneNumbers[type eq "mobile"].value', "[mobile]"),
    M('phoneNumbers[type eq "work"].value', "[telephoneNumber]"),
    M(f"{ENTERPRISE}:department", "[department]"),
    M("urn:ietf:params:scim:schemas:extension:8x8:1.1:User:site", "[physicalDeliveryOfficeName]", "ObjectAddOnly"),
)

# The ~15-mapping user set the bench measures: the 8x8 set plus displayName, preferredLanguage, the formatted
# name and the manager reference.
BENCH_USER_MAPPINGS: tuple[DefaultMapping, ...] = (
    *EIGHT_BY_EIGHT_USER_MAPPINGS,
    M("displayName", "[displayName]"),
    M("preferredLanguage", "[preferredLanguage]"),
    M("name.formatted", 'Join(" ", [givenName], [surname])'),
    M(f"{ENTERPRISE}:manager", "[manager]"),
)
