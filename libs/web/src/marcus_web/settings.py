"""Settings every service shares; each service subclasses with its own fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from marcus_contracts import StreamNames

if TYPE_CHECKING:
    from marcus_messaging import ConsumerSettings

DEV_JWT_SECRET = "marcus-dev-secret-change-me-in-production"
"""Published in this repository: anyone can sign tokens with it, so never in production."""

MIN_JWT_SECRET_BYTES = 32


class ServiceSettings(BaseSettings):
    """Read from the environment and `.env`; names are the documented env vars."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/marcus"
    redis_url: str = "redis://127.0.0.1:6379/0"
    stream_prefix: str = ""
    redis_socket_timeout_s: float = Field(default=5.0, gt=0)
    """A Redis command without an answer for this long fails (TimeoutError): a frozen
    Redis is an outage the relay and the readiness probe report, not a hang."""
    redis_connect_timeout_s: float = Field(default=5.0, gt=0)
    redis_health_check_interval_s: float = Field(default=15.0, ge=0)
    """A Redis connection idle for longer is PINGed before use (0: never)."""
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
    """The relay trims its stream's consumed entries once it holds more than this many
    (0: off; the scheduler's `STREAM_RETENTION` job bounds streams by age either way)."""

    consumer_enabled: bool = True
    """Run the service's consumer group inside the service process (`consumer.py`)."""
    consumer_batch: int = Field(default=100, ge=1)
    """Entries per read, handled in one transaction (`ConsumerSettings.batch`)."""
    consumer_max_deliveries: int = Field(default=5, ge=1)
    """Deliveries of a failing entry before it is dead-lettered."""
    consumer_reclaim_min_idle_ms: int = Field(default=30_000, ge=1)
    """Idle time after which another replica's pending entry counts as abandoned; must
    cover two batches of the slowest handler."""
    consumer_backoff_base_ms: int = Field(default=1_000, ge=1)
    """Retry delay after the first failed delivery; doubles per delivery."""
    consumer_backoff_max_ms: int = Field(default=300_000, ge=1)
    """Upper bound of the retry delay."""

    ledger_retention_s: float = Field(default=7 * 24 * 3600, ge=3600)
    """How long a processed event id stays in the consumer ledger (`processed_events`).
    It must outlast every way the same event can reach the group again; see
    docs/runbook.md, "Ledger pruning". At least an hour: longer than any consumer's
    reclaim idle time plus its whole retry backoff chain."""
    ledger_prune_interval_s: float = Field(default=3600, ge=0)
    """How often the ledger is pruned (the first time one interval after start); 0 never."""

    idempotency_key_ttl_s: float = Field(default=24 * 3600, ge=60)
    """How long an `Idempotency-Key` is remembered (`<schema>.idempotency_keys`, where a
    service has one): a retry within it replays the first answer, a request after it is
    new. `marcus_web.idempotency` prunes older keys."""
    idempotency_prune_interval_s: float = Field(default=3600, ge=0)
    """How often expired idempotency keys are deleted (first one interval after start); 0
    never."""

    deployment: Literal["development", "production"] | None = None
    """Unset (the default) or `production`: a service refuses to serve with the published
    development JWT secret (`refusals`); only an explicit `development` allows it.
    `production` also refuses any HS256 secret under 32 bytes unless JWKS_URL names an
    identity provider's keys."""

    jwt_secret: str = DEV_JWT_SECRET
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["HS256"])
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_s: float = Field(default=30, ge=0, le=300)
    """Clock skew allowed when checking `exp`, `nbf` and `iat` (seconds)."""
    jwks_timeout_s: float = Field(default=5, gt=0)
    """Timeout of one fetch of the identity provider's keys (JWKS_URL)."""
    jwks_cache_s: float = Field(default=300, gt=0)
    """How long fetched keys are used before they are fetched again."""
    jwks_cooldown_s: float = Field(default=30, ge=0)
    """Least time between two fetches caused by an unknown `kid` (a rotation, or a forger)."""

    def consumer_settings(self) -> ConsumerSettings:
        """The consumer runtime's settings from the CONSUMER_* variables."""
        from marcus_messaging import ConsumerSettings  # the consumer runtime is heavy

        return ConsumerSettings(
            batch=self.consumer_batch,
            max_deliveries=self.consumer_max_deliveries,
            reclaim_min_idle_ms=self.consumer_reclaim_min_idle_ms,
            backoff_base_ms=self.consumer_backoff_base_ms,
            backoff_max_ms=self.consumer_backoff_max_ms,
        )

    def stream_names(self) -> StreamNames:
        """Stream names under this deployment's STREAM_PREFIX."""
        return StreamNames(self.stream_prefix)

    @model_validator(mode="after")
    def _no_known_secret_in_production(self) -> Self:
        """A deployment that forgot JWT_SECRET would accept tokens anyone can mint."""
        if self.deployment != "production" or self.jwks_url:
            return self
        if self.jwt_secret == DEV_JWT_SECRET:
            raise ValueError(
                "DEPLOYMENT=production with the development JWT_SECRET: set JWT_SECRET to "
                f"{MIN_JWT_SECRET_BYTES}+ random bytes, or JWKS_URL"
            )
        if len(self.jwt_secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(
                f"DEPLOYMENT=production needs a JWT_SECRET of at least {MIN_JWT_SECRET_BYTES} bytes"
            )
        return self


def refusals(settings: ServiceSettings) -> list[str]:
    """Why a service must not start serving with these settings (empty: it may).

    Safe by default: the development JWT secret is published in this repository, so a
    process that serves with it must say `DEPLOYMENT=development` explicitly (`make up`
    and the dev compose do; Kubernetes never does). With JWKS_URL, tokens come from an
    identity provider that signs for many audiences: issuer and audience are required.
    Checked when a process starts (`python -m <service> serve`), not when settings are
    built, so tests and tools may still build settings of any kind in-process.
    """
    problems = []
    if settings.jwks_url:
        missing = [
            name
            for name, value in (
                ("JWT_ISSUER", settings.jwt_issuer),
                ("JWT_AUDIENCE", settings.jwt_audience),
            )
            if not value
        ]
        if missing:
            problems.append(
                f"JWKS_URL is set but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                "not: tokens from an identity provider are only accepted for this issuer and "
                "audience; set both"
            )
    elif settings.jwt_secret == DEV_JWT_SECRET and settings.deployment != "development":
        problems.append(
            "JWT_SECRET is the built-in development secret (published in the repository: "
            "anyone can sign tokens with it). Set JWT_SECRET to "
            f"{MIN_JWT_SECRET_BYTES}+ random bytes (or JWKS_URL), or set DEPLOYMENT=development "
            "explicitly to run with it on a development machine"
        )
    return problems
