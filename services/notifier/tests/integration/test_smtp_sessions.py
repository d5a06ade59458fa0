"""The mailer keeps one SMTP session for many e-mails (notifier.smtp): every e-mail still
arrives once, concurrent sends take turns on the session, a session the server dropped
is replaced without losing or repeating the e-mail, a failed send never leaves its
session to the next e-mail, and an idle session is closed. Real SMTP servers (aiosmtpd)
on local sockets; the server counts sessions and QUITs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from notifier.settings import NotifierSettings
from notifier.smtp import SEND_ERRORS, Mailer
from tests.support.servers import free_port


@dataclass
class Server:
    port: int
    received: list[str] = field(default_factory=list)
    """The subject of each message accepted, in order."""
    sessions: int = 0
    quits: int = 0
    refuse: set[str] = field(default_factory=set)
    """Subjects whose DATA is answered 554."""
    controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        """Stops listening and drops every open session (a restart, an idle timeout)."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class _Handler:
    def __init__(self, server: Server) -> None:
        self.server = server

    async def handle_EHLO(
        self, smtp: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.server.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_QUIT(self, smtp: Any, session: Any, envelope: Any) -> str:
        self.server.quits += 1
        return "221 Bye"

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        subject = envelope.content.decode(errors="replace").split("Subject: ")[1].splitlines()[0]
        if subject in self.server.refuse:
            return "554 refused"
        self.server.received.append(subject)
        return "250 OK"


@pytest.fixture
def server() -> Iterator[Server]:
    server = Server(port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _settings(server: Server, **overrides: Any) -> NotifierSettings:
    return NotifierSettings(
        smtp_host="127.0.0.1", smtp_port=server.port, smtp_timeout_s=10, **overrides
    )


def _message(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "orders@marcus.example"
    message["To"] = "alice@example.com"
    message["Subject"] = subject
    message.set_content("Your order is confirmed.")
    return message


async def _send(mailer: Mailer, subject: str, replies: list[tuple[str, str]]) -> None:
    async def accepted(reply: str) -> None:
        replies.append((subject, reply))

    await mailer.send(_message(subject), accepted)


async def test_many_emails_go_over_one_session_each_accepted_once(server: Server) -> None:
    mailer = Mailer(_settings(server))
    replies: list[tuple[str, str]] = []
    for n in range(5):
        await _send(mailer, f"order {n}", replies)
    assert server.received == [f"order {n}" for n in range(5)]
    assert replies == [(f"order {n}", "OK") for n in range(5)]
    assert (mailer.sessions_opened, server.sessions) == (1, 1)
    await mailer.close()
    assert server.quits == 1


async def test_concurrent_sends_take_turns_on_the_session(server: Server) -> None:
    mailer = Mailer(_settings(server))
    replies: list[tuple[str, str]] = []
    subjects = [f"order {n}" for n in range(30)]
    await asyncio.gather(*(_send(mailer, subject, replies) for subject in subjects))
    assert sorted(server.received) == sorted(subjects)
    assert sorted(subject for subject, _ in replies) == sorted(subjects)
    assert mailer.sessions_opened == 1
    await mailer.close()


async def test_a_session_the_server_dropped_is_replaced_and_the_email_sent_once(
    server: Server,
) -> None:
    mailer = Mailer(_settings(server))
    replies: list[tuple[str, str]] = []
    await _send(mailer, "before the restart", replies)
    server.stop()  # the kept session is dropped with it
    server.start()
    await _send(mailer, "after the restart", replies)
    assert server.received == ["before the restart", "after the restart"]
    assert [subject for subject, _ in replies] == server.received
    assert mailer.sessions_opened == 2
    await mailer.close()


async def test_a_server_that_is_away_fails_the_send_and_the_next_one_reconnects(
    server: Server,
) -> None:
    mailer = Mailer(_settings(server))
    replies: list[tuple[str, str]] = []
    await _send(mailer, "first", replies)
    server.stop()
    with pytest.raises(SEND_ERRORS):
        await _send(mailer, "while away", replies)
    server.start()
    await _send(mailer, "back", replies)
    assert server.received == ["first", "back"]
    assert [subject for subject, _ in replies] == ["first", "back"]
    await mailer.close()


async def test_a_refused_send_leaves_no_session_to_the_next_email(server: Server) -> None:
    server.refuse.add("refused")
    mailer = Mailer(_settings(server))
    replies: list[tuple[str, str]] = []
    await _send(mailer, "first", replies)
    with pytest.raises(SEND_ERRORS):
        await _send(mailer, "refused", replies)
    await _send(mailer, "next", replies)
    assert server.received == ["first", "next"]
    assert [subject for subject, _ in replies] == ["first", "next"]
    assert mailer.sessions_opened == 2  # the refused send's session was discarded
    await mailer.close()


async def test_a_session_is_closed_once_idle(server: Server) -> None:
    mailer = Mailer(_settings(server, smtp_session_idle_s=0.05))
    replies: list[tuple[str, str]] = []
    await _send(mailer, "first", replies)
    for _ in range(200):
        if server.quits:
            break
        await asyncio.sleep(0.01)
    assert server.quits == 1
    await _send(mailer, "after the idle close", replies)
    assert server.received == ["first", "after the idle close"]
    assert mailer.sessions_opened == 2
    await mailer.close()


async def test_idle_zero_is_a_fresh_session_per_email(server: Server) -> None:
    mailer = Mailer(_settings(server, smtp_session_idle_s=0))
    replies: list[tuple[str, str]] = []
    for n in range(3):
        await _send(mailer, f"order {n}", replies)
    assert server.received == [f"order {n}" for n in range(3)]
    assert (mailer.sessions_opened, server.sessions, server.quits) == (3, 3, 3)
