"""Settings every service shares; each service subclasses with its own fields."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Read from the environment and `.env`; names are the documented env vars."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/marcus"
    redis_url: str = "redis://127.0.0.1:6379/0"
    stream_prefix: str = ""
    log_level: str = "info"
    log_format: str = "json"
    """`json` (one object per line: request/trace/event ids) or `text` for a terminal."""

    host: str = "127.0.0.1"
    port: int = 8000
    db_pool_size: int = 10
    max_body_bytes: int = 1024 * 1024
    """Larger request bodies get 413 (the gateway's limit is the same 1 MB)."""

    relay_enabled: bool = True
    relay_poll_interval: float = 1.0
    relay_batch_size: int = 500
    stream_maxlen: int = 0
    """0 never trims: rebuilds replay streams from the start; republish restores them."""

    ledger_retention_s: float = Field(default=7 * 24 * 3600, ge=3600)
    """How long a processed event id stays in the consumer ledger (`processed_events`).
    It must outlast every way the same event can reach the group again; see
    docs/runbook.md, "Ledger pruning". At least an hour: longer than any consumer's
    reclaim idle time plus its whole retry backoff chain."""
    ledger_prune_interval_s: float = Field(default=3600, ge=0)
    """How often the ledger is pruned (the first time one interval after start); 0 never."""

    jwt_secret: str = "marcus-dev-secret-change-me-in-production"
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["HS256"])
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
