"""What the handlers of one ledger transaction share: the per-batch hook.

A batch of entries is handled in one transaction (`marcus_messaging.batch`), but each
handler sees one event. A handler whose effect is cheaper written once per batch (one
multi-row statement instead of a few per event) keeps its pending work in `state` and
registers a `before_commit` callback that writes it. The callbacks run after the last
handler, inside the same transaction, so the effect still commits with the ledger rows
or not at all. A callback that raises fails the whole transaction: no single handler is
blamed, so the batch is redone entry by entry (each entry then in a scope of its own).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from marcus_contracts import Event


@dataclass
class TransactionScope:
    """Per transaction: `events` are the fresh events its handlers will run for (stream
    order, duplicates left out), known before the first handler runs, so a handler can
    load what the whole batch needs in one statement."""

    events: Sequence[Event] = ()
    state: dict[str, Any] = field(default_factory=dict)
    _callbacks: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def before_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback` once, after the last handler and before the commit."""
        self._callbacks.append(callback)

    async def finish(self) -> None:
        """Run the registered callbacks in registration order (each at most once)."""
        while self._callbacks:
            await self._callbacks.pop(0)()
