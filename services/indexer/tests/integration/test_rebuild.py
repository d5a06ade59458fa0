"""Rebuild by replay: zero downtime, exact result, one rebuild per request id."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from marcus_contracts import STREAM_FIELD, StreamNames, registry
from marcus_contracts.events.scheduler import IndexRebuildRequested
from tests.support.search import catalog_snapshot, differences, index_snapshot, seed_products
from tests.support.servers import wait_for
from tests.support.stack import search_stack

PRODUCTS = 120


async def _status(s) -> dict:
    response = await s.indexer.get("/api/v1/admin/index", headers=s.admin)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    "pacing",
    [
        {},
        {"rebuild_write_chunk": 5, "rebuild_write_gap": 0.2},
        {"rebuild_in_flight": 1},
        {"alternate_server": True},
    ],
    ids=["one-upsert-per-batch", "paced-writes", "one-batch-at-a-time", "alternate-server"],
)
async def test_rebuild_while_writes_and_searches_run(
    clean_database, redis_url, stream_prefix, chroma_url, pacing, request
) -> None:
    """Paced or not (ADR 0031), two batches under way or one, built on the server that
    answers searches or on the alternate one (ADR 0035), the rebuild is exact while
    writes and searches run."""
    settings = dict(pacing)
    alt_url = None
    if settings.pop("alternate_server", False):
        alt_url = request.getfixturevalue("chroma_alt_url")
        settings["chroma_alt_url"] = alt_url
    async with search_stack(
        clean_database,
        redis_url,
        stream_prefix,
        chroma_url,
        rebuild_batch=16,
        rebuild_page=50,
        **settings,
    ) as s:
        products = await seed_products(s.catalog, s.admin, PRODUCTS)
        await wait_for(lambda: _lag_zero(s), within=60, what="initial indexing")
        before = (await _status(s))["active_collection"]

        searches: list[int] = []
        empty: list[str] = []
        stop = asyncio.Event()

        async def search_loop() -> None:
            while not stop.is_set():
                response = await s.assistant.get(
                    "/api/v1/search", params={"q": "trail shoe", "k": 5}
                )
                searches.append(response.status_code)
                if response.status_code == 200 and not response.json()["results"]:
                    empty.append(response.json()["collection"])
                await asyncio.sleep(0.01)

        async def write_loop() -> None:
            i = 0
            while not stop.is_set():
                product = products[i % len(products)]
                current = (await s.catalog.get(f"/api/v1/products/{product['id']}")).json()
                await s.catalog.patch(
                    f"/api/v1/products/{product['id']}",
                    json={"name": f"Trail shoe v{i}", "price": f"{60 + i % 30}.00"},
                    headers=s.admin | {"If-Match": f'"{current["version"]}"'},
                )
                if i % 10 == 0:
                    await s.catalog.put(
                        f"/api/v1/products/{product['id']}/stock",
                        json={"stock": i % 3},
                        headers=s.admin,
                    )
                i += 1
                await asyncio.sleep(0.02)

        tasks = [asyncio.create_task(search_loop()), asyncio.create_task(write_loop())]
        requested = await s.indexer.post("/api/v1/admin/index/rebuild", headers=s.admin)
        assert requested.status_code == 202, requested.text
        run_id = requested.json()["run_id"]

        async def finished() -> dict | None:
            run = (
                await s.indexer.get(f"/api/v1/admin/index/rebuilds/{run_id}", headers=s.admin)
            ).json()
            return run if run["status"] in ("done", "failed") else None

        run = await wait_for(finished, within=120, what="rebuild done")
        await asyncio.sleep(0.3)  # a few more writes and searches after the switch
        stop.set()
        await asyncio.gather(*tasks)

        assert run["status"] == "done", run
        assert run["previous_collection"] == before and run["collection"] != before
        assert len(searches) >= 3, "searches did not run during the rebuild"
        assert set(searches) == {200}, f"non-200 during rebuild: {set(searches)}"
        assert empty == [], f"searches without results on {set(empty)}"

        await wait_for(lambda: _lag_zero(s), within=60, what="writes after the rebuild indexed")
        catalog = await catalog_snapshot(s.catalog)
        index = await index_snapshot(chroma_url, redis_url, stream_prefix, alt_url)
        assert differences(catalog, index) == []
        status = await _status(s)
        assert status["active_collection"] == run["collection"]
        assert status["documents"] == PRODUCTS
        assert status["last_rebuild"]["run_id"] == run_id
        listed = await s.indexer.get("/api/v1/admin/index/rebuilds?limit=5", headers=s.admin)
        assert listed.status_code == 200, listed.text
        assert [(r["run_id"], r["outcome"]) for r in listed.json()["items"]][:1] == [
            (run_id, "done")
        ]
        bad = await s.indexer.get("/api/v1/admin/index/rebuilds?limit=0", headers=s.admin)
        assert bad.status_code == 422
        collections = await _chroma_names(chroma_url)
        assert before not in collections, "the old collection was not dropped"
        if alt_url is not None:
            assert run["collection"].endswith("__alt"), "not built on the alternate server"
            assert run["collection"] in await _chroma_names(alt_url)
            assert run["collection"] not in collections

        rebuilt = await _rebuilt_events(redis_url, stream_prefix)
        assert [e.data["run_id"] for e in rebuilt] == [run_id]
        assert rebuilt[0].data["documents"] == run["documents"]
        assert "coalesced_requests" not in rebuilt[0].data, "nothing merged: written as before"


async def test_rebuilds_take_turns_on_the_two_chroma_servers(
    clean_database, redis_url, stream_prefix, chroma_url, chroma_alt_url
) -> None:
    """Each rebuild builds on the server that does not answer searches and drops the
    old collection there after the switch: main -> alternate -> main, with searches
    answered from the active collection's server all along (ADR 0035)."""
    async with search_stack(
        clean_database,
        redis_url,
        stream_prefix,
        chroma_url,
        chroma_alt_url=chroma_alt_url,
        rebuild_batch=8,
    ) as s:
        await seed_products(s.catalog, s.admin, 12, "T")
        await wait_for(lambda: _lag_zero(s), within=60, what="initial indexing")
        first = (await _status(s))["active_collection"]
        assert not first.endswith("__alt"), "the first collection is on the main server"
        answered: list[str] = []
        for expected_suffix in ("__alt", ""):
            requested = await s.indexer.post("/api/v1/admin/index/rebuild", headers=s.admin)
            assert requested.status_code == 202, requested.text
            run_id = requested.json()["run_id"]

            async def done(run_id: str = run_id) -> dict | None:
                path = f"/api/v1/admin/index/rebuilds/{run_id}"
                run = (await s.indexer.get(path, headers=s.admin)).json()
                return run if run["status"] in ("done", "failed") else None

            run = await wait_for(done, within=90, what="rebuild done")
            assert run["status"] == "done", run
            assert run["collection"].endswith("__alt") == (expected_suffix == "__alt")
            found = await s.assistant.get("/api/v1/search", params={"q": "product", "k": 3})
            assert found.status_code == 200, found.text
            assert found.json()["results"], "no hits from the new collection"
            answered.append(found.json()["collection"])
        on_main, on_alt = await _chroma_names(chroma_url), await _chroma_names(chroma_alt_url)
        assert answered[-1] in on_main and answered[-1] not in on_alt
        assert first not in on_main, "the first collection was not dropped"
        assert answered[0] not in on_alt, "the alternate server's collection was not dropped"
        ready = await s.assistant.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert (await s.indexer.get("/readyz")).status_code == 200


