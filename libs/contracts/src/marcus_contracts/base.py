"""Base class of every event payload (`data`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """One `(event_type, version)` of an event's data.

    Subclasses set both class variables; the registry keys on them. Payloads are frozen:
    an event is a fact, never edited after it was recorded.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    version: ClassVar[int]
