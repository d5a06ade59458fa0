"""`python -m <service> serve|migrate|rebuild-projections|republish`, the same everywhere.

A service's `__main__` calls `run_service_cli(...)`, adding its own commands if it has any.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from marcus_eventstore import EventStore, Projector, UnitOfWork, rebuild_projections
from marcus_eventstore.migrations import upgrade
from marcus_telemetry import configure_logging
from marcus_web.app import make_engine
from marcus_web.settings import ServiceSettings, refusals

Command = Callable[[argparse.Namespace, ServiceSettings], None]


def _serve(package: str, args: argparse.Namespace, settings: ServiceSettings) -> None:
    import uvicorn

    uvicorn.run(
        f"{package}.main:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level,
        access_log=False,
        log_config=None,  # keep the JSON handler configure_logging installed
    )


async def _rebuild(settings: ServiceSettings, store: EventStore, projector: Projector) -> int:
    engine = make_engine(settings)
    try:
        return await rebuild_projections(engine, store, projector)
    finally:
        await engine.dispose()


async def _republish(settings: ServiceSettings, store: EventStore, from_position: int) -> int:
    engine = make_engine(settings)
    try:
        async with AsyncSession(engine) as session, session.begin():
            return await store.republish(session, from_position)
    finally:
        await engine.dispose()


def run_service_cli(
    package: str,
    settings_factory: Callable[[], ServiceSettings],
    unit_of_work: type[UnitOfWork[Any]] | None = None,
    *,
    store: EventStore | None = None,
    projector: Projector | None = None,
    extra: dict[str, tuple[str, Command]] | None = None,
) -> None:
    """`python -m <package> serve|migrate|...`: the commands every service has, plus
    `rebuild-projections` and `republish` from the service's unit of work (its event
    store and projector), or from `store` / `projector` given alone."""
    if unit_of_work is not None:
        store, projector = unit_of_work.store, unit_of_work.projector
    parser = argparse.ArgumentParser(prog=f"python -m {package}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API and its background tasks")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    commands.add_parser("migrate", help=f"upgrade the {package} schema to the latest migration")
    if store is not None and projector is not None:
        commands.add_parser("rebuild-projections", help="rebuild current-state tables from events")
    if store is not None:
        republish = commands.add_parser(
            "republish", help="queue stored events for publishing again (a stream Redis lost)"
        )
        republish.add_argument("--from-position", type=int, default=1)
    for name, (help_text, _) in (extra or {}).items():
        commands.add_parser(name, help=help_text)
    args = parser.parse_args()
    settings = settings_factory()
    configure_logging(package, settings.log_level, settings.log_format)
    if args.command == "serve":
        problems = refusals(settings)
        if problems:  # safe by default: no serving with a published secret (issue 18)
            raise SystemExit(
                "\n".join(f"{package} refuses to start: {problem}" for problem in problems)
            )
        _serve(package, args, settings)
    elif args.command == "migrate":
        upgrade(package, settings.database_url)
        print(f"{package} schema is up to date")
    elif args.command == "rebuild-projections":
        assert store is not None and projector is not None
        count = asyncio.run(_rebuild(settings, store, projector))
        print(f"replayed {count} events into the {package} projections")
    elif args.command == "republish":
        assert store is not None
        count = asyncio.run(_republish(settings, store, args.from_position))
        print(f"queued {count} events for publishing; the running relay sends them")
    else:
        (extra or {})[args.command][1](args, settings)
