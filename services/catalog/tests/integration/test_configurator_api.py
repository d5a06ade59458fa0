"""Configurable and preconfigured products over the catalog's HTTP API (real socket,
PostgreSQL, Redis): admin CRUD, the quote and every rule edge case."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from services.catalog.tests.bikes import MOUNTAIN_NEEDS_SUSPENSION, build_bike, preset
from services.catalog.tests.support import (
    PROBLEM,
    event_count,
    product_body,
    projections_rebuild_unchanged,
)

FULL_BUILD = ("Full suspension", "Matte", "Mountain", "Black", "8-speed")


async def quote(client: httpx.AsyncClient, product_id: str, options: list[str], quantity: int = 1):
    return await client.post(
        f"/api/v1/products/{product_id}/quote", json={"options": options, "quantity": quantity}
    )


def kinds(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    return sorted(error["type"] for error in response.json()["errors"])


async def test_build_and_read_a_configurable_product(
    api, client, admin_headers, customer_headers
) -> None:
    category = await api.category()
    bike = await build_bike(client, admin_headers, category["id"])
    base = f"/api/v1/products/{bike.id}"
    for path, body in [
        (f"{base}/parts", {"name": "Bell"}),
        (f"{base}/parts/{bike.parts['Chain']}/options", {"name": "X", "price": "1.00"}),
        (
            f"{base}/price-rules",
            {
                "option_id": bike.options["Red"],
                "when_option_id": bike.options["Road"],
                "price": "0.00",
            },
        ),
    ]:
        assert (await client.post(path, json=body)).status_code == 401
        assert (await client.post(path, json=body, headers=customer_headers)).status_code == 403

    response = await client.get(f"/api/v1/products/{bike.id}")
    body = response.json()
    assert body["kind"] == "configurable" and body["price"] == "400.00"
    assert [p["name"] for p in body["parts"]] == [
        "Frame type",
        "Frame finish",
        "Wheels",
        "Rim colour",
        "Chain",
    ]
    assert [p["required"] for p in body["parts"]] == [True, True, True, False, True]
    assert [o["name"] for o in body["parts"][2]["options"]] == ["Road", "Mountain", "Fat bike"]
    assert len(body["incompatibilities"]) == 3 and len(body["price_rules"]) == 2
    # Stock lives on the options; the product shows how many builds they allow (rules
    # aside): the smallest required part total, 2 finishes x 10 units.
    assert (body["stock"], body["in_stock"]) == (20, True)
    # One event per change, each a full snapshot: 1 + 5 parts + 13 options + 5 rules.
    assert body["version"] == 24 and response.headers["etag"] == '"24"'

    listed = (await client.get("/api/v1/products", params={"q": "bicycle"})).json()["items"]
    assert [(p["id"], p["kind"], p["parts"]) for p in listed] == [(bike.id, "configurable", None)]

    # Edits honour If-Match like every product write, and answer the new version.
    option_url = f"/api/v1/products/{bike.id}/options/{bike.options['Red']}"
    stale = await client.patch(
        option_url, json={"price": "16.00"}, headers=admin_headers | {"If-Match": '"23"'}
    )
    assert stale.status_code == 412
    fresh = await client.patch(
        option_url, json={"price": "16.00"}, headers=admin_headers | {"If-Match": '"24"'}
    )
    assert fresh.status_code == 200 and fresh.headers["etag"] == '"25"'
    assert (fresh.json()["name"], fresh.json()["price"]) == ("Red", "16.00")


async def test_the_quote_prices_base_options_and_the_price_rule(api, client, admin_headers) -> None:
    bike = await build_bike(client, admin_headers, (await api.category())["id"])

    response = await quote(client, bike.id, bike.ids(*FULL_BUILD), quantity=2)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["base_price"] == "400.00"
    priced = {o["name"]: (o["list_price"], o["price"], o["price_rule"]) for o in body["options"]}
    assert priced["Full suspension"] == ("130.00", "130.00", None)
    assert priced["Matte"][:2] == ("35.00", "50.00")  # the rule replaced its price
    assert priced["Matte"][2] == {
        "id": bike.price_rules[("Matte", "Full suspension")],
        "when_option_id": bike.options["Full suspension"],
        "when_option": "Full suspension",
        "price": "50.00",
    }
    assert [o["part"] for o in body["options"]] == [
        "Frame type",
        "Frame finish",
        "Wheels",
        "Rim colour",
        "Chain",
    ]
    assert Decimal(body["unit_price"]) == Decimal("733.00")  # 400+130+50+95+10+48
    assert Decimal(body["total"]) == Decimal("1466.00")

    shuffled = await quote(client, bike.id, list(reversed(bike.ids(*FULL_BUILD))), quantity=2)
    assert shuffled.json() == body  # selection order never matters


async def test_two_price_rules_matching_one_option_the_lowest_price_wins(
    api, client, admin_headers
) -> None:
    bike = await build_bike(client, admin_headers, (await api.category())["id"])
    build = bike.ids("Full suspension", "Matte", "Fat bike", "Black", "8-speed")

    def matte(body: dict) -> tuple[str, str]:
        [option] = [o for o in body["options"] if o["name"] == "Matte"]
        return option["price"], option["price_rule"]["id"]

    suspension_rule = bike.price_rules[("Matte", "Full suspension")]  # 50.00, created first
    fat_rule = bike.price_rules[("Matte", "Fat bike")]  # 45.00
    assert matte((await quote(client, bike.id, build)).json()) == ("45.00", fat_rule)

    url = f"/api/v1/products/{bike.id}/price-rules/{suspension_rule}"
    changed = await client.patch(url, json={"price": "40.00"}, headers=admin_headers)
    assert changed.status_code == 200, changed.text
    assert matte((await quote(client, bike.id, build)).json()) == ("40.00", suspension_rule)

    # Equal prices: the rule created first (smallest id) wins, whatever the order.
    await client.patch(url, json={"price": "45.00"}, headers=admin_headers)
    assert matte((await quote(client, bike.id, build)).json()) == ("45.00", suspension_rule)
    assert matte((await quote(client, bike.id, build[::-1])).json()) == ("45.00", suspension_rule)


async def test_an_incompatible_pair_is_refused_in_either_order(api, client, admin_headers) -> None:
    bike = await build_bike(client, admin_headers, (await api.category())["id"])
    rest = bike.ids("Matte", "8-speed")

    for frame in ("Diamond", "Step-through"):  # one rule was defined (A, B), one (B, A)
        for pair in ([frame, "Mountain"], ["Mountain", frame]):
            response = await quote(client, bike.id, bike.ids(*pair) + rest)
            assert kinds(response) == ["incompatible"]
            [error] = response.json()["errors"]
            assert error["msg"] == MOUNTAIN_NEEDS_SUSPENSION
            assert sorted(error["option_ids"]) == sorted(bike.ids(frame, "Mountain"))
            assert error["loc"] == ["body", "options"]


async def test_a_required_part_missing_is_refused_an_optional_one_is_not(
    api, client, admin_headers
) -> None:
    bike = await build_bike(client, admin_headers, (await api.category())["id"])

    missing_chain = await quote(client, bike.id, bike.ids("Diamond", "Shiny", "Road"))
    assert kinds(missing_chain) == ["required_part"]
    assert missing_chain.json()["errors"][0]["msg"] == "Chain is required"
    assert missing_chain.json()["errors"][0]["part_id"] == bike.parts["Chain"]

    no_rims = await quote(client, bike.id, bike.ids("Diamond", "Shiny", "Road", "Single-speed"))
    assert no_rims.status_code == 200
    assert no_rims.json()["unit_price"] == "653.00"  # 400+100+30+80+43


async def test_an_option_of_another_product_is_refused(api, client, admin_headers) -> None:
    category = (await api.category())["id"]
    bike = await build_bike(client, admin_headers, category)
    other = await build_bike(client, admin_headers, category, sku="BIKE-2")
    stranger = other.options["Road"]
    selection = [*bike.ids("Diamond", "Shiny", "Single-speed"), stranger]

    response = await quote(client, bike.id, selection)

    # The stranger is not this bike's, so its Wheels part is still empty.
    assert kinds(response) == ["required_part", "unknown_option"]
    unknown = next(e for e in response.json()["errors"] if e["type"] == "unknown_option")
    assert unknown["option_ids"] == [stranger]
    random_id = await quote(client, bike.id, [*bike.ids("Road"), str(uuid4())])
    assert "unknown_option" in kinds(random_id)


async def test_an_out_of_stock_option_is_refused(api, client, admin_headers) -> None:
    bike = await build_bike(
        client, admin_headers, (await api.category())["id"], stocks={"Blue": 0, "Red": 2}
    )
    base = bike.ids("Diamond", "Shiny", "Road", "Single-speed")

    blue = await quote(client, bike.id, [*base, bike.options["Blue"]])
    assert kinds(blue) == ["out_of_stock"]
    assert blue.json()["errors"][0]["msg"] == "Blue is out of stock"

    three_red = await quote(client, bike.id, [*base, bike.options["Red"]], quantity=3)
    [error] = three_red.json()["errors"]
    assert (error["type"], error["requested"], error["available"]) == ("out_of_stock", 3, 2)
    assert error["msg"] == "only 2 of Red left (3 asked for)"
    assert (await quote(client, bike.id, [*base, bike.options["Red"]], quantity=2)).is_success


async def test_every_violation_is_listed_at_once(api, client, admin_headers) -> None:
    bike = await build_bike(client, admin_headers, (await api.category())["id"], stocks={"Red": 0})
    selection = bike.ids("Diamond", "Full suspension", "Mountain", "Fat bike", "Red", "Matte")
    selection.append(bike.options["Matte"])  # twice

    response = await quote(client, bike.id, selection)

    assert kinds(response) == [
        "duplicate_option",
        "incompatible",  # Fat bike + Red
        "incompatible",  # Mountain + Diamond
        "one_per_part",  # two frames
        "one_per_part",  # two wheels
        "out_of_stock",  # Red
        "required_part",  # Chain
    ]


async def test_an_option_deleted_while_in_a_cart_is_refused_at_the_next_quote(
    api, client, admin_headers
) -> None:
    bike = await build_bike(client, admin_headers, (await api.category())["id"])
    cart = bike.ids("Full suspension", "Shiny", "Mountain", "Red", "Single-speed")
    assert (await quote(client, bike.id, cart)).status_code == 200

    url = f"/api/v1/products/{bike.id}/options/{bike.options['Mountain']}"
    assert (await client.delete(url, headers=admin_headers)).status_code == 204

    response = await quote(client, bike.id, cart)
    assert kinds(response) == ["required_part", "unknown_option"]  # and Wheels is empty now
    detail = (await client.get(f"/api/v1/products/{bike.id}")).json()
    # The rules that named it went with it.
    assert len(detail["incompatibilities"]) == 1
    assert bike.options["Mountain"] not in str(detail)


async def test_a_client_supplied_price_is_refused_never_used(
    api, client, admin_headers, engine: AsyncEngine
) -> None:
    bike = await build_bike(client, admin_headers, (await api.category())["id"])
    build = bike.ids(*FULL_BUILD)
    before = await event_count(engine)
    url = f"/api/v1/products/{bike.id}/quote"

    for body in (
        {"options": build, "total": "1.00"},
        {"options": build, "unit_price": "1.00"},
        {"options": build, "price": "1.00"},
        {"options": [{"id": build[0], "price": "0.01"}]},
    ):
        response = await client.post(url, json=body)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["errors"], body

    assert (await client.post(url, json={"options": build})).json()["unit_price"] == "733.00"
    assert await event_count(engine) == before


async def test_preconfigured_products_are_valid_by_construction(
    api, client, admin_headers, engine: AsyncEngine
) -> None:
    category = (await api.category())["id"]
    bike = await build_bike(client, admin_headers, category, stocks={"Mountain": 4})
    before = await event_count(engine)

    invalid = [
        ("Diamond", "Matte", "Mountain", "Single-speed"),  # incompatible
        ("Full suspension", "Matte", "Mountain"),  # no chain
        ("Diamond", "Step-through", "Matte", "Road", "Single-speed"),  # two frames
    ]
    for names in invalid:
        response = await preset(client, admin_headers, category, bike, *names)
        assert response.status_code == 422, (names, response.text)
        assert response.json()["errors"]
    foreign = await build_bike(client, admin_headers, category, sku="BIKE-2")
    mixed = await client.post(
        "/api/v1/products",
        json=product_body(
            category,
            sku="MIXED",
            kind="preconfigured",
            base_product_id=bike.id,
            options=[*bike.ids("Diamond", "Matte", "Single-speed"), foreign.options["Road"]],
        ),
        headers=admin_headers,
    )
    assert "unknown_option" in kinds(mixed)
    assert await event_count(engine) == before + 24  # only BIKE-2's own events

    created = await preset(
        client, admin_headers, category, bike, "Full suspension", "Matte", "Mountain", "8-speed"
    )
    assert created.status_code == 201, created.text
    trail = created.json()
    assert (trail["kind"], trail["base_product_id"], trail["price"]) == (
        "preconfigured",
        bike.id,
        "849.00",
    )
    assert [(o["part"], o["name"]) for o in trail["options"]] == [
        ("Frame type", "Full suspension"),
        ("Frame finish", "Matte"),
        ("Wheels", "Mountain"),
        ("Chain", "8-speed"),
    ]
    assert trail["stock"] == 4  # what its scarcest option allows
    listed = (await client.get("/api/v1/products", params={"in_stock": "true"})).json()
    assert trail["id"] in [p["id"] for p in listed["items"]]

    # Quoting it: its own price; its options are included.
    quoted = (await quote(client, trail["id"], [])).json()
    assert (quoted["unit_price"], quoted["kind"]) == ("849.00", "preconfigured")
    assert {o["price"] for o in quoted["options"]} == {None}
    assert "unknown_option" in kinds(await quote(client, trail["id"], bike.ids("Road")))

    # Editing it into an invalid one is refused and changes nothing.
    url = f"/api/v1/products/{trail['id']}"
    broken = await client.patch(
        url,
        json={"options": bike.ids("Diamond", "Matte", "Mountain", "8-speed")},
        headers=admin_headers,
    )
    assert kinds(broken) == ["incompatible"]
    assert (await client.get(url)).json()["version"] == trail["version"]
    fixed = await client.patch(
        url,
        json={"options": bike.ids("Full suspension", "Shiny", "Road", "8-speed")},
        headers=admin_headers,
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["stock"] == 10


async def test_base_edits_that_would_break_a_preconfigured_product_are_refused(
    api, client, admin_headers
) -> None:
    category = (await api.category())["id"]
    bike = await build_bike(client, admin_headers, category)
    trail = (
        await preset(
            client, admin_headers, category, bike, "Full suspension", "Matte", "Mountain", "8-speed"
        )
    ).json()
    base = f"/api/v1/products/{bike.id}"

    refused = [
        client.delete(f"{base}/options/{bike.options['Mountain']}", headers=admin_headers),
        client.delete(f"{base}/parts/{bike.parts['Wheels']}", headers=admin_headers),
        client.post(
            f"{base}/incompatibilities",
            json={"option_ids": bike.ids("Matte", "Mountain"), "message": "no"},
            headers=admin_headers,
        ),
        client.patch(
            f"{base}/parts/{bike.parts['Rim colour']}",
            json={"required": True},
            headers=admin_headers,
        ),
        client.post(
            f"{base}/parts", json={"name": "Bell", "required": True}, headers=admin_headers
        ),
        client.delete(base, headers=admin_headers),
    ]
    for request in refused:
        response = await request
        assert response.status_code == 409, response.text
    assert "TRAIL-1" in response.json()["detail"]

    # Changes that keep it valid go through, and it follows them.
    renamed = await client.patch(
        f"{base}/options/{bike.options['Mountain']}",
        json={"name": "Mountain (29 inch)", "stock": 3},
        headers=admin_headers,
    )
    assert renamed.status_code == 200, renamed.text
    after = (await client.get(f"/api/v1/products/{trail['id']}")).json()
    assert ("Wheels", "Mountain (29 inch)") in [(o["part"], o["name"]) for o in after["options"]]
    assert after["stock"] == 3


async def test_rules_that_could_never_apply_are_refused(api, client, admin_headers) -> None:
    bike = await build_bike(client, admin_headers, (await api.category())["id"])
    base = f"/api/v1/products/{bike.id}"

    async def incompatible(*names: str, ids: list[str] | None = None) -> int:
        body = {"option_ids": ids or bike.ids(*names), "message": "not together"}
        return (
            await client.post(f"{base}/incompatibilities", json=body, headers=admin_headers)
        ).status_code

    assert await incompatible("Road", "Mountain") == 422  # same part: never together anyway
    assert await incompatible("Road", "Road") == 422
    assert await incompatible(ids=[bike.options["Road"], str(uuid4())]) == 422
    assert await incompatible("Diamond", "Mountain") == 409  # exists (as Mountain, Diamond)

    async def price_rule(option: str, when: str) -> int:
        body = {"option_id": bike.options[option], "when_option_id": bike.options[when]}
        return (
            await client.post(
                f"{base}/price-rules", json=body | {"price": "1.00"}, headers=admin_headers
            )
        ).status_code

    assert await price_rule("Matte", "Shiny") == 422  # same part
    assert await price_rule("Matte", "Full suspension") == 409  # exists
    duplicate_part = await client.post(
        f"{base}/parts", json={"name": "wheels"}, headers=admin_headers
    )
    assert duplicate_part.status_code == 409


async def test_stock_of_configurable_products_lives_on_their_options(
    api, client, admin_headers
) -> None:
    category = (await api.category())["id"]
    with_stock = await client.post(
        "/api/v1/products",
        json={
            "sku": "C-1",
            "name": "C",
            "price": "1.00",
            "category_id": category,
            "kind": "configurable",
            "stock": 5,
        },
        headers=admin_headers,
    )
    assert with_stock.status_code == 422
    assert with_stock.json()["errors"][0]["loc"] == ["body", "stock"]
    bike = await build_bike(client, admin_headers, category)
    put = await client.put(
        f"/api/v1/products/{bike.id}/stock", json={"stock": 3}, headers=admin_headers
    )
    assert put.status_code == 422
    simple = await api.product(category, sku="PLAIN")
    assert "unknown_option" in kinds(await quote(client, simple["id"], bike.ids("Road")))
    assert (await quote(client, simple["id"], [], quantity=5)).json()["total"] == "4999.50"
    assert kinds(await quote(client, simple["id"], [], quantity=6)) == ["out_of_stock"]


async def test_projections_rebuild_to_the_same_configurations(
    api, client, admin_headers, engine: AsyncEngine
) -> None:
    category = (await api.category())["id"]
    bike = await build_bike(client, admin_headers, category)
    await preset(client, admin_headers, category, bike, "Diamond", "Shiny", "Road", "Single-speed")
    await client.delete(
        f"/api/v1/products/{bike.id}/options/{bike.options['Fat bike']}", headers=admin_headers
    )
    await client.patch(
        f"/api/v1/products/{bike.id}/parts/{bike.parts['Chain']}",
        json={"position": 0, "name": "Drivetrain"},
        headers=admin_headers,
    )
    await projections_rebuild_unchanged(
        engine, "products", "parts", "options", "incompatibilities", "price_rules", "preset_options"
    )
    detail = (await client.get(f"/api/v1/products/{bike.id}")).json()
    assert detail["parts"][0]["name"] == "Drivetrain"
