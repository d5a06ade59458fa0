"""Registry of event models: resolves `(type, dataversion)` and upcasts old data.

A consumer deployed today reads an event written years ago: `decode` walks the upcaster
chain from the event's version to the newest one, then validates against that model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

from marcus_contracts.base import Event
from marcus_contracts.envelope import Envelope
from marcus_contracts.reading import EnvelopeReader, ReadEnvelope

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UnknownEventError(LookupError):
    """The registry has no model for this event type or version."""


class EventRegistry:
    def __init__(self) -> None:
        self._models: dict[tuple[str, int], type[Event]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        self._latest: dict[str, type[Event]] = {}
        """The newest model per type: `decode` looks it up for every consumed event."""

    def register(self, model: type[Event]) -> type[Event]:
        key = (model.event_type, model.version)
        if key in self._models and self._models[key] is not model:
            raise ValueError(f"{key} is registered twice")
        self._models[key] = model
        latest = self._latest.get(model.event_type)
        if latest is None or latest.version < model.version:
            self._latest[model.event_type] = model
        return model

    def register_upcaster(self, event_type: str, from_version: int, fn: Upcaster) -> None:
        self._upcasters[(event_type, from_version)] = fn

    def has_upcaster(self, event_type: str, from_version: int) -> bool:
        return (event_type, from_version) in self._upcasters

    def models(self) -> list[type[Event]]:
        return [self._models[k] for k in sorted(self._models)]

    def types(self) -> list[str]:
        return sorted({t for t, _ in self._models})

    def latest_version(self, event_type: str) -> int:
        try:
            return self._latest[event_type].version
        except KeyError:
            raise UnknownEventError(f"unknown event type {event_type!r}") from None

    def model(self, event_type: str, version: int) -> type[Event]:
        try:
            return self._models[(event_type, version)]
        except KeyError:
            raise UnknownEventError(f"no model for {event_type!r} v{version}") from None

    def upcast(self, event_type: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
        """Lift `data` from `version` to the latest version of `event_type`."""
        latest = self.latest_version(event_type)
        if version > latest:
            raise UnknownEventError(
                f"{event_type!r} v{version} is newer than this consumer knows (v{latest})"
            )
        while version < latest:
            step = self._upcasters.get((event_type, version))
            if step is None:
                raise UnknownEventError(f"no upcaster for {event_type!r} v{version}")
            data = step(data)
            version += 1
        return data

    def reader(self, event_types: Iterable[str]) -> EnvelopeReader:
        """A reader that validates entries of these types in one pass (`reading`)."""
        models = []
        for event_type in sorted(set(event_types)):
            try:
                models.append(self._latest[event_type])
            except KeyError:
                raise UnknownEventError(f"unknown event type {event_type!r}") from None
        return EnvelopeReader(models)

    def decode(self, envelope: Envelope) -> Event:
        """The event's data as the latest model of its type."""
        if isinstance(envelope, ReadEnvelope):  # read in one pass: decoded already
            return cast(Event, envelope.data)
        try:
            model = self._latest[envelope.type]
        except KeyError:
            raise UnknownEventError(f"unknown event type {envelope.type!r}") from None
        if envelope.dataversion == model.version:  # the common case: nothing to upcast
            return model.model_validate(envelope.data)
        data = self.upcast(envelope.type, envelope.dataversion, dict(envelope.data))
        return model.model_validate(data)

    def envelope(
        self,
        event: Event,
        *,
        subject: str,
        sequence: int,
        source: str | None = None,
        correlationid: str | None = None,
        causationid: str | None = None,
        traceparent: str | None = None,
    ) -> Envelope:
        """Wrap an event's data; the producer is the first segment of its type."""
        self.model(event.event_type, event.version)  # refuse unregistered events
        return Envelope(
            source=source or event.event_type.split(".", 1)[0],
            type=event.event_type,
            subject=subject,
            dataversion=event.version,
            sequence=sequence,
            correlationid=correlationid,
            causationid=causationid,
            traceparent=traceparent,
            data=event.model_dump(mode="json"),
        )


def build_registry(
    models: Iterable[type[Event]], upcasters: dict[tuple[str, int], Any]
) -> EventRegistry:
    registry = EventRegistry()
    for model in models:
        registry.register(model)
    for (event_type, version), fn in upcasters.items():
        registry.register_upcaster(event_type, version, fn)
    return registry
