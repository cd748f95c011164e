"""The loop the background workers share (mail delivery, bulk-invite jobs, the provisioning runner, housekeeping)."""

from __future__ import annotations

import logging
import threading


class BackgroundLoop:
    """A daemon thread calling ``pass_once`` until ``stop``: again at once when it reports that more work may be
    waiting, otherwise after ``poll_seconds`` or as soon as ``wake`` is called (a new row was committed)."""

    thread_name = "background"
    failure_message = "background pass failed; retrying after the poll interval"
    logger = logging.getLogger("hospes")

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_seconds(self) -> float:
        raise NotImplementedError

    def pass_once(self) -> bool:
        """One round of work; True when more may be waiting right now."""
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=self.thread_name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.pass_once():
                    continue
            except Exception:
                self.logger.exception(self.failure_message)
            self._wake.wait(self.poll_seconds())
            self._wake.clear()


def owner_id() -> str:
    """Who holds a lease in the database: host, process and a random part (a restarted process is someone else)."""
    import os
    import socket
    import uuid

    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
