"""Sample events shared by the contract tests."""

from __future__ import annotations

import json
from decimal import Decimal
from uuid import UUID

import pytest

from marcus_contracts.events.catalog import CategoryRef, ProductCreated

PRODUCT_ID = UUID("0190c2a4-7b1e-7c3d-9a4f-2b6e8d1c0a11")
CATEGORY_ID = UUID("0190c2a4-7b1e-7c3d-9a4f-2b6e8d1c0a22")


@pytest.fixture
def product_created() -> ProductCreated:
    return ProductCreated(
        product_id=PRODUCT_ID,
        sku="MUG-001",
        name="Stoneware mug",
        description="350 ml, dishwasher safe",
        price=Decimal("12.50"),
        currency="EUR",
        category=CategoryRef(id=CATEGORY_ID, slug="kitchen", name="Kitchen"),
        attributes={"colour": "blue", "capacity_ml": 350, "handmade": True},
        stock=40,
    )


@pytest.fixture
def legacy_v1_json() -> str:
    """`catalog.product.created` v1 as the Django monolith export wrote it.

    Prices had no currency (EUR only) and products no attributes; the exporter wrote
    every CloudEvents attribute but none of the optional tracing extensions.
    """
    return json.dumps(
        {
            "specversion": "1.0",
            "id": "0190c2a4-7b1e-7c3d-9a4f-2b6e8d1c0a33",
            "source": "catalog",
            "type": "catalog.product.created",
            "subject": str(PRODUCT_ID),
            "time": "2019-03-01T10:00:00Z",
            "datacontenttype": "application/json",
            "dataversion": 1,
            "sequence": 1,
            "data": {
                "product_id": str(PRODUCT_ID),
                "sku": "MUG-001",
                "name": "Stoneware mug",
                "description": "",
                "price": "12.50",
                "category": {"id": str(CATEGORY_ID), "slug": "kitchen", "name": "Kitchen"},
                "stock": 40,
            },
        }
    )
