"""Release one service alone: its version, its image, its changelog (`make image|release`).

    python deploy/release.py version catalog
    python deploy/release.py image catalog [--dry-run] [--registry REGISTRY]
    python deploy/release.py bump catalog [--part patch|minor|major] [--root DIR]

A service's version is the `version` of services/<name>/pyproject.toml (the gateway's:
deploy/gateway/VERSION); its image is `marcus-<name>:<version>`. `bump` changes, for that
one service only: its version, its entry in uv.lock, its CHANGELOG.md ("Unreleased"
becomes the new version's section), and its image tag in the production overlay
(deploy/k8s/overlays/production/kustomization.yaml and the rendered
deploy/k8s/rendered/production.yaml). Nothing is committed, tagged or pushed: the
command prints what to do next. Standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Built with CPU torch and the local MiniLM model (deploy/Dockerfile, LOCAL_MODEL).
LOCAL_MODEL_SERVICES = {"indexer", "assistant"}
GATEWAY = "gateway"
PRODUCTION_OVERLAY = Path("deploy/k8s/overlays/production/kustomization.yaml")
PRODUCTION_RENDERED = Path("deploy/k8s/rendered/production.yaml")
VERSION_LINE = re.compile(r'^version = "([^"]+)"$', re.MULTILINE)
SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


class ReleaseError(Exception):
    """A refusal with a message for the person at the terminal."""


@dataclass(frozen=True)
class Component:
    """One releasable thing: a service under services/, or the gateway."""

    name: str
    root: Path

    @property
    def image(self) -> str:
        return f"marcus-{self.name}"

    @property
    def version_file(self) -> Path:
        if self.name == GATEWAY:
            return self.root / "deploy" / "gateway" / "VERSION"
        return self.root / "services" / self.name / "pyproject.toml"

    @property
    def changelog(self) -> Path:
        if self.name == GATEWAY:
            return self.root / "deploy" / "gateway" / "CHANGELOG.md"
        return self.root / "services" / self.name / "CHANGELOG.md"

    @property
    def version(self) -> str:
        text = self.version_file.read_text()
        if self.name == GATEWAY:
            return text.strip()
        return str(tomllib.loads(text)["project"]["version"])


def components(root: Path = ROOT) -> list[str]:
    services = sorted(p.parent.name for p in (root / "services").glob("*/pyproject.toml"))
    return [*services, GATEWAY]


def component(name: str, root: Path = ROOT) -> Component:
    names = name.split()
    if len(names) != 1:
        raise ReleaseError(
            f"name exactly one service (SERVICE=catalog), not {name!r}: one of "
            + ", ".join(components(root))
        )
    if names[0] not in components(root):
        raise ReleaseError(f"unknown service {name!r}: one of " + ", ".join(components(root)))
    return Component(names[0], root)


def build_command(item: Component, registry: str | None = None) -> list[str]:
    """The `docker build` of this one image, tagged with its version and `dev`."""
    version = item.version
    tags = [f"{item.image}:{version}", f"{item.image}:dev"]
    if registry:
        tags.append(f"{registry.rstrip('/')}/{item.image}:{version}")
    tag_args = [arg for tag in tags for arg in ("-t", tag)]
    if item.name == GATEWAY:
        return [
            "docker", "build", "-f", "deploy/gateway/Dockerfile",
            "--build-arg", f"VERSION={version}", *tag_args, "deploy/gateway",
        ]  # fmt: skip
    args = ["--build-arg", f"SERVICE={item.name}", "--build-arg", f"VERSION={version}"]
    if item.name in LOCAL_MODEL_SERVICES:
        args += ["--build-arg", "LOCAL_MODEL=1"]
    return ["docker", "build", "-f", "deploy/Dockerfile", *args, *tag_args, "."]


def image(item: Component, *, dry_run: bool, registry: str | None) -> int:
    command = build_command(item, registry)
    print(shlex.join(command))
    if dry_run:
        return 0
    problem = docker_problem()
    if problem:
        raise ReleaseError(
            f"{problem}: cannot build {item.image}:{item.version}. Run with DRY_RUN=1 to "
            "only print the command above."
        )
    return subprocess.call(command, cwd=item.root, env={**os.environ, "DOCKER_BUILDKIT": "1"})


def docker_problem() -> str | None:
    """Why `docker build` cannot run here, or None: the CLI, an engine that answers, and
    BuildKit (the Dockerfile's cache and bind mounts need it)."""
    docker = shutil.which("docker")
    if docker is None:
        return "docker is not installed (or not on PATH)"
    checks = [
        ([docker, "info", "--format", "{{.ServerVersion}}"], "no Docker engine answers"),
        ([docker, "buildx", "version"], "BuildKit (docker buildx) is not installed"),
    ]
    for command, message in checks:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return message
        if done.returncode != 0:
            return message
    return None


def next_version(version: str, part: str) -> str:
    match = SEMVER.match(version)
    if not match:
        raise ReleaseError(f"version {version!r} is not MAJOR.MINOR.PATCH")
    major, minor, patch = (int(x) for x in match.groups())
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def _replace_once(text: str, pattern: str, replacement: str, where: Path) -> str:
    new, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    if count != 1:
        raise ReleaseError(f"{where}: expected one match of {pattern!r}")
    return new


def _changelog_with(text: str, version: str, today: str, path: Path) -> str:
    """'## Unreleased' keeps its heading (now empty); its entries move under the version."""
    heading = re.search(r"^## Unreleased[ \t]*\n", text, re.MULTILINE)
    if not heading:
        raise ReleaseError(f"{path}: no '## Unreleased' section")
    rest = text[heading.end() :]
    following = re.search(r"^## ", rest, re.MULTILINE)
    body = rest[: following.start()] if following else rest
    after = rest[following.start() :] if following else ""
    entries = body.strip("\n")
    if not entries:
        entries = "- No changes recorded (version bump only)."
    section = f"## {version} ({today})\n\n{entries}\n\n"
    return text[: heading.end()] + "\n" + section + after


def bump(item: Component, part: str, today: str | None = None) -> str:
    """Bump `item` alone; returns the new version. Every file is checked before any is
    written, so a refusal leaves the tree as it was."""
    root = item.root
    old = item.version
    new = next_version(old, part)
    today = today or datetime.date.today().isoformat()
    writes: dict[Path, str] = {}

    if item.name == GATEWAY:
        writes[item.version_file] = new + "\n"
    else:
        text = item.version_file.read_text()
        writes[item.version_file] = _replace_once(
            text, rf'^version = "{re.escape(old)}"$', f'version = "{new}"', item.version_file
        )
        lock = root / "uv.lock"
        if lock.exists():
            text = lock.read_text()
            writes[lock] = _replace_once(
                text,
                rf'^(name = "marcus-{re.escape(item.name)}"\nversion = )"{re.escape(old)}"$',
                rf'\g<1>"{new}"',
                lock,
            )
    writes[item.changelog] = _changelog_with(item.changelog.read_text(), new, today, item.changelog)

    overlay = root / PRODUCTION_OVERLAY
    writes[overlay] = _replace_once(
        overlay.read_text(),
        rf"^(  - name: {re.escape(item.image)}\n    newName: \S+\n    newTag: ){re.escape(old)}$",
        rf"\g<1>{new}",
        overlay,
    )
    rendered = root / PRODUCTION_RENDERED
    if rendered.exists():
        text = rendered.read_text()
        pattern = rf"(image: \S+/{re.escape(item.image)}):{re.escape(old)}$"
        new_text, count = re.subn(pattern, rf"\g<1>:{new}", text, flags=re.MULTILINE)
        if count == 0:
            raise ReleaseError(f"{rendered}: no image {item.image}:{old}")
        writes[rendered] = new_text

    for path, text in writes.items():
        path.write_text(text)
    return new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("version", "image", "bump"):
        sub = commands.add_parser(name)
        sub.add_argument("service")
        sub.add_argument("--root", type=Path, default=ROOT, help="repository (tests: a copy)")
        if name == "image":
            sub.add_argument("--dry-run", action="store_true", help="print the command only")
            sub.add_argument("--registry", default=None, help="also tag REGISTRY/<image>")
        if name == "bump":
            sub.add_argument("--part", choices=("patch", "minor", "major"), default="patch")
            sub.add_argument("--date", default=None, help="the changelog's date (ISO)")
    args = parser.parse_args(argv)
    try:
        item = component(args.service, args.root.resolve())
        if args.command == "version":
            print(item.version)
            return 0
        if args.command == "image":
            return image(item, dry_run=args.dry_run, registry=args.registry or None)
        old = item.version
        new = bump(item, args.part, args.date)
    except ReleaseError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 2
    print(f"{item.name}: {old} -> {new}")
    print("changed: its version, uv.lock entry, CHANGELOG.md and production image tag; next:")
    print(f"  git commit -m 'release {item.name} {new}' <those files>")
    print(f"  git tag {item.name}-v{new}; make image SERVICE={item.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
