"""The notifier schema: deliveries, the event store, the consumer ledger.

`deliveries` is the exactly-once record: one row per (source event, recipient), unique,
with the state of the send. It is not a projection (it records what happened at the SMTP
server, which no event says by itself), so `rebuild-projections` leaves it alone.

    sending   an attempt started; if the process died now, the outcome is unknown
    retrying  the last attempt failed before the server accepted the message
    sent      the server accepted it (smtp_response)
    failed    gave up after the last attempt (notifier.email.failed, DLQ)

Each delivery is about an order (`order_id`: an order e-mail) or a cart (`cart_id`: an
abandoned-cart reminder).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)

from marcus_eventstore import event_store_tables
from marcus_messaging import ledger_tables
from notifier.settings import SCHEMA

metadata = MetaData(schema=SCHEMA)

event_store = event_store_tables(metadata, SCHEMA)
ledger = ledger_tables(metadata, SCHEMA)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("event_id", Uuid, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("order_id", Uuid, nullable=True),
    Column("cart_id", Uuid, nullable=True),
    Column("message_id", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("smtp_response", Text, nullable=True),
    Column("outcome_recorded", Boolean, nullable=False, server_default="false"),
    Column("version", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("event_id", "recipient", name="uq_deliveries_event_recipient"),
    CheckConstraint(
        "order_id IS NOT NULL OR cart_id IS NOT NULL", name="ck_deliveries_about_something"
    ),
)
