"""compose.yaml is valid Compose and follows the stack's rules (no Docker needed).

- it validates against the Compose Specification's JSON Schema (tests/schemas/);
- every long-running service has a healthcheck;
- dependencies wait for health (`service_healthy`), or for one-shot jobs to finish
  (`service_completed_successfully`);
- every `build` uses deploy/Dockerfile with a SERVICE that is a workspace service;
- nothing prevents `docker compose up --scale <worker>=N`;
- the Procfile (`make up`) and compose.yaml agree on ports;
- the gateway config compose mounts exists and routes only to declared upstreams.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "compose.yaml"
SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "compose-spec.json"
PROCFILE = ROOT / "Procfile"
GATEWAY_TEMPLATE = ROOT / "deploy" / "gateway" / "templates" / "default.conf.template"

# Workers the design scales horizontally (`--scale indexer=3`): no host port allowed.
SCALABLE_WORKERS = {"indexer", "notifier", "orders", "assistant", "scheduler"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _one_shot(service: dict[str, Any]) -> bool:
    """A job that runs to completion (migrations) rather than a long-running server."""
    return str(service.get("restart", "no")) == "no"


def _depends_on(service: dict[str, Any]) -> dict[str, Any]:
    deps = service.get("depends_on", {})
    assert isinstance(deps, dict), "depends_on must use the long form with conditions"
    return deps


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    errors = sorted(Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    messages = [f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors]
    assert not messages, "\n".join(messages)


def test_expected_services_are_present(services: dict[str, Any]) -> None:
    assert {"db", "redis", "chroma", "mailpit", "migrate", "catalog", "gateway"} <= set(services)


def test_every_long_running_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    missing = [
        name
        for name, svc in services.items()
        if not _one_shot(svc) and (not svc.get("healthcheck") or svc["healthcheck"].get("disable"))
    ]
    assert not missing, f"long-running services without a healthcheck: {missing}"


def test_one_shot_jobs_do_not_restart(services: dict[str, Any]) -> None:
    assert _one_shot(services["migrate"])
    assert "healthcheck" not in services["migrate"]


def test_dependencies_wait_for_health_or_completion(services: dict[str, Any]) -> None:
    problems = []
    for name, svc in services.items():
        for dep, spec in _depends_on(svc).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            wanted = (
                "service_completed_successfully" if _one_shot(services[dep]) else "service_healthy"
            )
            condition = (spec or {}).get("condition")
            if condition != wanted:
                problems.append(f"{name} -> {dep}: condition {condition!r}, want {wanted!r}")
    assert not problems, "\n".join(problems)


def test_python_services_wait_for_db_redis_and_their_migrations(
    services: dict[str, Any],
) -> None:
    catalog = _depends_on(services["catalog"])
    assert catalog["db"]["condition"] == "service_healthy"
    assert catalog["redis"]["condition"] == "service_healthy"
    assert catalog["migrate"]["condition"] == "service_completed_successfully"
    assert _depends_on(services["gateway"])["catalog"]["condition"] == "service_healthy"


def _workspace_services() -> dict[str, str]:
    """Package name -> distribution name of every services/* workspace member."""
    found = {}
    for pyproject in ROOT.glob("services/*/pyproject.toml"):
        name = tomllib.loads(pyproject.read_text())["project"]["name"]
        found[pyproject.parent.name] = name
    return found


def test_every_build_uses_the_shared_dockerfile_and_a_real_service(
    services: dict[str, Any],
) -> None:
    workspace = _workspace_services()
    builds = {name: svc["build"] for name, svc in services.items() if "build" in svc}
    assert builds, "expected at least the catalog to be built"
    for name, build in builds.items():
        assert isinstance(build, dict), f"{name}: build must name context and dockerfile"
        assert build.get("context", ".") in (".", "./"), f"{name}: context must be the repo"
        assert build.get("dockerfile") == "deploy/Dockerfile", name
        service = (build.get("args") or {}).get("SERVICE")
        assert service, f"{name}: build arg SERVICE missing"
        assert service in workspace, f"{name}: SERVICE={service} is not under services/"
        assert workspace[service] == f"marcus-{service}", f"{name}: distribution name"
        assert (ROOT / "services" / service / "src" / service).is_dir(), name
    assert (ROOT / "deploy" / "Dockerfile").is_file()


