"""`make seed` (scripts/seed.py) against a running catalog: the configurable products with
their parts, options, rules and preconfigured variants, idempotently."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

from catalog.main import create_app
from marcus_web.auth import mint_token
from tests.support.auth import SECRET
from tests.support.servers import serve_app

ROOT = Path(__file__).resolve().parents[4]
SEED = ROOT / "scripts" / "seed.py"


async def _seed(url: str, data: Path) -> str:
    token = mint_token("seed-test", ["admin"], secret=SECRET)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SEED),
        "--url",
        url,
        "--data",
        str(data),
        "--token",
        token,
        "--no-cart",  # the catalog alone: the sample cart needs the orders service
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    text = output.decode()
    assert process.returncode == 0, text
    return text


def counts(output: str) -> dict[str, tuple[int, int]]:
    """kind -> (created, already there), from the seed's summary lines (none failed)."""
    found = {}
    for line in output.splitlines():
        match = re.match(r"^(\w[\w .]*?)\s+(\d+) created,\s+(\d+) already there,\s+0 failed$", line)
        if match:
            found[match[1]] = (int(match[2]), int(match[3]))
    return found


async def test_seed_loads_configurable_products_and_variants_idempotently(
    engine, settings, tmp_path: Path
) -> None:
    catalog = json.loads((ROOT / "scripts" / "seed_data" / "catalog.json").read_text())
    small = tmp_path / "catalog.json"  # every category, a few simple products
    small.write_text(json.dumps({**catalog, "products": catalog["products"][:3]}))

    async with serve_app(create_app(settings)) as url:
        first = await _seed(url, small)
        again = await _seed(url, small)

        import httpx

        async with httpx.AsyncClient(base_url=url) as client:
            listed = (await client.get("/api/v1/products", params={"limit": 100})).json()["items"]
            kinds = sorted(p["kind"] for p in listed)
            bike = next(p for p in listed if p["sku"] == "BIKE-BUILD")
            detail = (await client.get(f"/api/v1/products/{bike['id']}")).json()
            trail = next(p for p in listed if p["sku"] == "BIKE-TRAIL-PRO")
            options = {o["name"]: o["id"] for part in detail["parts"] for o in part["options"]}
            quoted = await client.post(
                f"/api/v1/products/{bike['id']}/quote",
                json={
                    "options": [
                        options[n]
                        for n in ("Full-suspension", "Matte", "Mountain wheels", "8-speed chain")
                    ]
                },
            )
            refused = await client.post(
                f"/api/v1/products/{bike['id']}/quote",
                json={
                    "options": [
                        options[n] for n in ("Diamond", "Matte", "Mountain wheels", "8-speed chain")
                    ]
                },
            )

    assert counts(first) == {
        "categories": (12, 0),
        "products": (3, 0),
        "configurable": (2, 0),
        "parts etc.": (44, 0),  # 10 parts, 25 options, 5 incompatibilities, 4 price rules
        "preconfigured": (5, 0),
    }
    assert counts(again) == {
        "categories": (0, 12),
        "products": (0, 3),
        "configurable": (0, 2),
        "parts etc.": (0, 44),
        "preconfigured": (0, 5),
    }
    assert kinds == ["configurable"] * 2 + ["preconfigured"] * 5 + ["simple"] * 3
    assert [p["name"] for p in detail["parts"]] == [
        "Frame type",
        "Frame finish",
        "Wheels",
        "Rim colour",
        "Chain",
    ]
    assert len(detail["incompatibilities"]) == 3 and len(detail["price_rules"]) == 2
    assert trail["price"] == "1149.00" and trail["stock"] == 6  # its scarcest option
    matte = next(o for o in quoted.json()["options"] if o["name"] == "Matte")
    assert (matte["list_price"], matte["price"]) == ("35.00", "50.00")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["msg"] == "Mountain wheels need a full-suspension frame."
