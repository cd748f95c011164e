"""Access reviews without I/O: what a definition's scope and reviewer queries mean, its settings checked, stage
outcome strategies, inactivity recommendations, recurrence, and the denial cap.

A scope or reviewer query is a Graph path; Hospes understands the documented shapes (guests of one group, of every
group, of an app; inactive users; owners, managers, sponsors, named users, self-review) and refuses any other with
a clear error rather than reviewing something else than the caller meant.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from hospes.domain.errors import InvalidInputError

DECISIONS = frozenset({"Approve", "Deny", "DontKnow", "NotReviewed"})
DEFAULT_DECISIONS = frozenset({"Approve", "Deny", "Recommendation"})
MOVES = frozenset({"Approve", "Deny", "Recommendation", "NotReviewed"})
# How a stage's reviewers' responses make the item's decision. ``latestDecides`` is Entra's rule (any reviewer
# decides; a later response replaces an earlier one); the others are midPoint's explicit strategies.
STRATEGIES = frozenset({"latestDecides", "oneDenyDenies", "allMustApprove", "approvedIfNotDenied"})
REMOVE_ACCESS = "#microsoft.graph.removeAccessApplyAction"
DISABLE_AND_DELETE = "#microsoft.graph.disableAndDeleteUserApplyAction"
QUERY_SCOPE = "#microsoft.graph.accessReviewQueryScope"
INACTIVE_SCOPE = "#microsoft.graph.accessReviewInactiveUsersQueryScope"
MEMBERSHIPS_SCOPE = "#microsoft.graph.principalResourceMembershipsScope"
_GUID = r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
_GUEST_FILTER = re.compile(r"\$filter=\(?\s*userType\s+eq\s+'guest'\s*\)?", re.IGNORECASE)
_GROUP_USERS = re.compile(
    rf"^/groups/{_GUID}/(transitiveMembers|members)(/microsoft\.graph\.user)?/?(\?.*)?$", re.IGNORECASE
)
_RELATIVE_USERS = re.compile(r"^\./(transitiveMembers|members)(/microsoft\.graph\.user)?/?(\?.*)?$", re.IGNORECASE)
_ONE_GROUP = re.compile(rf"^/groups/{_GUID}/?$", re.IGNORECASE)
_ALL_GROUPS = re.compile(r"^/groups/?(\?.*)?$", re.IGNORECASE)
_UNIFIED = re.compile(r"groupTypes/any\(\w+:\w+\s+eq\s+'Unified'\)", re.IGNORECASE)
_USERS = re.compile(r"^/users/?(\?.*)?$", re.IGNORECASE)
_APP = re.compile(rf"^/servicePrincipals/{_GUID}/?$", re.IGNORECASE)
_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_REVIEWER_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("user", re.compile(rf"^/users/{_GUID}/?$", re.IGNORECASE)),
    ("groupMembers", re.compile(rf"^/groups/{_GUID}/(transitiveMembers|members)/?(\?.*)?$", re.IGNORECASE)),
    ("groupOwners", re.compile(rf"^/groups/{_GUID}/owners/?(\?.*)?$", re.IGNORECASE)),
    ("appOwners", re.compile(rf"^/servicePrincipals/{_GUID}/owners/?$", re.IGNORECASE)),
    ("reviewedGroupOwners", re.compile(r"^\./owners/?$", re.IGNORECASE)),
    ("manager", re.compile(r"^\./manager/?$", re.IGNORECASE)),
    ("sponsors", re.compile(r"^\./sponsors/?$", re.IGNORECASE)),
)


@dataclass(frozen=True)
class Scope:
    """What an instance reviews. ``kind``: ``group`` (the members of ``object_id``), ``allGroups`` (one instance
    per group, ``unified_only`` for Microsoft 365 groups) or ``app`` (users assigned to service principal
    ``object_id``). ``inactive``: only users without a sign-in for that long."""

    kind: str
    object_id: str | None = None
    guests_only: bool = False
    transitive: bool = True
    inactive: timedelta | None = None
    unified_only: bool = False


@dataclass(frozen=True)
class Reviewer:
    """One reviewer query: ``kind`` as in ``_REVIEWER_PATTERNS`` (or ``self``), ``object_id`` for the absolute
    ones."""

    kind: str
    object_id: str | None = None


def duration(text: Any, name: str) -> timedelta:
    """An ISO 8601 duration (``P30D``, ``PT12H``, ``P2W``); years and months are refused as they have no length."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None or text in ("P", "PT"):
        raise InvalidInputError(f"Invalid value specified for property '{name}': an ISO 8601 duration such as P30D.")
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def iso_duration(value: timedelta) -> str:
    days, rest = value.days, value.seconds
    if rest == 0:
        return f"P{days}D"
    return f"P{days}DT{rest // 3600}H{rest % 3600 // 60}M{rest % 60}S"


