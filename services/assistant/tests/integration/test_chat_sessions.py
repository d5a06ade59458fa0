"""A customer's chat sessions: listed newest first, page by page, only their own; one
deleted with its messages (an `assistant.session.deleted` event), 404 for anyone else."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.assistant.tests.shop import bearer, process_env, rebuild_projections
from tests.support.stack import search_stack

ANN, BOB = bearer("ann", "customer"), bearer("bob", "customer")


@pytest.fixture
async def assistant(clean_database, redis_url, stream_prefix, chroma_url):
    async with search_stack(
        clean_database, redis_url, stream_prefix, chroma_url, indexer=False
    ) as s:
        yield s.assistant


async def _start(client, who: dict[str, str], title: str) -> str:
    response = await client.post("/api/v1/chat/sessions", json={"title": title}, headers=who)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _rows(database_url: str, sql: str, **params: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text(sql), params)).scalar_one())
    finally:
        await engine.dispose()


async def test_sessions_are_listed_newest_first_page_by_page_owner_only(assistant) -> None:
    ids = [await _start(assistant, ANN, f"chat {n}") for n in range(3)]
    bobs = await _start(assistant, BOB, "bob's")
    first = await assistant.get("/api/v1/chat/sessions", params={"limit": 2}, headers=ANN)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [s["id"] for s in page["items"]] == [ids[2], ids[1]]
    assert page["items"][0]["title"] == "chat 2" and page["items"][0]["message_count"] == 0
    second = await assistant.get(
        "/api/v1/chat/sessions", params={"limit": 2, "cursor": page["next_cursor"]}, headers=ANN
    )
    assert [s["id"] for s in second.json()["items"]] == [ids[0]]
    assert second.json()["next_cursor"] is None
    theirs = (await assistant.get("/api/v1/chat/sessions", headers=BOB)).json()["items"]
    assert [s["id"] for s in theirs] == [bobs]
    assert (await assistant.get("/api/v1/chat/sessions")).status_code == 401
    bad = await assistant.get("/api/v1/chat/sessions", params={"cursor": "nope"}, headers=ANN)
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["query", "cursor"]


async def test_a_deleted_session_goes_with_its_messages(assistant, clean_database) -> None:
    session_id = await _start(assistant, ANN, "to forget")
    kept = await _start(assistant, ANN, "to keep")
    sent = await assistant.post(
        f"/api/v1/chat/sessions/{session_id}/messages",
        json={"content": "a tent for two"},
        headers=ANN,
    )
    assert sent.status_code == 200, sent.text
    count = "SELECT count(*) FROM assistant.messages WHERE session_id = CAST(:s AS uuid)"
    assert await _rows(clean_database, count, s=session_id) == 2

    for someone_else in (BOB,):
        refused = await assistant.delete(
            f"/api/v1/chat/sessions/{session_id}", headers=someone_else
        )
        assert refused.status_code == 404, refused.text
    assert (await assistant.delete(f"/api/v1/chat/sessions/{session_id}")).status_code == 401

    deleted = await assistant.delete(f"/api/v1/chat/sessions/{session_id}", headers=ANN)
    assert deleted.status_code == 204, deleted.text
    assert (
        await assistant.get(f"/api/v1/chat/sessions/{session_id}", headers=ANN)
    ).status_code == 404
    listed = (await assistant.get("/api/v1/chat/sessions", headers=ANN)).json()["items"]
    assert [s["id"] for s in listed] == [kept]
    assert await _rows(clean_database, count, s=session_id) == 0
    events = (
        "SELECT count(*) FROM assistant.events"
        " WHERE type = 'assistant.session.deleted' AND subject = :s"
    )
    assert await _rows(clean_database, events, s=session_id) == 1

    again = await assistant.delete(f"/api/v1/chat/sessions/{session_id}", headers=ANN)
    assert again.status_code == 404
    late = await assistant.post(
        f"/api/v1/chat/sessions/{session_id}/messages", json={"content": "hello?"}, headers=ANN
    )
    assert late.status_code == 404
    unknown = "0c6e4f0e-0000-4000-8000-000000000000"
    assert (
        await assistant.delete(f"/api/v1/chat/sessions/{unknown}", headers=ANN)
    ).status_code == 404


async def test_a_rebuild_of_the_projections_keeps_a_deleted_session_deleted(
    assistant, clean_database, redis_url, stream_prefix
) -> None:
    gone = await _start(assistant, ANN, "gone")
    kept = await _start(assistant, ANN, "kept")
    for session_id in (gone, kept):
        sent = await assistant.post(
            f"/api/v1/chat/sessions/{session_id}/messages", json={"content": "hi"}, headers=ANN
        )
        assert sent.status_code == 200, sent.text
    assert (await assistant.delete(f"/api/v1/chat/sessions/{gone}", headers=ANN)).status_code == 204
    rebuild_projections(process_env(clean_database, redis_url, stream_prefix))
    listed = (await assistant.get("/api/v1/chat/sessions", headers=ANN)).json()["items"]
    assert [(s["id"], s["message_count"]) for s in listed] == [(kept, 2)]
    count = "SELECT count(*) FROM assistant.messages WHERE session_id = CAST(:s AS uuid)"
    assert await _rows(clean_database, count, s=gone) == 0
    assert await _rows(clean_database, count, s=kept) == 2
