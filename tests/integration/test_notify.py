"""PostgreSQL wake-ups across hosts: a NOTIFY in a transaction reaches the listeners when (and only when) it
commits; on SQLite it is nothing, and workers poll."""

from __future__ import annotations

import threading
import time
import uuid

from sqlalchemy.orm import Session, sessionmaker

from hospes.storage.notify import Listener, notify


def test_a_committed_notify_wakes_the_listener(database_url: str, sessions: sessionmaker[Session]) -> None:
    channel = f"hospes_test_{uuid.uuid4().hex[:8]}"
    woken = threading.Event()
    if not database_url.startswith("postgresql"):
        with sessions.begin() as session:
            notify(session, channel)  # nothing to do, and no error
        return
    listener = Listener(database_url, {channel: woken.set})
    listener.start()
    try:
        time.sleep(1.0)  # the listener's LISTEN is in place
        with sessions() as session:
            notify(session, channel)
            session.rollback()  # rolled back: nobody is woken
        assert not woken.wait(1.5)
        with sessions.begin() as session:
            notify(session, channel)
        assert woken.wait(5)
    finally:
        listener.stop()
