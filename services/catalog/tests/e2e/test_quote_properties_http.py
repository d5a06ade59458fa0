"""Property-based test of the quote endpoint itself (hypothesis, over HTTP).

A catalog runs as a process (`python -m catalog serve`); a bicycle with parts, options,
incompatibilities, price rules and some scarce options is built through its admin API.
Hypothesis then sends selections (its options, another bike's, unknown ids, duplicates,
any order, any quantity) to `POST /products/{id}/quote`: whatever the endpoint accepts
satisfies every rule and is priced as the rules say, and whatever it refuses breaks at
least one rule, with exactly the broken rules listed (judged by the independent oracle
of test_configuration_properties, over the configuration read back from the API).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from catalog.configuration import Configuration, Incompatibility, Option, Part, PriceRule
from services.catalog.tests.bikes import PARTS, Bike, build_bike
from services.catalog.tests.unit.test_configuration_properties import (
    oracle_broken_rules,
    oracle_unit_price,
)
from tests.support.auth import admin_headers
from tests.support.processes import ServiceProcess, service_env

SCARCE = {"Blue": 0, "Red": 2, "Fat bike": 1, "Matte": 3}
ACCEPTED: Counter[bool] = Counter()


def _configuration(detail: dict) -> Configuration:
    """The bike's configuration as the API shows it (the oracle's input)."""
    parts = tuple(
        Part(
            UUID(p["id"]),
            p["name"],
            p["required"],
            tuple(
                Option(UUID(o["id"]), UUID(p["id"]), o["name"], Decimal(o["price"]), o["stock"])
                for o in p["options"]
            ),
        )
        for p in detail["parts"]
    )
    rules = tuple(
        Incompatibility(
            UUID(r["id"]), UUID(r["option_ids"][0]), UUID(r["option_ids"][1]), r["message"]
        )
        for r in detail["incompatibilities"]
    )
    prices = tuple(
        PriceRule(
            UUID(r["id"]), UUID(r["option_id"]), UUID(r["when_option_id"]), Decimal(r["price"])
        )
        for r in detail["price_rules"]
    )
    return Configuration(parts, rules, prices)


class Catalog:
    def __init__(self, url: str, bike: Bike, stranger: str, configuration: Configuration) -> None:
        self.url = url
        self.bike = bike
        self.stranger = stranger
        self.configuration = configuration
        self.http = httpx.Client(base_url=url, timeout=30)


@pytest.fixture(scope="module")
def catalog(catalog_database: str, redis_url: str, tmp_path_factory) -> Iterator[Catalog]:
    log = Path(tmp_path_factory.mktemp("quote")) / "catalog.log"
    env = service_env(catalog_database, redis_url, f"quote-props-{uuid4().hex[:8]}:")
    process = ServiceProcess("catalog", env, log).start()
    try:
        catalog = asyncio.run(_build(process))
        yield catalog
        catalog.http.close()
    finally:
        process.stop()


async def _build(process: ServiceProcess) -> Catalog:
    headers = admin_headers()
    await process.ready(within=60)
    async with httpx.AsyncClient(base_url=process.url, timeout=30) as client:
        suffix = str(process.port)
        category = await client.post(
            "/api/v1/categories", json={"slug": f"q-{suffix}", "name": "Q"}, headers=headers
        )
        assert category.status_code == 201, category.text
        bike = await build_bike(
            client, headers, category.json()["id"], sku=f"QB-{suffix}", stocks=SCARCE
        )
        other = await build_bike(client, headers, category.json()["id"], sku=f"QO-{suffix}")
        detail = (await client.get(f"/api/v1/products/{bike.id}")).json()
    return Catalog(process.url, bike, other.options["Road"], _configuration(detail))


@st.composite
def selections(draw: st.DrawFn, bike: Bike, stranger: str) -> list[str]:
    """Half of them one option per part (a required part never empty): rules and stock
    decide; the other half anything, strangers and repeats included."""
    if draw(st.booleans()):
        picked = [
            choice
            for required, options in _parts(bike)
            if (choice := draw(st.sampled_from(options if required else [None, *options])))
        ]
        return draw(st.permutations(picked))
    picked = draw(st.lists(st.sampled_from(list(bike.options.values())), max_size=8))
    strangers = [stranger, "00000000-0000-7000-8000-000000000001"]
    extra = draw(st.lists(st.sampled_from(strangers), max_size=1))
    return draw(st.permutations(picked + extra))


def _parts(bike: Bike) -> list[tuple[bool, list[str]]]:
    return [
        (required, [bike.options[name] for name, _ in options]) for _, required, options in PARTS
    ]


def test_the_quote_endpoint_accepts_exactly_the_configurations_that_keep_every_rule(
    catalog: Catalog,
) -> None:
    @settings(
        max_examples=120,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(selections(catalog.bike, catalog.stranger), st.sampled_from([1, 1, 1, 2, 3]))
    def check(selection: list[str], quantity: int) -> None:
        response = catalog.http.post(
            f"/api/v1/products/{catalog.bike.id}/quote",
            json={"options": selection, "quantity": quantity},
        )
        ids = [UUID(o) for o in selection]
        broken = oracle_broken_rules(catalog.configuration, ids, quantity)
        event(f"status {response.status_code}")
        ACCEPTED[response.status_code == 200] += 1
        if response.status_code == 200:
            assert broken == set(), (selection, broken)
            body = response.json()
            unit = oracle_unit_price(catalog.configuration, Decimal("400.00"), ids)
            assert Decimal(body["unit_price"]) == unit
            assert Decimal(body["total"]) == unit * quantity
            assert sorted(o["option_id"] for o in body["options"]) == sorted(selection)
        else:
            assert response.status_code == 422, response.text
            assert broken, selection  # refused: at least one rule is broken...
            assert {e["type"] for e in response.json()["errors"]} == broken  # ...and named

    # Always tried first, whatever hypothesis draws: known accepted and refused ones.
    ids = catalog.bike.ids
    for selection, quantity in [
        (ids("Full suspension", "Matte", "Mountain", "Black", "8-speed"), 1),
        (ids("Diamond", "Shiny", "Road", "Single-speed"), 3),
        (ids("Step-through", "Shiny", "Fat bike", "Black", "Single-speed"), 1),
        (ids("Diamond", "Shiny", "Mountain", "Single-speed"), 1),  # incompatible
        (ids("Full suspension", "Matte", "Road", "Red", "8-speed"), 3),  # Red: only 2
    ]:
        check = example(selection, quantity)(check)
    check()
    assert ACCEPTED[True] >= 3 and ACCEPTED[False] >= 2, ACCEPTED  # both sides exercised
