"""A configurable bicycle built through the catalog's admin API, for tests (catalog and
orders). Option names are unique across the bike, so tests refer to options by name.

Base price 400.00. Parts (required unless noted) and option prices:

    Frame type     Diamond 100.00, Full suspension 130.00, Step-through 90.00
    Frame finish   Matte 35.00, Shiny 30.00
    Wheels         Road 80.00, Mountain 95.00, Fat bike 110.00
    Rim colour     (optional) Red 15.00, Black 10.00, Blue 20.00
    Chain          Single-speed 43.00, 8-speed 48.00

Incompatible: Mountain with Diamond, Mountain with Step-through (mountain wheels need a
full-suspension frame), Fat bike with Red. Price rules: Matte costs 50.00 with Full
suspension, 45.00 with Fat bike (both chosen: 45.00, the lowest, wins).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

PARTS: list[tuple[str, bool, list[tuple[str, str]]]] = [
    ("Frame type", True, [("Diamond", "100.00"), ("Full suspension", "130.00"), ("Step-through", "90.00")]),
    ("Frame finish", True, [("Matte", "35.00"), ("Shiny", "30.00")]),
    ("Wheels", True, [("Road", "80.00"), ("Mountain", "95.00"), ("Fat bike", "110.00")]),
    ("Rim colour", False, [("Red", "15.00"), ("Black", "10.00"), ("Blue", "20.00")]),
    ("Chain", True, [("Single-speed", "43.00"), ("8-speed", "48.00")]),
]  # fmt: skip
MOUNTAIN_NEEDS_SUSPENSION = "Mountain wheels need a full-suspension frame"
INCOMPATIBLE = [
    ("Mountain", "Diamond", MOUNTAIN_NEEDS_SUSPENSION),
    ("Step-through", "Mountain", MOUNTAIN_NEEDS_SUSPENSION),
    ("Fat bike", "Red", "Fat bike wheels come with black or blue rims"),
]
PRICE_RULES = [("Matte", "Full suspension", "50.00"), ("Matte", "Fat bike", "45.00")]
DESCRIPTIONS = {
    "Diamond": "Light aluminium frame, fast on the road",
    "Full suspension": "Soaks up roots and rocks on steep trails",
    "Step-through": "Easy to get on and off in town",
    "Mountain": "Knobbly tyres that grip on steep, loose trails",
    "Fat bike": "Wide tyres for snow and sand",
}
BASE_PRICE = "400.00"


@dataclass
class Bike:
    id: str
    parts: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    incompatibilities: list[str] = field(default_factory=list)
    price_rules: dict[tuple[str, str], str] = field(default_factory=dict)

    def ids(self, *names: str) -> list[str]:
        return [self.options[name] for name in names]


async def _ok(response: httpx.Response, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def build_bike(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    category_id: str,
    *,
    sku: str = "BIKE-1",
    stock: int = 10,
    stocks: dict[str, int] | None = None,
) -> Bike:
    """Create the bike; every option has `stock` units unless `stocks` says otherwise."""
    product = await _ok(
        await client.post(
            "/api/v1/products",
            json={
                "sku": sku,
                "name": "Custom bicycle",
                "description": "Build your own bicycle, step by step.",
                "price": BASE_PRICE,
                "category_id": category_id,
                "kind": "configurable",
            },
            headers=headers,
        )
    )
    bike = Bike(product["id"])
    base = f"/api/v1/products/{bike.id}"
    for part_name, required, options in PARTS:
        part = await _ok(
            await client.post(
                f"{base}/parts", json={"name": part_name, "required": required}, headers=headers
            )
        )
        bike.parts[part_name] = part["id"]
        for name, price in options:
            units = (stocks or {}).get(name, stock)
            option = await _ok(
                await client.post(
                    f"{base}/parts/{part['id']}/options",
                    json={
                        "name": name,
                        "price": price,
                        "stock": units,
                        "description": DESCRIPTIONS.get(name, ""),
                    },
                    headers=headers,
                )
            )
            bike.options[name] = option["id"]
    for first, second, message in INCOMPATIBLE:
        rule = await _ok(
            await client.post(
                f"{base}/incompatibilities",
                json={"option_ids": bike.ids(first, second), "message": message},
                headers=headers,
            )
        )
        bike.incompatibilities.append(rule["id"])
    for option, when, price in PRICE_RULES:
        rule = await _ok(
            await client.post(
                f"{base}/price-rules",
                json={
                    "option_id": bike.options[option],
                    "when_option_id": bike.options[when],
                    "price": price,
                },
                headers=headers,
            )
        )
        bike.price_rules[(option, when)] = rule["id"]
    return bike


async def preset(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    category_id: str,
    bike: Bike,
    *names: str,
    sku: str = "TRAIL-1",
    price: str = "849.00",
) -> httpx.Response:
    """POST a preconfigured product of `bike` with these options (the raw answer)."""
    return await client.post(
        "/api/v1/products",
        json={
            "sku": sku,
            "name": f"Preconfigured {sku}",
            "price": price,
            "category_id": category_id,
            "kind": "preconfigured",
            "base_product_id": bike.id,
            "options": bike.ids(*names),
        },
        headers=headers,
    )
