"""`python -m marcus_contracts.schemas export|check [--dir DIR]`.

export: write new and compatibly evolved schemas; refuse (exit 1, nothing written) if any
        published schema would change incompatibly or disappear.
check:  exit 1 if the checked-in files differ from what the code generates (for CI).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from marcus_contracts.registry import EventRegistry
from marcus_contracts.schemas.generate import Key, generate
from marcus_contracts.schemas.publish import (
    SCHEMA_DIR,
    diff,
    explain,
    load_published,
    misformatted,
    write,
)


def _names(keys: list[Key]) -> str:
    return ", ".join(f"{t} v{v}" for t, v in keys)


def export(registry: EventRegistry, root: Path) -> int:
    generated = generate(registry)
    result = diff(generated, load_published(root))
    if not result.publishable:
        print("\n".join(explain(result)), file=sys.stderr)
        print("export refused: nothing was written.", file=sys.stderr)
        return 1
    stale = misformatted(root, generated, result.unchanged)
    written = write(root, generated, [*result.added, *result.evolved, *stale])
    for path in written:
        print(f"wrote {path}")
    print(f"{len(generated)} schemas, {len(written)} written, in {root}")
    return 0


def check(registry: EventRegistry, root: Path) -> int:
    generated = generate(registry)
    result = diff(generated, load_published(root))
    stale = misformatted(root, generated, result.unchanged)
    if result.in_sync and not stale:
        print(f"{len(generated)} schemas match {root}")
        return 0
    lines = explain(result)
    if result.added:
        lines.append(f"not exported yet: {_names(result.added)}")
    if result.evolved or stale:
        lines.append(f"changed compatibly, not exported: {_names(result.evolved + stale)}")
    if result.publishable:
        lines.append("run `uv run python -m marcus_contracts.schemas export` and commit.")
    print("\n".join(lines), file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None, registry: EventRegistry | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m marcus_contracts.schemas")
    parser.add_argument("command", choices=["export", "check"])
    parser.add_argument("--dir", type=Path, default=None, help=f"default: {SCHEMA_DIR}")
    args = parser.parse_args(argv)
    if args.dir is None:
        if not (SCHEMA_DIR.parent / "pyproject.toml").is_file():
            parser.error("not running from the workspace checkout; pass --dir")
        args.dir = SCHEMA_DIR
    if registry is None:
        from marcus_contracts import registry as default_registry

        registry = default_registry
    command = export if args.command == "export" else check
    try:
        return command(registry, args.dir)
    except ValueError as exc:  # an unreadable checked-in file
        print(str(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
