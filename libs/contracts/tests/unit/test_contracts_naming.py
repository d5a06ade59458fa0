"""Every event type reads `<service>.<aggregate>.<past-tense verb>` and names its producer."""

from __future__ import annotations

import re

import pytest

from marcus_contracts import SERVICES, StreamNames, registry, source_of
from marcus_contracts.events.catalog import ProductCreated

NAME = re.compile(r"^(?P<service>[a-z]+)\.(?P<aggregate>[a-z][a-z_]*)\.(?P<verb>[a-z][a-z_]*)$")
# Past participles that do not end in -ed; extend when an event needs one.
IRREGULAR_PAST = frozenset(
    {
        "paid",
        "sent",
        "sold",
        "built",
        "made",
        "held",
        "kept",
        "lost",
        "won",
        "begun",
        "done",
        "rebuilt",
        "set",
    }
)
PARTICLES = frozenset({"out", "up", "off", "back", "in"})
"""Phrasal verbs (`checked_out`): the verb before the particle carries the tense."""


def _is_past_tense(verb: str) -> bool:
    words = verb.split("_")
    if len(words) > 1 and words[-1] in PARTICLES:
        words.pop()
    last = words[-1]
    return last.endswith("ed") or last in IRREGULAR_PAST


@pytest.mark.parametrize("event_type", registry.types())
def test_event_type_naming(event_type: str) -> None:
    match = NAME.match(event_type)
    assert match, f"{event_type!r} is not <service>.<aggregate>.<past-tense verb>"
    assert match["service"] in SERVICES, f"{event_type!r}: unknown service {match['service']!r}"
    assert _is_past_tense(match["verb"]), (
        f"{event_type!r}: events are facts, name them in the past tense"
    )


@pytest.mark.parametrize("event_type", registry.types())
def test_source_is_a_known_service(event_type: str) -> None:
    assert source_of(event_type) in SERVICES


def test_envelope_source_defaults_to_the_producing_service(
    product_created: ProductCreated,
) -> None:
    envelope = registry.envelope(product_created, subject="p", sequence=1)

    assert envelope.source == "catalog" == source_of(envelope.type)
    assert StreamNames().events(envelope.source) == "events.catalog"


@pytest.mark.parametrize(
    "bad", ["catalog.product.create", "Catalog.Product.Created", "x.y", "shop.product.created"]
)
def test_naming_rule_rejects_bad_names(bad: str) -> None:
    match = NAME.match(bad)
    assert not (match and match["service"] in SERVICES and _is_past_tense(match["verb"]))


def test_stream_group_and_dlq_names() -> None:
    names = StreamNames(prefix="test-1:")

    assert names.events("catalog") == "test-1:events.catalog"
    assert names.group("indexer") == "indexer"
    assert names.dlq("indexer") == "test-1:dlq.indexer"
