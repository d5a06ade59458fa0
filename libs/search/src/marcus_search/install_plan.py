"""`python -m marcus_search.install_plan`: what installing the local embedder's torch
downloads, file by file with its size, before it is installed (`make install-local-model`).

pip resolves the install without performing it (`--dry-run --report`); each file's size
is read from the local file, or asked of the index with a HEAD request. A size that
cannot be told is shown as `?`; the plan never fails the install (exit status 0).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

HEAD_TIMEOUT_S = 10.0


def size_of(url: str) -> int | None:
    """Bytes of the file at `url` (file:// or http(s)://), None when it cannot be told."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        path = Path(urllib.request.url2pathname(parsed.path))
        return path.stat().st_size if path.is_file() else None
    if parsed.scheme not in ("http", "https"):
        return None
    request = urllib.request.Request(url.split("#", 1)[0], method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=HEAD_TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
    except OSError:
        return None
    return int(length) if length and length.isdigit() else None


def human(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def plan(pip: list[str], target: str, requirements: list[str], index_url: str | None) -> list[Any]:
    """pip's install report (`install` entries) for these requirements into `target`."""
    with tempfile.TemporaryDirectory(prefix="marcus-plan-") as folder:
        report = Path(folder) / "report.json"
        command = [*pip, "--python", target, "install", "--dry-run", "--quiet"]
        command += ["--report", str(report), *requirements]
        if index_url:
            command += ["--index-url", index_url]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return list(json.loads(report.read_text()).get("install", []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m marcus_search.install_plan")
    parser.add_argument("requirements", nargs="+")
    parser.add_argument("--pip", default=f"{sys.executable} -m pip", help="the pip to ask")
    parser.add_argument("--target", default=sys.executable, help="the Python to install into")
    parser.add_argument("--index-url")
    args = parser.parse_args(argv)
    try:
        entries = plan(shlex.split(args.pip), args.target, args.requirements, args.index_url)
    except (OSError, subprocess.CalledProcessError, ValueError) as exc:
        print(f"    (could not list the downloads beforehand: {exc})")
        return 0
    total, unknown = 0, 0
    print("    to download (unless pip's cache or a local wheel folder holds them):")
    for entry in entries:
        url = entry.get("download_info", {}).get("url", "")
        size = size_of(url) if url else None
        total += size or 0
        unknown += size is None
        name = Path(urllib.parse.urlparse(url).path).name or entry["metadata"]["name"]
        print(f"      {human(size):>9}  {urllib.parse.unquote(name)}")
    more = f" (+{unknown} of unknown size)" if unknown else ""
    print(f"    {human(total):>11}  in {len(entries)} files{more}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
