"""Consumer-group creation and recovery.

Groups are created here, at id 0 with MKSTREAM, before anything subscribes: FastStream
would create them at `$` and silently skip every event already in the stream. When
Redis loses a stream or group (deleted key, restart without persistence), commands fail
with NOGROUP and the runtime calls `ensure_group` again; re-reading from 0 is safe
because the ledger drops what was already processed.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

log = logging.getLogger("marcus.messaging")


async def ensure_group(redis: aioredis.Redis, stream: str, group: str) -> bool:
    """Create `group` on `stream` at id 0 (and the stream if missing); True if created."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" in str(exc):
            return False
        raise
    log.info("created consumer group %s on %s at 0", group, stream)
    return True


def is_missing_group(exc: BaseException) -> bool:
    """NOGROUP, or the stream key vanished under a blocked read."""
    text = str(exc)
    return isinstance(exc, ResponseError) and (
        "NOGROUP" in text or "no such key" in text or "no longer exists" in text
    )
