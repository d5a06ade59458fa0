"""Notifier settings: the shared ones plus SMTP and the retry policy for sends."""

from __future__ import annotations

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
    mail_from: str = "Marcus shop <orders@marcus.example>"
    message_id_domain: str = "notifier.marcus.example"

    consumer_enabled: bool = True
    consumer_batch: int = 10
    consumer_max_deliveries: int = 10
    """Sends of one e-mail (attempts) before notifier.email.failed and the DLQ."""
    consumer_backoff_base_ms: int = 1_000
    """Delay after the first failed send; doubles per attempt up to the max. With the
    defaults an e-mail is tried for about 8 minutes (1+2+4+...+60 s) before giving up."""
    consumer_backoff_max_ms: int = 60_000
    consumer_reclaim_min_idle_ms: int = 60_000
    """Must exceed a batch's worth of sends (batch x smtp_timeout_s)."""
