"""Leader election on the lease: acquire, renew, step down, and say so.

Exactly one replica holds the lease and runs the jobs; the others poll and take over
once it runs out (`lease_ttl_seconds` after the leader's last renewal, e.g. when it was
killed) or at once when the leader released it on a clean shutdown. The lease makes
one replica active; the fence in the fire's transaction and the unique run make a
duplicate fire harmless even when two replicas briefly both believe they lead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import DBAPIError

from scheduler.storage.lease import Lease, Tenure

log = logging.getLogger("marcus.scheduler")

Callback = Callable[[Tenure], Awaitable[None]]
SHUTDOWN = "shutting down"


class Leadership:
    def __init__(
        self,
        lease: Lease,
        *,
        poll_seconds: float,
        on_elected: Callback,
        on_deposed: Callback,
    ) -> None:
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.renew_seconds = lease.ttl / 3
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.tenure: Tenure | None = None

    @property
    def is_leader(self) -> bool:
        return self.tenure is not None

    async def run(self, stop: asyncio.Event) -> None:
        """Lead or stand by until `stop` is set; survives database outages."""
        try:
            while not stop.is_set():
                try:
                    await self._step()
                except (DBAPIError, OSError) as exc:
                    log.warning("scheduler lease: database unavailable (%s)", exc)
                    await self._depose("cannot reach the database to renew")
                except Exception:  # never let one surprise end scheduling for good
                    log.exception("scheduler lease: unexpected failure")
                    await self._depose("unexpected failure")
                await _wait(stop, self.renew_seconds if self.tenure else self.poll_seconds)
        finally:
            tenure = self.tenure
            await self._depose(SHUTDOWN)
            if tenure is not None:
                with contextlib.suppress(DBAPIError, OSError):
                    await self.lease.release(tenure)

    async def _step(self) -> None:
        if self.tenure is None:
            tenure = await self.lease.acquire()
            if tenure is not None:
                self.tenure = tenure
                log.info("scheduler %s leads (token %d)", tenure.holder, tenure.token)
                await self.on_elected(tenure)
            return
        renewed = await self.lease.renew(self.tenure)
        if renewed is None:
            await self._depose("the lease ran out before it was renewed")
        else:
            self.tenure = renewed

    async def _depose(self, reason: str) -> None:
        tenure, self.tenure = self.tenure, None
        if tenure is not None:
            log.log(
                logging.INFO if reason == SHUTDOWN else logging.WARNING,
                "scheduler %s stands down: %s",
                tenure.holder,
                reason,
            )
            await self.on_deposed(tenure)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
