"""Every relative link in the project's markdown points to something that exists.

Docs rot quietly: a file is renamed, a section retitled, and the link that explained it
leads nowhere. This checks the README, docs/ (ADRs included), the libraries' and
services' READMEs and the CHANGELOGs: the linked file or folder must exist, and a
`#anchor` into a markdown file must name one of its headings (GitHub's slugs). Pure file
reading: no network, no servers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]

PATTERNS = (
    "README.md",
    "CHANGELOG.md",
    "docs/**/*.md",
    "libs/*/README.md",
    "libs/*/CHANGELOG.md",
    "services/*/README.md",
    "services/*/CHANGELOG.md",
)

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`]*`")
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...


def markdown_files() -> list[Path]:
    found = {path for pattern in PATTERNS for path in ROOT.glob(pattern)}
    return sorted(found)


def prose_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The file's lines outside fenced code blocks (a link in code is an example)."""
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            yield number, line


def links(path: Path) -> Iterator[tuple[int, str]]:
    for number, line in prose_lines(path):
        line = INLINE_CODE.sub("", line)
        for match in INLINE_LINK.finditer(line):
            yield number, match.group(1)
        reference = REFERENCE_LINK.match(line)
        if reference:
            yield number, reference.group(1)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed,
    spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = text.replace("`", "").replace("*", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(path):
        heading = HEADING.match(line)
        if not heading:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def broken_links(path: Path) -> list[str]:
    problems = []
    for number, target in links(path):
        if EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / unquote(file_part)).resolve() if file_part else path
        where = f"{path.relative_to(ROOT)}:{number}: {target}"
        if not linked.exists():
            problems.append(f"{where} (no such file)")
        elif anchor and linked.suffix == ".md" and unquote(anchor) not in anchors(linked):
            problems.append(f"{where} (no heading with that anchor)")
    return problems


def test_the_docs_are_found() -> None:
    names = {str(path.relative_to(ROOT)) for path in markdown_files()}
    assert {"README.md", "docs/architecture.md", "libs/messaging/README.md"} <= names


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(path: Path) -> None:
    assert broken_links(path) == []


def test_slugs_follow_github() -> None:
    assert slug("Follow a request: status, traces, logs, metrics") == (
        "follow-a-request-status-traces-logs-metrics"
    )
    assert slug("The `make bench` run") == "the-make-bench-run"
    assert slug("Search: index sync, snapshot rebuild, alias swap") == (
        "search-index-sync-snapshot-rebuild-alias-swap"
    )