def _query(obj: Any, name: str) -> str:
    if not isinstance(obj, dict) or not isinstance(obj.get("query"), str) or not obj["query"].strip():
        raise InvalidInputError(f"'{name}' needs a 'query'.", target=name)
    kind = obj.get("queryType", "MicrosoftGraph")
    if kind not in (None, "MicrosoftGraph"):
        raise InvalidInputError(f"Unsupported queryType '{kind}' in '{name}'.", target=name)
    return str(obj["query"]).strip()


def parse_scope(scope: Any, enumeration: Any) -> Scope:
    """The definition's ``scope`` and ``instanceEnumerationScope`` as one ``Scope``; InvalidInputError when Hospes
    cannot review what they name."""
    if not isinstance(scope, dict):
        raise InvalidInputError("The property 'scope' is required.", target="scope")
    kind = scope.get("@odata.type", QUERY_SCOPE)
    inactive = duration(scope.get("inactiveDuration"), "inactiveDuration") if kind == INACTIVE_SCOPE else None
    if kind == MEMBERSHIPS_SCOPE:
        return _app_scope(scope)
    if kind not in (QUERY_SCOPE, INACTIVE_SCOPE):
        raise InvalidInputError(f"Unsupported scope type '{kind}'.", target="scope")
    query = _query(scope, "scope")
    guests = bool(_GUEST_FILTER.search(query))
    absolute = _GROUP_USERS.match(query)
    if absolute:
        return Scope("group", absolute.group(1).lower(), guests, absolute.group(2).lower() != "members", inactive)
    relative = _RELATIVE_USERS.match(query)
    if relative is None:
        raise InvalidInputError(f"Unsupported scope query '{query}'.", target="scope")
    transitive = relative.group(1).lower() != "members"
    where = _query(enumeration, "instanceEnumerationScope") if enumeration is not None else None
    if where is None:
        raise InvalidInputError("A relative scope query needs an 'instanceEnumerationScope'.", target="scope")
    one = _ONE_GROUP.match(where)
    if one:
        return Scope("group", one.group(1).lower(), guests, transitive, inactive)
    if _ALL_GROUPS.match(where):
        return Scope("allGroups", None, guests, transitive, inactive, unified_only=bool(_UNIFIED.search(where)))
    raise InvalidInputError(f"Unsupported instanceEnumerationScope query '{where}'.", target="instanceEnumerationScope")


def _app_scope(scope: dict[str, Any]) -> Scope:
    principals, resources = scope.get("principalScopes"), scope.get("resourceScopes")
    if (
        not isinstance(principals, list)
        or len(principals) != 1
        or not isinstance(resources, list)
        or len(resources) != 1
    ):
        raise InvalidInputError("An app review names one principal scope and one resource scope.", target="scope")
    who = principals[0]
    query = _query(who, "principalScopes")
    if not _USERS.match(query):
        raise InvalidInputError(f"Unsupported principal scope '{query}'.", target="scope")
    inactive = None
    if isinstance(who, dict) and who.get("@odata.type") == INACTIVE_SCOPE:
        inactive = duration(who.get("inactiveDuration"), "inactiveDuration")
    app = _APP.match(_query(resources[0], "resourceScopes"))
    if app is None:
        raise InvalidInputError("The resource scope must be '/servicePrincipals/{id}'.", target="scope")
    return Scope("app", app.group(1).lower(), bool(_GUEST_FILTER.search(query)), False, inactive)


