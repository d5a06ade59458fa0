"""Notifier settings: the shared ones plus SMTP and the retry policy for sends."""

from __future__ import annotations

from pydantic import Field

from marcus_web.settings import ServiceSettings

SERVICE = "notifier"
SCHEMA = "notifier"


class NotifierSettings(ServiceSettings):
    port: int = 8006

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_timeout_s: float = 10.0
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool | None = None
    """STARTTLS: unset (default) when the server offers it, true always (refuse a server
    that does not offer it), false never. AUTH is only ever sent over TLS (notifier.smtp)."""
    smtp_ca_file: str | None = None
    """CA bundle that signs the SMTP server's certificate, when not a public one."""
    smtp_session_idle_s: float = Field(default=10.0, ge=0)
    """An SMTP session is kept open for the next e-mail and closed (QUIT) after this many
    idle seconds; 0: a fresh session per e-mail (notifier.smtp)."""
    mail_from: str = "Marcus shop <orders@marcus.example>"
    message_id_domain: str = "notifier.marcus.example"

    # The notifier group's own defaults (same CONSUMER_* variables; the rest are shared).
    consumer_batch: int = Field(default=10, ge=1)
    consumer_max_deliveries: int = Field(default=10, ge=1)
    """Sends of one e-mail (attempts) before notifier.email.failed and the DLQ."""
    consumer_backoff_max_ms: int = Field(default=60_000, ge=1)
    """The retry delay starts at CONSUMER_BACKOFF_BASE_MS (1 s) and doubles up to this:
    with the defaults an e-mail is tried for about 8 minutes (1+2+4+...+60 s)."""
    consumer_reclaim_min_idle_ms: int = Field(default=60_000, ge=1)
    """Must exceed a batch's worth of sends (batch x smtp_timeout_s)."""