def test_dockerfile_installs_one_service_and_runs_it_unprivileged() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "ghcr.io/astral-sh/uv" in dockerfile
    assert 'uv sync --frozen --no-dev --no-editable --package "marcus-${SERVICE}"' in dockerfile
    assert re.search(r"^USER (?!root)\S+", dockerfile, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK ", dockerfile, re.MULTILINE)
    assert re.search(r"^CMD .*python -m \"?\$\{SERVICE\}\"? serve", dockerfile, re.MULTILINE)


def test_services_can_scale(services: dict[str, Any]) -> None:
    fixed_names = [name for name, svc in services.items() if "container_name" in svc]
    assert not fixed_names, f"container_name prevents --scale: {fixed_names}"
    published = [name for name in SCALABLE_WORKERS & set(services) if services[name].get("ports")]
    assert not published, f"scalable workers must not publish host ports: {published}"


def test_named_volumes_for_state(compose: dict[str, Any], services: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name in ("db", "redis", "chroma"):
        mounts = [str(v).split(":", 1)[0] for v in services[name].get("volumes", [])]
        assert any(m in declared for m in mounts), f"{name} should keep data in a named volume"
    assert services["db"]["ports"] == ["127.0.0.1:5433:5432"]


def test_only_the_gateway_listens_beyond_loopback(services: dict[str, Any]) -> None:
    """Services' own ports serve /metrics and docs with no auth: loopback only."""
    for name, svc in services.items():
        for mapping in svc.get("ports", []):
            if name != "gateway":
                assert str(mapping).startswith("127.0.0.1:"), f"{name}: {mapping} is public"


def test_env_file_is_optional(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        if "build" not in svc:
            continue
        env_files = svc.get("env_file")
        assert env_files, f"{name}: should read .env"
        assert all(isinstance(e, dict) and e.get("required") is False for e in env_files), name


def test_bind_mounts_exist(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        for volume in svc.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"


def _procfile_ports() -> dict[str, int]:
    ports = {}
    for line in PROCFILE.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line)
        if match and (port := re.search(r"--port[ =](\d+)", match.group(2))):
            ports[match.group(1)] = int(port.group(1))
    return ports


def test_procfile_and_compose_agree_on_ports(services: dict[str, Any]) -> None:
    procfile = _procfile_ports()
    assert "catalog" in procfile
    for name, port in procfile.items():
        if name not in services or "build" not in services[name]:
            continue
        env = services[name].get("environment") or {}
        assert str(env.get("PORT")) == str(port), f"{name}: PORT differs from the Procfile"
        healthcheck = " ".join(services[name]["healthcheck"]["test"])
        assert f":{port}/readyz" in healthcheck, f"{name}: healthcheck port"


def test_gateway_routes_to_declared_upstreams(services: dict[str, Any]) -> None:
    template = GATEWAY_TEMPLATE.read_text()
    active = "\n".join(line for line in template.splitlines() if not line.lstrip().startswith("#"))
    upstreams = set(re.findall(r"^upstream (\w+) \{", active, re.MULTILINE))
    targets = set(re.findall(r"proxy_pass http://(\w+)", active))
    assert targets <= upstreams, f"proxy_pass to undeclared upstreams: {targets - upstreams}"
    assert {"catalog"} <= upstreams
    for route in ("/api/v1/categories", "/api/v1/products"):
        assert f"location {route} " in active, route
    placeholders = set(re.findall(r"\$\{(\w+_UPSTREAM)\}", active))
    env = services["gateway"]["environment"]
    assert placeholders <= set(env), f"gateway env lacks {placeholders - set(env)}"
    for upstream in upstreams:
        assert upstream in services, f"upstream {upstream} is not a compose service"
    assert "X-Request-ID" in active and "client_max_body_size" in active


def _load_script(name: str) -> Any:
    """Import scripts/<name>.py as a module (scripts/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"marcus_script_{name}", ROOT / "scripts" / f"{name}.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_stack_runner_reads_the_procfile() -> None:
    stack = _load_script("stack")
    processes = stack.parse_procfile(PROCFILE)
    by_name = {p.name: p for p in processes}
    assert by_name["catalog"].package == "catalog"
    assert by_name["catalog"].port == _procfile_ports()["catalog"]
    assert all(p.package for p in stack.services(processes))


def test_local_gateway_config_renders_for_the_procfile(tmp_path: Path, monkeypatch) -> None:
    """`make up` renders the same template compose uses, to 127.0.0.1 ports."""
    stack = _load_script("stack")
    monkeypatch.setattr(stack, "GATEWAY_DIR", tmp_path)
    config = stack.render_gateway(stack.parse_procfile(PROCFILE))
    routes = (tmp_path / "default.conf").read_text()
    active = "\n".join(ln for ln in routes.splitlines() if not ln.lstrip().startswith("#"))
    assert "server 127.0.0.1:8001 " in active
    assert "${" not in active
    assert f"include {tmp_path}/default.conf;" in config.read_text()
    nginx = shutil.which("nginx")
    if nginx:  # full syntax check where nginx is installed
        result = subprocess.run(
            [nginx, "-t", "-p", str(tmp_path), "-e", "stderr", "-c", str(config)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
