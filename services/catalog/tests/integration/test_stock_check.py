"""Issue 19, finding 13: the database itself refuses a negative stock (a CHECK on products
and options), a second safeguard behind the saga's row locks."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from marcus_eventstore import libpq_dsn
from marcus_eventstore.migrations import alembic_config
from tests.support import infra

CONSTRAINTS = {"ck_products_stock_not_negative", "ck_options_stock_not_negative"}


async def test_finding_13_stock_below_zero_is_refused_by_the_database(
    api, engine: AsyncEngine
) -> None:
    category = await api.category()
    product = await api.product(category["id"], stock=2)
    async with engine.connect() as conn:
        with pytest.raises(IntegrityError, match="ck_products_stock_not_negative"):
            await conn.execute(
                text("UPDATE catalog.products SET stock = stock - 3 WHERE id = :id"),
                {"id": uuid.UUID(product["id"])},
            )
        await conn.rollback()
        stock = await conn.execute(
            text("SELECT stock FROM catalog.products WHERE id = :id"),
            {"id": uuid.UUID(product["id"])},
        )
        assert stock.scalar_one() == 2
        with pytest.raises(IntegrityError, match="ck_options_stock_not_negative"):
            await conn.execute(
                text(
                    "INSERT INTO catalog.options (id, product_id, part_id, position, name, price,"
                    " stock) VALUES (:id, :id, :id, 0, 'x', 1, -1)"
                ),
                {"id": uuid.uuid4()},
            )
        await conn.rollback()


def test_finding_13_the_migration_adds_and_removes_the_checks(postgres_server_url: str) -> None:
    with infra.fresh_database(postgres_server_url) as url:
        config = alembic_config("catalog", url)
        command.upgrade(config, "head")
        assert _checks(url) == CONSTRAINTS
        command.downgrade(config, "0003")
        assert _checks(url) == set()
        command.upgrade(config, "head")
        assert _checks(url) == CONSTRAINTS


def _checks(url: str) -> set[str]:
    with psycopg.connect(libpq_dsn(url)) as conn:
        rows = conn.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'c'"
            " AND connamespace = 'catalog'::regnamespace AND conname LIKE '%stock%'"
        ).fetchall()
    return {row[0] for row in rows}
