"""The compatibility checker on small hand-made schemas: old events must stay valid."""

from __future__ import annotations

from typing import Any

import pytest

from marcus_contracts.schemas.compat import check_compatible, is_compatible


def obj(required: list[str] | None = None, closed: bool = True, **props: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    return schema


STR = {"type": "string"}
INT = {"type": "integer"}
BASE = obj(["sku"], sku=STR, stock=INT)


def reasons(old: Any, new: Any) -> str:
    return "\n".join(str(p) for p in check_compatible(old, new))


# --- compatible -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "new"),
    [
        ("identical", BASE),
        ("optional property added", obj(["sku"], sku=STR, stock=INT, colour=STR)),
        ("title/description changed", obj(["sku"], sku={**STR, "title": "SKU"}, stock=INT)),
        ("required dropped", obj(sku=STR, stock=INT)),
        ("integer widened to number", obj(["sku"], sku=STR, stock={"type": "number"})),
        ("type list widened", obj(["sku"], sku={"type": ["string", "null"]}, stock=INT)),
        (
            "made nullable with anyOf",
            obj(["sku"], sku={"anyOf": [STR, {"type": "null"}]}, stock=INT),
        ),
        ("object opened", {**BASE, "additionalProperties": True}),
        ("unconstrained", True),
        ("default changed", obj(["sku"], sku={**STR, "default": "x"}, stock=INT)),
    ],
)
def test_compatible_changes(label: str, new: Any) -> None:
    assert reasons(BASE, new) == "", label


def test_widened_constraints_are_compatible() -> None:
    old = {"type": "integer", "minimum": 0, "maximum": 10, "multipleOf": 4}
    new = {"type": "integer", "minimum": -5, "exclusiveMaximum": 11, "multipleOf": 2}
    assert is_compatible(old, new)
    assert is_compatible({"enum": ["a", "b"]}, {"enum": ["a", "b", "c"]})
    assert is_compatible({"const": "a"}, {"enum": ["a", "b"]})
    assert is_compatible({"const": "EUR"}, {"type": "string", "pattern": "^[A-Z]{3}$"})
    assert is_compatible({"type": "string", "maxLength": 3}, {"type": "string"})
    assert is_compatible({"type": "array", "items": INT}, {"type": "array", "items": True})


def test_refs_and_defs_are_resolved_on_both_sides() -> None:
    inline = obj(["cat"], cat=obj(["id"], id=STR))
    via_ref = {
        **obj(["cat"], cat={"$ref": "#/$defs/Cat"}),
        "$defs": {"Cat": obj(["id"], id=STR, name=STR)},
    }
    assert is_compatible(inline, via_ref)
    renamed_def = {
        **obj(["cat"], cat={"$ref": "#/$defs/Category"}),
        "$defs": {"Category": obj(["id"], id=STR)},
    }
    assert is_compatible(via_ref, renamed_def) is False  # `name` vanished behind the ref
    assert "'name' was removed" in reasons(via_ref, renamed_def)


def test_recursive_schemas_terminate() -> None:
    tree = {
        "$defs": {"Node": obj(kids={"type": "array", "items": {"$ref": "#/$defs/Node"}})},
        "$ref": "#/$defs/Node",
    }
    assert is_compatible(tree, tree)


# --- incompatible -------------------------------------------------------------------------


def test_removed_property() -> None:
    assert "property 'stock' was removed" in reasons(BASE, obj(["sku"], sku=STR))


def test_newly_required_property() -> None:
    assert "'stock' is newly required" in reasons(BASE, obj(["sku", "stock"], sku=STR, stock=INT))
    new_required = obj(["sku", "currency"], sku=STR, stock=INT, currency=STR)
    assert "'currency' is newly required" in reasons(BASE, new_required)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (INT, STR, "type changed"),
        ({"type": "number"}, INT, "type changed"),
        ({}, STR, "type is now restricted"),
        ({"anyOf": [STR, {"type": "null"}]}, STR, "type changed from ['null']"),
        ({"type": ["string", "null"]}, STR, "type changed"),
        ({"enum": ["a", "b", "c"]}, {"enum": ["a", "b"]}, '"c" is no longer allowed'),
        ({"const": "a"}, {"const": "b"}, '"a" is no longer allowed'),
        (STR, {**STR, "enum": ["a"]}, "restricted to"),
        ({"const": True}, {"const": 1}, "no longer allowed"),
        ({"const": "EUR"}, {"type": "string", "maxLength": 2}, "too long"),
        (INT, {**INT, "minimum": 0}, "minimum tightened"),
        ({**INT, "minimum": 0}, {**INT, "exclusiveMinimum": 0}, "minimum tightened to > 0"),
        ({**INT, "maximum": 10}, {**INT, "maximum": 9}, "maximum tightened"),
        ({**INT, "multipleOf": 2}, {**INT, "multipleOf": 4}, "multiple of 4"),
        (STR, {**STR, "minLength": 1}, "minLength raised"),
        ({**STR, "maxLength": 5}, {**STR, "maxLength": 4}, "maxLength lowered"),
        (STR, {**STR, "pattern": "^x"}, "pattern added"),
        ({**STR, "pattern": "^x"}, {**STR, "pattern": "^y"}, "pattern changed"),
        (STR, {**STR, "format": "uuid"}, "format added"),
        ({"type": "array", "items": INT}, {"type": "array", "items": STR}, "/items: type"),
        ({"type": "array"}, {"type": "array", "uniqueItems": True}, "must now be unique"),
        ({"type": "array"}, {"type": "array", "maxItems": 3}, "maxItems lowered"),
        (obj(closed=False), obj(), "additional properties are now rejected"),
        (
            {"type": "object", "additionalProperties": INT},
            {"type": "object", "additionalProperties": STR},
            "/additionalProperties: type",
        ),
        (STR, False, "rejects every value"),
        (STR, {**STR, "not": {"const": "x"}}, "keyword 'not' changed"),
        ({"$ref": "other.json#/X"}, STR, "cannot resolve $ref"),
    ],
)
def test_incompatible_changes(old: Any, new: Any, expected: str) -> None:
    assert expected in reasons(old, new)


def test_narrowed_constraint_deep_inside_is_located() -> None:
    old = obj(["cat"], cat={"$ref": "#/$defs/Cat"})
    old["$defs"] = {"Cat": obj(["id"], id=STR, slug=STR)}
    new = obj(["cat"], cat={"$ref": "#/$defs/Cat"})
    new["$defs"] = {"Cat": obj(["id"], id=STR, slug={**STR, "maxLength": 8})}

    [problem] = check_compatible(old, new)

    assert problem.path == "/properties/cat/properties/slug"
    assert "maxLength lowered to 8" in problem.reason


def test_every_problem_is_reported() -> None:
    new = obj(["sku", "colour"], sku=INT, colour=STR)

    found = reasons(BASE, new)

    assert "'stock' was removed" in found
    assert "'colour' is newly required" in found
    assert "/properties/sku: type changed" in found
