"""Response bodies of the indexer's admin API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field


class StreamLag(BaseModel):
    stream: str
    pending: int = Field(description="Delivered to a replica, not yet acknowledged.")
    undelivered: int | None = Field(
        description="Entries not yet delivered to the group (XINFO GROUPS lag); null when "
        "Redis cannot tell (after trimming or deletions)."
    )


class ConsumerLag(BaseModel):
    total: int | None = Field(
        description="pending + undelivered + queued: events or products not yet in the index."
    )
    queued: int = Field(description="Products folded but not yet written to Chroma.")
    streams: list[StreamLag]


class RebuildOut(BaseModel):
    run_id: UUID
    request_id: UUID
    requested_by: str
    status: str
    requested_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    collection: str | None = None
    previous_collection: str | None = None
    embedder: str | None = None
    documents: int | None = None
    events_replayed: int | None = None
    seconds: float | None = None
    attempts: int = 0
    error: str | None = None
    coalesced_into: UUID | None = Field(
        default=None,
        description="For a coalesced request: the run it was merged into, whose outcome "
        "answers it (and is reported for it in that run's outcome event).",
    )
    outcome: Literal["done", "failed"] | None = Field(
        default=None,
        description="How the request ended: its run's status once final, or for a "
        "coalesced request the final status of the run it was merged into; null while "
        "pending. `finished_at` of a coalesced request is when that run finished.",
    )


class RebuildList(BaseModel):
    items: list[RebuildOut] = Field(description="Newest first, merged requests included.")


class IndexStatus(BaseModel):
    active_collection: str | None
    embedder: str | None
    dimension: int | None
    documents: int | None = Field(description="Documents in the active collection (Chroma).")
    configured_embedder: str
    lag: ConsumerLag
    last_rebuild: RebuildOut | None
    current_rebuild: RebuildOut | None = Field(
        description="A rebuild that is requested or running, if any."
    )
