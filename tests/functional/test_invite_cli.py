"""``hospes invite --csv`` (rows fail independently, result file) and ``hospes mail list|show|send-pending``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hospes.cli.main import app
from tests.helpers.mail import MailSink


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOSPES_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("HOSPES_DATABASE_URL", raising=False)
    monkeypatch.delenv("HOSPES_SMTP_HOST", raising=False)
    monkeypatch.setenv("COLUMNS", "300")  # rich tables: no wrapping of the addresses
    return tmp_path


def test_bulk_invite_csv_and_mail_commands(env: Path, mail_sink: MailSink, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["tenant", "create", "--name", "Contoso", "--domain", "contoso.example", "--json"])
    assert made.exit_code == 0, made.output
    source = env / "guests.csv"
    source.write_text(
        "Email,Display Name,Redirect URL,Message\n"
        "ann@partner.example,Ann,https://app.example/a,Hello Ann\n"
        "not-an-email,Bad,,\n"
        "bob@partner.example,,,\n"
        "ann@partner.example,Ann again,javascript:x,\n",
        encoding="utf-8",
    )
    out = env / "results.csv"
    result = runner.invoke(
        app,
        [
            "invite",
            "--tenant",
            "contoso.example",
            "--csv",
            str(source),
            "--out",
            str(out),
            "--redirect-url",
            "https://app.example/",
        ],
    )
    assert result.exit_code == 1, result.output  # some rows failed
    assert "2 invited, 2 failed" in result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["result"] for r in rows] == ["ok", "error", "ok", "error"]
    assert rows[0]["inviteRedeemUrl"].startswith("http://127.0.0.1:8000/redeem?tenant=")
    assert "not an email address" in rows[1]["error"]
    assert "inviteRedirectUrl" in rows[3]["error"]

    listed = runner.invoke(app, ["mail", "list", "--status", "pending"])
    assert listed.exit_code == 0 and listed.output.count("partner.example") == 2
    assert runner.invoke(app, ["mail", "send-pending"]).exit_code == 1  # no SMTP configured

    monkeypatch.setenv("HOSPES_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("HOSPES_SMTP_PORT", str(mail_sink.port))
    sent = runner.invoke(app, ["mail", "send-pending"])
    assert sent.exit_code == 0 and "sent 2" in sent.output, sent.output
    assert sorted(m.rcpt_tos[0] for m in mail_sink.messages) == ["ann@partner.example", "bob@partner.example"]
    first = [m for m in mail_sink.messages if m.rcpt_tos == ["ann@partner.example"]][0]
    assert "Hello Ann" in first.part("plain")
    # the operator's CLI invites in the tenant's name
    assert first.message["Subject"].startswith("Contoso invited you")

    outbox_id = runner.invoke(app, ["mail", "list", "--status", "sent"]).output
    assert "sent" in outbox_id
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{env / 'hospes.db'}")
    with engine.connect() as conn:
        message_id = conn.execute(text("SELECT id FROM outbox_messages LIMIT 1")).scalar_one()
    engine.dispose()
    shown = runner.invoke(app, ["mail", "show", message_id])
    assert shown.exit_code == 0 and "Subject:" in shown.output and "status: sent" in shown.output
