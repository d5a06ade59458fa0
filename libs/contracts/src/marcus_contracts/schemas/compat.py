"""Is a new JSON Schema for the same `(type, version)` a safe replacement of the published one?

Events are stored forever, so the only question that matters is: does every instance
the OLD schema accepts still pass the NEW one? (`old ⊆ new`.) If yes, the change may ship
under the same version; if not, the change needs a new version plus an upcaster.

The check is structural and deliberately conservative: when it cannot prove a change
safe (a changed regex, an unfamiliar keyword) it reports it, and a human decides. Known
simplifications, all in the permissive direction only where our models cannot hit them:

* `oneOf` is treated like `anyOf` (exclusivity is not checked);
* a property added to an *open* object (no `additionalProperties: false`) is accepted,
  assuming nobody relied on that undeclared name (our payloads are closed: `extra=forbid`);
* only local `$ref`s (`#/...`) are resolved; anything else is reported as unprovable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any] | bool

# Keywords that never change which instances validate.
ANNOTATIONS = frozenset(
    {
        "$comment",
        "$defs",
        "$id",
        "$schema",
        "default",
        "definitions",
        "deprecated",
        "description",
        "examples",
        "readOnly",
        "title",
        "writeOnly",
    }
)
# Keywords this module understands; any other validation keyword that changes is
# reported as "cannot prove compatible".
_HANDLED = frozenset(
    {
        "$ref",
        "additionalProperties",
        "allOf",
        "anyOf",
        "const",
        "enum",
        "exclusiveMaximum",
        "exclusiveMinimum",
        "format",
        "items",
        "maxItems",
        "maxLength",
        "maxProperties",
        "maximum",
        "minItems",
        "minLength",
        "minProperties",
        "minimum",
        "multipleOf",
        "oneOf",
        "pattern",
        "prefixItems",
        "properties",
        "required",
        "type",
        "uniqueItems",
    }
)
_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


@dataclass(frozen=True)
class Incompatibility:
    """One way in which the new schema rejects something the old one accepted."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path or '/'}: {self.reason}"


def check_compatible(old: Schema, new: Schema) -> list[Incompatibility]:
    """Every reason an instance valid under `old` could be invalid under `new`; [] if none."""
    return _Checker(old, new).compare(old, new, "")


def is_compatible(old: Schema, new: Schema) -> bool:
    return not check_compatible(old, new)


