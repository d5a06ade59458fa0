"""Dead-lettering: park an entry the group gave up on, then acknowledge it; read,
discard and re-park dead letters (the admin API, `marcus_messaging.replay`).

The dead-letter entry keeps the original `event` field untouched (so it can be replayed
into the group's own handler, `Consumer.replay_dead_letter`) and adds why and where it
came from. XADD and XACK go in one MULTI, so the entry is never both lost and
acknowledged, nor parked twice by one replica.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
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
REPLAYED_FROM_FIELD = "replayed_from"
MAX_ERROR_CHARS = 4_000
ENTRY_ID = re.compile(r"^\d{1,19}-\d{1,19}$")
"""A stream entry id (`<ms>-<seq>`): what an admin may name a dead letter by. At most 19
digits each, so every id matching it is one Redis accepts (two 64-bit numbers)."""


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


@dataclass(frozen=True)
class ParkedLetter:
    """A dead letter as the DLQ stream holds it, for the admin API."""

    id: str
    """Its id in the dead-letter stream."""
    origin_stream: str
    origin_id: str
    event: bytes | None
    error: str
    deliveries: int
    group: str
    consumer: str
    replayed_from: str | None
    """The dead letter this one replaced when a replay failed again."""

    @property
    def failed_at(self) -> datetime:
        """When it was parked: the millisecond part of its id."""
        return datetime.fromtimestamp(int(self.id.split("-", 1)[0]) / 1000, UTC)

    @property
    def envelope(self) -> dict[str, Any]:
        """The event's envelope as far as it parses (empty when it does not): the
        listing shows the type and id even of an entry that failed to decode."""
        if not self.event:
            return {}
        try:
            parsed = json.loads(self.event)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def parked(letter_id: Any, fields: dict[bytes, bytes]) -> ParkedLetter:
    def field(name: str) -> str:
        return _text(fields.get(name.encode(), b""))

    event = fields.get(STREAM_FIELD.encode())
    deliveries = field(DELIVERIES_FIELD)
    return ParkedLetter(
        id=_text(letter_id),
        origin_stream=field(STREAM_ORIGIN_FIELD),
        origin_id=field(ID_ORIGIN_FIELD),
        event=event or None,
        error=field(ERROR_FIELD),
        deliveries=int(deliveries) if deliveries.isdigit() else 0,
        group=field(GROUP_FIELD),
        consumer=field(CONSUMER_FIELD),
        replayed_from=field(REPLAYED_FROM_FIELD) or None,
    )


async def list_dead_letters(
    redis: aioredis.Redis, dlq_stream: str, *, limit: int, after: str | None = None
) -> list[ParkedLetter]:
    """Up to `limit` dead letters, oldest first, after the id `after` (exclusive)."""
    start = f"({after}" if after else "-"
    entries: Any = await redis.xrange(dlq_stream, min=start, max="+", count=limit)
    return [parked(letter_id, fields) for letter_id, fields in entries]


async def read_dead_letter(
    redis: aioredis.Redis, dlq_stream: str, letter_id: str
) -> ParkedLetter | None:
    entries: Any = await redis.xrange(dlq_stream, min=letter_id, max=letter_id, count=1)
    return parked(*entries[0]) if entries else None


async def discard_dead_letter(
    redis: aioredis.Redis, dlq_stream: str, letter_id: str, *, by: str
) -> bool:
    """Delete one dead letter (an event nobody will ever need); False if it was not
    there. Logged with who asked and what it was, the only trace it leaves."""
    letter = await read_dead_letter(redis, dlq_stream, letter_id)
    if letter is None:
        return False
    deleted = int(await redis.xdel(dlq_stream, letter_id))
    if deleted:
        log.warning(
            "discarded dead letter %s of %s (%s %s, event %s %s) at the request of %s: %s",
            letter_id,
            dlq_stream,
            letter.origin_stream,
            letter.origin_id,
            letter.envelope.get("type", "?"),
            letter.envelope.get("id", "?"),
            by,
            letter.error.splitlines()[0] if letter.error else "",
        )
    return bool(deleted)


async def repark(
    redis: aioredis.Redis, dlq_stream: str, letter: ParkedLetter, *, error: str, consumer: str
) -> str:
    """A failed replay: the letter goes back to the end of the DLQ with the new error and
    one more delivery, in place of the old one (XADD and XDEL in one MULTI); returns
    the new id."""
    fields: dict[str, str | bytes] = {
        STREAM_FIELD: letter.event if letter.event is not None else b"",
        ERROR_FIELD: error[:MAX_ERROR_CHARS],
        STREAM_ORIGIN_FIELD: letter.origin_stream,
        ID_ORIGIN_FIELD: letter.origin_id,
        DELIVERIES_FIELD: str(letter.deliveries + 1),
        GROUP_FIELD: letter.group,
        CONSUMER_FIELD: consumer,
        REPLAYED_FROM_FIELD: letter.id,
    }
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(dlq_stream, fields)  # type: ignore[arg-type]
        pipe.xdel(dlq_stream, letter.id)
        added, _ = await pipe.execute()
    return _text(added)


async def replay_dead_letters(
    redis: aioredis.Redis, *, dlq_stream: str, count: int = 100, origin_stream: str | None = None
) -> int:
    """Put up to `count` dead letters back on their origin streams (after a fix), oldest
    first, and delete them from `dlq_stream`; returns how many were replayed.

    An operator's tool that needs a Redis user allowed to XADD to the origin stream (no
    service's ACL user is) and redelivers to every group reading it: the admin API
    replays into the one group instead (`Consumer.replay_dead_letter`, ADR 0017).
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
