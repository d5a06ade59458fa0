"""`python -m storefront serve [--port 8007]` (and `migrate`, which has nothing to do:
the storefront has no database, but `make up` runs every service's `migrate`)."""

from __future__ import annotations

import argparse

from marcus_telemetry import configure_logging
from marcus_web.settings import refusals
from storefront.settings import SERVICE, StorefrontSettings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m storefront")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the shop's pages")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    commands.add_parser("migrate", help="nothing to migrate: the storefront has no database")
    args = parser.parse_args()
    settings = StorefrontSettings()
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    if args.command == "migrate":
        print("storefront has no database: nothing to migrate")
        return
    problems = refusals(settings)
    if problems:
        raise SystemExit("\n".join(f"{SERVICE} refuses to start: {p}" for p in problems))
    import uvicorn

    uvicorn.run(
        "storefront.main:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level,
        access_log=False,
        log_config=None,
    )


if __name__ == "__main__":
    main()
