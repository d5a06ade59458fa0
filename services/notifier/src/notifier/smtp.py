"""Sending over SMTP (aiosmtplib). One connection per message: order e-mails are few,
and a fresh connection never inherits a half-broken session from an SMTP outage."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from email.message import EmailMessage

import aiosmtplib

from notifier.settings import NotifierSettings

SEND_ERRORS: tuple[type[BaseException], ...] = (aiosmtplib.SMTPException, OSError, TimeoutError)
"""What a failed send raises: refused, reset, timed out, or the server said no."""


class Mailer:
    def __init__(self, settings: NotifierSettings) -> None:
        self._settings = settings

    async def send(self, message: EmailMessage, accepted: Callable[[str], Awaitable[None]]) -> str:
        """Send; raises SEND_ERRORS unless the server accepted the message. Once it did
        (its reply to DATA), `accepted(reply)` runs before anything else, QUIT included:
        the time in which the message is out but not recorded as sent ends there. The
        session then closes; how it does (QUIT refused, connection reset) is ignored,
        since the message was taken. Returns the reply (e.g. "250 OK")."""
        s = self._settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            timeout=s.smtp_timeout_s,
            username=s.smtp_username,
            password=s.smtp_password,
            start_tls=s.smtp_starttls,
        )
        await client.connect()
        try:
            _, reply = await client.send_message(message)
        except BaseException:
            client.close()
            raise
        try:
            await accepted(reply)
        finally:
            try:
                await client.quit()
            except SEND_ERRORS:
                client.close()
        return reply
