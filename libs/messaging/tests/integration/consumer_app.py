"""A slow consumer process for the crash test:
`python -m libs.messaging.tests.integration.consumer_app`.

It records one effect per event and sleeps inside the transaction, so the test can
SIGKILL it while it holds delivered but unacknowledged entries.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from sqlalchemy.ext.asyncio import create_async_engine

from libs.messaging.tests.integration.support import record_effect
from marcus_contracts import StreamNames
from marcus_messaging import Consumer, ConsumerSettings, HandlerContext


async def main() -> None:
    parser = argparse.ArgumentParser()
    for option in ("redis-url", "database-url", "prefix", "schema", "group", "name"):
        parser.add_argument(f"--{option}", required=True)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--batch", type=int, default=10)
    args = parser.parse_args()

    engine = create_async_engine(args.database_url)
    consumer = Consumer(
        group=args.group,
        streams=["catalog"],
        engine=engine,
        schema=args.schema,
        redis_url=args.redis_url,
        names=StreamNames(args.prefix),
        settings=ConsumerSettings(
            consumer_name=args.name, batch=args.batch, block_ms=100, shutdown_timeout_s=1
        ),
    )

    @consumer.handler("catalog.category.created")
    async def slow(ctx: HandlerContext) -> None:
        await record_effect(ctx, args.schema, args.name)
        await asyncio.sleep(args.delay)

    try:
        await consumer.run_forever()
    finally:
        await engine.dispose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
