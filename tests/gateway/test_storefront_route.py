"""The gateway's catch-all `/` belongs to the storefront, in front of which the services'
probe paths stay unreachable. This suite runs no storefront, so `/` answers as it does
when the storefront is away: an HTML page saying "try again" (a browser asked), 503."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.fault  # starts nginx and the services

PROBLEM = "application/problem+json"


async def test_the_shop_away_is_an_html_page_saying_try_again(client: httpx.AsyncClient) -> None:
    for path in ("/", "/products?category=tea", "/chat"):
        answer = await client.get(path)
        assert answer.status_code == 503, path
        assert answer.headers["content-type"].startswith("text/html"), path
        assert "please try again" in answer.text and answer.headers["retry-after"]
        assert answer.headers["x-request-id"]
    assert (await client.get("/static/app.css")).status_code == 503  # a file: problem+json


async def test_probes_are_not_routed_to_the_storefront(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc"):
        answer = await client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == PROBLEM, path
    assert (await client.get("/gateway/healthz")).status_code == 200
    assert (await client.get("/api/v1/nothing-here")).status_code == 404
