"""A leader lease in PostgreSQL: one row per lease, a holder, an expiry, a fencing token.

Every time comparison uses the database's clock, so replicas never disagree because
their clocks drift. A new tenure increments the token; `holds` checks holder and
token inside the transaction that fires a job and locks the row (FOR SHARE), so a
new leader's takeover waits until that fire has committed: a deposed leader, paused
past its expiry, can no longer write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

_ACQUIRE = text(
    """
    INSERT INTO scheduler.leases AS l (name, holder, token, acquired_at, expires_at)
    VALUES (:name, :holder, 1, clock_timestamp(),
            clock_timestamp() + make_interval(secs => :ttl))
    ON CONFLICT (name) DO UPDATE
        SET holder = EXCLUDED.holder, token = l.token + 1,
            acquired_at = EXCLUDED.acquired_at, expires_at = EXCLUDED.expires_at
        WHERE l.expires_at <= clock_timestamp() OR l.holder = EXCLUDED.holder
    RETURNING token, expires_at
    """
)
_RENEW = text(
    """
    UPDATE scheduler.leases SET expires_at = clock_timestamp() + make_interval(secs => :ttl)
    WHERE name = :name AND holder = :holder AND token = :token
      AND expires_at > clock_timestamp()
    RETURNING expires_at
    """
)
_RELEASE = text(
    """
    UPDATE scheduler.leases SET expires_at = clock_timestamp()
    WHERE name = :name AND holder = :holder AND token = :token
    """
)
_HOLDS = text(
    """
    SELECT 1 FROM scheduler.leases
    WHERE name = :name AND holder = :holder AND token = :token
      AND expires_at > clock_timestamp()
    FOR SHARE
    """
)


@dataclass(frozen=True)
class Tenure:
    """One continuous leadership: who, with which fencing token, valid until when."""

    holder: str
    token: int
    expires_at: datetime


class Lease:
    def __init__(self, engine: AsyncEngine, name: str, holder: str, ttl_seconds: float) -> None:
        self.engine = engine
        self.name = name
        self.holder = holder
        self.ttl = ttl_seconds

    async def acquire(self) -> Tenure | None:
        """Take the lease if it is free or expired (or already ours: a new tenure)."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    _ACQUIRE, {"name": self.name, "holder": self.holder, "ttl": self.ttl}
                )
            ).first()
        return Tenure(self.holder, row.token, row.expires_at) if row else None

    async def renew(self, tenure: Tenure) -> Tenure | None:
        """Extend a tenure that has not run out; None means it was lost."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    _RENEW,
                    {
                        "name": self.name,
                        "holder": tenure.holder,
                        "token": tenure.token,
                        "ttl": self.ttl,
                    },
                )
            ).first()
        return Tenure(tenure.holder, tenure.token, row.expires_at) if row else None

    async def release(self, tenure: Tenure) -> None:
        """Expire our tenure now, so a standby takes over at once (clean shutdown)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                _RELEASE, {"name": self.name, "holder": tenure.holder, "token": tenure.token}
            )

    async def holds(self, session: AsyncSession, tenure: Tenure) -> bool:
        """Inside the caller's transaction: is `tenure` still the valid one? (fencing)"""
        result = await session.execute(
            _HOLDS, {"name": self.name, "holder": tenure.holder, "token": tenure.token}
        )
        return result.first() is not None
