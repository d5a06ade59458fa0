"""Which products a reply cites: the ones it names that a tool returned.

A model may name products by id (`[product:<id>]`, as the system prompt asks, or a bare
id) or by exact name. Only products a tool returned during this reply, or that an
earlier reply of the session cited, can be cited, with the name and price the index
gave; an id nobody returned is not cited (and counted: the model made it up).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from marcus_contracts.events.assistant import CitedProduct

UUID_PATTERN = re.compile(
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE
)


@dataclass(frozen=True)
class Citations:
    cited: list[CitedProduct]
    unverified: list[str]
    """Ids in the text that no tool returned."""


def cite(text: str, known: Mapping[str, CitedProduct]) -> Citations:
    """Products of `known` the text names, in the order it first names them."""
    found: dict[str, int] = {}
    unverified: list[str] = []
    for match in UUID_PATTERN.finditer(text):
        product_id = match.group(0).lower()
        if product_id in known:
            found.setdefault(product_id, match.start())
        elif product_id not in unverified:
            unverified.append(product_id)
    lowered = text.lower()
    for product_id, product in known.items():
        name = product.name.strip().lower()
        if product_id not in found and len(name) >= 4:
            at = lowered.find(name)
            if at >= 0:
                found[product_id] = at
    ordered = sorted(found, key=lambda pid: found[pid])
    return Citations([known[pid] for pid in ordered], unverified)
