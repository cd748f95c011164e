"""Entitlement management: ``--count`` access-package assignments expiring at the same instant.

Run by hand:  .venv/bin/python -m bench.entitlement_expiry [--count 10000] [--database-url URL]

On a fresh SQLite database (a temporary directory; ``--database-url``: an empty PostgreSQL database), one process
pinned to one core:

1. Set-up, not measured: ``--count`` members, each holding the package (its group's Member role) through a
   delivered assignment ending at the same instant, with its expiry timer; the same members put directly into a
   second group.
2. The raw rate: the second group's ``--count`` memberships removed through the group service's in-write removal
   (``GroupService.delete_reference``: the row and its change-log record), 100 per transaction (the timer batch).
3. The expiry: the timer processor (``services/timers.py``, as ``hospes worker`` runs it) with a clock past the
   instant, until nothing is due: per assignment a removal request, the membership revoked with grant counting
   (row and change-log record), the assignment and request states with their change-log records, the audit row,
   the "access ended" mail in the outbox, the timer marked done; 100 per transaction.

Reported: both rates and their ratio in the same run. Target: the expiry at least 30 % of the raw rate.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, insert, select

from hospes.domain.clock import utcnow
from hospes.domain.ids import new_id
from hospes.domain.principals import system_principal
from hospes.services import timers
from hospes.services.entitlement.catalogs import CatalogService
from hospes.services.entitlement.lifecycle import EXPIRE, timer_handlers
from hospes.services.entitlement.notify import EmConfig
from hospes.services.entitlement.policies import PolicyService
from hospes.services.groups import GroupService
from hospes.services.tenants import create_tenant
from hospes.storage.engine import Database
from hospes.storage.migrate import upgrade
from hospes.storage.tables import ChangeLog, Group, GroupMember, User
from hospes.storage.tables_entitlement import EmAssignment, EmSubject
from hospes.storage.tables_timers import DueAction

console = Console(width=120)
BATCH = 100
CONFIG = EmConfig("https://hospes.example", "access@hospes.example", "Hospes")


def new_group(database: Database, tenant_id: str, name: str) -> str:
    group = GroupService(database.sessions, system_principal(tenant_id)).create(
        {"display_name": name, "mail_nickname": name.replace(" ", ""), "mail_enabled": False, "security_enabled": True},
        [],
        [],
    )
    return group.id


def package_for(database: Database, tenant_id: str, group_id: str) -> tuple[str, str]:
    """A catalog holding the group, a package granting its Member role, an administrator-only policy."""
    admin = system_principal(tenant_id)
    catalogs, policies = CatalogService(database.sessions, admin), PolicyService(database.sessions, admin)
    catalog = catalogs.create_catalog({"displayName": "Bench"})
    catalogs.resource_request(
        {
            "requestType": "adminAdd",
            "catalog": {"id": catalog["id"]},
            "resource": {"originId": group_id, "originSystem": "AadGroup"},
        }
    )
    package = catalogs.create_package({"displayName": "Bench package", "catalog": {"id": catalog["id"]}})
    catalogs.add_role_scope(package["id"], {"role": {"originId": f"Member_{group_id}", "originSystem": "AadGroup"}})
    policy = policies.create_policy(
        {
            "displayName": "direct",
            "allowedTargetScope": "notSpecified",
            "accessPackage": {"id": package["id"]},
            "expiration": {"type": "afterDuration", "duration": "P30D"},
        }
    )
    return package["id"], policy["id"]


def seed(
    database: Database,
    tenant_id: str,
    count: int,
    groups: tuple[str, str],
    package_id: str,
    policy_id: str,
    end: object,
) -> None:
    """Bulk inserts (the set-up): users, their subjects, delivered assignments ending at ``end`` with their timers,
    and memberships in both groups."""
    now = utcnow()
    with database.sessions.begin() as session:
        for start in range(0, count, 2_000):
            users, subjects, assignments, members, due = [], [], [], [], []
            for i in range(start, min(count, start + 2_000)):
                uid, sid, aid = new_id(), new_id(), new_id()
                upn = f"u{i}-{uuid.uuid4().hex[:6]}@bench.example"
                users.append(
                    {
                        "id": uid,
                        "tenant_id": tenant_id,
                        "user_principal_name": upn,
                        "upn_key": upn,
                        "display_name": f"User {i}",
                        "mail": upn,
                        "mail_key": upn,
                        "account_enabled": True,
                        "other_mails": [],
                        "business_phones": [],
                        "identities": [],
                        "user_type": "Member",
                        "created_at": now,
                    }
                )
                subjects.append(
                    {
                        "id": sid,
                        "tenant_id": tenant_id,
                        "object_id": uid,
                        "email": upn,
                        "display_name": f"User {i}",
                        "principal_name": upn,
                        "subject_type": "user",
                        "lifecycle": "notGoverned",
                        "created_at": now,
                    }
                )
                assignments.append(
                    {
                        "id": aid,
                        "tenant_id": tenant_id,
                        "package_id": package_id,
                        "policy_id": policy_id,
                        "subject_id": sid,
                        "target_user_id": uid,
                        "state": "delivered",
                        "status": "Delivered",
                        "start_at": now,
                        "end_at": end,
                        "created_at": now,
                    }
                )
                for group_id in groups:
                    members.append(
                        {
                            "group_id": group_id,
                            "relation": "member",
                            "member_id": uid,
                            "member_type": "user",
                            "tenant_id": tenant_id,
                            "created_at": now,
                        }
                    )
                due.append(
                    {
                        "id": new_id(),
                        "tenant_id": tenant_id,
                        "kind": EXPIRE,
                        "subject": aid,
                        "due_at": end,
                        "attempts": 0,
                        "created_at": now,
                    }
                )
            session.execute(insert(User), users)
            session.execute(insert(EmSubject), subjects)
            session.execute(insert(EmAssignment), assignments)
            session.execute(insert(GroupMember), members)
            session.execute(insert(DueAction), due)


def raw_removals(database: Database, tenant_id: str, group_id: str) -> tuple[float, int]:
    """Every membership of the group removed through the group service's in-write removal, 100 per write."""
    services = GroupService(database.sessions, system_principal(tenant_id))
    with database.sessions() as session:
        ids = list(session.scalars(select(GroupMember.member_id).where(GroupMember.group_id == group_id)))
    started = time.perf_counter()
    for start in range(0, len(ids), BATCH):
        with services.write("GroupManagement", "Remove member from group") as op:
            group = op.session.get(Group, group_id)
            assert group is not None
            for member_id in ids[start : start + BATCH]:
                assert services.delete_reference(op, group, "member", member_id)
    return time.perf_counter() - started, len(ids)


