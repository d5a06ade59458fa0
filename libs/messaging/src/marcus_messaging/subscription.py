"""The FastStream side: a RedisBroker whose stream subscribers hand raw batches over.

One batch subscriber per stream (`StreamSub(batch=True)`: one XREADGROUP of up to
`settings.batch` new entries, delivered as one message and handed to the stream's
`ReadAhead`, which triages it and lets it commit while the next is read), with a parser
that passes the entries through untouched (producers XADD a bare `event` field, not
FastStream's envelope), manual acks (the runtime acks after its commit) and FastStream's
own logging kept off the hot path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from faststream import AckPolicy, Context
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.message import (
    FAKE_CONSUMER,
    BatchStreamMessage,
    RedisBatchStreamMessage,
)

from marcus_contracts import STREAM_FIELD
from marcus_messaging.batch import BatchProcessor
from marcus_messaging.connections import redis_options
from marcus_messaging.processing import Entry
from marcus_messaging.readahead import ReadAhead
from marcus_messaging.settings import ConsumerSettings

faststream_log = logging.getLogger("marcus.messaging.faststream")

_FIELD = STREAM_FIELD.encode()
_FETCH_ERROR = "Message fetch error"  # FastStream's text for a failed XREADGROUP


class BrokerLog:
    """FastStream's logger for one consumer. Its per-message lines ("Received",
    "Processed") arrive at DEBUG, so they cost one level check per batch; its errors keep
    their level, except the fetch error that stopping provokes (the broker closes its
    connection under a blocked XREADGROUP), which is expected and demoted to DEBUG."""

    def __init__(self, stopping: asyncio.Event) -> None:
        self._stopping = stopping

    def log(
        self,
        level: int,
        msg: Any,
        /,
        *,
        exc_info: Any = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        if self._stopping.is_set() and msg == _FETCH_ERROR:
            level = logging.DEBUG
        if faststream_log.isEnabledFor(level):
            faststream_log.log(level, msg, exc_info=exc_info, extra=extra)


def build_broker(
    *,
    redis_url: str,
    streams: Sequence[str],
    group: str,
    settings: ConsumerSettings,
    batches: BatchProcessor,
    stopping: asyncio.Event,
    readers: dict[str, ReadAhead],
) -> tuple[RedisBroker, dict[str, Any]]:
    """The broker and its subscriber per stream (the runtime restarts those that
    FastStream stopped on NOGROUP). Each stream's batches go through a `ReadAhead`,
    put into `readers` (the runtime drains them when it stops)."""
    broker = RedisBroker(
        redis_url,
        **redis_options(settings.redis, blocking_ms=settings.block_ms),
        graceful_timeout=settings.shutdown_timeout_s,
        logger=BrokerLog(stopping),
        log_level=logging.DEBUG,  # per-batch "Received"/"Processed" lines
    )

    subscribers: dict[str, Any] = {}
    for stream in streams:
        reader = readers[stream] = ReadAhead(batches, stopping)

        subscriber = broker.subscriber(
            stream=StreamSub(
                stream,
                group=group,
                consumer=settings.consumer_name,
                batch=True,
                polling_interval=settings.block_ms,
                max_records=settings.batch,
            ),
            ack_policy=AckPolicy.MANUAL,  # acked by the processor, after the commit
            parser=_parse_batch,
            decoder=_decode_batch,
        )
        subscriber(_handing_over_to(reader))
        subscribers[stream] = subscriber
    return broker, subscribers


def _handing_over_to(reader: ReadAhead) -> Any:
    async def on_batch(message: RedisBatchStreamMessage = Context("message")) -> None:
        await reader.submit(entries_of(message.raw_message))

    return on_batch


def entries_of(message: BatchStreamMessage) -> list[Entry]:
    """Entries read with `>` are always on their first delivery."""
    stream = message["channel"]
    return [
        Entry(stream, entry_id.decode(), fields.get(_FIELD), 1)
        for entry_id, fields in zip(message["message_ids"], message["data"], strict=True)
    ]


async def _parse_batch(message: BatchStreamMessage) -> RedisBatchStreamMessage:
    """Hand batches over raw, without FastStream's own parser."""
    first = message["message_ids"][0].decode() if message["message_ids"] else ""
    return RedisBatchStreamMessage(
        raw_message=message,
        body=b"",
        consumer=FAKE_CONSUMER,
        group=None,
        message_id=first,
        correlation_id=first,
    )


async def _decode_batch(message: RedisBatchStreamMessage) -> Any:
    return None
