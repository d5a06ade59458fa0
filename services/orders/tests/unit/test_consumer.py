"""What the orders consumer handles: the catalog's product and stock events (the read
model), its answers to orders (the saga), and the scheduler's cart job."""

from __future__ import annotations

from marcus_contracts.events import catalog
from marcus_contracts.events.scheduler import CartRemindersRequested
from marcus_messaging import registered
from orders import consumer


def test_every_event_the_orders_service_needs_has_one_handler() -> None:
    handlers = {event_type: fn.__name__ for event_type, fn in registered(consumer).items()}
    assert handlers == {
        catalog.ProductCreated.event_type: "on_product_saved",
        catalog.ProductUpdated.event_type: "on_product_saved",
        catalog.ProductDeleted.event_type: "on_product_deleted",
        catalog.StockAdjusted.event_type: "on_stock_changed",
        catalog.StockReserved.event_type: "on_stock_changed",
        catalog.StockReleased.event_type: "on_stock_changed",
        catalog.OptionStockReserved.event_type: "on_option_stock_changed",
        catalog.OptionStockReleased.event_type: "on_option_stock_changed",
        catalog.StockAllocated.event_type: "on_stock_allocated",
        catalog.StockRejected.event_type: "on_stock_rejected",
        CartRemindersRequested.event_type: "on_cart_reminders_requested",
    }
