"""Can the consumers' last released versions read what a service writes now?

    python deploy/compat.py orders      # the consumers of events.orders, each at its release
    python deploy/compat.py             # every consumer group

`libs/contracts`' own tests check that a published schema version only changes in ways
its readers accept, against the schemas checked in. This checks each consumer group at
its *released* version: the schemas it knew at its release tag `<group>-v<version>`
(`make release` proposes the tag; the version is the group's service's pyproject). For
every event type the group handles whose producer is SERVICE:

- the producer writes the type's latest version N; a released consumer that knew only up
  to M < N refuses the event ("newer than this consumer knows");
- when it knew N, everything valid under today's vN schema must be valid under the vN it
  knew (its models forbid unknown fields): `check_compatible(today, released) == []`.

A group without a release tag has nothing released to break: it is reported and
skipped. Exit status 1 when a released consumer could not read an event.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = Path("libs/contracts/schemas")

Schema = Any
Baseline = Callable[[str, int], Schema | None]
"""(event type, version) -> the schema the released consumer knew, or None."""


@dataclass(frozen=True)
class Problem:
    group: str
    release: str
    event_type: str
    reason: str

    def __str__(self) -> str:
        return f"{self.group} {self.release} cannot read {self.event_type}: {self.reason}"


def versions(folder: Path, event_type: str) -> list[int]:
    return sorted(int(p.stem[1:]) for p in (folder / event_type).glob("v*.json"))


def check_group(
    group: str,
    release: str,
    event_types: Sequence[str],
    current: Path,
    baseline: Baseline,
    known_versions: Callable[[str], list[int]],
) -> list[Problem]:
    """Problems of one released consumer group reading today's events of these types."""
    from marcus_contracts.schemas.compat import check_compatible

    problems = []
    for event_type in event_types:
        known = known_versions(event_type)
        if not known:
            continue  # the released consumer did not handle it yet
        written = max(versions(current, event_type))
        if written > max(known):
            problems.append(
                Problem(group, release, event_type, f"writes v{written}, it knows v{max(known)}")
            )
            continue
        released = baseline(event_type, written)
        if released is None:
            problems.append(Problem(group, release, event_type, f"no v{written} schema there"))
            continue
        today = json.loads((current / event_type / f"v{written}.json").read_text())
        for incompatibility in check_compatible(today, released):
            problems.append(Problem(group, release, event_type, f"v{written}: {incompatibility}"))
    return problems


def git_baseline(repo: Path, tag: str) -> tuple[Baseline, Callable[[str], list[int]]]:
    """The schemas as they were at `tag`, read with `git show` / `git ls-tree`."""

    def schema(event_type: str, version: int) -> Schema | None:
        path = f"{tag}:{SCHEMAS.as_posix()}/{event_type}/v{version}.json"
        done = subprocess.run(["git", "show", path], cwd=repo, capture_output=True, text=True)
        return json.loads(done.stdout) if done.returncode == 0 else None

    def known(event_type: str) -> list[int]:
        done = subprocess.run(
            ["git", "ls-tree", "--name-only", f"{tag}:{SCHEMAS.as_posix()}/{event_type}"],
            cwd=repo,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            return []
        return sorted(int(n[1:-5]) for n in done.stdout.split() if n.endswith(".json"))

    return schema, known


def tag_exists(repo: Path, tag: str) -> bool:
    done = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}"],
        cwd=repo,
        capture_output=True,
    )
    return done.returncode == 0


def service_version(repo: Path, service: str) -> str:
    pyproject = repo / "services" / service / "pyproject.toml"
    return str(tomllib.loads(pyproject.read_text())["project"]["version"])


def consumer_types() -> dict[str, list[str]]:
    """group -> the event types it handles (the services' `@handles` registrations)."""
    sys.path.insert(0, str(ROOT))
    from scripts import api_docs

    return {group.name: list(group.event_types) for group in api_docs.consumer_groups()}


def run(
    producer: str | None,
    groups: Mapping[str, Sequence[str]],
    repo: Path = ROOT,
    out: Callable[[str], None] = print,
) -> list[Problem]:
    problems: list[Problem] = []
    for group, types in sorted(groups.items()):
        mine = [t for t in types if producer is None or t.split(".", 1)[0] == producer]
        if not mine:
            continue
        release = f"{group}-v{service_version(repo, group)}"
        if not tag_exists(repo, release):
            out(f"{group}: no release tag {release}: nothing released to break, skipped")
            continue
        baseline, known = git_baseline(repo, release)
        found = check_group(group, release, mine, repo / SCHEMAS, baseline, known)
        out(f"{group} {release}: {len(mine)} event types, {len(found)} problems")
        problems += found
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("service", nargs="?", help="the producer (events.<service>)")
    args = parser.parse_args(argv)
    problems = run(args.service, consumer_types())
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
