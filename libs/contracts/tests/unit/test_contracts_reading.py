"""The one-pass reader gives what `Envelope.from_json` + `registry.decode` give, or falls
back to exactly that path (upcasting, other types, errors)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from marcus_contracts import Envelope, UnknownEventError, registry
from marcus_contracts.events.catalog import ProductCreated
from marcus_contracts.reading import ReadEnvelope

HANDLED = ["catalog.product.created", "catalog.product.updated"]


@pytest.fixture
def wire(product_created: ProductCreated) -> str:
    return registry.envelope(
        product_created, subject=str(product_created.product_id), sequence=1
    ).to_json()


def test_reads_a_handled_type_in_one_pass(wire: str, product_created: ProductCreated) -> None:
    envelope = registry.reader(HANDLED).read(wire.encode())

    assert isinstance(envelope, ReadEnvelope)
    generic = Envelope.from_json(wire)
    assert envelope.model_dump(exclude={"data"}) == generic.model_dump(exclude={"data"})
    assert registry.decode(envelope) == registry.decode(generic) == product_created
    assert envelope.to_json() == generic.to_json() == wire  # the data's nulls stay


def test_one_handled_type_alone(wire: str, product_created: ProductCreated) -> None:
    envelope = registry.reader(["catalog.product.created"]).read(wire)

    assert isinstance(envelope, ReadEnvelope)
    assert registry.decode(envelope) == product_created


def test_other_types_are_read_generically(wire: str) -> None:
    envelope = registry.reader(["catalog.product.updated"]).read(wire)

    assert type(envelope) is Envelope
    assert envelope == Envelope.from_json(wire)


def test_an_older_version_is_upcast(legacy_v1_json: str) -> None:
    envelope = registry.reader(HANDLED).read(legacy_v1_json)

    assert type(envelope) is Envelope  # v1: not the one pass, which reads v3 only
    event = registry.decode(envelope)
    assert isinstance(event, ProductCreated)
    assert event.currency == "EUR" and event.attributes == {}


def test_invalid_data_fails_as_the_generic_decode_does(wire: str) -> None:
    raw = json.loads(wire)
    raw["data"]["price"] = "not a price"

    envelope = registry.reader(HANDLED).read(json.dumps(raw))  # the envelope itself is fine

    with pytest.raises(ValidationError, match="price"):
        registry.decode(envelope)


@pytest.mark.parametrize("attribute", ["id", "time", "specversion", "datacontenttype"])
def test_never_invents_attributes(wire: str, attribute: str) -> None:
    raw = json.loads(wire)
    del raw[attribute]

    with pytest.raises(ValidationError, match=attribute):
        registry.reader(HANDLED).read(json.dumps(raw))


def test_not_json_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        registry.reader(HANDLED).read(b"\xff not json")


def test_unknown_types_cannot_be_asked_for() -> None:
    with pytest.raises(UnknownEventError, match=r"catalog\.product\.exploded"):
        registry.reader(["catalog.product.exploded"])


def test_a_newer_version_is_refused(wire: str) -> None:
    raw = json.loads(wire)
    raw["dataversion"] = 9

    envelope = registry.reader(HANDLED).read(json.dumps(raw))

    with pytest.raises(UnknownEventError, match="newer than this consumer knows"):
        registry.decode(envelope)


def test_a_reader_of_every_type(wire: str, product_created: ProductCreated) -> None:
    envelope = registry.reader(registry.types()).read(wire)  # one tagged union of all

    assert isinstance(envelope, ReadEnvelope)
    assert registry.decode(envelope) == product_created
