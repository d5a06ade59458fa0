"""Tables of the `assistant` schema.

- Chat: the event store (sessions are event sourced) and its projections `sessions`
  `messages` and `reply_grounding` (what grounding did to a reply, from the reply
  event's `grounding` and `grounding_findings`).
- Orders, fed by `orders.order.*` events (no service reads another's schema):
  `customer_orders` (each customer's orders as the last event described them, for the
  assistant's "my orders" tool), `purchased_orders` + `purchase_lines` (what was bought,
  counted once per order, uncounted when cancelled), `co_purchases` (how many orders
  contain both products: "frequently bought together"), `product_sales` (units sold
  per product and day, kept live: best sellers) and the materialized view
  `best_sellers` over the purchases, refreshed on `scheduler.views.refresh_requested`
  (no longer read by `popular`: ADR 0005).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    column,
    table,
)
from sqlalchemy.dialects.postgresql import JSONB

from assistant.settings import SCHEMA
from marcus_eventstore import event_store_tables
from marcus_messaging import ledger_tables

metadata = MetaData(schema=SCHEMA)
TZ = DateTime(timezone=True)

event_store = event_store_tables(metadata, SCHEMA)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("customer", Text, nullable=False),
    Column("title", Text, nullable=False, server_default=""),
    Column("message_count", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("updated_at", TZ, nullable=False),
)
Index("ix_sessions_customer", sessions.c.customer, sessions.c.updated_at)

messages = Table(
    "messages",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("session_id", Uuid, nullable=False),
    Column("position", Integer, nullable=False, comment="the event's sequence in the session"),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("reply_to", Uuid, nullable=True),
    Column("status", String(16), nullable=False),
    Column("degraded_reason", String(32), nullable=True),
    Column("cited_products", JSONB, nullable=False, server_default="[]"),
    Column("tools_called", JSONB, nullable=False, server_default="[]"),
    Column("model", Text, nullable=False, server_default=""),
    Column("created_at", TZ, nullable=False),
    UniqueConstraint("session_id", "position", name="uq_messages_session_position"),
)

reply_grounding = Table(
    "reply_grounding",
    metadata,
    Column("message_id", Uuid, primary_key=True),
    Column("grounding", String(16), nullable=False, comment="corrected | replaced"),
    Column("findings", JSONB, nullable=False, server_default="[]"),
    Column("created_at", TZ, nullable=False),
    comment="Projected from assistant.session.reply_recorded (grounding, findings)",
)

customer_orders = Table(
    "customer_orders",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("customer", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total", Numeric(12, 2), nullable=True, comment="None until every line is priced"),
    Column("lines", JSONB, nullable=False),
    Column("reasons", JSONB, nullable=False, server_default="[]"),
    Column("version", Integer, nullable=False),
    Column("placed_at", TZ, nullable=False),
    Column("updated_at", TZ, nullable=False),
)
Index("ix_customer_orders_customer", customer_orders.c.customer, customer_orders.c.placed_at)

purchased_orders = Table(
    "purchased_orders",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("status", String(16), nullable=False, comment="counted | cancelled"),
    Column("confirmed_at", TZ, nullable=False),
)

purchase_lines = Table(
    "purchase_lines",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("product_id", Uuid, primary_key=True),
    Column("sku", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Numeric(12, 2), nullable=True),
    Column("currency", String(3), nullable=False),
)

co_purchases = Table(
    "co_purchases",
    metadata,
    Column("product_id", Uuid, primary_key=True),
    Column("other_id", Uuid, primary_key=True),
    Column("orders", BigInteger, nullable=False),
)
Index("ix_co_purchases_rank", co_purchases.c.product_id, co_purchases.c.orders.desc())

product_sales = Table(
    "product_sales",
    metadata,
    Column("product_id", Uuid, primary_key=True),
    Column("day", Date, primary_key=True, comment="the order's confirmation day (UTC)"),
    Column("units", BigInteger, nullable=False),
    Column("orders", BigInteger, nullable=False),
)
Index("ix_product_sales_day", product_sales.c.day)
"""Units sold per product and day, kept in the order events' transactions (ADR 0005):
what `popular` ranks by, current within the consumer's lag."""

categories = Table(
    "categories",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("slug", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("version", BigInteger, nullable=False, comment="the event's sequence"),
)
"""The catalog's categories (`catalog.category.*`): the query parser's category words."""

ledger = ledger_tables(metadata, SCHEMA)

BEST_SELLERS = "best_sellers"
best_sellers = table(
    BEST_SELLERS,
    column("product_id"),
    column("units"),
    column("orders"),
    column("name"),
    schema=SCHEMA,
)
"""Materialized view (created by migration 0002, not by this metadata): units and orders
per product over the last 30 days of counted purchases."""

PROJECTIONS = (sessions, messages, reply_grounding)
"""Rebuilt from the event table (`make rebuild-projections SERVICE=assistant`)."""
