"""The consumer runtime: one consumer group per service, FastStream for reading new
entries, redis-py beside it for group creation, reclaiming, dead letters and metrics.

    consumer = Consumer(group="indexer", streams=["catalog"], engine=engine,
                        schema="indexer", redis_url=url, names=StreamNames(prefix))

    @consumer.handler("catalog.product.created", "catalog.product.updated")
    async def on_product(ctx: HandlerContext) -> None:
        if not await ctx.advance():      # stale: a newer sequence was applied already
            return
        await ctx.session.execute(...)   # the effect, in the ledger's transaction

    async with consumer.running():       # or: await consumer.run_forever()
        ...

Guarantees: at-least-once delivery, effects exactly once (the ledger), ack only after
the commit, bounded retries with exponential backoff, then the dead-letter stream
`dlq.<group>`; a database outage holds entries pending without counting it against them.
New entries arrive in batches of `settings.batch`, each one transaction and one XACK
(`marcus_messaging.batch`). See the package README for details.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable, Sequence
from types import ModuleType
from typing import Any

import redis.asyncio as aioredis
from faststream.redis import RedisBroker
from redis.exceptions import RedisError
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from marcus_contracts import EventRegistry, StreamNames
from marcus_contracts import registry as default_registry
from marcus_messaging.availability import DatabaseGate
from marcus_messaging.batch import BatchProcessor
from marcus_messaging.connections import redis_client
from marcus_messaging.groups import delete_idle_consumers, ensure_group, is_missing_group
from marcus_messaging.ledger import Ledger, SequenceGuard, ledger_tables
from marcus_messaging.metrics import refresh_group_gauges
from marcus_messaging.processing import EntryProcessor, Handler
from marcus_messaging.readahead import ReadAhead
from marcus_messaging.reclaim import Reclaimer
from marcus_messaging.registration import bind, registered
from marcus_messaging.replay import DeadLetterReplayer, ReplayResult, ReplayUnavailable
from marcus_messaging.settings import ConsumerSettings
from marcus_messaging.subscription import build_broker

log = logging.getLogger("marcus.messaging")


_heap_frozen = False

_running: dict[str, list[Consumer]] = {}
"""The consumers started in this process, by dead-letter stream: the admin API of a
service finds its group's consumer here to replay a dead letter (`running_consumer`)."""


def running_consumer(dlq_stream: str) -> Consumer | None:
    """A consumer of this process that dead-letters to `dlq_stream` and is running."""
    consumers = _running.get(dlq_stream)
    return consumers[0] if consumers else None


def freeze_heap_once() -> None:
    """`gc.freeze` the heap of a process once (see `ConsumerSettings.freeze_heap`): what
    exists once the consumer runs lives as long as the process. Collect first, so the
    garbage of the start-up is freed rather than frozen."""
    global _heap_frozen
    if _heap_frozen:
        return
    _heap_frozen = True
    gc.collect()
    gc.freeze()


