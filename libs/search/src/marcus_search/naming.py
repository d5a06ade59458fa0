"""Collection names that record the embedder and dimension of their vectors.

    [<namespace>-]products__<embedder name>__<dimension>__<run>[__alt]

e.g. `products__minilm-l6-v2__384__20250114t031502-5c4b3a29`. Anything reading a
collection knows from its name which embedder must embed the queries, and a change of
embedder can only mean a new collection (a rebuild), never mixed vectors. `namespace`
lets tests and several stacks share one Chroma server. `__alt` says the collection lives
on the alternate Chroma server (`CHROMA_ALT_URL`, ADR 0035), so every reader finds its
server from the name alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from uuid import UUID

from marcus_search.embedders import KINDS

_SEP = "__"
MAIN = ""
"""The Chroma server at `CHROMA_URL`."""
ALT = "alt"
"""The alternate Chroma server at `CHROMA_ALT_URL` (ADR 0035)."""
SERVERS = (MAIN, ALT)
_NAME = re.compile(
    r"^(?:(?P<namespace>[a-z0-9][a-z0-9-]*)-)?products__(?P<embedder>[a-z0-9][a-z0-9-]*)"
    r"__(?P<dimension>[0-9]+)__(?P<run>[a-z0-9][a-z0-9-]*)(?:__(?P<server>alt))?$"
)


def sanitise_namespace(raw: str) -> str:
    """A namespace usable in a Chroma name (e.g. from a stream prefix `test-ab12:`)."""
    return re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")


@dataclass(frozen=True)
class CollectionName:
    embedder: str
    dimension: int
    run: str
    namespace: str = ""
    server: str = MAIN
    """`MAIN` or `ALT`: the Chroma server that holds the collection."""

    def __post_init__(self) -> None:
        if self.server not in SERVERS:
            raise ValueError(f"unknown Chroma server {self.server!r}; expected one of {SERVERS}")

    def on(self, server: str) -> CollectionName:
        """The same collection name, placed on `server`."""
        return replace(self, server=server)

    @property
    def kind(self) -> str:
        """`hash`, `minilm` or `openai`: the embedder family that builds query vectors."""
        for kind in KINDS:
            if self.embedder == kind or self.embedder.startswith(kind + "-"):
                return kind
        raise ValueError(f"collection embedder {self.embedder!r} is of no known kind")

    def __str__(self) -> str:
        parts = ("products", self.embedder, str(self.dimension), self.run)
        base = _SEP.join(parts + ((self.server,) if self.server else ()))
        return f"{self.namespace}-{base}" if self.namespace else base

    @classmethod
    def new(
        cls, embedder: str, dimension: int, run_id: UUID, namespace: str = ""
    ) -> CollectionName:
        stamp = datetime.now(UTC).strftime("%Y%m%dt%H%M%S")
        return cls(embedder, dimension, f"{stamp}-{run_id.hex[:8]}", sanitise_namespace(namespace))

    @classmethod
    def parse(cls, name: str) -> CollectionName:
        match = _NAME.match(name)
        if match is None:
            raise ValueError(f"{name!r} is not a product collection name")
        return cls(
            embedder=match["embedder"],
            dimension=int(match["dimension"]),
            run=match["run"],
            namespace=match["namespace"] or "",
            server=match["server"] or MAIN,
        )
