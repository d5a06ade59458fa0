"""`ModelResponse` answers the same JSON document FastAPI writes for the same model
through `response_model`, without the second validation."""

from __future__ import annotations

import json
from decimal import Decimal

from fastapi import FastAPI, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel

from marcus_web.responses import ModelResponse


class Line(BaseModel):
    name: str
    price: Decimal
    score: float
    tags: list[str]


class Answer(BaseModel):
    query: str
    best: Line | None
    lines: list[Line]


ANSWER = Answer(
    query="vélo léger ≤ 100 €",
    best=None,
    lines=[
        Line(name="Lampe « avant »", price=Decimal("19.90"), score=0.1 + 0.2, tags=["a"]),
        Line(name="Trail", price=Decimal("100"), score=1e-7, tags=[]),
    ],
)


def app() -> FastAPI:
    api = FastAPI()

    @api.get("/fastapi", response_model=Answer)
    async def through_fastapi() -> Answer:
        return ANSWER

    @api.get("/direct", response_model=Answer)
    async def direct() -> Response:
        return ModelResponse(ANSWER, headers={"x-kind": "direct"})

    return api


def test_the_same_document_as_fastapi_writes() -> None:
    client = TestClient(app())
    fastapi, direct = client.get("/fastapi"), client.get("/direct")
    assert direct.status_code == 200 and direct.headers["content-type"] == "application/json"
    assert direct.headers["x-kind"] == "direct"
    assert json.loads(direct.content) == json.loads(fastapi.content)
    assert json.loads(direct.content)["lines"][0]["price"] == "19.90"
    assert "vélo" in direct.content.decode("utf-8")


def test_the_schema_still_comes_from_response_model() -> None:
    paths = app().openapi()["paths"]
    schema = paths["/direct"]["get"]["responses"]["200"]["content"]["application/json"]
    assert schema == paths["/fastapi"]["get"]["responses"]["200"]["content"]["application/json"]
