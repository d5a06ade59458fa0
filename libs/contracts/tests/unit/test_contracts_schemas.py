"""The checked-in schemas match the code, and the guard catches incompatible edits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from uuid import UUID

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import Field

from marcus_contracts import registry
from marcus_contracts.base import Event
from marcus_contracts.events.catalog import (
    AttributeValue,
    CategoryRef,
    Currency,
    Money,
    ProductCreated,
)
from marcus_contracts.events.history.catalog import ProductCreatedV2
from marcus_contracts.registry import build_registry
from marcus_contracts.schemas import (
    SCHEMA_DIR,
    check_compatible,
    event_schema,
    generate,
    load_published,
    render,
    schema_path,
)
from marcus_contracts.schemas.__main__ import main

GENERATED = generate(registry)
PUBLISHED = load_published(SCHEMA_DIR)
EXPORT_HINT = "run `uv run python -m marcus_contracts.schemas export` and commit the files"


@pytest.mark.parametrize("key", sorted(GENERATED), ids=lambda k: f"{k[0]}-v{k[1]}")
def test_every_model_has_a_compatible_published_schema(key: tuple[str, int]) -> None:
    event_type, version = key
    path = schema_path(SCHEMA_DIR, event_type, version)
    assert path.is_file(), f"{event_type} v{version} has no published schema: {EXPORT_HINT}"

    problems = check_compatible(PUBLISHED[key], GENERATED[key])

    assert not problems, (
        f"{event_type} v{version} changed INCOMPATIBLY with its published schema "
        f"{path}:\n" + "\n".join(f"  - {p}" for p in problems) + "\n"
        f"Keep v{version} as published; add v{version + 1} and an upcaster instead."
    )


def test_published_schemas_are_exactly_what_the_code_generates() -> None:
    """Compatible drift is allowed above, but must still be exported and committed."""
    stale = [
        f"{t} v{v}"
        for (t, v), schema in GENERATED.items()
        if schema_path(SCHEMA_DIR, t, v).is_file()
        and schema_path(SCHEMA_DIR, t, v).read_text(encoding="utf-8") != render(schema)
    ]
    assert not stale, f"out of date: {', '.join(stale)}: {EXPORT_HINT}"


def test_no_published_schema_lost_its_model() -> None:
    orphans = sorted(PUBLISHED.keys() - GENERATED.keys())
    assert not orphans, f"published but no longer registered (stored events!): {orphans}"


@pytest.mark.parametrize("key", sorted(GENERATED), ids=lambda k: f"{k[0]}-v{k[1]}")
def test_published_schema_is_valid_json_schema(key: tuple[str, int]) -> None:
    Draft202012Validator.check_schema(PUBLISHED[key])


def _validator(event_type: str, version: int) -> Draft202012Validator:
    return Draft202012Validator(PUBLISHED[(event_type, version)], format_checker=FormatChecker())


def test_real_envelopes_validate_against_published_schema(
    product_created: ProductCreated,
) -> None:
    envelope = registry.envelope(product_created, subject="p-1", sequence=1, traceparent="t")
    wire = json.loads(envelope.to_json())

    _validator("catalog.product.created", 3).validate(wire)
    assert not _validator("catalog.product.created", 2).is_valid(wire)  # dataversion const
    assert not _validator("catalog.product.updated", 3).is_valid(wire)  # type const


def test_legacy_export_validates_against_v1_schema(legacy_v1_json: str) -> None:
    _validator("catalog.product.created", 1).validate(json.loads(legacy_v1_json))


def test_envelope_attributes_are_required_but_extensions_optional() -> None:
    schema = PUBLISHED[("catalog.product.deleted", 1)]
    required = set(schema["required"])

    assert {"specversion", "id", "source", "type", "time", "dataversion", "sequence"} <= required
    assert not {"correlationid", "causationid", "traceparent"} & required
    assert schema["properties"]["type"]["const"] == "catalog.product.deleted"
    assert schema["properties"]["dataversion"]["const"] == 1


# --- the guard, on the real published catalog.product.created v2 ---------------------------


class ProductCreatedV2WithoutStock(Event):
    """A careless edit of v2: `stock` removed without a version bump."""

    event_type = "catalog.product.created"
    version = 2

    product_id: UUID
    sku: str
    name: str
    description: str = ""
    price: Money
    currency: Currency
    category: CategoryRef
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)


class ProductCreatedV2WithBrand(ProductCreatedV2):
    """Another careless edit: a new required field, which no stored v2 event carries."""

    brand: str


class ProductCreatedV2WithOptionalBrand(ProductCreatedV2):
    """A safe edit: a new optional field."""

    brand: str | None = None


PUBLISHED_V2 = PUBLISHED[("catalog.product.created", 2)]


def test_guard_catches_a_removed_field() -> None:
    problems = check_compatible(PUBLISHED_V2, event_schema(ProductCreatedV2WithoutStock))

    assert [str(p) for p in problems] == ["/properties/data: property 'stock' was removed"]


def test_guard_catches_a_newly_required_field() -> None:
    problems = check_compatible(PUBLISHED_V2, event_schema(ProductCreatedV2WithBrand))

    assert [str(p) for p in problems] == ["/properties/data: property 'brand' is newly required"]


def test_guard_allows_a_new_optional_field() -> None:
    assert check_compatible(PUBLISHED_V2, event_schema(ProductCreatedV2WithOptionalBrand)) == []


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def schema_dir(tmp_path: Path) -> Path:
    target = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, target)
    return target


def test_check_passes_on_the_checked_in_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    assert f"{len(GENERATED)} schemas match" in capsys.readouterr().out


def test_export_writes_a_fresh_folder_deterministically(tmp_path: Path) -> None:
    assert main(["check", "--dir", str(tmp_path)]) == 1
    assert main(["export", "--dir", str(tmp_path)]) == 0
    first = {p: p.read_bytes() for p in sorted(tmp_path.rglob("*.json"))}
    assert main(["export", "--dir", str(tmp_path)]) == 0
    assert main(["check", "--dir", str(tmp_path)]) == 0

    assert {p: p.read_bytes() for p in sorted(tmp_path.rglob("*.json"))} == first
    assert all(text.endswith(b"}\n") for text in first.values())
    assert len(first) == len(GENERATED)


def test_export_refuses_an_incompatible_change(
    schema_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = build_registry(
        [m for m in registry.models() if m is not ProductCreatedV2] + [ProductCreatedV2WithBrand],
        {},
    )
    before = {p: p.read_bytes() for p in schema_dir.rglob("*.json")}

    assert main(["export", "--dir", str(schema_dir)], registry=broken) == 1
    err = capsys.readouterr().err
    assert "catalog.product.created v2" in err and "INCOMPATIBLE" in err
    assert "'brand' is newly required" in err
    assert "new model catalog.product.created v3 plus an upcaster v2 -> v3" in err
    assert {p: p.read_bytes() for p in schema_dir.rglob("*.json")} == before  # nothing written

    assert main(["check", "--dir", str(schema_dir)], registry=broken) == 1


def test_export_accepts_a_compatible_change(schema_dir: Path) -> None:
    evolved = build_registry(
        [m for m in registry.models() if m is not ProductCreatedV2]
        + [ProductCreatedV2WithOptionalBrand],
        {},
    )
    assert main(["check", "--dir", str(schema_dir)], registry=evolved) == 1  # not exported yet
    assert main(["export", "--dir", str(schema_dir)], registry=evolved) == 0
    assert main(["check", "--dir", str(schema_dir)], registry=evolved) == 0

    saved = json.loads(schema_path(schema_dir, "catalog.product.created", 2).read_text())
    assert "brand" in saved["properties"]["data"]["properties"]


def test_export_refuses_to_drop_a_published_version(
    schema_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    without_v1 = build_registry([m for m in registry.models() if m.version != 1], {})

    assert main(["export", "--dir", str(schema_dir)], registry=without_v1) == 1
    assert "catalog.product.created v1: a schema is published but no model" in (
        capsys.readouterr().err
    )


def test_check_flags_a_hand_edited_file(schema_dir: Path) -> None:
    path = schema_path(schema_dir, "catalog.product.deleted", 1)
    path.write_text(json.dumps(json.loads(path.read_text())), encoding="utf-8")  # reformatted

    assert main(["check", "--dir", str(schema_dir)]) == 1
    assert main(["export", "--dir", str(schema_dir)]) == 0
    assert main(["check", "--dir", str(schema_dir)]) == 0