def parse_reviewers(value: Any, name: str) -> tuple[Reviewer, ...]:
    """Reviewer queries; an empty ``reviewers`` list is a self-review."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidInputError(f"'{name}' must be a list of reviewer scopes.", target=name)
    out: list[Reviewer] = []
    for item in value:
        query = _query(item, name)
        for kind, pattern in _REVIEWER_PATTERNS:
            match = pattern.match(query)
            if match:
                out.append(Reviewer(kind, match.group(1).lower() if match.groups() else None))
                break
        else:
            raise InvalidInputError(f"Unsupported reviewer query '{query}'.", target=name)
    return tuple(out)


@dataclass(frozen=True)
class StageRule:
    """One stage: its length, reviewers, which decisions go on to the next stage, and its outcome strategy."""

    stage_id: str
    days: int
    reviewers: tuple[Reviewer, ...]
    fallback: tuple[Reviewer, ...]
    moves: frozenset[str]
    strategy: str
    recommendations: bool


@dataclass(frozen=True)
class Rules:
    """A definition's settings, checked: what instances do."""

    scope: Scope
    stages: tuple[StageRule, ...]
    days: int
    default_decision: str | None
    auto_apply: bool
    recommendations: bool
    look_back: timedelta
    justification_on_approval: bool
    disable_and_delete: bool
    delete_after: timedelta
    deny_cap: int | None  # percent of the items one apply run may deny
    mail: bool
    reminders: bool
    recurrence: dict[str, Any] | None
    start_day: date | None  # recurrence.range.startDate, also for a one-time review


def _bool(settings: dict[str, Any], name: str, default: bool = False) -> bool:
    value = settings.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidInputError(f"Invalid value specified for property '{name}'.", target=name)
    return value


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInputError(f"'{name}' must be a whole number from {low} to {high}.", target=name)
    return value


def _strategy(settings: dict[str, Any]) -> str:
    strategy = settings.get("hospesOutcomeStrategy") or "latestDecides"
    if strategy not in STRATEGIES:
        raise InvalidInputError(
            f"'hospesOutcomeStrategy' must be one of {', '.join(sorted(STRATEGIES))}.", target="hospesOutcomeStrategy"
        )
    return str(strategy)


