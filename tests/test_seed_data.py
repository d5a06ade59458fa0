"""The sample catalog behind `make seed` is well formed (no server needed)."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

DATA_FILE = Path(__file__).resolve().parent.parent / "scripts" / "seed_data" / "catalog.json"

# The catalog API's input rules (services/catalog api schemas), checked here so a bad
# record fails in CI rather than half-way through `make seed`.
SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
PRICE = re.compile(r"^\d{1,10}\.\d{2}$")


@pytest.fixture(scope="module")
def catalog() -> dict[str, Any]:
    return json.loads(DATA_FILE.read_text())


@pytest.fixture(scope="module")
def products(catalog: dict[str, Any]) -> list[dict[str, Any]]:
    return catalog["products"]


def test_enough_products_and_categories(catalog: dict[str, Any]) -> None:
    assert len(catalog["products"]) >= 200
    assert len(catalog["categories"]) >= 10


def test_categories_are_valid_and_unique(catalog: dict[str, Any]) -> None:
    slugs = [c["slug"] for c in catalog["categories"]]
    assert len(set(slugs)) == len(slugs)
    for category in catalog["categories"]:
        assert SLUG.match(category["slug"]) and len(category["slug"]) <= 80, category
        assert category["name"].strip() and len(category["name"]) <= 200
        assert category["description"].strip()


def test_skus_are_unique_and_valid(products: list[dict[str, Any]]) -> None:
    duplicates = [sku for sku, n in Counter(p["sku"] for p in products).items() if n > 1]
    assert not duplicates
    assert all(SKU.match(p["sku"]) for p in products)


def test_every_product_category_exists(
    catalog: dict[str, Any], products: list[dict[str, Any]]
) -> None:
    slugs = {c["slug"] for c in catalog["categories"]}
    assert {p["category"] for p in products} <= slugs
    per_category = Counter(p["category"] for p in products)
    assert all(per_category[slug] >= 10 for slug in slugs), per_category


def test_prices_are_positive_decimal_strings_in_eur(products: list[dict[str, Any]]) -> None:
    for product in products:
        assert isinstance(product["price"], str) and PRICE.match(product["price"]), product
        assert Decimal(product["price"]) > 0, product["sku"]
        assert product["currency"] == "EUR"


def test_stock_and_attributes(products: list[dict[str, Any]]) -> None:
    for product in products:
        assert isinstance(product["stock"], int) and product["stock"] >= 0, product["sku"]
        attributes = product["attributes"]
        assert "brand" in attributes, product["sku"]
        assert 1 <= len(attributes) <= 50
        for key, value in attributes.items():
            assert 1 <= len(key) <= 64
            assert isinstance(value, str | int | float | bool), (product["sku"], key)
            if isinstance(value, str):
                assert len(value) <= 500
    assert any(p["stock"] == 0 for p in products), "some products should be out of stock"


def test_descriptions_are_specific(products: list[dict[str, Any]]) -> None:
    """Good enough for semantic search: distinct, a few sentences, not a template."""
    descriptions = [p["description"] for p in products]
    assert len(set(descriptions)) == len(descriptions)
    for product in products:
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", product["description"]) if s]
        assert 2 <= len(sentences) <= 4, product["sku"]
        assert 80 <= len(product["description"]) <= 1000, product["sku"]
        assert product["name"].strip() and len(product["name"]) <= 200
    openings = Counter(" ".join(d.split()[:3]) for d in descriptions)
    assert openings.most_common(1)[0][1] <= 5, openings.most_common(3)
    assert len({p["name"] for p in products}) == len(products)


def test_only_api_fields(products: list[dict[str, Any]]) -> None:
    allowed = {"sku", "name", "description", "price", "currency", "category", "attributes"}
    for product in products:
        assert set(product) <= allowed | {"stock"}, product["sku"]


def test_the_seed_script_accepts_the_file() -> None:
    """scripts/seed.py validates the same file before it sends anything."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("marcus_seed", DATA_FILE.parents[1] / "seed.py")
    assert spec and spec.loader
    seed = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = seed  # dataclasses look their module up there
    spec.loader.exec_module(seed)
    data = seed.load_catalog(DATA_FILE)
    assert len(data["products"]) >= 200


# ------------------------------------------------------------ configurable products

CONFIGURABLE_FILE = DATA_FILE.with_name("configurable.json")


