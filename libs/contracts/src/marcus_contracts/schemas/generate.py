"""Build the JSON Schema of one `(type, version)`: the full CloudEvents envelope around it.

The `data` part is the payload model's *validation* schema, i.e. what the registry
accepts when it decodes: the compatibility rule ("old events stay readable") is about
readers. The envelope part describes what every producer must write, so the attributes
`Envelope.to_json()` always emits are required, even those the Python constructor fills
in by itself (`id`, `time`, `specversion`, `datacontenttype`).
"""

from __future__ import annotations

import json
from typing import Any

from marcus_contracts.base import Event
from marcus_contracts.envelope import Envelope
from marcus_contracts.registry import EventRegistry
from marcus_contracts.streams import source_of

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
Key = tuple[str, int]


def schema_id(event_type: str, version: int) -> str:
    """A stable, location-independent `$id` (files move; the contract does not)."""
    return f"urn:marcus:event:{event_type}:v{version}"


def _envelope_base() -> dict[str, Any]:
    schema = Envelope.model_json_schema()
    always_written = [
        name for name, field in Envelope.model_fields.items() if field.default is not None
    ]
    schema["required"] = [name for name in schema["properties"] if name in always_written]
    return schema


def event_schema(model: type[Event]) -> dict[str, Any]:
    """The envelope schema with `type`/`dataversion` pinned and `data` = the model's schema."""
    data = model.model_json_schema()
    defs = data.pop("$defs", {})  # their `#/$defs/...` refs must resolve from the root
    schema = _envelope_base()
    properties = schema["properties"]
    properties["type"] = {**properties["type"], "const": model.event_type}
    properties["type"].pop("minLength", None)
    properties["type"]["description"] = "the event type (what happened)"
    properties["dataversion"] = {
        **properties["dataversion"],
        "const": model.version,
        "description": "schema version of `data`; older versions are upcast by readers",
    }
    properties["dataversion"].pop("minimum", None)
    properties["source"] = {
        **properties["source"],
        "description": f"producing service, normally {source_of(model.event_type)!r}",
    }
    properties["data"] = data
    schema.update(
        {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": schema_id(model.event_type, model.version),
            "title": f"{model.event_type} v{model.version}",
            "description": (
                f"CloudEvents 1.0 structured-mode JSON of {model.event_type} "
                f"v{model.version}, as written to the '{source_of(model.event_type)}' "
                "events stream; `data` is the payload."
            ),
        }
    )
    if defs:
        schema["$defs"] = defs
    return schema


def generate(registry: EventRegistry) -> dict[Key, dict[str, Any]]:
    """Schemas of every registered `(type, version)`."""
    return {(m.event_type, m.version): event_schema(m) for m in registry.models()}


def render(schema: dict[str, Any]) -> str:
    """The checked-in text: sorted keys, two-space indent, trailing newline (stable diffs)."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
