"""The rendered Kubernetes manifests (deploy/k8s/rendered) and what they are checked
against: the services' ports (Procfile), versions (pyprojects), consumer groups (as the
services build them) and measured memory (the latest full bench)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
RENDERED = K8S / "rendered"
OVERLAYS = ("dev", "production")
SERVICES = ("catalog", "orders", "assistant", "indexer", "scheduler", "notifier")
# The services the gateway routes to (deploy/gateway/templates/default.conf.template).
BEHIND_GATEWAY = (
    "catalog",
    "orders",
    "assistant",
    "indexer",
    "scheduler",
    "notifier",
    "storefront",
)
WEB = ("storefront",)
"""Services without a database: clients of the public API through the gateway."""
# Kubernetes version the manifests are validated against (kubernetes-validate's schemas).
KUBERNETES_VERSION = "1.32.0"


@cache
def documents(overlay: str) -> list[dict[str, Any]]:
    """Parsed once per run: callers must not modify them."""
    return [d for d in yaml.safe_load_all((RENDERED / f"{overlay}.yaml").read_text()) if d]


def by_kind(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents(overlay) if d["kind"] == kind}


def containers(workload: dict[str, Any], init: bool = False) -> list[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    return list(spec.get("initContainers" if init else "containers", []))


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def version(service: str) -> str:
    if service == "gateway":
        return (ROOT / "deploy" / "gateway" / "VERSION").read_text().strip()
    pyproject = ROOT / "services" / service / "pyproject.toml"
    return str(tomllib.loads(pyproject.read_text())["project"]["version"])


def procfile_ports() -> dict[str, int]:
    ports = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        match = re.match(r"^(\w+): python -m (\w+) serve --port (\d+)", line)
        if match:
            ports[match.group(2)] = int(match.group(3))
    return ports


def locked_version(package: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    (found,) = {p["version"] for p in lock["package"] if p["name"] == package}
    return str(found)


MEMORY_UNITS = {"Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0}


def mebibytes(quantity: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi)", quantity)
    assert match, f"memory quantity {quantity!r}: use Ki, Mi or Gi"
    return float(match.group(1)) * MEMORY_UNITS[match.group(2)]


def cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


@dataclass(frozen=True)
class BenchRun:
    path: Path
    peak_rss_mib: dict[str, float]


def latest_full_bench() -> BenchRun:
    """The newest `make bench` run of every bench (`python -m bench --profile full`, no
    bench named) and its "peak RSS of one <process> process" rows."""
    runs = []
    for path in (ROOT / "bench" / "results").glob("*.md"):
        text = path.read_text()
        if re.search(r"^`python -m bench --profile full` at commit", text, re.MULTILINE):
            runs.append(path)
    assert runs, "no full bench run in bench/results"
    latest = max(runs, key=lambda p: p.name)
    rss = {
        m.group(1): float(m.group(2).replace(",", ""))
        for m in re.finditer(
            r"^\| peak RSS of one (\w+) process \| ([\d,.]+) \| MiB \|",
            latest.read_text(),
            re.MULTILINE,
        )
    }
    return BenchRun(latest, rss)


@cache
def consumer_groups() -> dict[str, tuple[str, ...]]:
    """group -> the streams it reads, from the services' `@handles` registrations."""
    from scripts import api_docs

    return {
        group.name: tuple(f"events.{source}" for source in group.sources)
        for group in api_docs.consumer_groups()
    }
