"""The envelope survives a round trip and is a CloudEvent any SDK can read."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cloudevents.core.formats.json import JSONFormat
from pydantic import ValidationError

from marcus_contracts import Envelope, registry
from marcus_contracts.events.catalog import ProductCreated


def _envelope(event: ProductCreated) -> Envelope:
    return registry.envelope(
        event,
        subject=str(event.product_id),
        sequence=3,
        correlationid="corr-1",
        causationid="cause-1",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )


def test_round_trip_keeps_every_attribute(product_created: ProductCreated) -> None:
    envelope = _envelope(product_created)

    again = Envelope.from_json(envelope.to_json())

    assert again == envelope
    assert registry.decode(again) == product_created


def test_absent_extensions_are_left_out(product_created: ProductCreated) -> None:
    envelope = registry.envelope(product_created, subject="p-1", sequence=1)

    raw = envelope.to_json()

    assert "correlationid" not in raw and "traceparent" not in raw
    assert Envelope.from_json(raw) == envelope


def test_ids_are_time_ordered(product_created: ProductCreated) -> None:
    ids = [registry.envelope(product_created, subject="p", sequence=1).id for _ in range(50)]

    assert ids == sorted(ids)
    assert {i.version for i in ids} == {7}


def test_cloudevents_sdk_parses_structured_json(product_created: ProductCreated) -> None:
    envelope = _envelope(product_created)

    event = JSONFormat().read(None, envelope.to_json().encode())

    assert event.get_specversion() == "1.0"
    assert event.get_id() == str(envelope.id)
    assert event.get_source() == "catalog"
    assert event.get_type() == "catalog.product.created"
    assert event.get_subject() == str(product_created.product_id)
    time = event.get_time()
    assert time == envelope.time
    assert time is not None and time.tzinfo is not None
    assert event.get_datacontenttype() == "application/json"
    assert event.get_extension("dataversion") == 3
    assert event.get_extension("sequence") == 3
    assert event.get_extension("correlationid") == "corr-1"
    assert event.get_extension("causationid") == "cause-1"
    assert event.get_extension("traceparent").startswith("00-4bf92f")
    assert event.get_data() == product_created.model_dump(mode="json")


def test_sdk_written_event_is_readable(product_created: ProductCreated) -> None:
    """What a non-Python producer writes with the SDK decodes through the registry."""
    from cloudevents.core.v1.event import CloudEvent

    event = CloudEvent(
        {
            "id": "0190c2a4-7b1e-7c3d-9a4f-2b6e8d1c0a44",
            "source": "catalog",
            "type": "catalog.product.created",
            "subject": "p-1",
            "time": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            "datacontenttype": "application/json",
            "dataversion": 2,
            "sequence": 1,
        },
        product_created.model_dump(mode="json"),
    )

    envelope = Envelope.from_json(JSONFormat().write(event))

    assert envelope.time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert registry.decode(envelope) == product_created


@pytest.mark.parametrize("attribute", ["id", "time", "specversion", "datacontenttype"])
def test_reader_never_invents_attributes(legacy_v1_json: str, attribute: str) -> None:
    raw = json.loads(legacy_v1_json)
    del raw[attribute]

    with pytest.raises(ValidationError, match=attribute):
        Envelope.from_json(json.dumps(raw))