def rules(body: dict[str, Any]) -> Rules:
    """The checked meaning of a definition's body (raises InvalidInputError naming the first wrong property)."""
    if not isinstance(body.get("displayName"), str) or not body["displayName"].strip():
        raise InvalidInputError("The property 'displayName' is required.", target="displayName")
    description = body.get("descriptionForReviewers")
    if description is not None and (not isinstance(description, str) or len(description) > 256):
        raise InvalidInputError("'descriptionForReviewers' is text of at most 256 characters.")
    scope = parse_scope(body.get("scope"), body.get("instanceEnumerationScope"))
    if "reviewers" not in body and not body.get("stageSettings"):
        raise InvalidInputError("The property 'reviewers' is required.", target="reviewers")
    reviewers = parse_reviewers(body.get("reviewers") or [], "reviewers")
    fallback = parse_reviewers(body.get("fallbackReviewers"), "fallbackReviewers")
    settings = body.get("settings")
    if not isinstance(settings, dict):
        raise InvalidInputError("The property 'settings' is required.", target="settings")
    days = _int(settings.get("instanceDurationInDays") or 14, "instanceDurationInDays", 1, 365)
    default = settings.get("defaultDecision") if _bool(settings, "defaultDecisionEnabled") else None
    if default is not None and default not in DEFAULT_DECISIONS:
        raise InvalidInputError("'defaultDecision' must be Approve, Deny or Recommendation.", target="defaultDecision")
    actions = settings.get("applyActions") or [{"@odata.type": REMOVE_ACCESS}]
    kinds = {a.get("@odata.type") for a in actions if isinstance(a, dict)} if isinstance(actions, list) else set()
    if not kinds or not kinds <= {REMOVE_ACCESS, DISABLE_AND_DELETE}:
        raise InvalidInputError("Unsupported 'applyActions'.", target="applyActions")
    disable = DISABLE_AND_DELETE in kinds
    if disable and not scope.guests_only:
        raise InvalidInputError("Disabling and deleting users is only for reviews of guests.", target="applyActions")
    look_back = duration(settings.get("recommendationLookBackDuration") or "P30D", "recommendationLookBackDuration")
    for insight in settings.get("recommendationInsightSettings") or []:
        if isinstance(insight, dict) and insight.get("recommendationLookBackDuration"):
            look_back = duration(insight["recommendationLookBackDuration"], "recommendationLookBackDuration")
    cap = settings.get("hospesMaxDenialPercentPerApply")
    recommendations = _bool(settings, "recommendationsEnabled")
    stages = _stages(body.get("stageSettings"), reviewers, fallback, days, recommendations, _strategy(settings))
    return Rules(
        scope=scope,
        stages=stages,
        days=sum(s.days for s in stages),
        default_decision=default,
        auto_apply=_bool(settings, "autoApplyDecisionsEnabled"),
        recommendations=recommendations or any(s.recommendations for s in stages),
        look_back=look_back,
        justification_on_approval=_bool(settings, "justificationRequiredOnApproval"),
        disable_and_delete=disable,
        delete_after=timedelta(days=_int(settings.get("hospesDeleteAfterDays", 30), "hospesDeleteAfterDays", 0, 365)),
        deny_cap=None if cap is None else _int(cap, "hospesMaxDenialPercentPerApply", 0, 100),
        mail=_bool(settings, "mailNotificationsEnabled"),
        reminders=_bool(settings, "reminderNotificationsEnabled"),
        recurrence=_recurrence(settings.get("recurrence")),
        start_day=_start_day(settings.get("recurrence")),
    )


def _stages(
    value: Any,
    reviewers: tuple[Reviewer, ...],
    fallback: tuple[Reviewer, ...],
    days: int,
    recommendations: bool,
    strategy: str,
) -> tuple[StageRule, ...]:
    if not value:
        return (StageRule("1", days, reviewers, fallback, frozenset(MOVES), strategy, recommendations),)
    if not isinstance(value, list) or len(value) > 3:
        raise InvalidInputError("'stageSettings' holds one to three stages.", target="stageSettings")
    out: list[StageRule] = []
    for index, stage in enumerate(value):
        if not isinstance(stage, dict):
            raise InvalidInputError("Each stage setting is an object.", target="stageSettings")
        stage_id = str(stage.get("stageId") or index + 1)
        depends = stage.get("dependsOn") or []
        if (index == 0 and depends) or (index > 0 and depends != [out[-1].stage_id]):
            raise InvalidInputError(f"Stage '{stage_id}' must depend on the stage before it.", target="dependsOn")
        moves = stage.get("decisionsThatWillMoveToNextStage") or sorted(MOVES)
        if not isinstance(moves, list) or not set(moves) <= MOVES:
            raise InvalidInputError("Invalid 'decisionsThatWillMoveToNextStage'.", target="stageSettings")
        out.append(
            StageRule(
                stage_id=stage_id,
                days=_int(stage.get("durationInDays") or days, "durationInDays", 1, 365),
                reviewers=parse_reviewers(stage.get("reviewers") or [], "reviewers"),
                fallback=parse_reviewers(stage.get("fallbackReviewers"), "fallbackReviewers"),
                moves=frozenset(moves),
                strategy=_strategy(stage) if stage.get("hospesOutcomeStrategy") else strategy,
                recommendations=bool(stage.get("recommendationsEnabled", recommendations)),
            )
        )
    return tuple(out)


