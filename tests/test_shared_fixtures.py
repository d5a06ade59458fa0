"""The shared test helpers hold: the tables `tests.support.databases` reads from each
service's metadata are exactly the tables its migrations create, and truncating empties
them; the header helpers mint tokens the services accept."""

from __future__ import annotations

import jwt
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from marcus_eventstore.migrations import upgrade
from tests.support import auth
from tests.support.databases import service_tables, truncate_tables, truncate_tables_sync

SERVICES = ("catalog", "orders", "notifier", "indexer", "assistant", "scheduler")


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    for service in SERVICES:
        upgrade(service, database_url)
    return database_url


def _tables_of(database_url: str, schema: str) -> dict[str, int]:
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            names = conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = :schema"
                    " AND tablename <> 'alembic_version'"
                ),
                {"schema": schema},
            ).scalars()
            return {
                f"{schema}.{name}": conn.execute(
                    text(f"SELECT count(*) FROM {schema}.{name}")
                ).scalar_one()
                for name in list(names)
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
def test_the_metadata_names_every_table_the_migrations_create(migrated: str, service: str) -> None:
    assert sorted(service_tables(service)) == sorted(_tables_of(migrated, service))


async def test_truncating_empties_every_table_of_the_services(migrated: str) -> None:
    engine = create_engine(migrated, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO catalog.subject_sequences (subject, sequence) VALUES ('a', 1)")
        )
        conn.execute(
            text("INSERT INTO notifier.subject_sequences (subject, sequence) VALUES ('a', 1)")
        )
    engine.dispose()
    await truncate_tables(migrated, "catalog")
    assert set(_tables_of(migrated, "catalog").values()) == {0}
    assert _tables_of(migrated, "notifier")["notifier.subject_sequences"] == 1
    truncate_tables_sync(migrated.replace("+psycopg", ""), "notifier")
    assert set(_tables_of(migrated, "notifier").values()) == {0}


def _claims(headers: dict[str, str], secret: str = auth.SECRET) -> dict:
    token = headers["Authorization"].removeprefix("Bearer ")
    return jwt.decode(token, secret, algorithms=["HS256"])


def test_the_headers_carry_signed_tokens_with_the_roles_asked_for() -> None:
    assert _claims(auth.admin_headers())["roles"] == ["admin"]
    assert _claims(auth.customer_headers("bob")) | {"roles": []} == _claims(
        auth.customer_headers("bob")
    )
    assert _claims(auth.customer_headers("bob"))["sub"] == "bob"
    assert _claims(auth.bearer("x", "a", "b", secret="s" * 32), "s" * 32)["roles"] == ["a", "b"]


def test_the_root_fixtures_sign_with_the_suites_secret(
    admin_headers: dict[str, str], customer_headers: dict[str, str], jwt_secret: str
) -> None:
    assert _claims(admin_headers, jwt_secret)["roles"] == ["admin"]
    assert _claims(customer_headers, jwt_secret)["sub"] == auth.CUSTOMER
