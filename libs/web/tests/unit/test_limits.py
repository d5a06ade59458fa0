"""Where unstorable text is found in a parsed JSON document (the HTTP behaviour is tested
over real processes in tests/fuzzing/test_input_limits.py)."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from marcus_web.limits import InputLimitsMiddleware, body_locations, unstorable_locations


def test_nul_and_unpaired_surrogates_are_found_at_any_depth_keys_included() -> None:
    document = json.loads(
        '{"a": "ok", "b": ["x", {"c": "bad\\u0000"}], "k\\ud800": 1, "d": "\\udfff"}'
    )
    assert unstorable_locations(document) == [("b", "1", "c"), (), ("d",)]


def test_valid_text_emoji_pairs_included_is_not_flagged() -> None:
    body = b'{"name": "\\ud83d\\udeb2 e\\u0301 \\u05e1", "n": 1, "x": null}'
    assert body_locations(body) == []
    assert body_locations(b'{"name": "\\u0000"}') == [("body", "name")]


def test_bodies_that_are_not_json_are_left_to_the_route() -> None:
    assert body_locations(b'{"name": "\\u0000"') == []
    assert body_locations(b"[" * 100_000 + b'"\\u0000"' + b"]" * 100_000) == []


# --- finding 1 (issue 19): the media type's case must not decide whether a body is checked ---

MIXED_CASE_JSON = [
    "application/JSON",
    "Application/Json",
    "APPLICATION/JSON; charset=UTF-8",
    "application/merge-patch+JSON",
    "application/vnd.marcus+Json",
]


class Title(BaseModel):
    title: str


def _app_storing_what_it_parses() -> tuple[FastAPI, list[str]]:
    """A route as the services write them (a pydantic body), behind the input limits."""
    stored: list[str] = []
    app = FastAPI()

    @app.post("/titles")
    async def create(body: Title) -> dict[str, str]:
        stored.append(body.title)
        return {"title": body.title}

    app.add_middleware(InputLimitsMiddleware)
    return app, stored


@pytest.mark.parametrize("content_type", MIXED_CASE_JSON)
async def test_finding_1_mixed_case_json_content_type_with_nul_is_422(content_type: str) -> None:
    app, stored = _app_storing_what_it_parses()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for escaped in ("a\\u0000b", "a\\ud800b"):
            reply = await http.post(
                "/titles",
                content=f'{{"title": "{escaped}"}}',
                headers={"Content-Type": content_type},
            )
            assert reply.status_code == 422, reply.text
            assert reply.headers["content-type"] == "application/problem+json"
            assert reply.json()["errors"][0]["loc"] == ["body", "title"]
        fine = await http.post(
            "/titles", content='{"title": "caf\\u00e9"}', headers={"Content-Type": content_type}
        )
    assert fine.status_code == 200, fine.text  # FastAPI parses every one of them as JSON
    assert stored == ["café"]


async def test_finding_1_a_body_without_a_json_content_type_is_checked_too() -> None:
    app, stored = _app_storing_what_it_parses()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for headers in ({}, {"Content-Type": "text/plain"}, {"Content-Type": "JSON"}):
            reply = await http.post("/titles", content='{"title": "\\u0000"}', headers=headers)
            assert reply.status_code == 422, (headers, reply.text)
    assert stored == []
