"""Sending over SMTP (aiosmtplib). One connection per message: order e-mails are few,
and a fresh connection never inherits a half-broken session from an SMTP outage."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from notifier.settings import NotifierSettings

SEND_ERRORS: tuple[type[BaseException], ...] = (aiosmtplib.SMTPException, OSError, TimeoutError)
"""What a failed send raises: refused, reset, timed out, or the server said no."""


class Mailer:
    def __init__(self, settings: NotifierSettings) -> None:
        self._settings = settings

    async def send(self, message: EmailMessage) -> str:
        """Send; returns the server's final reply (e.g. "250 OK"), raises SEND_ERRORS."""
        s = self._settings
        _, reply = await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            timeout=s.smtp_timeout_s,
            username=s.smtp_username,
            password=s.smtp_password,
            start_tls=s.smtp_starttls,
        )
        return reply