class _Checker:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self._roots = (old_root, new_root)
        # Pairs being compared right now: recursive schemas are assumed compatible on
        # re-entry (the rest of the walk finds any real difference). Values keep the
        # dicts alive so that their ids are not reused.
        self._in_progress: dict[tuple[int, int], tuple[Schema, Schema]] = {}

    def compare(self, old: Schema, new: Schema, path: str) -> list[Incompatibility]:
        # Keyed on the schemas as written (not resolved): a recursive schema comes back
        # to the very same `{"$ref": ...}` object.
        key = (id(old), id(new))
        if key in self._in_progress:
            return []
        self._in_progress[key] = (old, new)
        try:
            resolved_old = _normalise(old, self._roots[0])
            resolved_new = _normalise(new, self._roots[1])
            return self._compare(resolved_old, resolved_new, path)
        except _UnresolvableRef as exc:
            return [Incompatibility(path, str(exc))]
        finally:
            del self._in_progress[key]

    def _compare(self, old: Schema, new: Schema, path: str) -> list[Incompatibility]:
        if _accepts_everything(new) or old is False:
            return []
        if new is False:
            return [Incompatibility(path, "now rejects every value")]
        assert isinstance(old, dict) and isinstance(new, dict)
        if _is_union(old) or _is_union(new):
            return self._compare_unions(old, new, path)
        if _values(old) is not None:
            return _check_values(old, new, path)
        problems = _check_type(old, new, path)
        problems += _check_enum(old, new, path)
        problems += _check_bounds(old, new, path)
        problems += _check_strings(old, new, path)
        problems += self._check_arrays(old, new, path)
        problems += self._check_objects(old, new, path)
        problems += _check_unhandled(old, new, path)
        return problems

    def _compare_unions(
        self, old: dict[str, Any], new: dict[str, Any], path: str
    ) -> list[Incompatibility]:
        new_branches = _branches(new)
        problems: list[Incompatibility] = []
        old_branches = [part for branch in _branches(old) for part in _split_types(branch)]
        for index, branch in enumerate(old_branches):
            attempts = [self.compare(branch, candidate, path) for candidate in new_branches]
            if any(not attempt for attempt in attempts):
                continue
            if len(attempts) == 1:
                problems += attempts[0]
            else:
                label = f"alternative {index} ({_summary(branch)})"
                problems.append(
                    Incompatibility(path, f"{label} is accepted by none of the new branches")
                )
        return problems

    def _check_arrays(
        self, old: dict[str, Any], new: dict[str, Any], path: str
    ) -> list[Incompatibility]:
        problems = _check_size(old, new, path, "minItems", "maxItems")
        if new.get("uniqueItems") and not old.get("uniqueItems"):
            problems.append(Incompatibility(path, "items must now be unique"))
        old_prefix = old.get("prefixItems", [])
        new_prefix = new.get("prefixItems", [])
        for i in range(max(len(old_prefix), len(new_prefix))):
            old_item = old_prefix[i] if i < len(old_prefix) else old.get("items", True)
            new_item = new_prefix[i] if i < len(new_prefix) else new.get("items", True)
            problems += self.compare(old_item, new_item, f"{path}/prefixItems/{i}")
        if "items" in new:
            problems += self.compare(old.get("items", True), new["items"], f"{path}/items")
        return problems

    def _check_objects(
        self, old: dict[str, Any], new: dict[str, Any], path: str
    ) -> list[Incompatibility]:
        problems = _check_size(old, new, path, "minProperties", "maxProperties")
        old_props: dict[str, Schema] = old.get("properties", {})
        new_props: dict[str, Schema] = new.get("properties", {})
        old_extra: Schema = old.get("additionalProperties", True)
        new_extra: Schema = new.get("additionalProperties", True)
        for name, old_prop in old_props.items():
            where = f"{path}/properties/{_escape(name)}"
            if name not in new_props:
                problems.append(Incompatibility(path, f"property {name!r} was removed"))
            else:
                problems += self.compare(old_prop, new_props[name], where)
        for name in new_props.keys() - old_props.keys():
            # An old instance may only carry `name` if the old schema let extra keys in.
            if isinstance(old_extra, dict):
                where = f"{path}/properties/{_escape(name)}"
                problems += self.compare(old_extra, new_props[name], where)
        newly_required = [n for n in new.get("required", []) if n not in old.get("required", [])]
        for name in newly_required:
            problems.append(Incompatibility(path, f"property {name!r} is newly required"))
        if old_extra is not False and not _accepts_everything(new_extra):
            if new_extra is False:
                problems.append(Incompatibility(path, "additional properties are now rejected"))
            else:
                problems += self.compare(old_extra, new_extra, f"{path}/additionalProperties")
        return problems


class _UnresolvableRef(ValueError):
    pass


def _resolve(schema: Schema, root: Schema) -> Schema:
    """Follow `$ref` chains; sibling keywords of a `$ref` are merged over its target."""
    seen: set[str] = set()
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#") or ref in seen:
            raise _UnresolvableRef(f"cannot resolve $ref {ref!r}")
        seen.add(ref)
        target: Any = root
        for token in filter(None, ref[1:].split("/")):
            token = token.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or token not in target:
                raise _UnresolvableRef(f"cannot resolve $ref {ref!r}")
            target = target[token]
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        if not siblings:
            schema = target
        elif isinstance(target, dict):
            schema = {**target, **siblings}
        else:
            schema = siblings if target is True else False
    return schema


