"""Dead-lettering: park an entry the group gave up on, then acknowledge it.

The dead-letter entry keeps the original `event` field untouched (so it can be replayed
by XADDing it back) and adds why and where it came from. XADD and XACK go in one MULTI,
so the entry is never both lost and acknowledged, nor parked twice by one replica.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from marcus_contracts import STREAM_FIELD

log = logging.getLogger("marcus.messaging")

ERROR_FIELD = "error"
STREAM_ORIGIN_FIELD = "origin_stream"
ID_ORIGIN_FIELD = "origin_id"
DELIVERIES_FIELD = "deliveries"
GROUP_FIELD = "group"
CONSUMER_FIELD = "consumer"
MAX_ERROR_CHARS = 4_000


@dataclass(frozen=True)
class DeadLetter:
    stream: str
    entry_id: str
    event: bytes | None
    error: str
    deliveries: int


async def dead_letter(
    redis: aioredis.Redis, *, dlq_stream: str, group: str, consumer: str, letter: DeadLetter
) -> None:
    """XADD the entry to `dlq_stream` with its error info and XACK the original."""
    fields: dict[str, str | bytes] = {
        STREAM_FIELD: letter.event if letter.event is not None else b"",
        ERROR_FIELD: letter.error[:MAX_ERROR_CHARS],
        STREAM_ORIGIN_FIELD: letter.stream,
        ID_ORIGIN_FIELD: letter.entry_id,
        DELIVERIES_FIELD: str(letter.deliveries),
        GROUP_FIELD: group,
        CONSUMER_FIELD: consumer,
    }
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(dlq_stream, fields)  # type: ignore[arg-type]
        pipe.xack(letter.stream, group, letter.entry_id)
        await pipe.execute()
    log.error(
        "dead-lettered %s %s of group %s after %d deliveries to %s: %s",
        letter.stream,
        letter.entry_id,
        group,
        letter.deliveries,
        dlq_stream,
        letter.error.splitlines()[0] if letter.error else "",
    )


async def replay_dead_letters(
    redis: aioredis.Redis, *, dlq_stream: str, count: int = 100, origin_stream: str | None = None
) -> int:
    """Put up to `count` dead letters back on their origin streams (after a fix), oldest
    first, and delete them from `dlq_stream`; returns how many were replayed.

    Safe to repeat: an event that did commit before being parked is a ledger duplicate.
    `origin_stream` limits the replay to letters that came from that stream.
    """
    replayed = 0
    entries: Any = await redis.xrange(dlq_stream, count=count)
    for letter_id, fields in entries:
        origin = fields.get(STREAM_ORIGIN_FIELD.encode(), b"").decode()
        event = fields.get(STREAM_FIELD.encode())
        if not origin or not event or (origin_stream and origin != origin_stream):
            continue  # nothing replayable (an entry without an event field) or filtered out
        async with redis.pipeline(transaction=True) as pipe:
            pipe.xadd(origin, {STREAM_FIELD: event})
            pipe.xdel(dlq_stream, letter_id)
            await pipe.execute()
        replayed += 1
    log.info("replayed %d dead letters from %s", replayed, dlq_stream)
    return replayed
