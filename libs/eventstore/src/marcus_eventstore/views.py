"""Materialized views a service owns, refreshed when the scheduler asks.

The scheduler emits `scheduler.views.refresh_requested` (hourly by default); every
service that owns materialized views handles it in its consumer:

    VIEWS = MaterializedViews("assistant", ["best_sellers"])

    @handles(ViewsRefreshRequested)
    async def on_views_refresh_requested(event: ViewsRefreshRequested, ctx: HandlerContext) -> None:
        await VIEWS.refresh(ctx.session, event.views)

`REFRESH MATERIALIZED VIEW CONCURRENTLY` keeps the view readable while it is rebuilt
(it needs a unique index on the view; `check` says so at start-up rather than at the
first refresh). A view never filled yet (`WITH NO DATA`) is refreshed plainly once,
since CONCURRENTLY refuses an unpopulated view. The refresh runs in the consumer's
ledger transaction: a redelivered request is skipped, and a refresh that fails rolls
back and is retried like any handler.

The event's `views` lists the views wanted (bare or `schema.view`); empty means all.
A service refreshes only its own, and ignores names it does not own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

log = logging.getLogger("marcus.views")

_STATE = text(
    """
    SELECT m.ispopulated,
           EXISTS (SELECT 1 FROM pg_index i
                   WHERE i.indrelid = format('%I.%I', m.schemaname, m.matviewname)::regclass
                     AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL) AS has_unique
    FROM pg_matviews m WHERE m.schemaname = :schema AND m.matviewname = :name
    """
)


class ViewError(RuntimeError):
    """A configured view is missing or cannot be refreshed concurrently."""


class MaterializedViews:
    def __init__(self, schema: str, names: Sequence[str]) -> None:
        if not names:
            raise ValueError("name at least one materialized view")
        self.schema = schema
        self.names = list(dict.fromkeys(names))

    def selected(self, requested: Sequence[str]) -> list[str]:
        """The views to refresh for a request: all when it names none, else the named
        ones this service owns (bare or schema-qualified)."""
        if not requested:
            return list(self.names)
        wanted = set(requested)
        return [n for n in self.names if n in wanted or f"{self.schema}.{n}" in wanted]

    async def check(self, conn: AsyncConnection | AsyncSession) -> None:
        """Fail fast at start-up: every view exists and has a plain unique index."""
        for name in self.names:
            row = (await conn.execute(_STATE, {"schema": self.schema, "name": name})).first()
            if row is None:
                raise ViewError(f"materialized view {self.schema}.{name} does not exist")
            if not row.has_unique:
                raise ViewError(
                    f"materialized view {self.schema}.{name} has no unique index on plain "
                    "columns; REFRESH ... CONCURRENTLY needs one"
                )

    async def refresh(self, session: AsyncSession, requested: Sequence[str] = ()) -> list[str]:
        """Refresh the selected views in the session's transaction; returns their names."""
        refreshed = []
        for name in self.selected(requested):
            row = (await session.execute(_STATE, {"schema": self.schema, "name": name})).first()
            if row is None:
                raise ViewError(f"materialized view {self.schema}.{name} does not exist")
            how = "CONCURRENTLY " if row.ispopulated else ""
            await session.execute(text(f'REFRESH MATERIALIZED VIEW {how}"{self.schema}"."{name}"'))
            refreshed.append(f"{self.schema}.{name}")
        return refreshed
