"""Consumer-group creation and recovery.

Groups are created here, at id 0 with MKSTREAM, before anything subscribes: FastStream
would create them at `$` and silently skip every event already in the stream. When
Redis loses a stream or group (deleted key, restart without persistence), commands fail
with NOGROUP and the runtime calls `ensure_group` again; re-reading from 0 is safe
because the ledger drops what was already processed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

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


# Delete a consumer only if it holds nothing pending, in one atomic step: an entry
# delivered to it between a check and the delete would otherwise leave the PEL with it.
_DELETE_IF_NOTHING_PENDING = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then
  return -1
end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
"""


async def delete_idle_consumers(
    redis: aioredis.Redis, stream: str, group: str, *, keep: str, min_idle_ms: int
) -> list[str]:
    """Delete the consumers of `group` that hold nothing pending and have had nothing
    delivered for `min_idle_ms` (mostly replicas that stopped: each process has its own
    name, host-pid, so names pile up after restarts). A quiet live replica may be deleted
    too: harmless, its next read creates it again, and the check and the delete are one
    atomic script, so no entry is ever delivered to a consumer as it is deleted. Returns
    the names deleted."""
    deleted: list[str] = []
    for consumer in await redis.xinfo_consumers(stream, group):
        name = _text(consumer["name"])
        if name == keep or int(consumer["pending"]) > 0 or int(consumer["idle"]) < min_idle_ms:
            continue
        outcome = await redis.eval(_DELETE_IF_NOTHING_PENDING, 1, stream, group, name)
        if int(outcome) == 0:
            deleted.append(name)
    if deleted:
        log.info("deleted %d idle consumers of %s on %s: %s", len(deleted), group, stream, deleted)
    return deleted


def is_missing_group(exc: BaseException) -> bool:
    """NOGROUP, or the stream key vanished under a blocked read."""
    text = str(exc)
    return isinstance(exc, ResponseError) and (
        "NOGROUP" in text or "no such key" in text or "no longer exists" in text
    )


@dataclass(frozen=True)
class GroupState:
    pending: int
    """Delivered to a consumer, not acknowledged yet."""
    lag: int
    """In the stream, not yet delivered to the group."""


LAG_COUNT_LIMIT = 100_000
"""Redis 6.2 reports no `lag`: it is counted with XRANGE, up to this many entries."""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def group_state(redis: aioredis.Redis, stream: str, group: str) -> GroupState | None:
    """Pending and lag of `group` on `stream` (None if the group does not exist).

    Redis 7 reports lag in XINFO GROUPS; Redis 6.2 (the embedded server of a bare
    machine) does not, so there it is the number of entries after the group's
    last-delivered id.
    """
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:  # no such stream
        return None
    for info in groups:
        if _text(info.get("name")) != group:
            continue
        pending = int(info.get("pending") or 0)
        lag = info.get("lag")
        if lag is not None:
            return GroupState(pending=pending, lag=int(lag))
        return GroupState(pending=pending, lag=await _count_after(redis, stream, info))
    return None


async def _count_after(redis: aioredis.Redis, stream: str, info: dict) -> int:
    start = f"({_text(info.get('last-delivered-id') or '0-0')}"
    counted = 0
    while counted < LAG_COUNT_LIMIT:
        entries = await redis.xrange(stream, min=start, max="+", count=1000)
        if not entries:
            break
        counted += len(entries)
        start = f"({_text(entries[-1][0])}"
    return counted
