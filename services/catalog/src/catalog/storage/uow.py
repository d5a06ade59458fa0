"""The catalog's unit of work: its event store, projector and repository."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.storage.projector import CatalogProjector
from catalog.storage.repository import Repository
from catalog.storage.tables import event_store
from marcus_eventstore import EventStore, UnitOfWork


class CatalogUnitOfWork(UnitOfWork[Repository]):
    store = EventStore(event_store)
    projector = CatalogProjector()
    unique_messages = {
        "uq_products_sku": "a product with this sku already exists",
        "uq_categories_slug": "a category with this slug already exists",
    }

    def make_repository(self, session: AsyncSession) -> Repository:
        return Repository(session)
