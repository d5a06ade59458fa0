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
