"""The catalog schema: the event store plus the projections (current-state tables)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
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
    Column("kind", String(16), nullable=False, server_default="simple"),
    Column("base_product_id", Uuid, nullable=True),
    UniqueConstraint("sku", name="uq_products_sku"),
    CheckConstraint("stock >= 0", name="ck_products_stock_not_negative"),
)
Index("ix_products_category_id", products.c.category_id, products.c.id)
Index("ix_products_price", products.c.price)
Index(
    "ix_products_base_product_id",
    products.c.base_product_id,
    postgresql_where=products.c.base_product_id.is_not(None),
)

# Configurable products (kind = 'configurable'): their parts in order, each part's options
# (stock lives here), and the rules; replaced as a whole from each product snapshot.
parts = Table(
    "parts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("product_id", Uuid, nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("required", Boolean, nullable=False),
)
Index("ix_parts_product_id", parts.c.product_id, parts.c.position)

options = Table(
    "options",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("product_id", Uuid, nullable=False),
    Column("part_id", Uuid, nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("price", Numeric(12, 2), nullable=False),
    Column("stock", BigInteger, nullable=False),
    CheckConstraint("stock >= 0", name="ck_options_stock_not_negative"),
)
Index("ix_options_product_id", options.c.product_id, options.c.part_id, options.c.position)

incompatibilities = Table(
    "incompatibilities",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("product_id", Uuid, nullable=False),
    Column("first_option_id", Uuid, nullable=False),
    Column("second_option_id", Uuid, nullable=False),
    Column("message", Text, nullable=False),
)
Index("ix_incompatibilities_product_id", incompatibilities.c.product_id)

price_rules = Table(
    "price_rules",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("product_id", Uuid, nullable=False),
    Column("option_id", Uuid, nullable=False),
    Column("when_option_id", Uuid, nullable=False),
    Column("price", Numeric(12, 2), nullable=False),
)
Index("ix_price_rules_product_id", price_rules.c.product_id)

# Preconfigured products (kind = 'preconfigured'): the options each includes, named as
# in its last snapshot.
preset_options = Table(
    "preset_options",
    metadata,
    Column("preset_id", Uuid, primary_key=True),
    Column("option_id", Uuid, primary_key=True),
    Column("position", Integer, nullable=False),
    Column("part_id", Uuid, nullable=False),
    Column("part_name", String(200), nullable=False),
    Column("option_name", String(200), nullable=False),
)

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

# Option units reserved per (order, option) by the saga, projected from
# catalog.option_stock.reserved / released: what a cancellation gives back.
option_reservations = Table(
    "option_reservations",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("option_id", Uuid, primary_key=True),
    Column("product_id", Uuid, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reserved_at", DateTime(timezone=True), nullable=False),
    Column("released_at", DateTime(timezone=True), nullable=True),
)

# The stock saga's consumer: processed order events and per-subject sequences.
ledger = ledger_tables(metadata, SCHEMA)

PROJECTIONS = (
    categories,
    products,
    reservations,
    parts,
    options,
    incompatibilities,
    price_rules,
    preset_options,
    option_reservations,
)
