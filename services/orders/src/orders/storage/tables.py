"""The orders schema: event store, order projections, and the consumer's own state.

Projections (rebuilt from `events` by `rebuild-projections`): `orders`, `order_lines`,
`carts`, `cart_lines`.
Not projections of our events (never truncated by a rebuild):
- `products`: the read model of the catalog's products (prices, names, stock, a
  configurable product's parts, options and rules), from `catalog.product.*` and the
  catalog's stock events;
- `idempotency_keys`: (customer, key) -> request hash and order, written in the order's
  transaction;
- `placement_retries`: when a stuck order's placed event was last published again.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from marcus_eventstore import event_store_tables
from marcus_messaging import ledger_tables
from orders.settings import SCHEMA

metadata = MetaData(schema=SCHEMA)

event_store = event_store_tables(metadata, SCHEMA)
ledger = ledger_tables(metadata, SCHEMA)

orders = Table(
    "orders",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("customer", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total", Numeric(12, 2), nullable=True),
    Column("reasons", JSONB, nullable=False, server_default="[]"),
    Column("cart_id", Uuid, nullable=True),
    Column("address", JSONB, nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_orders_customer_id", orders.c.customer, orders.c.id)
Index("ix_orders_pending", orders.c.created_at, postgresql_where=orders.c.status == "pending")
Index("ix_orders_customer_status_id", orders.c.customer, orders.c.status, orders.c.id)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("product_id", Uuid, nullable=False),
    Column("sku", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("unit_price", Numeric(12, 2), nullable=True),
    Column("quantity", Integer, nullable=False),
    Column("line_total", Numeric(12, 2), nullable=True),
    Column("kind", String(16), nullable=False, server_default="simple"),
    Column("base_product_id", Uuid, nullable=True),
    Column("options", JSONB, nullable=False, server_default="[]"),
)

products = Table(
    "products",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("sku", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("price", Numeric(12, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("kind", String(16), nullable=False, server_default="simple"),
    Column("base_product_id", Uuid, nullable=True),
    Column("stock", Integer, nullable=False, server_default="0"),
    Column("configuration", JSONB, nullable=False, server_default="{}"),
    # A configurable product's parts, options (with stock) and rules, as its last
    # snapshot and option-stock events carried them.
    Column("selection", JSONB, nullable=False, server_default="[]"),
    # A preconfigured product's option ids.
    Column("deleted", Boolean, nullable=False, server_default="false"),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("customer", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("request_hash", Text, nullable=False),
    Column("order_id", Uuid, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_idempotency_keys_created_at", idempotency_keys.c.created_at)

placement_retries = Table(
    "placement_retries",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("last_at", DateTime(timezone=True), nullable=False),
)

carts = Table(
    "carts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("customer", Text, nullable=False, unique=True),
    Column("email", Text, nullable=True),
    Column("reminders", Boolean, nullable=False, server_default="true"),
    Column("last_activity_at", DateTime(timezone=True), nullable=False),
    # When the customer last changed the cart (an idle period starts here).
    Column("reminded_for", DateTime(timezone=True), nullable=True),
    # The idle period (its start) the last reminder was sent for.
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_carts_last_activity", carts.c.last_activity_at)

cart_lines = Table(
    "cart_lines",
    metadata,
    Column("cart_id", Uuid, primary_key=True),
    Column("line_id", Uuid, primary_key=True),
    Column("position", Integer, nullable=False),
    Column("product_id", Uuid, nullable=False),
    Column("sku", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("base_product_id", Uuid, nullable=True),
    Column("options", JSONB, nullable=False, server_default="[]"),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Numeric(12, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("note", Text, nullable=False, server_default=""),
)

PROJECTIONS = (orders, order_lines, carts, cart_lines)
