"""Group commit of directory writes (``provisioning.group_commit``): many writers, few transactions, and each
writer's own outcome — never a success that was rolled back."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from hospes.domain.errors import NotFoundError
from hospes.provisioning.group_commit import GroupCommitter
from hospes.services.tenants import principal_for_tenant
from hospes.services.users import UserService
from hospes.storage.tables import AuditLog, User


@pytest.fixture
def commits(sessions: sessionmaker[Session]) -> Iterator[list[int]]:
    """Counts the outermost commits of sessions made by ``sessions``."""
    seen: list[int] = []

    def count(session: Session) -> None:
        if not session.in_nested_transaction():
            seen.append(1)

    event.listen(Session, "after_commit", count)
    yield seen
    event.remove(Session, "after_commit", count)


def _titles(sessions: sessionmaker[Session], ids: list[str]) -> dict[str, str | None]:
    with sessions() as session:
        return dict(session.execute(select(User.id, User.job_title).where(User.id.in_(ids))).all())


def test_crowded_writers_share_transactions_and_each_gets_its_own_outcome(
    make_tenant: Any, sessions: sessionmaker[Session], commits: list[int]
) -> None:
    tenant = make_tenant("Contoso")
    ids = [tenant.new_user()["id"] for _ in range(24)]
    users = UserService(sessions, principal_for_tenant(tenant.id))
    committer = GroupCommitter(sessions, threading.BoundedSemaphore(1))
    start = threading.Barrier(25)
    outcomes: dict[str, Any] = {}

    def write(user_id: str) -> None:
        start.wait()
        try:
            committer.run(lambda: users.update(user_id, {"job_title": f"Title {user_id[:6]}"}))
            outcomes[user_id] = "ok"
        except Exception as exc:
            outcomes[user_id] = exc

    commits.clear()
    threads = [threading.Thread(target=write, args=(uid,)) for uid in [*ids, "no-such-user"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert isinstance(outcomes.pop("no-such-user"), NotFoundError)  # refused alone, in its own savepoint
    assert outcomes == {uid: "ok" for uid in ids}
    assert _titles(sessions, ids) == {uid: f"Title {uid[:6]}" for uid in ids}
    assert 1 <= len(commits) < 25  # crowded writes shared transactions (one each would be 25)
    with sessions() as session:
        audited = dict(
            session.execute(
                select(AuditLog.result, func.count())
                .where(AuditLog.tenant_id == tenant.id, AuditLog.activity == "Update user")
                .group_by(AuditLog.result)
            ).all()
        )
    assert audited == {"success": 24, "failure": 1}  # the refused write's failure row was kept


def test_a_failed_commit_fails_every_write_of_the_batch_and_keeps_none(
    make_tenant: Any, sessions: sessionmaker[Session]
) -> None:
    tenant = make_tenant("Contoso")
    ids = [tenant.new_user(jobTitle="Before")["id"] for _ in range(3)]
    users = UserService(sessions, principal_for_tenant(tenant.id))
    committer = GroupCommitter(sessions, threading.BoundedSemaphore(1))
    release = threading.Event()
    results: list[Any] = []

    def first() -> Any:
        release.wait(30)  # holds the committer while the others queue behind it
        return users.update(ids[0], {"job_title": "First"})

    seen: list[int] = []

    def boom(session: Session) -> None:  # the second batch's commit fails
        if not session.in_nested_transaction():
            seen.append(1)
            if len(seen) == 2:
                raise RuntimeError("the database went away at commit")

    def call(fn: Any) -> None:
        try:
            results.append(committer.run(fn))
        except Exception as exc:
            results.append(exc)

    leader = threading.Thread(target=call, args=(first,))
    leader.start()
    while not committer._leading:
        threading.Event().wait(0.01)
    followers = [
        threading.Thread(target=call, args=(lambda uid=uid: users.update(uid, {"job_title": "After"}),))
        for uid in ids[1:]
    ]
    for thread in followers:
        thread.start()
    while len(committer._waiting) < 2:
        threading.Event().wait(0.01)
    event.listen(Session, "before_commit", boom)
    try:
        release.set()
        for thread in [leader, *followers]:
            thread.join(30)
    finally:
        event.remove(Session, "before_commit", boom)

    assert len(results) == 3
    assert not isinstance(results[0], Exception)  # the first batch committed before the failure was armed
    assert [str(r) for r in results[1:]] == ["the database went away at commit"] * 2
    assert _titles(sessions, ids) == {ids[0]: "First", ids[1]: "Before", ids[2]: "Before"}
