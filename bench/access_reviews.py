"""Access review over many guests: instance creation time and apply time.

Run by hand:  .venv/bin/python -m bench.access_reviews [--guests 10000] [--sponsors 200] [--deny 0.3]

On a fresh SQLite database (a temporary directory), in one process: a group of ``--guests`` guests (inserted in
bulk: the setup, not what is measured), each sponsored by one of ``--sponsors`` members. Measured:

1. creating the definition (sponsors as reviewers, recommendations on): the write that snapshots the scope and
   inserts one decision item and its reviewer rows per guest (``AccessReviewService.create``);
2. every sponsor deciding their items in one ``batchRecordDecisions`` each (``--deny`` of the sponsors deny);
3. stopping the instance with auto-apply: default decisions, then every denial removed through the group write
   path (membership rows, change-log rows, one audit row per removal).

Target: creation and apply each under 60 s on this machine.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, insert, select

from hospes.domain.clock import utcnow
from hospes.domain.principals import Principal, system_principal
from hospes.services.access_reviews import AccessReviewService
from hospes.services.groups import GroupService
from hospes.services.review_decisions import ReviewDecisions
from hospes.services.tenants import create_tenant
from hospes.storage.engine import Database
from hospes.storage.migrate import upgrade
from hospes.storage.tables import ChangeLog, GroupMember, User, UserSponsor

console = Console(width=140)


def seed(database: Database, tenant_id: str, guests: int, sponsors: int) -> tuple[str, list[str]]:
    rng = random.Random(1)
    now = utcnow()
    group = GroupService(database.sessions, system_principal(tenant_id)).create(
        {"display_name": "Partners", "mail_nickname": "partners", "mail_enabled": False, "security_enabled": True},
        [],
        [],
    )
    sponsor_ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(sponsors)]
    users: list[dict[str, Any]] = []
    for i, sid in enumerate(sponsor_ids):
        users.append(_user(sid, tenant_id, f"s{i}@bench.example", "Member", now))
    guest_ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(guests)]
    for i, gid in enumerate(guest_ids):
        user = _user(gid, tenant_id, f"g{i}_partner.example#EXT#@bench.example", "Guest", now)
        user["last_successful_sign_in_at"] = now if rng.random() < 0.7 else None
        users.append(user)
    with database.sessions.begin() as session:
        for start in range(0, len(users), 5_000):
            session.execute(insert(User), users[start : start + 5_000])
        links = [
            {
                "group_id": group.id,
                "relation": "member",
                "member_id": gid,
                "member_type": "user",
                "tenant_id": tenant_id,
                "created_at": now,
            }
            for gid in guest_ids
        ]
        session.execute(insert(GroupMember), links)
        sponsorships = [
            {
                "user_id": gid,
                "sponsor_id": sponsor_ids[i % sponsors],
                "sponsor_type": "user",
                "tenant_id": tenant_id,
                "created_at": now,
            }
            for i, gid in enumerate(guest_ids)
        ]
        session.execute(insert(UserSponsor), sponsorships)
    return group.id, sponsor_ids


def _user(uid: str, tenant_id: str, upn: str, kind: str, now: Any) -> dict[str, Any]:
    return {
        "id": uid,
        "tenant_id": tenant_id,
        "user_principal_name": upn,
        "upn_key": upn.lower(),
        "display_name": upn.split("@")[0],
        "account_enabled": True,
        "other_mails": [],
        "business_phones": [],
        "identities": [],
        "user_type": kind,
        "created_at": now,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--guests", type=int, default=10_000)
    parser.add_argument("--sponsors", type=int, default=200)
    parser.add_argument("--deny", type=float, default=0.3, help="share of the sponsors who deny their guests")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        database = Database.open(url)
        tenant = create_tenant(database.sessions, "Bench", "bench.example", admin_password="Bench-Pass-123")
        group_id, sponsors = seed(database, tenant.tenant_id, args.guests, args.sponsors)
        admin = system_principal(tenant.tenant_id)
        reviews = AccessReviewService(database.sessions, admin)
        body = {
            "displayName": "Partners review",
            "scope": {
                "query": f"/groups/{group_id}/transitiveMembers/microsoft.graph.user/?$filter=(userType eq 'Guest')",
                "queryType": "MicrosoftGraph",
            },
            "reviewers": [{"query": "./sponsors", "queryType": "MicrosoftGraph", "queryRoot": "decisions"}],
            "settings": {
                "recommendationsEnabled": True,
                "autoApplyDecisionsEnabled": True,
                "instanceDurationInDays": 7,
            },
        }
        started = time.perf_counter()
        definition = reviews.create(body)
        created = time.perf_counter() - started
        [instance] = reviews.instances(definition["id"])
        started = time.perf_counter()
        denying = sponsors[: int(len(sponsors) * args.deny)]
        for sponsor in sponsors:
            actor = Principal(tenant_id=tenant.tenant_id, kind="user", id=sponsor, display_name=sponsor)
            decision = "Deny" if sponsor in denying else "Approve"
            ReviewDecisions(database.sessions, actor).batch(
                definition["id"], instance["id"], {"decision": decision, "justification": "bench"}
            )
        decided = time.perf_counter() - started
        started = time.perf_counter()
        reviews.stop_instance(definition["id"], instance["id"])
        applied = time.perf_counter() - started
        with database.sessions() as session:
            left = session.scalar(select(func.count()).where(GroupMember.group_id == group_id))
            removals = session.scalar(
                select(func.count()).where(ChangeLog.object_id == group_id, ChangeLog.change_type == "member_removed")
            )
        table = Table(title=f"Access review over {args.guests:,} guests ({args.sponsors} sponsors as reviewers)")
        for column in ("step", "seconds", "detail"):
            table.add_column(column)
        table.add_row("create definition + instance", f"{created:.2f}", f"{args.guests:,} items")
        table.add_row("record decisions", f"{decided:.2f}", f"{len(sponsors)} batchRecordDecisions calls")
        table.add_row("stop + auto-apply", f"{applied:.2f}", f"{removals:,} removed, {left:,} members left")
        console.print(table)
        console.print("target: creation and apply each under 60 s")
        database.dispose()


if __name__ == "__main__":
    main()
