"""Redemptions per second through the redemption service vs password sign-ins per second, in the same run.

Run by hand:  .venv/bin/python -m bench.bench_redemption [--database-url postgresql+psycopg://...] [--count 300]

One redemption = what the pages do for a passcode guest: read the link (``inspect_link``), start the flow, issue a
code and queue its email (one transaction), verify the code, accept (ticket, user, identity, change log, audit in
one transaction). Sequential, one thread, no HTTP: the service cost. The baseline is the member password check
(argon2id, ``PasswordSignIn.check``) on the same database: a passcode
redemption should cost less than password hashing, its cost being the database writes and the mail.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import re
import statistics
import tempfile
import time
import uuid
from urllib.parse import parse_qs, urlsplit

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from bench._server import database_for, fresh_database
from hospes.auth.crypto import secret_box
from hospes.domain.clock import utcnow
from hospes.domain.invitation import parse_invitation
from hospes.domain.principals import system_principal
from hospes.services.email_otp import EmailOtpService
from hospes.services.invitations.service import InvitationService, InviteConfig
from hospes.services.mfa import MfaService
from hospes.services.redemption import RedemptionService
from hospes.services.signin import PasswordSignIn
from hospes.services.tenants import create_tenant
from hospes.services.throttle import Throttle
from hospes.settings import Settings
from hospes.storage.tables import OutboxMessage

console = Console(width=140)
CODE = re.compile(r"^\s+(\d{8})\s*$", re.M)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="")
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(args.database_url or None, tmp)
        settings = Settings(database_url=url, data_dir=tmp, public_url="http://bench.invalid")
        database = database_for(url)
        sessions = database.sessions
        box = secret_box(settings.secret_key, settings.data_dir)
        throttle = Throttle(sessions, settings)
        otp = EmailOtpService(sessions, box, throttle, settings)
        service = RedemptionService(sessions, box, otp, settings, MfaService(sessions, box))
        boot = create_tenant(
            sessions, "Bench", f"bench-{uuid.uuid4().hex[:8]}.example", admin_password="Bench-Pass-123"
        )
        inviter = InvitationService(
            database, system_principal(boot.tenant_id), InviteConfig.from_settings(settings, lambda _p, _x: "x")
        )
        links = []
        for i in range(args.count):
            body = {
                "invitedUserEmailAddress": f"g{i}-{uuid.uuid4().hex[:4]}@partner.example",
                "inviteRedirectUrl": "https://app.example/",
            }
            result = inviter.invite(parse_invitation(body))
            query = parse_qs(urlsplit(result.redeem_url).query)
            links.append((result.invitation.email, query["invitation"][0], query["ticket"][0]))

        steps: dict[str, list[float]] = {
            "open link + start flow": [],
            "issue code + queue email": [],
            "verify code": [],
            "accept": [],
        }
        started = time.perf_counter()
        for i, (_address, invitation_id, ticket) in enumerate(links):
            client = f"10.1.{i // 250}.{i % 250}"
            t0 = time.perf_counter()
            token = service.start_from_link(boot.tenant_id, invitation_id, ticket, utcnow())
            assert isinstance(token, str)
            flow = service.load(token, utcnow())
            assert flow is not None
            t1 = time.perf_counter()
            assert service.send_code(flow, client, utcnow()) == "sent"
            t2 = time.perf_counter()
            with sessions() as session:  # reading the mail back is the "guest", not timed
                row = session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.kind == "otp")
                    .order_by(OutboxMessage.created_at.desc())
                    .limit(1)
                ).one()
            body_part = email.message_from_string(row.mime, policy=email.policy.default).get_body(("plain",))
            assert body_part is not None
            found = CODE.search(body_part.get_content())
            assert found
            t3 = time.perf_counter()
            assert service.verify_code(flow, found.group(1), client, utcnow()) == "ok"
            flow = service.load(token, utcnow())
            assert flow is not None
            t4 = time.perf_counter()
            service.accept(flow, utcnow())
            t5 = time.perf_counter()
            for name, value in zip(steps, (t1 - t0, t2 - t1, t4 - t3, t5 - t4), strict=True):
                steps[name].append(value)
        total = sum(sum(v) for v in steps.values())
        wall = time.perf_counter() - started

        signin = PasswordSignIn(sessions, throttle)
        rounds = max(20, args.count // 10)
        t0 = time.perf_counter()
        for i in range(rounds):
            outcome = signin.check(
                boot.tenant_id, boot.admin_user_principal_name, "Bench-Pass-123", f"10.2.0.{i % 250}", utcnow()
            )
            assert outcome.outcome == "ok"
        password_rate = rounds / (time.perf_counter() - t0)

        backend = "PostgreSQL" if "postgresql" in url else "SQLite"
        table = Table(title=f"Redemption service, {args.count} passcode redemptions ({backend})")
        for column in ("step", "p50 ms", "p99 ms", "share"):
            table.add_column(column, justify="right" if column != "step" else "left")
        for name, values in steps.items():
            ordered = sorted(values)
            table.add_row(
                name,
                f"{statistics.median(ordered) * 1000:.2f}",
                f"{ordered[int(len(ordered) * 0.99) - 1] * 1000:.2f}",
                f"{sum(values) / total:.0%}",
            )
        console.print(table)
        rate = args.count / total
        summary = Table(title="Throughput (one thread)")
        for column in ("measure", "per second", "ratio to password sign-in"):
            summary.add_column(column)
        summary.add_row("password sign-in check (argon2id), baseline", f"{password_rate:.1f}", "1.00")
        summary.add_row("passcode redemption, 4 steps (timed part)", f"{rate:.1f}", f"{rate / password_rate:.2f}")
        summary.add_row(
            "passcode redemption incl. reading the mail back",
            f"{args.count / wall:.1f}",
            f"{args.count / wall / password_rate:.2f}",
        )
        console.print(summary)


if __name__ == "__main__":
    main()
