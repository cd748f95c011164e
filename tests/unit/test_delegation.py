"""The delegated permission check: scope x the user's standing, on the pure objects (no database)."""

from __future__ import annotations

from hospes.domain.delegation import (
    ALL,
    GRAPH_SCOPES,
    GUESTS_AS_MEMBERS,
    GUESTS_LIMITED,
    GUESTS_RESTRICTED,
    NOTHING,
    Need,
    Standing,
)
from hospes.domain.principals import GLOBAL_ADMINISTRATOR, GUEST_INVITER, Principal
from hospes.graph import permissions as perm

ME = "11111111-1111-1111-1111-111111111111"


def _standing(user_type: str = "Member", access: str = GUESTS_LIMITED, **kw: object) -> Standing:
    return Standing(ME, "me@contoso.example", user_type, access, frozenset(), **kw)  # type: ignore[arg-type]


def _user(*scopes: str) -> Principal:
    return Principal("t", "user", ME, "Me", frozenset(scopes))


def test_app_tokens_need_an_application_permission() -> None:
    app = Principal("t", "app", "sp", "App", frozenset({"User.Read.All"}))
    assert perm.reach(perm.USERS_READ, app, None) == ALL
    assert perm.reach(perm.USERS_WRITE, app, None) == NOTHING
    # A delegated-only scope in an app token's roles is no application permission.
    assert perm.reach(perm.USERS_READ, Principal("t", "app", "sp", "App", frozenset({"User.Read"})), None) == NOTHING


def test_user_read_reaches_the_user_only() -> None:
    reach = perm.reach(perm.USERS_READ, _user("User.Read"), _standing())
    assert not reach.everything and reach.covers(ME) and reach.covers("ME@Contoso.example")
    assert not reach.covers("22222222-2222-2222-2222-222222222222")
    assert perm.reach(perm.USERS_READ, _user("User.Read.All"), _standing()) == ALL


def test_guests_by_guest_access_level() -> None:
    groups = {"owned_groups": frozenset({"o"}), "member_groups": frozenset({"m"})}
    limited, restricted = _standing("Guest", GUESTS_LIMITED, **groups), _standing("Guest", GUESTS_RESTRICTED, **groups)
    as_members = _standing("Guest", GUESTS_AS_MEMBERS)
    assert limited.reach(Need.READ_USERS) == limited.itself
    assert limited.reach(Need.READ_GROUPS).ids == {"o", "m"}
    assert restricted.reach(Need.READ_GROUPS).ids == {"o"}
    assert limited.reach(Need.READ_APPS) == NOTHING
    assert as_members.reach(Need.READ_USERS) == ALL and as_members.reach(Need.READ_APPS) == ALL


def test_roles_lift_what_the_user_may_do() -> None:
    assert _standing().reach(Need.MANAGE_USERS) == NOTHING
    admin = Standing(ME, "me@x", "Guest", GUESTS_RESTRICTED, frozenset({GLOBAL_ADMINISTRATOR}))
    assert admin.reach(Need.MANAGE_USERS) == ALL and admin.reach(Need.READ_GROUPS) == ALL
    inviter = Standing(ME, "me@x", "Guest", GUESTS_LIMITED, frozenset({GUEST_INVITER}))
    assert inviter.reach(Need.READ_USERS) == ALL and inviter.reach(Need.READ_GROUPS) != ALL
    assert _standing(read_other_users=False).reach(Need.READ_USERS) == _standing().itself


def test_unknown_and_unmapped_scopes_grant_nothing() -> None:
    for scope in ("Directory.ReadWrite.All", "Group.ReadWrite.All", "Mail.Read", "User.Read.All "):
        assert perm.reach(perm.USERS_WRITE, _user(scope), _standing()) == NOTHING
        assert perm.reach(perm.GROUPS_WRITE, _user(scope), _standing()) == NOTHING
    assert perm.reach(perm.USERS_READ, _user("User.Read"), None) == NOTHING


def test_the_scope_catalog_is_the_table() -> None:
    """Every delegated scope the table maps is in the published catalog, and every catalogued scope allows a call."""
    rights = [value for value in vars(perm).values() if isinstance(value, perm.Right)]
    mapped = {scope for right in rights for scope in right.delegated}
    assert mapped == set(GRAPH_SCOPES)
