"""Dead-lettering: park an entry the group gave up on, then acknowledge it.

The dead-letter entry keeps the original `event` field untouched (so it can be replayed
by XADDing it back) and adds why and where it came from. XADD and XACK go in one MULTI,
so the entry is never both lost and acknowledged, nor parked twice by one replica.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

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
