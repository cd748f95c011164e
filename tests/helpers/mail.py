"""A real SMTP server on loopback (aiosmtpd) that keeps every message it receives, for end-to-end mail tests."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.helpers.live import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    at: float = field(default_factory=time.time)  # when the relay accepted it

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None and body.get_content_subtype() == subtype
        text: str = body.get_content().replace("\r\n", "\n")
        return text


@dataclass
class _Handler:
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    delay: float = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
            )
        return "250 Message accepted for delivery"


class MailSink:
    """``delay``: seconds the server waits after each message's data before it answers (a slow relay)."""

    def __init__(self, port: int = 0, *, delay: float = 0.0) -> None:
        self.port = port or free_port()
        self.handler = _Handler(delay=delay)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> MailSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.messages)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages, got {len(self.messages)}")

    @property
    def smtp_env(self) -> dict[str, str]:
        """The settings of a live server that delivers to this sink at once."""
        return {
            "HOSPES_SMTP_HOST": "127.0.0.1",
            "HOSPES_SMTP_PORT": str(self.port),
            "HOSPES_SMTP_TIMEOUT_SECONDS": "2",
            "HOSPES_MAIL_POLL_INTERVAL_SECONDS": "0.1",
        }

    def wait_for_rcpt(self, address: str, count: int = 1, subject: str = "", timeout: float = 10.0) -> Received:
        """The ``count``-th message received for ``address`` whose subject holds ``subject`` (other tests' mail may
        arrive too)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.messages if address in m.rcpt_tos and subject in str(m.message["Subject"] or "")]
            if len(found) >= count:
                return found[count - 1]
            time.sleep(0.05)
        raise AssertionError(f"no message #{count} ({subject!r}) for {address}")
