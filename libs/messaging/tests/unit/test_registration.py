"""`@handles` marks module-level handlers; `registered` finds them; `bind` injects their
dependencies by name and refuses a missing one when the consumer is built."""

from __future__ import annotations

import types
from typing import Any, cast
from uuid import uuid4

import pytest

from marcus_contracts.events.orders import OrderCancelled, OrderConfirmed, OrderPlaced
from marcus_messaging import HandlerContext, handles, registered
from marcus_messaging.registration import bind


def module_with(**functions: Any) -> types.ModuleType:
    module = types.ModuleType("fake_consumer")
    for name, fn in functions.items():
        fn.__module__ = module.__name__
        setattr(module, name, fn)
    return module


def test_registered_maps_each_event_type_to_its_handler_in_definition_order() -> None:
    @handles(OrderPlaced)
    async def on_order_placed(event: OrderPlaced, ctx: HandlerContext) -> None: ...

    @handles(OrderConfirmed, OrderCancelled)
    async def on_order_final(event: OrderConfirmed, ctx: HandlerContext) -> None: ...

    async def helper() -> None: ...

    found = registered(module_with(b=on_order_final, a=on_order_placed, c=helper))
    assert found == {
        "orders.order.placed": on_order_placed,
        "orders.order.confirmed": on_order_final,
        "orders.order.cancelled": on_order_final,
    }


def test_an_imported_handler_is_not_registered_twice() -> None:
    @handles(OrderPlaced)
    async def on_order_placed(event: OrderPlaced, ctx: HandlerContext) -> None: ...

    module = types.ModuleType("other")
    module.on_order_placed = on_order_placed  # type: ignore[attr-defined]  # defined elsewhere
    assert registered(module) == {}


def test_two_handlers_of_one_event_are_refused() -> None:
    @handles(OrderPlaced)
    async def first(event: OrderPlaced, ctx: HandlerContext) -> None: ...

    @handles(OrderPlaced)
    async def second(event: OrderPlaced, ctx: HandlerContext) -> None: ...

    with pytest.raises(ValueError, match="handled by both first and second"):
        registered(module_with(first=first, second=second))


def test_handles_refuses_a_plain_function_and_no_events() -> None:
    with pytest.raises(TypeError, match="async def"):
        handles(OrderPlaced)(lambda event, ctx: None)  # type: ignore[arg-type, return-value]
    with pytest.raises(ValueError):
        handles()


async def test_bind_passes_the_event_the_context_and_the_named_dependencies() -> None:
    calls: list[tuple[object, object, object]] = []

    @handles(OrderPlaced)
    async def on_order_placed(event: OrderPlaced, ctx: HandlerContext, *, mailer: str) -> None:
        calls.append((event, ctx, mailer))

    handler = bind(on_order_placed, {"mailer": "smtp", "unused": 1})
    event = object()
    ctx = cast(HandlerContext, types.SimpleNamespace(event=event, id=uuid4()))
    await handler(ctx)
    assert calls == [(event, ctx, "smtp")]
    assert handler.__name__ == "on_order_placed"


def test_bind_names_a_missing_dependency() -> None:
    @handles(OrderPlaced)
    async def on_order_placed(event: OrderPlaced, ctx: HandlerContext, *, mailer: str) -> None: ...

    with pytest.raises(TypeError, match="on_order_placed needs mailer"):
        bind(on_order_placed, {})
