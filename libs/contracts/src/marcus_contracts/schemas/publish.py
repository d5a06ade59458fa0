"""Compare the schemas the code generates with the published (checked-in) ones.

A published schema is a promise to every consumer and to every event already stored, so
`export` may only overwrite one with a compatible evolution, and never deletes one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marcus_contracts.schemas.compat import Incompatibility, check_compatible
from marcus_contracts.schemas.generate import Key, render

# libs/contracts/schemas, next to src/: this tool runs from the workspace checkout.
SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schemas"
_FILE = re.compile(r"^v([1-9][0-9]*)\.json$")


def schema_path(root: Path, event_type: str, version: int) -> Path:
    return root / event_type / f"v{version}.json"


def load_published(root: Path) -> dict[Key, dict[str, Any]]:
    """Every `<type>/v<version>.json` under `root`."""
    published: dict[Key, dict[str, Any]] = {}
    if not root.is_dir():
        return published
    for path in sorted(root.glob("*/v*.json")):
        match = _FILE.match(path.name)
        if match:
            key = (path.parent.name, int(match.group(1)))
            try:
                published[key] = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    return published


def misformatted(root: Path, generated: dict[Key, dict[str, Any]], keys: list[Key]) -> list[Key]:
    """Files whose content is right but whose text is not what `export` writes."""
    return [
        key
        for key in keys
        if schema_path(root, *key).read_text(encoding="utf-8") != render(generated[key])
    ]


@dataclass
class Diff:
    """How the generated schemas relate to the published ones, per `(type, version)`."""

    added: list[Key] = field(default_factory=list)
    unchanged: list[Key] = field(default_factory=list)
    evolved: list[Key] = field(default_factory=list)  # changed, but compatibly
    broken: dict[Key, list[Incompatibility]] = field(default_factory=dict)
    orphaned: list[Key] = field(default_factory=list)  # published, no longer generated

    @property
    def in_sync(self) -> bool:
        return not (self.added or self.evolved or self.broken or self.orphaned)

    @property
    def publishable(self) -> bool:
        return not (self.broken or self.orphaned)


def diff(generated: dict[Key, dict[str, Any]], published: dict[Key, dict[str, Any]]) -> Diff:
    result = Diff()
    for key in sorted(generated):
        new = generated[key]
        if key not in published:
            result.added.append(key)
        elif render(published[key]) == render(new):
            result.unchanged.append(key)
        elif problems := check_compatible(published[key], new):
            result.broken[key] = problems
        else:
            result.evolved.append(key)
    result.orphaned = sorted(published.keys() - generated.keys())
    return result


def write(root: Path, generated: dict[Key, dict[str, Any]], keys: list[Key]) -> list[Path]:
    written = []
    for key in keys:
        path = schema_path(root, *key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(generated[key]), encoding="utf-8")
        written.append(path)
    return written


def explain(result: Diff) -> list[str]:
    """Human-readable lines for everything that blocks publishing."""
    lines = []
    for (event_type, version), problems in sorted(result.broken.items()):
        lines.append(
            f"{event_type} v{version}: the code no longer matches the published schema "
            "and the change is INCOMPATIBLE (events already stored would not validate):"
        )
        lines += [f"    - {problem}" for problem in problems]
        lines.append(
            f"  Fix: restore v{version} as it was, and put the change in a new model "
            f"{event_type} v{version + 1} plus an upcaster v{version} -> v{version + 1} "
            "(marcus_contracts.upcasters)."
        )
    for event_type, version in result.orphaned:
        lines.append(
            f"{event_type} v{version}: a schema is published but no model is registered; "
            "stored events of that version would become unreadable. Re-register the model "
            "(keep old versions and their upcasters), or delete the file deliberately if "
            "the version is truly retired."
        )
    return lines
