"""Sending over SMTP (aiosmtplib), one session for many e-mails.

A session (connect, greeting, EHLO, STARTTLS, AUTH) costs more CPU and round trips than
the mail transaction (MAIL, RCPT, DATA) it carries, so the mailer keeps its session open
for the next e-mail and closes it (QUIT) once it has been idle `SMTP_SESSION_IDLE_S`
seconds (0: a fresh session per e-mail). Sends are serialised on it (one transaction at a
time, as SMTP requires). Any failed send discards the session: the next e-mail starts a
fresh one, never a half-broken one. A kept session the server has dropped meanwhile
(idle timeout, restart) fails before DATA; that send is made again at once on a fresh
session, since nothing of it reached the server. A failure from DATA on is raised as
before: the server may have taken the message (see `notifier.deliveries`).

TLS: STARTTLS is used whenever the server offers it (`SMTP_STARTTLS` unset; true requires
it, false never asks), with the server's certificate verified (`SMTP_CA_FILE` for a
private CA). Credentials are never sent over a plain connection: with `SMTP_USERNAME`
set, a session that is not encrypted after the greeting is closed before AUTH and the
send fails (retried, then dead-lettered, like any refused send)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from notifier.settings import NotifierSettings

SEND_ERRORS: tuple[type[BaseException], ...] = (aiosmtplib.SMTPException, OSError, TimeoutError)
"""What a failed send raises: refused, reset, timed out, or the server said no."""

DROPPED: tuple[type[BaseException], ...] = (aiosmtplib.SMTPServerDisconnected, ConnectionError)
"""How a kept session the server has closed meanwhile fails."""


@dataclass(frozen=True)
class WireMessage:
    """A message already in its wire form (CRLF line ends), with its envelope: sent as
    it is, with no parsing of its headers and no flattening (`notifier.emails`)."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes


Outgoing = EmailMessage | WireMessage
"""What the mailer sends: an `EmailMessage` is flattened and addressed from its
headers (aiosmtplib's `send_message`), a `WireMessage` sent as it is."""


class PlainAuthRefused(aiosmtplib.SMTPException):
    """The server offered no TLS, and credentials are not sent in the clear."""


class Session(aiosmtplib.SMTP):
    """An SMTP client that knows whether its current transaction reached DATA: before
    that, a dropped session has delivered nothing and the send can be made again."""

    data_started = False

    async def data(self, message: str | bytes, *args: Any, **kwargs: Any) -> Any:
        self.data_started = True
        return await super().data(message, *args, **kwargs)


class Mailer:
    def __init__(self, settings: NotifierSettings) -> None:
        if settings.smtp_username is not None and settings.smtp_starttls is False:
            raise ValueError("SMTP_USERNAME needs TLS: leave SMTP_STARTTLS unset or true")
        self._settings = settings
        self._tls = ssl.create_default_context(cafile=settings.smtp_ca_file)
        self._session: Session | None = None
        self._lock: asyncio.Lock | None = None
        self._idle_close: asyncio.TimerHandle | None = None
        self._closing: asyncio.Future[None] | None = None
        self.sessions_opened = 0
        """Sessions connected so far (tests read it: reuse is behaviour, not timing)."""

    async def send(self, message: Outgoing, accepted: Callable[[str], Awaitable[None]]) -> str:
        """Send; raises SEND_ERRORS unless the server accepted the message. Once it did
        (its reply to DATA), `accepted(reply)` runs before anything else, the next
        e-mail's transaction included: the time in which the message is out but not
        recorded as sent ends there. Returns the reply (e.g. "250 OK")."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            self._cancel_idle_close()
            kept = self._session is not None
            try:
                try:
                    reply = await self._transaction(message)
                except DROPPED:
                    if not kept or self._session_reached_data():
                        raise
                    self._discard()  # dropped while kept, before DATA: nothing was sent
                    reply = await self._transaction(message)
            except BaseException:
                self._discard()
                raise
            try:
                await accepted(reply)
            finally:
                await self._keep_or_quit()
            return reply

    async def close(self) -> None:
        """QUIT the kept session, if any (the service stopping)."""
        self._cancel_idle_close()
        await self._quit()

    async def _transaction(self, message: Outgoing) -> str:
        session = self._session or await self._open()
        session.data_started = False
        if isinstance(message, WireMessage):
            _, reply = await session.sendmail(message.sender, message.recipients, message.data)
        else:
            _, reply = await session.send_message(message)
        return reply

    async def _open(self) -> Session:
        s = self._settings
        session = Session(
            hostname=s.smtp_host,
            port=s.smtp_port,
            timeout=s.smtp_timeout_s,
            start_tls=s.smtp_starttls,
            tls_context=self._tls,
        )
        await session.connect()
        self.sessions_opened += 1
        self._session = session
        if s.smtp_username is not None:
            if session.get_transport_info("sslcontext") is None:
                raise PlainAuthRefused(
                    f"{s.smtp_host}:{s.smtp_port} offers no STARTTLS: the SMTP password"
                    " is not sent over a plain connection"
                )
            await session.login(s.smtp_username, s.smtp_password or "")
        return session

    def _session_reached_data(self) -> bool:
        return self._session is None or self._session.data_started

    async def _keep_or_quit(self) -> None:
        idle = self._settings.smtp_session_idle_s
        if idle <= 0:
            await self._quit()
            return
        self._idle_close = asyncio.get_running_loop().call_later(idle, self._start_idle_quit)

    def _start_idle_quit(self) -> None:
        self._closing = asyncio.ensure_future(self._quit_idle())  # referenced until done

    async def _quit_idle(self) -> None:
        if self._lock is None or self._lock.locked():
            return  # a send is using the session; it schedules the next idle close
        async with self._lock:
            await self._quit()

    async def _quit(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            await session.quit()
        except SEND_ERRORS:
            session.close()  # the messages were taken; how the session ends is moot

    def _cancel_idle_close(self) -> None:
        if self._idle_close is not None:
            self._idle_close.cancel()
            self._idle_close = None

    def _discard(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()
