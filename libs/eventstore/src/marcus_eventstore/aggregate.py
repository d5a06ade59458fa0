"""Aggregates and the errors every service's domain raises.

An aggregate records events instead of mutating storage; the unit of work appends them
with consecutive sequences. The error classes map to HTTP statuses once, in marcus_web.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from marcus_contracts import Event


class DomainError(Exception):
    """A business rule was broken; the message is safe to show to the client (422)."""


class NotFound(DomainError):
    """The aggregate does not exist, or the caller may not know it does (404)."""


class Conflict(DomainError):
    """Unique data (a sku, a slug, an idempotency key) is already taken (409)."""


class VersionMismatch(DomainError):
    """The client's expected version is not the current one (412)."""


@dataclass
class Aggregate:
    id: UUID
    version: int
    pending: list[Event] = field(default_factory=list, init=False, repr=False)

    def _record(self, event: Event) -> None:
        self.pending.append(event)

    def event_id(self, event: Event) -> UUID | None:
        """The id `event` gets when stored; None gives a fresh UUIDv7.

        Override to derive the id from the command (a scheduled job and its fire time),
        so a repeated command produces the same event and the store's unique id refuses
        the copy instead of publishing it twice.
        """
        return None

    def expect_version(self, expected: int | None) -> None:
        if expected is not None and expected != self.version:
            raise VersionMismatch(
                f"expected version {expected}, but the current version is {self.version}"
            )
