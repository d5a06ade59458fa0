"""Events the indexer emits.

`indexer.index.rebuilt` says that a rebuild by replay switched search to a new Chroma
collection: consumers (the assistant, dashboards) learn the new collection, its embedder
and size without reading the indexer's schema. `indexer.index.rebuild_failed` says that
a rebuild gave up (after its last attempt): search stays on the collection it had, and
whoever asked (the scheduler's run) learns the outcome. Either way the event's subject is
the rebuild run, and a run emits one of the two, once.

Requests that arrived while a run was waiting to start are merged into it (the indexer
calls them coalesced) and get no run of their own: the run's outcome event lists them in
`coalesced_requests`, so one event answers every request the run served. Consumers that
track requests close `request_id` and each listed request; consumers that track the index
see one switch (or one failure), never one per request. The field came later with a
default (`[]`): events from before it decode unchanged, and an event that merged nothing
leaves it out, so a consumer that predates it reads such events as before.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from marcus_contracts.base import Event


class CoalescedRequest(BaseModel):
    """A rebuild request merged into the reporting run: it gets that run's outcome."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: UUID
    """The indexer's run of the request (status `coalesced`, `coalesced_into` the run)."""
    request_id: UUID
    """Id of the request (the scheduler's event id, or an admin's)."""
    requested_by: str


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
    coalesced_requests: list[CoalescedRequest] = Field(
        default_factory=list, exclude_if=lambda merged: not merged
    )
    """Requests merged into this run, which this outcome answers too (oldest first).
    Left out when empty, so such an event reads as it did before the field existed."""


class IndexRebuildFailedV1(Event):
    """A rebuild gave up: its attempts are spent; the active collection did not change."""

    event_type = "indexer.index.rebuild_failed"
    version = 1

    run_id: UUID
    request_id: UUID
    """Id of the request that asked for it (the scheduler's event id, or an admin's)."""
    requested_by: str
    error: str
    """The last attempt's error, as the indexer recorded it on the run."""
    attempts: int = Field(ge=1)
    started_at: datetime | None = None
    """When the last attempt started (none if the run never started one)."""
    failed_at: datetime
    coalesced_requests: list[CoalescedRequest] = Field(
        default_factory=list, exclude_if=lambda merged: not merged
    )
    """Requests merged into this run, which this outcome answers too (oldest first).
    Left out when empty, so such an event reads as it did before the field existed."""


class SnapshotRequestedV1(Event):
    """The indexer asks the catalog for the current state of every product (subject =
    the request id), to build a new collection without replaying `events.catalog` from
    its first entry (the stream is trimmed; its history lives in the catalog's event
    store). The catalog answers on the snapshot stream `StreamNames.snapshot("catalog",
    request_id)`: one `catalog.product.snapshotted` per product, then
    `catalog.snapshot.completed` with the live stream position the snapshot is consistent
    with."""

    event_type = "indexer.snapshot.requested"
    version = 1

    request_id: UUID
    run_id: UUID
    """The rebuild run that needs it."""
    requested_at: datetime


ALL = (IndexRebuiltV1, IndexRebuildFailedV1, SnapshotRequestedV1)


# Unversioned names: the newest version of each event (see the package docstring).
IndexRebuilt = IndexRebuiltV1
IndexRebuildFailed = IndexRebuildFailedV1
SnapshotRequested = SnapshotRequestedV1
