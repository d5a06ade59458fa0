"""`python -m catalog <command>`: serve, migrate, rebuild-projections, republish."""

from __future__ import annotations

import argparse
import asyncio
import logging

from catalog.settings import CatalogSettings


def _serve(args: argparse.Namespace, settings: CatalogSettings) -> None:
    import uvicorn

    uvicorn.run(
        "catalog.main:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level,
        access_log=False,
    )


def _migrate(args: argparse.Namespace, settings: CatalogSettings) -> None:
    from catalog.storage.migrate import upgrade

    upgrade(settings.database_url)


async def _rebuild(settings: CatalogSettings) -> int:
    from catalog.main import make_engine
    from catalog.storage.uow import UnitOfWork
    from marcus_eventstore import rebuild_projections

    engine = make_engine(settings)
    try:
        return await rebuild_projections(engine, UnitOfWork.store, UnitOfWork.projector)
    finally:
        await engine.dispose()


async def _republish(settings: CatalogSettings, from_position: int) -> int:
    from sqlalchemy.ext.asyncio import AsyncSession

    from catalog.main import make_engine
    from catalog.storage.uow import UnitOfWork

    engine = make_engine(settings)
    try:
        async with AsyncSession(engine) as session, session.begin():
            return await UnitOfWork.store.republish(session, from_position)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m catalog")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API and the outbox relay")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    commands.add_parser("migrate", help="upgrade the catalog schema to the latest migration")
    commands.add_parser("rebuild-projections", help="rebuild current-state tables from events")
    republish = commands.add_parser(
        "republish", help="queue stored events for publishing again (a stream Redis lost)"
    )
    republish.add_argument("--from-position", type=int, default=1)
    args = parser.parse_args()
    settings = CatalogSettings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    if args.command == "serve":
        _serve(args, settings)
    elif args.command == "migrate":
        _migrate(args, settings)
        print("catalog schema is up to date")
    elif args.command == "rebuild-projections":
        print(f"replayed {asyncio.run(_rebuild(settings))} events into the projections")
    elif args.command == "republish":
        count = asyncio.run(_republish(settings, args.from_position))
        print(f"queued {count} events for publishing; the running relay sends them")


if __name__ == "__main__":
    main()
