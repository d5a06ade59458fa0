"""The operations API of a consumer group (`marcus_web.admin`) against real Redis and
PostgreSQL: lag and pending as the group really has them, a poisoned event dead-lettered
and replayed into its own group exactly once, and the 404 / 409 / 422 / 503 answers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from libs.messaging.tests.integration.support import (
    category_created,
    consumer_of,
    effects,
    fast_settings,
    publish,
    recording,
    wait_for,
)
from marcus_contracts import STREAM_FIELD, StreamNames
from marcus_messaging import Consumer, HandlerContext, ensure_group
from marcus_web import ownership
from marcus_web.admin import admin_router
from marcus_web.auth import TokenVerifier
from marcus_web.observability import Check
from marcus_web.problems import install_problem_handlers
from marcus_web.settings import ServiceSettings
from tests.support.auth import admin_headers
from tests.support.proxy import TcpProxy

SERVICE = "notifier"
SECRET = "admin-api-tests-secret-0123456789abcdef"
ADMIN = admin_headers(secret=SECRET)
BASE = f"/api/v1/admin/{SERVICE}"
SETTINGS = fast_settings("replica-1", max_deliveries=2, freeze_heap=False)


class Poison:
    """The handler's fault: while `broken`, a category named 'poison' raises. `gate`,
    when set, holds the handler until it is released (a replay in progress)."""

    def __init__(self) -> None:
        self.broken = True
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()


def poisoned_consumer(
    engine: AsyncEngine,
    schema: str,
    redis_url: str,
    names: StreamNames,
    poison: Poison,
    source: str = "catalog",
) -> Consumer:
    async def fault(ctx: HandlerContext) -> None:
        if ctx.event.model_dump()["name"] != "poison":
            return
        poison.entered.set()
        if poison.gate is not None:
            await poison.gate.wait()
        if poison.broken:
            raise RuntimeError("boom: the template for poison is missing")

    consumer = consumer_of(SERVICE, source, engine, schema, redis_url, names, SETTINGS)
    return recording(consumer, schema, fault)


@dataclass
class Poisoned:
    """A test's poisoned consumer (not yet running), its fault, and where its effects are."""

    consumer: Consumer
    poison: Poison
    engine: AsyncEngine
    schema: str

    async def recorded(self) -> list[Any]:
        """The effects its handler recorded (and committed)."""
        return list(await effects(self.engine, self.schema))


def admin_app(
    redis: aioredis.Redis,
    names: StreamNames,
    checks: Mapping[str, Check] | None = None,
    source: str = "catalog",
) -> FastAPI:
    """The router as `create_service_app` mounts it, on an app of its own."""
    app = FastAPI()
    install_problem_handlers(app)
    app.state.redis = redis
    app.state.token_verifier = TokenVerifier(ServiceSettings(jwt_secret=SECRET))
    app.include_router(admin_router(SERVICE, [source], checks or {}, names))
    return app


@asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
        yield client


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    answer = await client.get(f"{BASE}{path}", headers=ADMIN, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def dead_lettered(client: httpx.AsyncClient, count: int = 1) -> list[dict[str, Any]]:
    async def page() -> Any:
        return await get(client, "/dead-letters")

    found = await wait_for(page, lambda p: len(p["entries"]) >= count, what="dead letters")
    entries: list[dict[str, Any]] = found["entries"]
    return entries


@pytest.fixture
def poisoned(engine: AsyncEngine, schema: str, redis_url: str, names: StreamNames) -> Poisoned:
    poison = Poison()
    consumer = poisoned_consumer(engine, schema, redis_url, names, poison)
    return Poisoned(consumer, poison, engine, schema)


@asynccontextmanager
async def one_dead_letter(
    consumer: Consumer, redis_client: aioredis.Redis, names: StreamNames
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    """The consumer running, the admin API's client, and a poisoned event dead-lettered."""
    async with consumer.running(), client_of(admin_app(redis_client, names)) as client:
        await publish(redis_client, names.events("catalog"), category_created("poison"))
        [letter] = await dead_lettered(client)
        yield client, letter


async def test_lag_pending_and_consumers_as_the_group_has_them(
    redis_client: aioredis.Redis, names: StreamNames
) -> None:
    stream = names.events("catalog")
    async with client_of(admin_app(redis_client, names)) as client:
        before = await get(client, "/consumers")
        assert before["streams"][0]["exists"] is False
        assert before["dead_letters"] == {"stream": names.dlq(SERVICE), "size": 0}

        await ensure_group(redis_client, stream, SERVICE)
        ids = [await publish(redis_client, stream, category_created()) for _ in range(3)]
        waiting = (await get(client, "/consumers"))["streams"][0]
        assert (waiting["lag"], waiting["pending"], waiting["consumers"]) == (3, 0, [])

        await redis_client.xreadgroup(SERVICE, "stopped-replica", {stream: ">"}, count=2)
        held = (await get(client, "/consumers"))["streams"][0]

    assert (held["stream"], held["group"], held["exists"]) == (stream, SERVICE, True)
    assert (held["lag"], held["pending"]) == (1, 2)
    assert [(c["name"], c["pending"]) for c in held["consumers"]] == [("stopped-replica", 2)]
    assert held["oldest_pending_id"] == ids[0]
    assert held["oldest_pending_deliveries"] == 1
    assert held["oldest_pending_age_ms"] >= 0


async def test_a_poisoned_event_replayed_after_its_fix_is_applied_once(
    poisoned: Poisoned, redis_client: aioredis.Redis, names: StreamNames
) -> None:
    good, bad = category_created("Shoes"), category_created("poison")
    async with poisoned.consumer.running(), client_of(admin_app(redis_client, names)) as client:
        assert (await get(client, "/consumers"))["replay_available"] is True
        await publish(redis_client, names.events("catalog"), good)
        origin = await publish(redis_client, names.events("catalog"), bad)
        [letter] = await dead_lettered(client)
        assert letter["origin_stream"] == names.events("catalog")
        assert letter["origin_id"] == origin
        assert (letter["event_type"], letter["event_id"]) == (bad.type, str(bad.id))
        assert letter["error"] == "RuntimeError: boom: the template for poison is missing"
        assert letter["attempts"] == SETTINGS.max_deliveries
        assert [row[0] for row in await poisoned.recorded()] == [str(good.id)]

        poisoned.poison.broken = False  # the fix is deployed
        replayed = await client.post(f"{BASE}/dead-letters/{letter['id']}/replay", headers=ADMIN)
        assert replayed.status_code == 200, replayed.text
        assert replayed.json() == {
            "entry_id": letter["id"],
            "outcome": "processed",
            "event_type": bad.type,
            "event_id": str(bad.id),
            "error": None,
            "dead_letter_id": None,
        }
        assert (await get(client, "/dead-letters"))["size"] == 0
        again = await client.post(f"{BASE}/dead-letters/{letter['id']}/replay", headers=ADMIN)
        assert again.status_code == 404, again.text
        assert again.json()["detail"]

        # The same event parked once more (a replica that gave up on a copy after the
        # commit): its replay finds it in the ledger and does nothing.
        fields = {STREAM_FIELD: bad.to_json(), "origin_stream": letter["origin_stream"]}
        copy: Any = await redis_client.xadd(names.dlq(SERVICE), fields)  # type: ignore[arg-type]
        duplicate = await client.post(f"{BASE}/dead-letters/{copy.decode()}/replay", headers=ADMIN)
        assert duplicate.json()["outcome"] == "duplicate"
        group = (await get(client, "/consumers"))["streams"][0]

    assert sorted(row[0] for row in await poisoned.recorded()) == sorted(
        [str(good.id), str(bad.id)]
    )
    assert (group["lag"], group["pending"]) == (0, 0)
    # Nothing went back on the origin stream: no other group sees the event again.
    assert await redis_client.xlen(names.events("catalog")) == 2


async def test_a_replay_that_fails_again_puts_the_letter_back_with_its_error(
    poisoned: Poisoned, redis_client: aioredis.Redis, names: StreamNames
) -> None:
    async with one_dead_letter(poisoned.consumer, redis_client, names) as (client, letter):
        answer = await client.post(f"{BASE}/dead-letters/{letter['id']}/replay", headers=ADMIN)
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result["outcome"] == "failed"
        assert result["error"] == "RuntimeError: boom: the template for poison is missing"
        [back] = (await get(client, "/dead-letters"))["entries"]
        gone = await client.post(f"{BASE}/dead-letters/{letter['id']}/replay", headers=ADMIN)

    assert back["id"] == result["dead_letter_id"] != letter["id"]
    assert back["replayed_from"] == letter["id"]
    assert back["attempts"] == letter["attempts"] + 1
    assert (back["origin_id"], back["event_id"]) == (letter["origin_id"], letter["event_id"])
    assert gone.status_code == 404
    assert await poisoned.recorded() == []  # each failed try rolled back


async def test_a_second_replay_of_a_letter_being_replayed_is_a_conflict(
    poisoned: Poisoned, redis_client: aioredis.Redis, names: StreamNames
) -> None:
    poison = poisoned.poison
    async with one_dead_letter(poisoned.consumer, redis_client, names) as (client, letter):
        poison.broken, poison.gate = False, asyncio.Event()
        poison.entered.clear()
        url = f"{BASE}/dead-letters/{letter['id']}/replay"
        first = asyncio.create_task(client.post(url, headers=ADMIN))
        await asyncio.wait_for(poison.entered.wait(), 30)
        second = await client.post(url, headers=ADMIN)
        poison.gate.set()
        done = await first

    assert second.status_code == 409, second.text
    assert second.json()["detail"]
    assert done.json()["outcome"] == "processed"
    assert len(await poisoned.recorded()) == 1


async def test_replay_answers_503_and_changes_nothing_while_postgresql_is_down(
    database_url: str,
    schema: str,
    redis_url: str,
    redis_client: aioredis.Redis,
    names: StreamNames,
) -> None:
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.up()
    proxied = create_async_engine(url.set(host="127.0.0.1", port=proxy.port), pool_size=2)
    poison = Poison()
    consumer = poisoned_consumer(proxied, schema, redis_url, names, poison)
    try:
        async with one_dead_letter(consumer, redis_client, names) as (client, letter):
            poison.broken = False
            await proxy.down()
            answer = await client.post(f"{BASE}/dead-letters/{letter['id']}/replay", headers=ADMIN)
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"]
            assert [e["id"] for e in (await get(client, "/dead-letters"))["entries"]] == [
                letter["id"]
            ]
            await proxy.up()
            after = await client.post(f"{BASE}/dead-letters/{letter['id']}/replay", headers=ADMIN)
            assert after.json()["outcome"] == "processed"
    finally:
        await proxy.down()
        await proxied.dispose()


async def test_no_running_consumer_discard_and_bad_input(
    redis_client: aioredis.Redis, names: StreamNames
) -> None:
    dlq = names.dlq(SERVICE)
    letter: Any = await redis_client.xadd(dlq, {STREAM_FIELD: b"not json", "error": "bad"})
    letter_id = letter.decode()
    async with client_of(admin_app(redis_client, names)) as client:
        [listed] = (await get(client, "/dead-letters"))["entries"]
        no_consumer = await client.post(f"{BASE}/dead-letters/{letter_id}/replay", headers=ADMIN)
        bad_id = await client.post(f"{BASE}/dead-letters/not-an-id/replay", headers=ADMIN)
        bad_limit = await client.get(f"{BASE}/dead-letters", params={"limit": 0}, headers=ADMIN)
        anonymous = await client.get(f"{BASE}/dead-letters")
        discarded = await client.delete(f"{BASE}/dead-letters/{letter_id}", headers=ADMIN)
        discarded_again = await client.delete(f"{BASE}/dead-letters/{letter_id}", headers=ADMIN)
        largest = "9999999999999999999-9999999999999999999"  # still two 64-bit numbers
        unknown = await client.delete(f"{BASE}/dead-letters/{largest}", headers=ADMIN)
        past_the_end = await get(client, "/dead-letters", after=largest)
        too_large = await client.delete(f"{BASE}/dead-letters/{largest}9", headers=ADMIN)

    assert (listed["id"], listed["event_type"], listed["error"]) == (letter_id, None, "bad")
    assert no_consumer.status_code == 503 and no_consumer.json()["detail"]
    assert bad_id.status_code == 422 and bad_limit.status_code == 422
    assert anonymous.status_code == 401
    assert (discarded.status_code, discarded_again.status_code) == (204, 404)
    assert (unknown.status_code, past_the_end["entries"], too_large.status_code) == (404, [], 422)
    assert await redis_client.xlen(dlq) == 0


async def test_pages_of_dead_letters(redis_client: aioredis.Redis, names: StreamNames) -> None:
    dlq = names.dlq(SERVICE)
    ids = []
    for n in range(5):
        added: Any = await redis_client.xadd(dlq, {STREAM_FIELD: b"{}", "error": f"e{n}"})
        ids.append(added.decode())
    async with client_of(admin_app(redis_client, names)) as client:
        first = await get(client, "/dead-letters", limit=2)
        second = await get(client, "/dead-letters", limit=2, after=first["next_after"])
        last = await get(client, "/dead-letters", limit=2, after=second["next_after"])
    assert [e["id"] for e in first["entries"] + second["entries"] + last["entries"]] == ids
    assert last["next_after"] is None and first["size"] == 5


@pytest.mark.parametrize("failing", [False, True])
async def test_health_reports_each_readiness_check(
    redis_client: aioredis.Redis, names: StreamNames, failing: bool
) -> None:
    async def redis_check() -> None:
        await redis_client.ping()

    async def chroma_check() -> None:
        if failing:
            raise ConnectionRefusedError("chroma down")

    checks = {"redis": redis_check, "chroma": chroma_check}
    async with client_of(admin_app(redis_client, names, checks)) as client:
        health = await get(client, "/health")
    expected = "failed: ConnectionRefusedError" if failing else "ok"
    assert health == {
        "service": SERVICE,
        "status": "unavailable" if failing else "ok",
        "checks": {"redis": "ok", "chroma": expected},
    }


async def test_the_groups_reading_its_own_stream_as_the_owner_sees_them(
    redis_client: aioredis.Redis, names: StreamNames
) -> None:
    """A stopped consumer cannot answer for itself: the stream's owner reports its lag."""
    own = names.events(SERVICE)
    for group in ("orders", "catalog"):
        await ensure_group(redis_client, own, group)
    for _ in range(2):
        await publish(redis_client, own, category_created())
    await redis_client.xreadgroup("catalog", "reader", {own: ">"}, count=1)
    async with client_of(admin_app(redis_client, names)) as client:
        readers = (await get(client, "/consumers"))["readers"]
    assert [(r["stream"], r["group"], r["lag"], r["pending"]) for r in readers] == [
        (own, "catalog", 1, 1),
        (own, "orders", 2, 0),
    ]


async def test_everything_works_as_the_services_own_redis_user(
    engine: AsyncEngine,
    schema: str,
    redis_url: str,
    redis_client: aioredis.Redis,
    stream_prefix: str,
    names: StreamNames,
) -> None:
    """Inspection, replay and discard need nothing the notifier's ACL user lacks (ADR
    0012): reads of the stream it consumes, its own stream and its own DLQ."""
    if why := ownership.can_bootstrap_acl(redis_url):
        pytest.skip(why)
    password = uuid.uuid4().hex
    user = ownership.bootstrap_acl_user(redis_url, SERVICE, password, stream_prefix)
    own_url = ownership.service_redis_url(redis_url, user, password)
    own = aioredis.from_url(own_url)
    poison = Poison()
    consumer = poisoned_consumer(engine, schema, own_url, names, poison, source="orders")
    try:
        await ensure_group(redis_client, names.events(SERVICE), "someone")
        app = admin_app(own, names, source="orders")
        async with consumer.running(), client_of(app) as client:
            await publish(redis_client, names.events("orders"), category_created("poison"))
            await publish(redis_client, names.events("orders"), category_created("poison"))
            first, second = await dead_lettered(client, 2)
            report = await get(client, "/consumers")
            poison.broken = False
            replayed = await client.post(f"{BASE}/dead-letters/{first['id']}/replay", headers=ADMIN)
            discarded = await client.delete(f"{BASE}/dead-letters/{second['id']}", headers=ADMIN)
    finally:
        await own.aclose()
        ownership.drop_acl_user(redis_url, SERVICE, stream_prefix)
    assert [(s["stream"], s["lag"], s["pending"]) for s in report["streams"]] == [
        (names.events("orders"), 0, 0)
    ]
    assert [r["group"] for r in report["readers"]] == ["someone"]
    assert replayed.json()["outcome"] == "processed", replayed.text
    assert discarded.status_code == 204
    assert await redis_client.xlen(names.dlq(SERVICE)) == 0
