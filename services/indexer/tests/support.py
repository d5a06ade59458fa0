"""What the indexer's integration tests share besides fixtures (imported by path:
`from services.indexer.tests.support import ...`)."""

from __future__ import annotations

from tests.support.stack import Stack


async def new_category(s: Stack, slug: str) -> str:
    """A category made through the catalog's API (named after its slug); its id."""
    response = await s.catalog.post(
        "/api/v1/categories", json={"slug": slug, "name": slug.title()}, headers=s.admin
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
