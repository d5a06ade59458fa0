"""The catalog schema: the event store plus the projections (current-state tables)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

from catalog.settings import SCHEMA
from marcus_eventstore import event_store_tables
from marcus_messaging import ledger_tables

metadata = MetaData(schema=SCHEMA)

event_store = event_store_tables(metadata, SCHEMA)

categories = Table(
    "categories",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("slug", String(80), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("slug", name="uq_categories_slug"),
)

products = Table(
    "products",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("price", Numeric(12, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("category_id", Uuid, ForeignKey(categories.c.id), nullable=False),
    Column("attributes", JSONB, nullable=False, server_default="{}"),
    Column("stock", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("sku", name="uq_products_sku"),
)
Index("ix_products_category_id", products.c.category_id, products.c.id)
Index("ix_products_price", products.c.price)

# Stock reserved per (order, product) by the order saga, projected from the product
# events catalog.stock.reserved / released: what a cancellation has to give back.
reservations = Table(
    "reservations",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("product_id", Uuid, primary_key=True),
    Column("quantity", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reserved_at", DateTime(timezone=True), nullable=False),
    Column("released_at", DateTime(timezone=True), nullable=True),
)

# The stock saga's consumer: processed order events and per-subject sequences.
ledger = ledger_tables(metadata, SCHEMA)

PROJECTIONS = (categories, products, reservations)
