"""The incremental pass reads users and groups in two statements: a user change that commits between them,
followed by a group change the second statement sees, must not be stepped over by the watermark."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import event, func, select

from hospes.storage.tables import ChangeLog
from hospes.storage.tables_provisioning import ProvisioningJob
from tests.helpers.provisioning import App, person


def _is_group_rows_read(statement: str, parameters: Any) -> bool:
    values = parameters.values() if isinstance(parameters, dict) else parameters or ()
    text = statement.lower()
    return "from change_log" in text and "max(" not in text and "group" in list(values)


def test_change_committed_between_the_user_and_group_reads_is_not_skipped(sync_app: App) -> None:
    app = sync_app
    early, late = person(app.tenant), person(app.tenant)
    app.assign(early["id"])
    app.assign(late["id"])
    app.settle()
    # A change the pass's user read sees, so that the pass has work of its own.
    assert app.tenant.patch(f"/users/{early['id']}", json={"jobTitle": "Early"}).status_code == 204

    def commit_concurrently() -> None:
        assert app.tenant.patch(f"/users/{late['id']}", json={"jobTitle": "Late"}).status_code == 204
        assert app.tenant.post("/groups", json=_group()).status_code == 201

    writer = threading.Thread(target=commit_concurrently)
    engine = app.service.sessions.kw["bind"]

    def before_group_read(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if writer.ident is None and _is_group_rows_read(statement, parameters):
            writer.start()
            if engine.dialect.name == "postgresql":
                # READ COMMITTED: the next statement of the pass sees both commits.
                writer.join()
            # SQLite: the pass holds the write lock until its read ends, so both commit after it; same outcome.

    event.listen(engine, "before_cursor_execute", before_group_read)
    try:
        assert app.service.engine.step(app.job_id)
    finally:
        event.remove(engine, "before_cursor_execute", before_group_read)
    assert writer.ident is not None, "the pass never read the group changes"
    writer.join()

    with app.service.sessions() as session:
        watermark = session.scalar(select(ProvisioningJob.watermark).where(ProvisioningJob.id == app.job_id))
        late_seq = session.scalar(select(func.max(ChangeLog.seq)).where(ChangeLog.object_id == late["id"]))
    titles = {u["userName"]: u.get("title") for u in app.target.users()}
    assert titles[early["userPrincipalName"]] == "Early"
    assert watermark is not None and late_seq is not None
    assert titles[late["userPrincipalName"]] == "Late" or watermark < late_seq, "the watermark stepped over it"
    app.settle()
    assert {u["userName"]: u.get("title") for u in app.target.users()}[late["userPrincipalName"]] == "Late"


def _group() -> dict[str, Any]:
    return {"displayName": "Racing", "mailEnabled": False, "mailNickname": "racing", "securityEnabled": True}