def _recurrence(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict) or not value.get("pattern"):
        return None
    pattern, span = value["pattern"], value.get("range") or {}
    if not isinstance(pattern, dict) or pattern.get("type") not in ("weekly", "absoluteMonthly"):
        raise InvalidInputError("A review recurs weekly or absoluteMonthly.", target="recurrence")
    _int(pattern.get("interval") or 1, "interval", 1, 120)
    if not isinstance(span, dict) or span.get("type", "noEnd") not in ("noEnd", "endDate", "numbered"):
        raise InvalidInputError("Invalid recurrence range.", target="recurrence")
    for name in ("startDate", "endDate"):
        if span.get(name) is not None:
            try:
                date.fromisoformat(str(span[name]))
            except ValueError:
                raise InvalidInputError(f"Invalid value specified for property '{name}'.", target=name) from None
    return value


def _start_day(value: Any) -> date | None:
    span = value.get("range") if isinstance(value, dict) else None
    if not isinstance(span, dict) or not span.get("startDate"):
        return None
    try:
        return date.fromisoformat(str(span["startDate"]))
    except ValueError:
        raise InvalidInputError("Invalid value specified for property 'startDate'.", target="startDate") from None


def start_date(day: date | None, created: datetime) -> datetime:
    """When the first instance begins: the start date (at the creation time of day), or now."""
    if day is None:
        return created
    return max(created.replace(year=day.year, month=day.month, day=day.day), created)


def next_start(recurrence: dict[str, Any] | None, first: datetime, occurrences: int) -> datetime | None:
    """When instance number ``occurrences + 1`` begins (``occurrences`` have begun), or None when the series ends."""
    if recurrence is None:
        return None
    pattern, span = recurrence["pattern"], recurrence.get("range") or {}
    interval = int(pattern.get("interval") or 1) * occurrences
    if pattern["type"] == "weekly":
        at = first + timedelta(weeks=interval)
    else:
        months = first.month - 1 + interval
        year, month = first.year + months // 12, months % 12 + 1
        at = first.replace(year=year, month=month, day=min(first.day, calendar.monthrange(year, month)[1]))
    if span.get("type") == "numbered" and occurrences >= int(span.get("numberOfOccurrences") or 0):
        return None
    if span.get("type") == "endDate" and span.get("endDate") and at.date() > date.fromisoformat(str(span["endDate"])):
        return None
    return at


def recommend(last_sign_in: datetime | None, created: datetime | None, now: datetime, look_back: timedelta) -> str:
    """Approve a user who signed in within the look-back window, Deny one who did not. A user created inside the
    window counts as active: they had no chance to be inactive yet."""
    seen = last_sign_in or created
    if seen is None:
        return "NoInfoAvailable"
    return "Approve" if seen >= now - look_back else "Deny"


def outcome(strategy: str, responses: Sequence[str | None], latest: str | None) -> str:
    """The item's decision from its reviewers' responses (None: not answered). ``latest`` is the newest response,
    the decision under Entra's rule."""
    given = [r for r in responses if r in ("Approve", "Deny")]
    if strategy == "latestDecides":
        return latest or "NotReviewed"
    if strategy == "oneDenyDenies":
        return "Deny" if "Deny" in given else ("Approve" if given else "NotReviewed")
    if strategy == "allMustApprove":
        if "Deny" in given:
            return "Deny"
        return "Approve" if given and len(given) == len(responses) else "NotReviewed"
    # approvedIfNotDenied: silence is consent once the stage ends; a denial decides at once.
    return "Deny" if "Deny" in given else "Approve"


def final_decision(decision: str, recommendation: str, default: str | None) -> str:
    """An item's decision when the review ends: an unanswered (or DontKnow) item takes the default decision."""
    if decision in ("Approve", "Deny") or default is None:
        return decision
    if default == "Recommendation":
        return recommendation if recommendation in ("Approve", "Deny") else decision
    return default


def denial_allowance(denied: int, total: int, cap_percent: int | None) -> int:
    """How many of ``denied`` pending denials one apply run may carry out under a cap of ``cap_percent`` of the
    instance's ``total`` items (each further run, an administrator's explicit act, carries out as many more)."""
    if cap_percent is None:
        return denied
    per_run = math.floor(total * cap_percent / 100)
    return max(0, min(denied, per_run))