def _normalise(schema: Schema, root: Schema) -> Schema:
    """Resolve `$ref`s and fold `allOf` into one schema (enough for generated schemas)."""
    schema = _resolve(schema, root)
    if isinstance(schema, dict) and "allOf" in schema:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = _normalise(part, root)
            if part is False:
                return False
            if isinstance(part, dict):
                required = [*merged.get("required", []), *part.get("required", [])]
                merged = {**merged, **part}
                if required:
                    merged["required"] = required
        return merged
    return schema


def _is_annotation(keyword: str) -> bool:
    return keyword in ANNOTATIONS or keyword.startswith("x-")


def _accepts_everything(schema: Schema) -> bool:
    if isinstance(schema, bool):
        return schema
    return all(_is_annotation(key) for key in schema)


def _is_union(schema: Schema) -> bool:
    return isinstance(schema, dict) and ("anyOf" in schema or "oneOf" in schema)


def _branches(schema: dict[str, Any]) -> list[Schema]:
    """The alternatives of a schema; shared keywords are merged into each one."""
    if not _is_union(schema):
        return [schema]
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
    alternatives = schema.get("anyOf", []) + schema.get("oneOf", [])
    if all(_is_annotation(key) for key in rest):
        return list(alternatives)
    return [{"allOf": [rest, branch]} for branch in alternatives]


def _split_types(schema: Schema) -> list[Schema]:
    """`{"type": ["string", "null"]}` as two alternatives, to match them against `anyOf`."""
    types = _types(schema) if isinstance(schema, dict) else None
    if not isinstance(schema, dict) or types is None or len(types) < 2:
        return [schema]
    return [{**schema, "type": t} for t in sorted(types)]


def _summary(schema: Schema) -> str:
    if isinstance(schema, dict):
        for key in ("const", "enum", "type", "$ref"):
            if key in schema:
                return f"{key} {json.dumps(schema[key])}"
    return json.dumps(schema)[:60]


def _types(schema: dict[str, Any]) -> set[str] | None:
    declared = schema.get("type")
    if declared is None:
        return None
    return {declared} if isinstance(declared, str) else set(declared)


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), "unknown")


def _values(schema: Schema) -> list[Any] | None:
    """The finite set of values a schema allows (`const` / `enum`), if it is finite."""
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return [schema["const"]]
    if "enum" in schema:
        return list(schema["enum"])
    return None


