"""Property: for any interleaving of directory writes and delta pages, replaying every page a client received
reconstructs the directory's current state exactly (users with their selected properties, groups with their
members), whatever the page size, window size, $select and return=minimal."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.errors import DomainError
from hospes.domain.principals import system_principal
from hospes.domain.schema import USER, Resource
from hospes.graph.routers.delta import entry_wire
from hospes.graph.wire import to_wire
from hospes.services import delta as delta_module
from hospes.services.delta import Cursor, DeltaQuery, DeltaService
from hospes.services.directory import DeletedItemsService
from hospes.services.groups import GroupService
from hospes.services.tenants import create_tenant
from hospes.services.users import UserService
from hospes.storage.tables import Group, GroupMember, User
from tests.helpers.tenants import ADMIN_PASSWORD

WRITES = (
    "user+",
    "user~",
    "user-",
    "user^",
    "user!",
    "group+",
    "group~",
    "member+",
    "member-",
    "group-",
    "group^",
)
Op = tuple[str, int, int]
SEED: list[Op] = [("user+", 0, 0)] * 4 + [("group+", 1, 0), ("group+", 2, 0), ("member+", 1, 0)]
ops = st.lists(
    st.tuples(st.sampled_from((*WRITES, "page", "page")), st.integers(0, 7), st.integers(0, 7)),
    min_size=5,
    max_size=50,
)


@dataclass
class Mirror:
    """A delta client: follows one feed page by page and applies what it gets."""

    service: DeltaService
    query: DeltaQuery
    minimal: bool
    cursor: Cursor | None = None
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)
    delivered: list[dict[str, Any]] = field(default_factory=list)  # every item received, in order

    def step(self) -> bool:
        """Fetch and apply one page; True when it carried a deltaLink (the round is complete)."""
        if self.cursor is None:
            self.cursor = self.service.initial(self.query)
        page = self.service.page(self.query, self.cursor)
        resource = self.query.resource
        for entry in page.entries:
            item = entry_wire(
                resource, entry, list(self.query.select) if self.query.select else None, self.minimal
            )
            self.delivered.append(dict(item))
            if "@removed" in item:
                self.objects.pop(item["id"], None)
                self.members.pop(item["id"], None)
                continue
            changes = item.pop("members@delta", [])
            if self.minimal and entry.changed is not None:
                assert item["id"] in self.objects  # a partial update only for an object the client has
                self.objects[item["id"]].update(item)
            else:
                self.objects[item["id"]] = item
            group_members = self.members.setdefault(item["id"], set())
            for change in changes:
                assert change["@odata.type"] in ("#microsoft.graph.user", "#microsoft.graph.group")
                if "@removed" in change:
                    group_members.discard(change["id"])
                else:
                    group_members.add(change["id"])
        self.cursor = page.next or page.delta
        return page.delta is not None

    def finish(self) -> None:
        """Complete the current round, then one more: the round in progress stops at its own start (writes
        made during it come with the next one); the next round, started after the last write, catches up."""
        for _ in range(2):
            while not self.step():
                pass


def expected(sessions: sessionmaker[Session], tenant_id: str, resource: Resource, query: DeltaQuery) -> Any:
    table: Any = User if resource is USER else Group
    select_list = list(query.select) if query.select else None
    with sessions() as session:
        rows = session.scalars(select(table).where(table.tenant_id == tenant_id, table.deleted_at.is_(None)))
        objects = {row.id: to_wire(resource, row, select_list) for row in rows}
        links = session.scalars(
            select(GroupMember).where(GroupMember.tenant_id == tenant_id, GroupMember.relation == "member")
        )
        members: dict[str, set[str]] = {}
        for link in links:
            members.setdefault(link.group_id, set()).add(link.member_id)
    return objects, members


class Directory:
    """Applies generated writes through the services; writes the directory refuses are simply skipped."""

    def __init__(self, sessions: sessionmaker[Session], tenant_id: str, domain: str) -> None:
        actor = system_principal(tenant_id)
        self.users = UserService(sessions, actor)
        self.groups = GroupService(sessions, actor)
        self.deleted = DeletedItemsService(sessions, actor)
        self.domain = domain
        self.user_ids: list[str] = []
        self.group_ids: list[str] = []

    def apply(self, name: str, a: int, b: int) -> None:
        users, groups = self.user_ids, self.group_ids
        user = users[a % len(users)] if users else None
        group = groups[b % len(groups)] if groups else None
        titles = ("Dev", "Ops", None)
        try:
            if name == "user+":
                nick = f"u{uuid.uuid4().hex[:8]}"
                values = {
                    "user_principal_name": f"{nick}@{self.domain}",
                    "display_name": nick,
                    "mail_nickname": nick,
                    "account_enabled": True,
                }
                with self.users.write("UserManagement", "Add user") as op:
                    users.append(self.users.insert(op, values, None).id)
            elif name == "user~" and user:
                prop = ("display_name", "job_title", "department")[
                    b % 3
                ]  # department is not a default property
                self.users.update(user, {prop: f"v{a}" if prop == "display_name" else titles[a % 3]})
            elif name == "user-" and user:
                self.users.soft_delete(user)
            elif name == "user^" and user:
                self.deleted.restore(user)
            elif name == "user!" and user:
                self.deleted.purge(user)
            elif name == "group+":
                groups.append(
                    self.groups.create(
                        {"display_name": f"g{a}", "mail_nickname": f"g{a}", "mail_enabled": False}
                        | {"security_enabled": True},
                        [user] if user and a % 2 else [],
                        [],
                    ).id
                )
            elif name == "group~" and group:
                self.groups.update(group, {"description": f"d{a}"}, [])
            elif name == "member+" and group and (user or len(groups) > 1):
                target = user if a % 3 or len(groups) < 2 else groups[a % len(groups)]
                assert target is not None
                self.groups.add_reference(group, "member", target)
            elif name == "member-":
                with self.users.read() as session:  # an existing membership, so that the removal happens
                    links = session.execute(
                        select(GroupMember.group_id, GroupMember.member_id)
                        .where(
                            GroupMember.tenant_id == self.users.tenant_id, GroupMember.relation == "member"
                        )
                        .order_by(GroupMember.group_id, GroupMember.member_id)
                    ).all()
                if links:
                    group_id, member_id = links[a % len(links)]
                    self.groups.remove_reference(group_id, "member", member_id)
            elif name == "group-" and group:
                self.groups.soft_delete(group)
            elif name == "group^" and group:
                self.deleted.restore(group)
        except DomainError:
            pass  # not found, already a member, UPN conflict on restore, ...


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    script=ops,
    page_size=st.integers(1, 3),
    window_factor=st.sampled_from([1, 2, 50]),
    user_select=st.sampled_from([None, ("displayName", "jobTitle")]),
    group_select=st.sampled_from([None, ("displayName", "members"), ("description",)]),
    minimal=st.booleans(),
)
def test_replaying_rounds_reconstructs_the_directory(
    sessions: sessionmaker[Session],
    script: list[Op],
    page_size: int,
    window_factor: int,
    user_select: tuple[str, ...] | None,
    group_select: tuple[str, ...] | None,
    minimal: bool,
) -> None:
    domain = f"prop-{uuid.uuid4().hex[:8]}.example"
    boot = create_tenant(sessions, "Prop", domain, admin_password=ADMIN_PASSWORD)
    directory = Directory(sessions, boot.tenant_id, domain)
    service = DeltaService(sessions, system_principal(boot.tenant_id))
    feeds = [
        Mirror(service, DeltaQuery("user", user_select, None, page_size), minimal),
        Mirror(service, DeltaQuery("group", group_select, None, page_size), minimal),
    ]
    for name, a, b in SEED:  # a few objects up front, so that most generated writes find something to change
        directory.apply(name, a, b)
    saved = delta_module.WINDOW_FACTOR
    delta_module.WINDOW_FACTOR = window_factor  # tiny windows force rounds across several windows
    try:
        for name, a, b in script:
            if name == "page":
                feeds[a % 2].step()
            else:
                directory.apply(name, a, b)
        for feed in feeds:
            feed.finish()
    finally:
        delta_module.WINDOW_FACTOR = saved
    for feed in feeds:
        objects, members = expected(sessions, boot.tenant_id, feed.query.resource, feed.query)
        assert feed.objects == objects
        if feed.query.members:
            assert {g: m for g, m in feed.members.items() if m} == {
                g: m for g, m in members.items() if g in objects
            }


def test_window_factor_is_restored() -> None:
    assert delta_module.WINDOW_FACTOR == 50


@pytest.mark.parametrize("kind", ["user", "group"])
def test_cursor_round_trips_and_rejects_garbage(kind: str) -> None:
    cursor = Cursor("log", 42, 1.5, end=50, end_horizon=2.0, capped=True, last=45)
    assert Cursor.from_json(cursor.to_json()) == cursor
    for bad in (
        None,
        {},
        {"p": "log"},
        {"p": "full", "s": "1", "h": 0},
        {"p": "log", "s": 1, "h": 0, "a": 3},
    ):
        with pytest.raises(ValueError):
            Cursor.from_json(bad)
    with pytest.raises(DomainError):
        DeltaQuery(kind, None, tuple(str(i) for i in range(51)))


def test_concurrent_writer_nothing_skipped_nothing_thrice(sessions: sessionmaker[Session]) -> None:
    """A writer thread changes users while a reader pages through rounds (two objects per page). Afterwards
    the reader's copy equals the directory, and every written value was delivered at most twice."""
    domain = f"conc-{uuid.uuid4().hex[:8]}.example"
    boot = create_tenant(sessions, "Conc", domain, admin_password=ADMIN_PASSWORD)
    directory = Directory(sessions, boot.tenant_id, domain)
    for _ in range(24):
        directory.apply("user+", 0, 0)
    seeded = list(directory.user_ids)
    random.Random(7).shuffle(seeded)
    feed = Mirror(
        DeltaService(sessions, system_principal(boot.tenant_id)), DeltaQuery("user", None, None, 2), False
    )
    done = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        # Each user changes once only: a change the reader skipped would not be repaired by a later one.
        try:
            for n, user_id in enumerate(seeded):
                if n % 6 == 0:
                    directory.apply("user+", 0, 0)
                if n % 7 == 3:
                    directory.users.soft_delete(user_id)
                else:  # a value written once: it can be counted in what the reader got
                    directory.users.update(user_id, {"job_title": f"t{n}"})
                time.sleep(0.003)  # let the reader's pages interleave
        except BaseException as exc:  # surfaced by the main thread
            failures.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    while not done.is_set():
        feed.step()
    thread.join()
    assert not failures
    for _ in range(2):  # the round in progress, then one started after the last write
        while not feed.step():
            pass
    objects, _ = expected(sessions, boot.tenant_id, USER, feed.query)
    assert feed.objects == objects
    counts = Counter(item["jobTitle"] for item in feed.delivered if item.get("jobTitle"))
    assert counts and max(counts.values()) <= 2
