"""Event handlers as module-level functions: what a service consumes is visible in its
`consumer.py`, one function per event, and found with one grep of the event's name.

    @handles(OrderPlaced)
    async def on_order_placed(event: OrderPlaced, ctx: HandlerContext, *, mailer: Mailer) -> None:
        ...

    consumer.include(sys.modules[__name__], mailer=Mailer(settings))

A handler takes the decoded event (always the newest version: the registry upcasts) and
the `HandlerContext` (the ledger's session, the envelope, the sequence guard), then its
dependencies as keyword-only parameters, which `Consumer.include` binds by name, the way
cosmicpython's bootstrap injects them. A dependency a handler names but `include` was not
given is an error when the consumer is built, not when the first event arrives.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from types import ModuleType
from typing import Any, TypeVar

from marcus_contracts import Event
from marcus_messaging.processing import Handler, HandlerContext

HANDLES = "__marcus_handles__"
"""Attribute `@handles` sets on a function: the event types it handles."""

F = TypeVar("F", bound=Callable[..., Awaitable[None]])


def handles(*events: type[Event]) -> Callable[[F], F]:
    """Mark a module-level coroutine function as the handler of these events."""
    if not events:
        raise ValueError("@handles needs at least one event class")

    def mark(fn: F) -> F:
        function: Any = fn  # iscoroutinefunction would narrow `fn` away from F
        if not inspect.iscoroutinefunction(function):
            raise TypeError(f"{fn.__qualname__}: an event handler must be `async def`")
        setattr(fn, HANDLES, tuple(event.event_type for event in events))
        return fn

    return mark


def registered(module: ModuleType) -> dict[str, Callable[..., Awaitable[None]]]:
    """Event type -> handler, for the `@handles` functions defined in `module` (not the
    ones it imports), in the order they are defined."""
    found: dict[str, Callable[..., Awaitable[None]]] = {}
    functions = [
        fn
        for fn in vars(module).values()
        if inspect.isfunction(fn) and fn.__module__ == module.__name__ and hasattr(fn, HANDLES)
    ]
    for fn in sorted(functions, key=lambda f: f.__code__.co_firstlineno):
        for event_type in getattr(fn, HANDLES):
            if event_type in found:
                raise ValueError(
                    f"{module.__name__}: {event_type!r} is handled by both "
                    f"{found[event_type].__name__} and {fn.__name__}"
                )
            found[event_type] = fn
    return found


def bind(fn: Callable[..., Awaitable[None]], dependencies: Mapping[str, Any]) -> Handler:
    """`fn` as the runtime's `Handler` (one argument: the context), its keyword-only
    parameters bound from `dependencies`."""
    wanted = [
        name
        for name, parameter in inspect.signature(fn).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    missing = [name for name in wanted if name not in dependencies]
    if missing:
        raise TypeError(f"{fn.__name__} needs {', '.join(missing)}: pass them to include()")
    bound = {name: dependencies[name] for name in wanted}

    @functools.wraps(fn)
    async def handler(ctx: HandlerContext) -> None:
        await fn(ctx.event, ctx, **bound)

    return handler
