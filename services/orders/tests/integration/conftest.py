"""Orders integration tests: the service's code in process on the run's PostgreSQL,
from empty tables."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from uuid import uuid4

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from marcus_contracts import Event, registry
from marcus_contracts.events import catalog
from orders.storage import read_model
from services.orders.tests.stack import SERVICES
from tests.support.databases import emptied_engine


@pytest.fixture
async def engine(saga_database: str) -> AsyncIterator[AsyncEngine]:
    async with emptied_engine(saga_database, *SERVICES) as engine:
        yield engine


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def simple_product(*, price: str, stock: int, name: str = "Pump") -> catalog.ProductCreated:
    """The catalog's event for a new simple product (a fresh id and SKU)."""
    return catalog.ProductCreated(
        product_id=uuid4(),
        sku=f"SKU-{uuid4().hex[:6]}",
        name=name,
        price=Decimal(price),
        currency="EUR",
        category=catalog.CategoryRef(id=uuid4(), slug="pumps", name="Pumps"),
        stock=stock,
    )


async def into_read_model(
    sessions: async_sessionmaker[AsyncSession], event: Event, sequence: int = 1
) -> None:
    """A catalog event written into the read model as the consumer writes it."""
    subject = str(event.product_id)
    envelope = registry.envelope(event, subject=subject, sequence=sequence)
    async with sessions() as session, session.begin():
        if isinstance(event, catalog.ProductCreated):
            await read_model.upsert_product(session, envelope, event)
        elif isinstance(event, catalog.OptionStockReserved | catalog.OptionStockReleased):
            await read_model.set_option_stock(session, envelope, event)
        else:
            assert isinstance(
                event, catalog.StockAdjusted | catalog.StockReserved | catalog.StockReleased
            )
            await read_model.set_stock(session, envelope, event)
