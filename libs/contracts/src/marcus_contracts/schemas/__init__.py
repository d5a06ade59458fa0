"""Published JSON Schemas of every event `(type, version)`, and the guard that keeps them.

Each file `libs/contracts/schemas/<type>/v<version>.json` describes the WHOLE CloudEvents
envelope as it sits on a stream (`type` and `dataversion` are consts, `data` is the payload
model's schema), rather than the payload alone. Why: the teams that need these files are
the ones not using this Python package (other languages, contract tests, stream
inspectors, an AI assistant reading raw entries). What they hold is a raw stream entry,
so one schema validates it as is, and it also documents the mandatory extension
attributes (`sequence`, `dataversion`, ...) that a payload-only schema would leave to
prose. The payload alone is still one pointer away: `#/properties/data`.

Run `python -m marcus_contracts.schemas export` to (re)write the files and
`... check` in CI; see `publish` for the rules.
"""

from marcus_contracts.schemas.compat import Incompatibility, check_compatible, is_compatible
from marcus_contracts.schemas.generate import event_schema, generate, render, schema_id
from marcus_contracts.schemas.publish import SCHEMA_DIR, diff, load_published, schema_path

__all__ = [
    "SCHEMA_DIR",
    "Incompatibility",
    "check_compatible",
    "diff",
    "event_schema",
    "generate",
    "is_compatible",
    "load_published",
    "render",
    "schema_id",
    "schema_path",
]
