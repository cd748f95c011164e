"""The ``hospes`` command. Each noun has its own module in this package: ``server`` (serve, db), ``directory``
(tenant, app, user; ``app_registration`` adds an app's redirect URIs, certificates and single sign-on, ``app_logo``
its logo), ``groups`` (group rule), ``invitations`` (invite), ``worker``, ``mail``, ``expression``, ``sync``,
``guest_policy``, ``federation``, ``topology``, ``keys``; ``common`` holds what they share."""

from __future__ import annotations

import typer

from hospes.cli import (  # noqa: F401  (app_logo adds `hospes app logo` to the app group)
    app_logo,
    app_registration,
    directory,
    expression,
    federation,
    groups,
    guest_policy,
    invitations,
    keys,
    mail,
    server,
    sync,
    topology,
    worker,
)

app = typer.Typer(
    help="Hospes: self-hostable B2B identity collaboration.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(server.serve)
app.add_typer(server.db_app, name="db")
app.add_typer(directory.tenant_app, name="tenant")
app.add_typer(app_registration.app_app, name="app")
app.add_typer(directory.user_app, name="user")
app.add_typer(groups.group_app, name="group")
app.command("invite")(invitations.invite)
app.command("worker")(worker.worker)
app.add_typer(mail.mail_app, name="mail")
app.add_typer(expression.expression_app, name="expression")
app.add_typer(sync.sync_app, name="sync")
app.add_typer(guest_policy.guest_app, name="guest-policy")
app.add_typer(federation.federation_app, name="federation")
app.add_typer(topology.topology_app, name="topology")
app.add_typer(keys.keys_app, name="keys")


def main() -> None:
    app()
