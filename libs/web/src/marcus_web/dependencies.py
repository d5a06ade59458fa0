"""FastAPI dependencies every service's routes share: a read session, a unit of work
for a command, and the command's context from the request.

A service's `main` puts its session factory on `app.state.sessions`; its routes then
declare `session: ReadSession` for queries and `uow: Annotated[MyUoW, Depends(
unit_of_work(MyUoW))]` for commands, instead of each route module building them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marcus_eventstore import CommandContext


def sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    """The service's session factory (`app.state.sessions`)."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return factory


async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request for queries; closed when the response is sent.

    A request that succeeded ends its transaction with COMMIT, not the ROLLBACK that
    closing would send: it only read, so both end it alike, but psycopg forgets every
    prepared statement of the connection on a ROLLBACK (it cannot tell what was undone)
    and the connection's next requests would be parsed and planned again. A failed
    request is rolled back."""
    async with sessions(request)() as session:
        yield session
        if session.in_transaction():
            await session.commit()


ReadSession = Annotated[AsyncSession, Depends(read_session)]


def command_context(request: Request) -> CommandContext:
    """Where the request's command comes from (`CommandContext.from_request`)."""
    return CommandContext.from_request(request)


U = TypeVar("U")


def unit_of_work(
    factory: Callable[[async_sessionmaker[AsyncSession], CommandContext], U],
) -> Callable[[Request], Awaitable[U]]:
    """A dependency that builds `factory(sessions, CommandContext.from_request(request))`
    for each request: `Annotated[OrdersUnitOfWork, Depends(unit_of_work(OrdersUnitOfWork))]`.

    `async` although it awaits nothing: FastAPI runs a plain `def` dependency in its
    thread pool, a hand-off to a worker thread and back for every command (~2 % of the
    orders process's busy samples under the orders bench)."""

    async def dependency(request: Request) -> U:
        return factory(sessions(request), CommandContext.from_request(request))

    return dependency
