"""Orders settings: the shared ones (marcus_web.settings) plus the saga's knobs."""

from __future__ import annotations

from pydantic import Field

from marcus_web.settings import ServiceSettings

SERVICE = "orders"
SCHEMA = "orders"


class OrdersSettings(ServiceSettings):
    port: int = 8002

    # The orders group's own defaults (same CONSUMER_* variables; the rest are shared).
    consumer_batch: int = Field(default=20, ge=1)
    consumer_max_deliveries: int = Field(default=10, ge=1)
    consumer_backoff_base_ms: int = Field(default=500, ge=1)

    pending_timeout_s: float = 60.0
    """A pending order older than this (no answer from the catalog) counts as stuck: it
    is reported in `orders_pending_stuck` and its placed event is published again."""
    pending_check_interval_s: float = 10.0
    """How often the stuck-order check runs (one replica at a time does the work)."""

    allow_other_email: bool = False
    """Let a customer send an order's e-mails to an address other than their token's
    verified `email` claim (a gift, a shared inbox). Off: such a request is refused."""
