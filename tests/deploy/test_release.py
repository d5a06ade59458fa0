"""Releasing one service alone (`make release SERVICE=x`, `make image SERVICE=x`) and the
migrate init container's wrapper (deploy/k8s/base/migrate/migrate.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.deploy import manifests as m
from tests.support import infra

RELEASE = m.ROOT / "deploy" / "release.py"
# What `bump` may touch, copied into a temporary repository for each test.
FILES = [
    "uv.lock",
    "deploy/gateway/VERSION",
    "deploy/gateway/CHANGELOG.md",
    "deploy/k8s/overlays/production/kustomization.yaml",
    "deploy/k8s/rendered/production.yaml",
    *(f"services/{s}/{f}" for s in m.SERVICES for f in ("pyproject.toml", "CHANGELOG.md")),
]


def release(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RELEASE), *args], capture_output=True, text=True, env=env
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for rel in FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(m.ROOT / rel, tmp_path / rel)
    return tmp_path


def _changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def test_bumping_one_service_leaves_the_others_untouched(repo: Path) -> None:
    service = "orders"
    old = m.version(service)
    major, minor, _ = (int(x) for x in old.split("."))
    new = f"{major}.{minor + 1}.0"
    changelog = repo / "services" / service / "CHANGELOG.md"
    changelog.write_text(
        changelog.read_text().replace("## Unreleased\n", "## Unreleased\n\n- A new thing.\n", 1)
    )
    before = {rel: (repo / rel).read_text() for rel in FILES}

    done = release("bump", service, "--part", "minor", "--root", str(repo), "--date", "2026-12-07")
    assert done.returncode == 0, done.stderr
    assert f"{service}: {old} -> {new}" in done.stdout

    changed = {rel for rel in FILES if (repo / rel).read_text() != before[rel]}
    assert changed == {
        f"services/{service}/pyproject.toml",
        f"services/{service}/CHANGELOG.md",
        "uv.lock",
        "deploy/k8s/overlays/production/kustomization.yaml",
        "deploy/k8s/rendered/production.yaml",
    }
    pyproject = repo / "services" / service / "pyproject.toml"
    assert tomllib.loads(pyproject.read_text())["project"]["version"] == new
    assert _changed_lines(before[f"services/{service}/pyproject.toml"], pyproject.read_text()) == [
        (f'version = "{old}"', f'version = "{new}"')
    ]
    lock = tomllib.loads((repo / "uv.lock").read_text())
    versions = {p["name"]: p["version"] for p in lock["package"] if p["name"].startswith("marcus-")}
    assert versions[f"marcus-{service}"] == new
    assert _changed_lines(before["uv.lock"], (repo / "uv.lock").read_text()) == [
        (f'version = "{old}"', f'version = "{new}"')
    ]
    for rel in (
        "deploy/k8s/overlays/production/kustomization.yaml",
        "deploy/k8s/rendered/production.yaml",
    ):
        lines = _changed_lines(before[rel], (repo / rel).read_text())
        assert lines and all(f"marcus-{service}" in a or "newTag" in a for a, _ in lines), rel
        assert all(a.replace(old, new) == b for a, b in lines), rel
    text = changelog.read_text()
    assert text.index("## Unreleased") < text.index(f"## {new} (2026-12-07)\n\n- A new thing.")
    assert text.index(f"## {new}") < text.index(f"## {old}")
    assert text.count("- A new thing.") == 1, "moved, not copied"


def test_bump_refuses_several_services_and_unknown_ones(repo: Path) -> None:
    before = {rel: (repo / rel).read_text() for rel in FILES}
    for names in ("catalog orders", "billing", ""):
        done = release("bump", names, "--root", str(repo))
        assert done.returncode == 2 and "release:" in done.stderr, names
    assert {rel: (repo / rel).read_text() for rel in FILES} == before


def test_bump_of_the_gateway_changes_its_version_file(repo: Path) -> None:
    done = release("bump", "gateway", "--root", str(repo), "--date", "2026-12-07")
    assert done.returncode == 0, done.stderr
    old = m.version("gateway")
    assert (repo / "deploy/gateway/VERSION").read_text().strip() != old
    for service in m.SERVICES:
        rel = f"services/{service}/pyproject.toml"
        assert (repo / rel).read_text() == (m.ROOT / rel).read_text()


def test_image_names_one_service_and_its_version() -> None:
    done = release("image", "catalog", "--dry-run")
    assert done.returncode == 0, done.stderr
    version = m.version("catalog")
    assert done.stdout.split() == [
        "docker", "build", "-f", "deploy/Dockerfile",
        "--build-arg", "SERVICE=catalog", "--build-arg", f"VERSION={version}",
        "-t", f"marcus-catalog:{version}", "-t", "marcus-catalog:dev", ".",
    ]  # fmt: skip
    indexer = release("image", "indexer", "--dry-run", "--registry", "registry.example.com/m")
    assert "LOCAL_MODEL=1" in indexer.stdout
    assert f"registry.example.com/m/marcus-indexer:{m.version('indexer')}" in indexer.stdout
    gateway = release("image", "gateway", "--dry-run").stdout.split()
    assert gateway[-1] == "deploy/gateway" and "deploy/gateway/Dockerfile" in gateway


def test_image_without_docker_fails_clearly(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no docker on this PATH
    done = release("image", "notifier", env=env)
    assert done.returncode == 2
    assert "docker is not installed" in done.stderr and "DRY_RUN=1" in done.stderr
    assert done.stdout.startswith("docker build ")  # the command is still shown


def test_make_targets_act_on_one_service() -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    done = subprocess.run(
        [make, "-s", "image", "SERVICE=scheduler", "DRY_RUN=1"],
        cwd=m.ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert f"-t marcus-scheduler:{m.version('scheduler')}" in done.stdout
    every = subprocess.run([make, "-s", "release"], cwd=m.ROOT, capture_output=True, text=True)
    assert every.returncode != 0 and "name exactly one service" in every.stderr


# ------------------------------------------------------------------ migrate wrapper


@pytest.mark.integration
def test_migrate_wrapper_lets_one_pod_migrate_at_a_time(postgres_server_url: str) -> None:
    """Three pods starting together: all succeed, the schema ends at head once."""
    script = m.K8S / "base" / "migrate" / "migrate.py"
    with infra.fresh_database(postgres_server_url) as url:
        env = {**os.environ, "SERVICE": "scheduler", "DATABASE_URL": url}
        env.pop("DEPLOYMENT", None)
        pods = [
            subprocess.Popen(
                [sys.executable, str(script)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(3)
        ]
        outputs = [pod.communicate(timeout=180)[0] for pod in pods]
        assert [pod.returncode for pod in pods] == [0, 0, 0], "\n".join(outputs)
        assert all("lock held" in out and "up to date" in out for out in outputs)
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                heads = conn.execute(text("SELECT version_num FROM scheduler.alembic_version"))
                assert len(heads.all()) == 1
        finally:
            engine.dispose()
