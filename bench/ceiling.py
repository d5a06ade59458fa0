"""The HTTP ceiling: a bare FastAPI JSON endpoint on uvicorn, nothing else.

`python -m bench.ceiling serve --port N` runs it with the flags the services run with
(uvloop, httptools, no access log, one worker), so `bench.http` can put each service
endpoint's req/s next to what this machine serves with no database, auth or middleware.
`GET /api/v1/products/{id}` answers a fixed product-shaped document, so the load
tool's script for the catalog drives it unchanged.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from fastapi import FastAPI

app = FastAPI()

PRODUCT = {
    "sku": "CEILING-1",
    "name": "A product-shaped answer",
    "description": "Fixed JSON: what serving costs without any work behind it.",
    "price": "19.99",
    "currency": "EUR",
    "stock": 10,
    "version": 1,
}


@app.get("/readyz")
async def readyz() -> dict[str, str]:
    return {"status": "ready"}


@app.get("/api/v1/products/{product_id}")
async def product(product_id: str) -> dict[str, Any]:
    return {"id": product_id, **PRODUCT}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "bench.ceiling:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