def _configuration(spec: dict[str, Any]):
    """The product's parts and rules as the catalog's domain values (stable fake ids)."""
    from uuid import NAMESPACE_URL, uuid5

    from catalog.configuration import Configuration, Incompatibility, Option, Part, PriceRule

    def uid(*names: str):
        return uuid5(NAMESPACE_URL, "/".join((spec["sku"], *names)))

    parts = tuple(
        Part(
            uid(p["name"]),
            p["name"],
            p["required"],
            tuple(
                Option(
                    uid(p["name"], o["name"]),
                    uid(p["name"]),
                    o["name"],
                    Decimal(o["price"]),
                    o["stock"],
                )
                for o in p["options"]
            ),
        )
        for p in spec["parts"]
    )
    rules = tuple(
        Incompatibility(
            uid("rule", str(i)),
            uid(*r["options"][0].split("/")),
            uid(*r["options"][1].split("/")),
            r["message"],
        )
        for i, r in enumerate(spec["incompatibilities"])
    )
    prices = tuple(
        PriceRule(
            uid("price", str(i)),
            uid(*r["option"].split("/")),
            uid(*r["when"].split("/")),
            Decimal(r["price"]),
        )
        for i, r in enumerate(spec["price_rules"])
    )
    return Configuration(parts, rules, prices), uid


@pytest.fixture(scope="module")
def configurable(catalog: dict[str, Any]) -> list[dict[str, Any]]:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "marcus_seed_cfg", DATA_FILE.parents[1] / "seed.py"
    )
    assert spec and spec.loader
    seed = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = seed
    spec.loader.exec_module(seed)
    return seed.load_configurable(CONFIGURABLE_FILE, {c["slug"] for c in catalog["categories"]})


def test_at_least_two_configurable_products_with_variants(
    configurable: list[dict[str, Any]], products: list[dict[str, Any]]
) -> None:
    assert len(configurable) >= 2
    skus = [p["sku"] for p in products] + [c["sku"] for c in configurable]
    skus += [v["sku"] for c in configurable for v in c["preconfigured"]]
    assert len(set(skus)) == len(skus) and all(SKU.match(s) for s in skus)
    for spec in configurable:
        assert spec["preconfigured"], spec["sku"]
        assert spec["incompatibilities"] and spec["price_rules"], spec["sku"]
        for priced in [spec, *spec["preconfigured"]] + [
            o for p in spec["parts"] for o in p["options"]
        ]:
            assert PRICE.match(priced["price"]), priced


def test_the_bicycle_has_the_issues_parts_and_rules(configurable: list[dict[str, Any]]) -> None:
    from catalog import configuration as cfg

    [bike] = [c for c in configurable if c["sku"] == "BIKE-BUILD"]
    assert [p["name"] for p in bike["parts"]] == [
        "Frame type",
        "Frame finish",
        "Wheels",
        "Rim colour",
        "Chain",
    ]
    config, uid = _configuration(bike)
    base = Decimal(bike["price"])
    trail_frame = ["Frame type/Full-suspension", "Frame finish/Matte", "Chain/8-speed chain"]
    ids = lambda refs: [uid(*r.split("/")) for r in refs]  # noqa: E731
    # Mountain wheels only with a full-suspension frame:
    for frame in ("Diamond", "Step-through"):
        refused = cfg.check(
            config,
            ids(
                [
                    f"Frame type/{frame}",
                    "Frame finish/Matte",
                    "Wheels/Mountain wheels",
                    "Chain/8-speed chain",
                ]
            ),
        )
        assert [v.kind for v in refused] == ["incompatible"]
    assert cfg.check(config, ids([*trail_frame, "Wheels/Mountain wheels"])) == []
    # A matte finish costs more on a full-suspension frame:
    on_full = cfg.price(config, base, ids([*trail_frame, "Wheels/Mountain wheels"]))
    on_road = cfg.price(
        config,
        base,
        ids(
            [
                "Frame type/Diamond",
                "Frame finish/Matte",
                "Wheels/Road wheels",
                "Chain/8-speed chain",
            ]
        ),
    )
    matte = lambda priced: next(o.price for o in priced.options if o.option.name == "Matte")  # noqa: E731
    assert matte(on_full) > matte(on_road) == Decimal("35.00")


def test_every_preconfigured_variant_is_a_valid_configuration(
    configurable: list[dict[str, Any]],
) -> None:
    from catalog import configuration as cfg

    for spec in configurable:
        config, uid = _configuration(spec)
        for preset in spec["preconfigured"]:
            selection = [uid(*ref.split("/")) for ref in preset["options"]]
            assert cfg.check(config, selection, stock=False) == [], preset["sku"]
            sentences = [s for s in re.split(r"(?<=[.!?])\s+", preset["description"]) if s]
            assert 2 <= len(sentences) <= 4, preset["sku"]
