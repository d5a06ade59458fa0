"""Events the indexer emits.

`indexer.index.rebuilt` says that a rebuild by replay switched search to a new Chroma
collection: consumers (the assistant, dashboards) learn the new collection, its embedder
and size without reading the indexer's schema. The event's subject is the rebuild run.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from marcus_contracts.base import Event


class IndexRebuiltV1(Event):
    """A rebuild finished and its collection is now the active one."""

    event_type = "indexer.index.rebuilt"
    version = 1

    run_id: UUID
    request_id: UUID
    """Id of the request that asked for it (the scheduler's event id, or an admin's)."""
    requested_by: str
    collection: str
    """The new active Chroma collection (its name records embedder and dimension)."""
    previous_collection: str | None = None
    embedder: str
    dimension: int = Field(ge=1)
    documents: int = Field(ge=0)
    """Products in the new collection when it was switched on."""
    events_replayed: int = Field(ge=0)
    seconds: float = Field(ge=0)
    started_at: datetime
    finished_at: datetime


ALL = (IndexRebuiltV1,)
