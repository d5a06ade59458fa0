"""Issue 19, finding 6: a Redis that stops answering (SIGSTOP: the process is frozen, its
connections stay open, nothing is reset) is a timeout for every client the services
make, not a hang; after SIGCONT the consumer goes on without losing or repeating an
event. A redis-server of the test's own, real PostgreSQL."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import replace

import pytest
from redis.exceptions import TimeoutError as RedisTimeoutError

from libs.messaging.tests.integration.support import Bus, category_created, publish, wait_for
from libs.messaging.tests.integration.test_consumer import FAST, GROUP
from marcus_messaging import Consumer
from marcus_messaging.connections import RedisTimeouts, redis_client, redis_options
from marcus_web.app import create_service_app
from marcus_web.settings import ServiceSettings
from tests.support.servers import RedisProcess

QUICK = RedisTimeouts(socket_timeout_s=0.5, connect_timeout_s=0.5, health_check_interval_s=1)


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    server = RedisProcess()
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None:
            os.kill(server.proc.pid, signal.SIGCONT)
        server.stop()


def freeze(server: RedisProcess) -> None:
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGSTOP)


def thaw(server: RedisProcess) -> None:
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGCONT)


def test_finding_6_every_client_the_services_make_has_timeouts_and_keepalive() -> None:
    options = redis_options(blocking_ms=1_000)  # FastStream's broker: XREADGROUP BLOCK 1 s
    assert options["socket_timeout"] == RedisTimeouts().socket_timeout_s + 1
    assert options["socket_connect_timeout"] and options["health_check_interval"]
    assert options["socket_keepalive"] is True
    app = create_service_app(
        ServiceSettings(redis_socket_timeout_s=2.5),
        service="catalog",
        title="t",
        description="d",
        routers=[],
        relay=False,
    )
    kwargs = app.state.redis.connection_pool.connection_kwargs  # the relay's and probes'
    assert kwargs["socket_timeout"] == 2.5 and kwargs["socket_keepalive"] is True


async def test_finding_6_a_frozen_redis_is_a_timeout_not_a_hang(own_redis: RedisProcess) -> None:
    client = redis_client(own_redis.url, QUICK)
    try:
        assert await client.ping()
        freeze(own_redis)
        with pytest.raises(RedisTimeoutError):
            await client.xadd("s", {"event": b"{}"})
        thaw(own_redis)
        assert await client.ping()  # a new connection; the timed-out one was dropped
    finally:
        thaw(own_redis)
        await client.aclose()


async def test_finding_6_consumers_recover_after_a_freeze_without_loss(
    bus: Bus, own_redis: RedisProcess
) -> None:
    stream = bus.stream
    consumer = bus.recorder(GROUP, replace(FAST, redis=QUICK), redis_url=own_redis.url)

    producer = redis_client(own_redis.url, QUICK)
    sent = []
    try:
        async with consumer.running():
            for i in range(5):
                sent.append(str((envelope := category_created(f"before-{i}")).id))
                await publish(producer, stream, envelope)
            await bus.effects_until(lambda rows: len(rows) >= 5)
            freeze(own_redis)
            during = category_created("during")
            with pytest.raises(RedisTimeoutError):  # the outage, as a producer sees it
                await publish(producer, stream, during)
            # While frozen, the consumer's own client times out (its loops retry).
            await wait_for(
                lambda: _times_out(consumer), lambda yes: yes, what="the consumer's timeout"
            )
            thaw(own_redis)
            for i in range(5):
                sent.append(str((envelope := category_created(f"after-{i}")).id))
                await publish(producer, stream, envelope)
            rows = await bus.effects_until(
                lambda rows: set(sent) <= {row[0] for row in rows}, what="every event's effect"
            )
    finally:
        thaw(own_redis)
        await producer.aclose()
    ids = [row[0] for row in rows]
    assert len(ids) == len(set(ids))  # none twice
    # A timeout says nothing of the command: the frozen server still had it in its socket
    # buffer and ran it once thawed (at-least-once from the producer's side).
    assert set(ids) - set(sent) <= {str(during.id)}


async def _times_out(consumer: Consumer) -> bool:
    """Whether a command on the consumer's own Redis client times out (it has timeouts)."""
    redis = consumer._redis
    assert redis is not None
    try:
        await redis.ping()
    except RedisTimeoutError:
        return True
    return False
