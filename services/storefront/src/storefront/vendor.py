"""`python -m storefront.vendor check|fetch`: the vendored htmx, verified.

`check` compares the committed file with its recorded sha384 (offline). `fetch` downloads
the package tarball from the npm registry, verifies the registry's sha512 integrity,
extracts the file and writes it only when its sha384 is the recorded one; so a container
build never needs npm, and a changed upstream file is noticed rather than shipped.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import httpx

VENDOR = Path(__file__).resolve().parent / "static" / "vendor"


@dataclass(frozen=True)
class Vendored:
    file: str
    tarball: str
    member: str
    sha512_integrity: str
    sha384: str


HTMX = Vendored(
    file="htmx-2.0.11.min.js",
    tarball="https://registry.npmjs.org/htmx.org/-/htmx.org-2.0.11.tgz",
    member="package/dist/htmx.min.js",
    sha512_integrity="sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==",
    sha384="2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg",
)
FILES = (HTMX,)


def digest(data: bytes, algorithm: str) -> str:
    return base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


def check(item: Vendored) -> str | None:
    """Why the committed file is not the recorded one (None: it is)."""
    path = VENDOR / item.file
    if not path.exists():
        return f"{item.file} is missing"
    found = digest(path.read_bytes(), "sha384")
    return None if found == item.sha384 else f"{item.file}: sha384 {found} != {item.sha384}"


def fetch(item: Vendored, timeout_s: float = 60.0) -> None:
    """Download, verify and write one vendored file; raises ValueError on any mismatch."""
    tarball = httpx.get(item.tarball, timeout=timeout_s, follow_redirects=True)
    tarball.raise_for_status()
    integrity = "sha512-" + digest(tarball.content, "sha512")
    if integrity != item.sha512_integrity:
        raise ValueError(f"{item.tarball}: integrity {integrity} != {item.sha512_integrity}")
    with tarfile.open(fileobj=io.BytesIO(tarball.content), mode="r:gz") as archive:
        member = archive.extractfile(item.member)
        if member is None:
            raise ValueError(f"{item.tarball} has no {item.member}")
        data = member.read()
    if digest(data, "sha384") != item.sha384:
        raise ValueError(f"{item.member}: sha384 differs from the recorded one")
    (VENDOR / item.file).write_bytes(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storefront.vendor")
    parser.add_argument("command", choices=["check", "fetch"])
    args = parser.parse_args(argv)
    failures = 0
    for item in FILES:
        if args.command == "fetch":
            try:
                fetch(item)
            except (ValueError, httpx.HTTPError) as exc:
                print(f"fetch failed: {exc}", file=sys.stderr)
                failures += 1
                continue
        problem = check(item)
        print(problem or f"{item.file}: ok (sha384 {item.sha384})")
        failures += problem is not None
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