def expiries(database: Database, end: object) -> tuple[float, int]:
    handlers = {**timers.HANDLERS, **timer_handlers(CONFIG)}
    processor = timers.TimerProcessor(
        database.sessions,
        "bench",
        handlers=handlers,
        clock=lambda: end + timedelta(seconds=1),
        batch=BATCH,  # type: ignore[operator]
    )
    started = time.perf_counter()
    ran = processor.run_due()
    return time.perf_counter() - started, ran


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: SQLite)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        database = Database.open(url)
        tenant = create_tenant(database.sessions, "Bench", f"bench-{uuid.uuid4().hex[:6]}.example")
        granted = new_group(database, tenant.tenant_id, "Granted by package")
        direct = new_group(database, tenant.tenant_id, "Direct members")
        package_id, policy_id = package_for(database, tenant.tenant_id, granted)
        end = utcnow() + timedelta(days=1)
        seed(database, tenant.tenant_id, args.count, (granted, direct), package_id, policy_id, end)
        raw_seconds, raw_rows = raw_removals(database, tenant.tenant_id, direct)
        expiry_seconds, ran = expiries(database, end)
        with database.sessions() as session:
            left = session.scalar(select(func.count()).select_from(GroupMember).where(GroupMember.group_id == granted))
            expired = session.scalar(
                select(func.count()).select_from(EmAssignment).where(EmAssignment.state == "expired")
            )
            logged = session.scalar(
                select(func.count())
                .select_from(ChangeLog)
                .where(ChangeLog.object_id == granted, ChangeLog.change_type == "member_removed")
            )
        assert ran == args.count and left == 0 and expired == args.count and logged == args.count, (
            ran,
            left,
            expired,
            logged,
        )
        raw_rate, expiry_rate = raw_rows / raw_seconds, ran / expiry_seconds
        table = Table(title=f"{args.count:,} assignments expiring at the same instant ({database.dialect})")
        for column in ("work", "rows", "seconds", "rows/s"):
            table.add_column(column, justify="right" if column != "work" else "left")
        table.add_row(
            "raw membership removal (row + change log), 100/txn",
            f"{raw_rows:,}",
            f"{raw_seconds:.2f}",
            f"{raw_rate:,.0f}",
        )
        table.add_row(
            "expiry (request, revoke, states, audit, mail, timer), 100/txn",
            f"{ran:,}",
            f"{expiry_seconds:.2f}",
            f"{expiry_rate:,.0f}",
        )
        console.print(table)
        ratio = expiry_rate / raw_rate
        console.print(f"expiry rate / raw rate: {ratio:.0%} (target at least 30 %)")
        database.dispose()


if __name__ == "__main__":
    main()