def _same_json(a: Any, b: Any) -> bool:
    """JSON equality: `True` is not `1`, but `1` is `1.0`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _check_type(old: dict[str, Any], new: dict[str, Any], path: str) -> list[Incompatibility]:
    new_types = _types(new)
    if new_types is None:
        return []
    old_types = _types(old)
    if old_types is None:
        return [Incompatibility(path, f"type is now restricted to {sorted(new_types)}")]
    lost = {t for t in old_types if t not in new_types}
    if "number" in new_types:
        lost.discard("integer")
    if lost:
        return [
            Incompatibility(path, f"type changed from {sorted(old_types)} to {sorted(new_types)}")
        ]
    return []


def _check_enum(old: dict[str, Any], new: dict[str, Any], path: str) -> list[Incompatibility]:
    """Only reached when `old` itself allowed any value (else `_check_values` applies)."""
    new_values = _values(new)
    if new_values is None:
        return []
    return [Incompatibility(path, f"values are now restricted to {json.dumps(new_values)}")]


def _check_values(old: dict[str, Any], new: dict[str, Any], path: str) -> list[Incompatibility]:
    """The old schema allowed a fixed set of values: is each of them still valid?"""
    problems = []
    for value in _values(old) or []:
        reason = _value_rejected(value, new)
        if reason:
            problems.append(Incompatibility(path, f"value {json.dumps(value)} {reason}"))
    return problems


def _value_rejected(value: Any, schema: dict[str, Any]) -> str | None:
    """Why `schema` rejects the literal `value` (checks the common keywords only)."""
    allowed = _values(schema)
    if allowed is not None and not any(_same_json(value, a) for a in allowed):
        return "is no longer allowed"
    types = _types(schema)
    kinds = {_json_type(value)}
    if isinstance(value, int | float) and not isinstance(value, bool) and value == int(value):
        kinds = {"integer", "number"}  # JSON Schema: 3.0 is an integer, 3 is a number
    if types is not None and not types & kinds:
        return f"no longer matches type {sorted(types)}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return "is now too short"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return "is now too long"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return f"no longer matches pattern {schema['pattern']!r}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = _lower(schema), _upper(schema)
        if low and (value < low[0] or (value == low[0] and low[1])):
            return "is now below the minimum"
        if high and (value > high[0] or (value == high[0] and high[1])):
            return "is now above the maximum"
    return None


Bound = tuple[float, bool]  # (limit, exclusive)


def _lower(schema: dict[str, Any]) -> Bound | None:
    bounds: list[Bound] = []
    if "minimum" in schema:
        bounds.append((schema["minimum"], False))
    if "exclusiveMinimum" in schema:
        bounds.append((schema["exclusiveMinimum"], True))
    return max(bounds, default=None)


def _upper(schema: dict[str, Any]) -> Bound | None:
    bounds: list[Bound] = []
    if "maximum" in schema:
        bounds.append((schema["maximum"], False))
    if "exclusiveMaximum" in schema:
        bounds.append((schema["exclusiveMaximum"], True))
    # The tightest upper bound: smallest limit, exclusive before inclusive at a tie.
    return min(bounds, key=lambda b: (b[0], not b[1]), default=None)


def _check_bounds(old: dict[str, Any], new: dict[str, Any], path: str) -> list[Incompatibility]:
    problems = []
    old_low, new_low = _lower(old), _lower(new)
    if new_low and (
        old_low is None
        or new_low[0] > old_low[0]
        or (new_low[0] == old_low[0] and new_low[1] and not old_low[1])
    ):
        problems.append(Incompatibility(path, f"minimum tightened to {_bound(new_low, '>')}"))
    old_high, new_high = _upper(old), _upper(new)
    if new_high and (
        old_high is None
        or new_high[0] < old_high[0]
        or (new_high[0] == old_high[0] and new_high[1] and not old_high[1])
    ):
        problems.append(Incompatibility(path, f"maximum tightened to {_bound(new_high, '<')}"))
    if "multipleOf" in new:
        old_step, new_step = old.get("multipleOf"), new["multipleOf"]
        ratio = old_step / new_step if old_step is not None else 0.5
        if abs(ratio - round(ratio)) > 1e-9:
            problems.append(Incompatibility(path, f"must now be a multiple of {new_step}"))
    return problems


def _bound(bound: Bound, op: str) -> str:
    return f"{op if bound[1] else op + '='} {bound[0]}"


def _check_size(
    old: dict[str, Any], new: dict[str, Any], path: str, low: str, high: str
) -> list[Incompatibility]:
    problems = []
    if new.get(low, 0) > old.get(low, 0):
        problems.append(Incompatibility(path, f"{low} raised to {new[low]}"))
    if high in new and (high not in old or new[high] < old[high]):
        problems.append(Incompatibility(path, f"{high} lowered to {new[high]}"))
    return problems


def _check_strings(old: dict[str, Any], new: dict[str, Any], path: str) -> list[Incompatibility]:
    problems = _check_size(old, new, path, "minLength", "maxLength")
    for keyword in ("pattern", "format"):
        if keyword in new and new[keyword] != old.get(keyword):
            change = "changed" if keyword in old else "added"
            problems.append(Incompatibility(path, f"{keyword} {change}: {new[keyword]!r}"))
    return problems


def _check_unhandled(old: dict[str, Any], new: dict[str, Any], path: str) -> list[Incompatibility]:
    return [
        Incompatibility(path, f"keyword {key!r} changed; cannot prove compatibility")
        for key in sorted(_unhandled(new))
        if not _same_json(new[key], old.get(key))
    ]


def _unhandled(schema: dict[str, Any]) -> Iterator[str]:
    return (key for key in schema if key not in _HANDLED and not _is_annotation(key))


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