class Consumer:
    """A consumer group member; see the module docstring for usage."""

    def __init__(
        self,
        *,
        group: str,
        streams: Sequence[str],
        engine: AsyncEngine,
        schema: str,
        redis_url: str,
        names: StreamNames | None = None,
        settings: ConsumerSettings | None = None,
        registry: EventRegistry | None = None,
    ) -> None:
        """`streams` names producing services (`"catalog"` reads `events.catalog`);
        `schema` is the consuming service's schema holding the ledger tables."""
        if not streams:
            raise ValueError("a consumer needs at least one stream")
        self.names = names or StreamNames()
        self.group = group
        self.streams = [self.names.events(service) for service in streams]
        self.dlq_stream = self.names.dlq(group)
        self.settings = settings or ConsumerSettings()
        self.registry = registry or default_registry
        self._redis_url = redis_url
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        tables = ledger_tables(MetaData(), schema)
        self.ledger = Ledger(tables, group)
        self.guard = SequenceGuard(tables)
        self._handlers: dict[str, Handler] = {}
        self._redis: aioredis.Redis | None = None
        self._broker: RedisBroker | None = None
        self._subscribers: dict[str, Any] = {}
        self._readers: dict[str, ReadAhead] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._replayer: DeadLetterReplayer | None = None

    @property
    def consumer_name(self) -> str:
        return self.settings.consumer_name

    @property
    def event_types(self) -> list[str]:
        """The event types handlers are registered for (e.g. for the AsyncAPI document)."""
        return sorted(self._handlers)

    def handler(self, *event_types: str) -> Callable[[Handler], Handler]:
        """Register `fn` for these event types (one handler per type)."""
        known = set(self.registry.types())
        for event_type in event_types:
            if event_type not in known:
                raise ValueError(f"unknown event type {event_type!r}")
            if event_type in self._handlers:
                raise ValueError(f"{event_type!r} already has a handler")

        def register(fn: Handler) -> Handler:
            for event_type in event_types:
                self._handlers[event_type] = fn  # run through `tracing.run_handler`
            return fn

        return register

    def include(self, module: ModuleType, **dependencies: Any) -> None:
        """Register every `@handles` function of `module` (`marcus_messaging.registration`),
        binding the keyword-only parameters each names from `dependencies`."""
        for event_type, fn in registered(module).items():
            self.handler(event_type)(bind(fn, dependencies))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Consumer]:
        """Consume while the block runs; stops cleanly (in-flight handlers finish)."""
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    async def run_forever(self) -> None:
        """Consume until SIGTERM or SIGINT (or cancellation): a consumer as a process
        of its own (tests run one so; the services run theirs inside `serve`)."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        signals = (signal.SIGTERM, signal.SIGINT)
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
        try:
            async with self.running():
                await stop.wait()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    async def start(self) -> None:
        """Create the groups at 0, then start the subscribers, reclaim loop and metrics."""
        if self._broker is not None:
            raise RuntimeError("consumer already started")
        self._stopping = asyncio.Event()
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise
        _running.setdefault(self.dlq_stream, []).append(self)
        if self.settings.freeze_heap:
            freeze_heap_once()
        log.info("consumer %s of group %s reading %s", self.consumer_name, self.group, self.streams)

    async def _start(self) -> None:
        redis = self._redis = redis_client(self._redis_url, self.settings.redis)
        for stream in self.streams:
            await ensure_group(redis, stream, self.group)
        processor = EntryProcessor(
            group=self.group,
            consumer=self.consumer_name,
            redis=redis,
            sessions=self._sessions,
            ledger=self.ledger,
            guard=self.guard,
            handlers=self._handlers,
            registry=self.registry,
            settings=self.settings,
            dlq_stream=self.dlq_stream,
            gate=DatabaseGate(
                self._engine,
                group=self.group,
                retry_ms=self.settings.database_retry_ms,
                retry_max_ms=self.settings.database_retry_max_ms,
            ),
        )
        reclaimer = Reclaimer(
            redis=redis,
            group=self.group,
            consumer=self.consumer_name,
            processor=processor,
            settings=self.settings,
        )
        self._replayer = DeadLetterReplayer(
            processor=processor, redis=redis, engine=self._engine, dlq_stream=self.dlq_stream
        )
        self._broker = self._build_broker(processor)
        await self._broker.start()
        self._tasks = [
            asyncio.create_task(self._maintain(reclaimer), name=f"reclaim-{self.group}"),
            asyncio.create_task(self._report_lag(), name=f"lag-{self.group}"),
        ]

    async def replay_dead_letter(self, letter_id: str) -> ReplayResult:
        """Run one letter of this group's DLQ through the group's handler, exactly once
        (`marcus_messaging.replay`). Raises `DeadLetterNotFound`, `ReplayInProgress`,
        or `ReplayUnavailable` (also when this consumer is not running)."""
        if self._replayer is None or self._stopping.is_set():
            raise ReplayUnavailable(f"the consumer of group {self.group} is not running")
        return await self._replayer.replay(letter_id)

    async def stop(self) -> None:
        """Stop reading, let the handlers in flight finish (up to `shutdown_timeout_s`)."""
        self._stopping.set()
        peers = _running.get(self.dlq_stream, [])
        if self in peers:
            peers.remove(self)
        self._replayer = None
        await asyncio.gather(self._stop_tasks(), self._stop_broker())
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def _stop_tasks(self) -> None:
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=self.settings.shutdown_timeout_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _stop_broker(self) -> None:
        if self._broker is not None:
            await self._broker.stop()
            self._broker = None
            self._subscribers = {}
        # Reading has stopped; the batches handed over finish (or are rolled back).
        readers, self._readers = self._readers, {}
        for reader in readers.values():
            await reader.drain(self.settings.shutdown_timeout_s)

    def _build_broker(self, processor: EntryProcessor) -> RedisBroker:
        broker, self._subscribers = build_broker(
            redis_url=self._redis_url,
            streams=self.streams,
            group=self.group,
            settings=self.settings,
            batches=BatchProcessor(processor),
            stopping=self._stopping,
            readers=self._readers,
        )
        return broker

    async def _maintain(self, reclaimer: Reclaimer) -> None:
        """Reclaim loop, also restarting subscribers that FastStream stopped on NOGROUP."""
        interval = self.settings.reclaim_interval_ms / 1000
        while not self._stopping.is_set():
            try:
                await self._revive_subscribers()
                await reclaimer.reclaim(self.streams, self._stopping)
            except RedisError as exc:
                await self._recover(exc, "reclaim")
            except Exception:
                log.exception("reclaim pass of group %s failed", self.group)
            await self._sleep(interval)

    async def _revive_subscribers(self) -> None:
        assert self._redis is not None
        for stream, subscriber in self._subscribers.items():
            if subscriber.running or self._stopping.is_set():
                continue
            log.warning("subscriber of %s stopped (group lost?); recreating it", stream)
            await ensure_group(self._redis, stream, self.group)
            if not self._stopping.is_set():
                await subscriber.start()

    async def _report_lag(self) -> None:
        """Group gauges every `metrics_interval_ms`; idle consumers deleted now and then."""
        interval = self.settings.metrics_interval_ms / 1000
        cleanup_every = self.settings.consumer_cleanup_interval_ms / 1000
        next_cleanup = time.monotonic() + min(cleanup_every, interval)
        while not self._stopping.is_set():
            assert self._redis is not None
            try:
                for stream in self.streams:
                    await refresh_group_gauges(self._redis, stream, self.group)
                if self.settings.idle_consumer_ms > 0 and time.monotonic() >= next_cleanup:
                    next_cleanup = time.monotonic() + cleanup_every
                    for stream in self.streams:
                        await delete_idle_consumers(
                            self._redis,
                            stream,
                            self.group,
                            keep=self.consumer_name,
                            min_idle_ms=self.settings.idle_consumer_ms,
                        )
            except RedisError as exc:
                await self._recover(exc, "lag metrics")
            except Exception:
                log.exception("lag metrics of group %s failed", self.group)
            await self._sleep(interval)

    async def _recover(self, exc: RedisError, what: str) -> None:
        """Recreate lost groups; any other Redis error is logged and retried next pass."""
        if not is_missing_group(exc):
            log.warning("%s of group %s failed: %s", what, self.group, exc)
            return
        assert self._redis is not None
        log.warning("group %s lost (%s); recreating it", self.group, exc)
        with contextlib.suppress(RedisError):
            for stream in self.streams:
                await ensure_group(self._redis, stream, self.group)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
