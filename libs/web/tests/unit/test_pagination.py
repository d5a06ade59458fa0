"""Pagination cursors: they round-trip, anything else is refused, and a bad one is answered
over HTTP exactly like FastAPI's own 422 for a query parameter (each service's endpoint is
tested with its data in its own suite)."""

from __future__ import annotations

import uuid
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, Query

from marcus_web.openapi import install_honest_openapi
from marcus_web.pagination import (
    CURSOR_RESPONSES,
    InvalidCursor,
    PageCursor,
    decode_cursor,
    encode_cursor,
)
from marcus_web.problems import PROBLEM_JSON, install_problem_handlers
from tests.support.servers import serve_app

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
SEVEN = encode_cursor(uuid.UUID(int=7))


def test_a_cursor_round_trips_and_is_url_safe_without_padding() -> None:
    for last_id in (uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.uuid4()):
        cursor = encode_cursor(last_id)
        assert len(cursor) == 22 and "=" not in cursor
        assert set(cursor) <= set(ALPHABET)
        assert decode_cursor(cursor) == last_id


@pytest.mark.parametrize(
    "text",
    [
        "!!",
        "%%%",
        "abc",  # too short for an id
        SEVEN + "AAAA",  # too long
        SEVEN + "==",  # padded: base64 forgives it, we don't
        "!!" + SEVEN + "==",  # stray characters base64 would skip
        SEVEN[:-1] + ALPHABET[ALPHABET.index(SEVEN[-1]) ^ 1],  # same id, other spare bits
        str(uuid.UUID(int=7)),  # an id, not a cursor
    ],
)
def test_anything_but_an_encoded_id_is_refused(text: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(text)


def listing_app() -> FastAPI:
    """The shape of every list endpoint: a bounded page size and a cursor."""
    app = FastAPI()
    install_problem_handlers(app)
    install_honest_openapi(app)

    @app.get("/items", responses=CURSOR_RESPONSES)
    async def items(
        after: PageCursor, limit: Annotated[int, Query(ge=1, le=100)] = 20
    ) -> dict[str, str | None]:
        return {"after": str(after) if after else None}

    return app


async def test_a_bad_cursor_is_the_same_422_as_any_bad_query_parameter() -> None:
    last_id = uuid.uuid4()
    async with serve_app(listing_app()) as url, httpx.AsyncClient(base_url=url) as client:
        good = await client.get("/items", params={"cursor": encode_cursor(last_id)})
        assert good.json() == {"after": str(last_id)}
        for first_page in ({}, {"cursor": ""}):
            assert (await client.get("/items", params=first_page)).json() == {"after": None}

        bad_limit = await client.get("/items", params={"limit": "0"})
        too_long = await client.get("/items", params={"cursor": "A" * 65})
        bad_cursor = await client.get("/items", params={"cursor": "not-ours"})
        for reply in (bad_limit, too_long, bad_cursor):
            assert reply.status_code == 422
            assert reply.headers["content-type"] == PROBLEM_JSON
        shape = {key: value for key, value in bad_limit.json().items() if key != "errors"}
        for reply in (too_long, bad_cursor):
            body = reply.json()
            assert {key: value for key, value in body.items() if key != "errors"} == shape
            [error] = body["errors"]
            assert error["loc"] == ["query", "cursor"]
        assert bad_cursor.json()["errors"][0]["type"] == "value_error"
        assert "cursor" in bad_cursor.json()["errors"][0]["msg"]

        operation = (await client.get("/openapi.json")).json()["paths"]["/items"]["get"]
        assert "cursor" in operation["responses"]["422"]["description"]
        [cursor] = [p for p in operation["parameters"] if p["name"] == "cursor"]
        assert cursor["in"] == "query" and not cursor["required"]