async def test_a_rebuild_request_delivered_twice_rebuilds_once(
    clean_database, redis_url, stream_prefix, chroma_url, redis_client
) -> None:
    async with search_stack(clean_database, redis_url, stream_prefix, chroma_url) as s:
        await seed_products(s.catalog, s.admin, 5, "Q")
        await wait_for(lambda: _lag_zero(s), within=60, what="initial indexing")
        event = IndexRebuildRequested(job="index-rebuild", fire_time=datetime.now(UTC))
        envelope = registry.envelope(event, subject="index-rebuild", sequence=1)
        stream = StreamNames(stream_prefix).events("scheduler")
        for _ in range(2):
            await redis_client.xadd(stream, {STREAM_FIELD: envelope.to_json()})

        async def rebuilt() -> list:
            events = await _rebuilt_events(redis_url, stream_prefix)
            status = await _status(s)
            return (
                events
                if events and status["current_rebuild"] is None and status["lag"]["total"] == 0
                else []
            )

        events = await wait_for(rebuilt, within=90, what="the rebuild")
        await asyncio.sleep(1.0)  # time for a second (wrong) rebuild to show up
        events = await _rebuilt_events(redis_url, stream_prefix)
        assert len(events) == 1
        assert events[0].data["request_id"] == str(envelope.id)
        assert events[0].data["documents"] == 5


