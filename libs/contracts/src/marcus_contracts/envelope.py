"""The one envelope every event travels in: a CloudEvents 1.0 structured-mode JSON event.

Attribute names follow CloudEvents; `dataversion`, `sequence`, `correlationid`,
`causationid` and `traceparent` are extension attributes (lower-case alphanumerics, as
the spec requires), so any CloudEvents SDK can parse what is on the streams.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import uuid_utils
from pydantic import BaseModel, ConfigDict, Field, ValidationError

# Filled in by the constructor for producers, but a reader must never invent them: a
# made-up id would defeat deduplication on every redelivery.
WIRE_REQUIRED = ("specversion", "id", "time", "datacontenttype")


def new_event_id() -> UUID:
    """Time-ordered UUIDv7: ids sort by creation time, which keeps indexes compact."""
    return UUID(bytes=uuid_utils.uuid7().bytes)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Metadata plus the (already serialised) `data` of one event."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    specversion: Literal["1.0"] = "1.0"
    id: UUID = Field(default_factory=new_event_id)
    source: str = Field(min_length=1, description="producing service, e.g. 'catalog'")
    type: str = Field(min_length=1, description="e.g. 'catalog.product.updated'")
    subject: str = Field(min_length=1, description="aggregate id")
    time: datetime = Field(default_factory=utcnow)
    datacontenttype: Literal["application/json"] = "application/json"
    dataversion: int = Field(ge=1, description="schema version of `data`")
    sequence: int = Field(ge=1, description="aggregate version, strictly increasing per subject")
    correlationid: str | None = None
    causationid: str | None = None
    traceparent: str | None = None
    data: dict[str, Any]

    def to_json(self) -> str:
        """Structured-mode JSON; absent optional extensions are left out, as CloudEvents asks."""
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Envelope:
        """Parse a stream entry; unlike the constructor, it fills in no id or time.

        The check reads `model_fields_set` after validation rather than running a
        Python validator inside it: this runs for every consumed event."""
        envelope = cls.model_validate_json(raw)
        if len(envelope.model_fields_set.intersection(WIRE_REQUIRED)) < len(WIRE_REQUIRED):
            missing = [name for name in WIRE_REQUIRED if name not in envelope.model_fields_set]
            raise ValidationError.from_exception_data(
                cls.__name__,
                [{"type": "missing", "loc": (name,), "input": raw} for name in missing],
            )
        return envelope