async def _lag_zero(s) -> bool:
    response = await s.indexer.get("/api/v1/admin/index", headers=s.admin)
    return (
        response.status_code == 200
        and response.json()["lag"]["total"] == 0
        and response.json()["documents"] is not None
    )


async def _chroma_names(chroma_url: str) -> set[str]:
    from marcus_search.chroma import connect

    client = await connect(chroma_url)
    return {c.name for c in await client.list_collections()}


async def _rebuilt_events(redis_url: str, prefix: str) -> list:
    import redis.asyncio as aioredis

    from marcus_contracts import Envelope

    client = aioredis.from_url(redis_url)
    try:
        entries = await client.xrange(StreamNames(prefix).events("indexer"))
    finally:
        await client.aclose()
    envelopes = [Envelope.from_json(fields[STREAM_FIELD.encode()]) for _, fields in entries]
    return [e for e in envelopes if e.type == "indexer.index.rebuilt"]


async def test_a_rebuild_whose_alias_write_fails_after_the_switch_stays_done(
    clean_database, redis_url, stream_prefix, chroma_url, redis_client
) -> None:
    """Redis is gone for the alias write right after the switch committed: the run is
    done and reported once, its collection stays active (not dropped as a failed run's),
    and the alias keeper's next pass points search at it."""
    import uuid

    import redis.asyncio as aioredis
    from sqlalchemy import text

    from indexer.alias import publish_alias
    from indexer.runtime import IndexerRuntime
    from indexer.storage import runs as runs_store
    from marcus_search import AliasStore
    from marcus_web.app import make_engine
    from tests.support.servers import free_port
    from tests.support.stack import indexer_settings

    # No catalog runs here: the run starts from a replay of the (empty) stream; what is
    # tested is what happens after its switch, the same for either source.
    settings = indexer_settings(
        clean_database, redis_url, stream_prefix, chroma_url, rebuild_source="replay"
    )
    engine = make_engine(settings)
    redis = aioredis.from_url(redis_url)
    gone = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
    try:
        runtime = IndexerRuntime(settings, engine, redis)
        await runtime.connect()
        assert runtime.worker is not None
        before = await runtime.alias.read()
        assert before is not None
        runtime.worker.rebuilder.alias = AliasStore(gone, settings.stream_prefix)
        async with runtime.sessions.begin() as session:
            requested = await runs_store.request(session, uuid.uuid4(), "test")

        assert await runtime.worker.run_pending() == requested.id
        assert await runtime.worker.run_pending() is None, "nothing left to run"

        async with runtime.sessions() as session:
            run = await runs_store.get(session, requested.id)
            active = (
                await session.execute(
                    text("SELECT name FROM indexer.collections WHERE status = 'active'")
                )
            ).scalar_one()
            outcomes = (
                await session.execute(
                    text("SELECT type FROM indexer.events WHERE subject = :run"),
                    {"run": str(requested.id)},
                )
            ).scalars()
            reported = list(outcomes)
        assert run is not None and run.status == "done" and run.attempts == 1
        assert active == run.collection != before.collection
        assert reported == ["indexer.index.rebuilt"]
        assert run.collection in await _chroma_names(chroma_url), "kept, not abandoned"
        assert (await runtime.alias.read()) == before, "the alias write did fail"

        await publish_alias(runtime.sessions, runtime.alias)  # the alias keeper's pass
        after = await runtime.alias.read()
        assert after is not None and after.collection == run.collection
    finally:
        await gone.aclose()
        await redis.aclose()
        await engine.dispose()
