"""compose.yaml is valid Compose and follows the stack's rules (no Docker needed).

- it validates against the Compose Specification's JSON Schema (tests/schemas/);
- every long-running service has a healthcheck, rotated logs and resource limits;
- dependencies wait for health (`service_healthy`), or for one-shot jobs to finish
  (`service_completed_successfully`);
- every `build` uses deploy/Dockerfile with a SERVICE that is a workspace service, and
  each image is built by ONE service (the migrate jobs run it, they do not build it);
- the Chroma server image is the version of the chromadb client in uv.lock;
- only the gateway publishes a port beyond loopback;
- `.env` (written for `make up`) does not reach the containers;
- the connection pools fit PostgreSQL's max_connections;
- the gateway re-resolves its upstreams (replicas, recreated containers);
- the Dockerfile's dependency step sees the lock and the pyprojects only;
- nothing prevents `docker compose up --scale <worker>=N`;
- the Procfile (`make up`) and compose.yaml agree on ports;
- the gateway config compose mounts exists and routes only to declared upstreams.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
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
    assert {
        "db",
        "redis",
        "chroma",
        "chroma-alt",
        "mailpit",
        "migrate",
        "catalog",
        "gateway",
    } <= set(services)


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
    assert (
        'uv sync --frozen --no-dev --no-editable --inexact --package "marcus-${SERVICE}"'
        in dockerfile
    )
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
    for name in ("db", "redis", "chroma", "chroma-alt"):
        mounts = [str(v).split(":", 1)[0] for v in services[name].get("volumes", [])]
        assert any(m in declared for m in mounts), f"{name} should keep data in a named volume"
    chroma, alt = (set(services[name]["volumes"]) for name in ("chroma", "chroma-alt"))
    assert not chroma & alt, "each Chroma server keeps its own volume"
    assert services["db"]["ports"] == ["127.0.0.1:5433:5432"]


def test_only_the_gateway_listens_beyond_loopback(services: dict[str, Any]) -> None:
    """Services' own ports serve /metrics and docs with no auth: loopback only."""
    for name, svc in services.items():
        for mapping in svc.get("ports", []):
            if name != "gateway":
                assert str(mapping).startswith("127.0.0.1:"), f"{name}: {mapping} is public"


def test_env_file_is_optional(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        for env_file in svc.get("env_file") or []:
            assert isinstance(env_file, dict) and env_file.get("required") is False, name


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


def _published_ports(service: dict[str, Any]) -> list[int]:
    return [int(_published(mapping)[1]) for mapping in service.get("ports", [])]


def test_procfile_chroma_servers_are_composes(services: dict[str, Any]) -> None:
    """`chroma` and `chroma-alt` listen where compose publishes its two Chroma servers."""
    procfile = _procfile_ports()
    for name in ("chroma", "chroma-alt"):
        assert _published_ports(services[name]) == [procfile[name]], name
    assert procfile["chroma"] != procfile["chroma-alt"]


def test_indexer_and_assistant_share_an_alternate_chroma_server(
    services: dict[str, Any],
) -> None:
    """ADR 0035: both read the same CHROMA_ALT_URL, a Chroma service of this file other
    than CHROMA_URL's, and wait for it to be healthy."""
    env = {name: services[name]["environment"] for name in ("indexer", "assistant")}
    alt = {name: str(e.get("CHROMA_ALT_URL")) for name, e in env.items()}
    main = {name: str(e.get("CHROMA_URL")) for name, e in env.items()}
    assert alt["indexer"] == alt["assistant"], alt
    assert main["indexer"] == main["assistant"], main
    hosts = {}
    for key, url in (("CHROMA_URL", main["indexer"]), ("CHROMA_ALT_URL", alt["indexer"])):
        match = re.fullmatch(r"http://([\w-]+):(\d+)", url)
        assert match, f"{key}={url}"
        host, port = match.groups()
        assert host in services, f"{key}: {host} is not a compose service"
        assert str(services[host]["image"]).startswith("chromadb/chroma:"), f"{key}: {host}"
        assert f"/dev/tcp/127.0.0.1/{port}" in " ".join(services[host]["healthcheck"]["test"])
        hosts[key] = host
    assert hosts["CHROMA_URL"] != hosts["CHROMA_ALT_URL"], hosts
    for name in env:
        for host in hosts.values():
            assert _depends_on(services[name])[host]["condition"] == "service_healthy", name


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


def test_stack_runner_reads_the_procfile() -> None:
    from scripts.stack.procfile import parse_procfile, services

    processes = parse_procfile(PROCFILE)
    by_name = {p.name: p for p in processes}
    assert by_name["catalog"].package == "catalog"
    assert by_name["catalog"].port == _procfile_ports()["catalog"]
    assert all(p.package for p in services(processes))


def test_stack_gives_indexer_and_assistant_the_procfiles_alternate_chroma(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`make up` gives the indexer and the assistant, and no other process, CHROMA_ALT_URL
    of the Procfile's `chroma-alt`; CHROMA_ALT_URL set in the environment or `.env` wins
    (empty included: no alternate server); without `chroma-alt`, nothing is set."""
    from scripts.stack import config
    from scripts.stack.procfile import parse_procfile, procfile_env
    from scripts.stack.supervisor import supervisor_config

    dotenv: dict[str, str] = {}
    monkeypatch.setattr(config, "read_dotenv", lambda *_: dotenv)
    monkeypatch.delenv("CHROMA_ALT_URL", raising=False)
    processes = parse_procfile(PROCFILE)
    alt = f"http://127.0.0.1:{_procfile_ports()['chroma-alt']}"
    assert procfile_env(processes) == {
        "indexer": {"CHROMA_ALT_URL": alt},
        "assistant": {"CHROMA_ALT_URL": alt},
    }
    config_text = supervisor_config(processes)
    programs = dict(re.findall(r"^\[program:([\w-]+)\]\n(.*?)(?=^\[|\Z)", config_text, re.M | re.S))
    assert set(programs) == {p.name for p in processes}
    for name, section in programs.items():
        given = re.findall(r'CHROMA_ALT_URL="([^"]*)"', section)
        assert given == ([alt] if name in ("indexer", "assistant") else []), name

    dotenv["CHROMA_ALT_URL"] = "http://chroma-elsewhere:8000"
    assert procfile_env(processes)["assistant"] == {"CHROMA_ALT_URL": dotenv["CHROMA_ALT_URL"]}
    monkeypatch.setenv("CHROMA_ALT_URL", "")  # off, over .env and the Procfile
    assert procfile_env(processes) == {
        "indexer": {"CHROMA_ALT_URL": ""},
        "assistant": {"CHROMA_ALT_URL": ""},
    }
    monkeypatch.delenv("CHROMA_ALT_URL")
    dotenv.clear()
    without = [p for p in processes if p.name != "chroma-alt"]
    assert procfile_env(without) == {}
    assert "CHROMA_ALT_URL" not in supervisor_config(without)


def test_local_gateway_config_renders_for_the_procfile(tmp_path: Path) -> None:
    """`make up` renders the same template compose uses, to 127.0.0.1 ports."""
    from scripts.stack.gateway import render_gateway
    from scripts.stack.procfile import parse_procfile

    config = render_gateway(parse_procfile(PROCFILE), folder=tmp_path)
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


# ------------------------------------------------ containers that work on the first up


def _python_services(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Long-running services built from deploy/Dockerfile."""
    return {name: svc for name, svc in services.items() if "build" in svc}


def test_each_image_is_built_by_one_service_only(services: dict[str, Any]) -> None:
    """Two services building one tag race on a fresh host ("image already exists")."""
    builders: dict[str, list[str]] = {}
    for name, svc in services.items():
        if "build" in svc:
            assert svc.get("image"), f"{name}: a built image needs its tag (image:)"
            builders.setdefault(svc["image"], []).append(name)
    twice = {image: names for image, names in builders.items() if len(names) > 1}
    assert not twice, f"image tags built by more than one service: {twice}"
    for name, svc in services.items():
        image = str(svc.get("image", ""))
        if "build" in svc or not image.startswith("marcus-"):
            continue
        assert image in builders, f"{name}: {image} is built by no service"
        assert svc.get("pull_policy") == "never", f"{name}: never pull {image}, it is built"


def _services_with_a_database(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Python services with a schema of their own (the storefront has none: a client of
    the public API)."""
    return {
        name: svc
        for name, svc in _python_services(services).items()
        if "DATABASE_URL" in svc["environment"]
    }


def test_migrate_jobs_run_their_services_image(services: dict[str, Any]) -> None:
    jobs = {name: svc for name, svc in services.items() if name.startswith("migrate")}
    assert len(jobs) == len(_services_with_a_database(services))
    for name, job in jobs.items():
        assert "build" not in job, f"{name} must not build (its service does)"
        package = job["command"][2]
        assert job["command"] == ["python", "-m", package, "migrate"], name
        assert job["image"] == services[package]["image"], name
        assert _depends_on(services[package])[name]["condition"] == (
            "service_completed_successfully"
        )


def _locked_version(package: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    versions = {p["version"] for p in lock["package"] if p["name"] == package}
    assert len(versions) == 1, f"{package}: {versions or 'not'} in uv.lock"
    return versions.pop()


def test_chroma_server_is_the_locked_client_version(services: dict[str, Any]) -> None:
    """The client speaks the server's API of its own version (1.0.20 vs 1.5.x differ)."""
    image, _, tag = str(services["chroma"]["image"]).partition(":")
    assert image == "chromadb/chroma"
    assert tag == _locked_version("chromadb"), "compose's Chroma differs from uv.lock's"


def test_every_long_running_service_logs_rotate_and_is_limited(
    services: dict[str, Any],
) -> None:
    for name, svc in services.items():
        logging = svc.get("logging") or {}
        options = logging.get("options") or {}
        assert logging.get("driver") == "json-file", f"{name}: rotated json-file logs"
        assert options.get("max-size") and options.get("max-file"), f"{name}: rotation"
        limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        assert limits.get("memory") and limits.get("cpus"), f"{name}: resource limits"
        healthcheck = svc.get("healthcheck") or {}
        if not _one_shot(svc):
            assert healthcheck.get("test") not in (None, ["NONE"]), f"{name}: healthcheck"


def _published(mapping: Any) -> tuple[str, str]:
    """(host address, published port) of a ports entry, short or long syntax."""
    if isinstance(mapping, dict):
        return str(mapping.get("host_ip", "")), str(mapping.get("published", ""))
    parts = str(mapping).rsplit(":", 2)
    if len(parts) == 3:
        return parts[0].strip("[]"), parts[1]
    if len(parts) == 2:
        return "", parts[0]
    return "", ""  # a container port only: Docker picks a port on every address


def test_only_the_gateway_publishes_beyond_loopback(services: dict[str, Any]) -> None:
    public = []
    for name, svc in services.items():
        for mapping in svc.get("ports", []):
            address, _ = _published(mapping)
            if address not in ("127.0.0.1", "::1") and name != "gateway":
                public.append(f"{name}: {mapping}")
    assert not public, f"published on every address (0.0.0.0): {public}"
    assert [_published(m) for m in services["gateway"]["ports"]] == [("", "8000")]


def test_published_port_check_reads_both_syntaxes() -> None:
    assert _published("8000:8000") == ("", "8000")
    assert _published("0.0.0.0:8001:8001") == ("0.0.0.0", "8001")
    assert _published("127.0.0.1:5433:5432") == ("127.0.0.1", "5433")
    assert _published({"target": 80, "published": "8080", "host_ip": "::1"}) == ("::1", "8080")
    assert _published("9000") == ("", "")


# Variables compose may fill from `.env`: compose-only names, or settings that mean the
# same to `make up` and to compose (the gateway's rate limits).
COMPOSE_ONLY = re.compile(r"^(MARCUS_\w+|POSTGRES_PASSWORD|GATEWAY_\w+)$")


def test_dotenv_for_make_up_does_not_reach_the_containers(services: dict[str, Any]) -> None:
    """`.env` holds 127.0.0.1 endpoints, a local OTLP collector, an Ollama URL...: none of
    it may reach a container, through env_file or through ${VAR} interpolation."""
    for name, svc in services.items():
        for env_file in svc.get("env_file") or []:
            path = env_file["path"] if isinstance(env_file, dict) else env_file
            assert Path(path).name != ".env", f"{name} reads .env"
    lines = COMPOSE_FILE.read_text().replace("$$", "").splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    interpolated = set(re.findall(r"\$\{(\w+)", text))
    leaking = sorted(v for v in interpolated if not COMPOSE_ONLY.match(v))
    assert not leaking, f"filled from .env, which `make up` reads too: {leaking}"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env.compose" in ignored, "container secrets must not be committed"
    for name, svc in _python_services(services).items():
        env = svc["environment"]
        for endpoint in ("DATABASE_URL", "REDIS_URL", "CHROMA_URL", "SMTP_HOST"):
            assert "127.0.0.1" not in str(env.get(endpoint)), f"{name}: {endpoint}"
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" in env, f"{name}: set tracing explicitly"
        assert env.get("DEPLOYMENT") == "development", f"{name}: say DEPLOYMENT explicitly"


# Connections a service process opens besides its pool: the relay's LISTEN connection,
# and the catalog's read-cache follower or the indexer's sync queue.
EXTRA_CONNECTIONS = 2
RESERVED_CONNECTIONS = 3  # PostgreSQL's superuser_reserved_connections default


def test_pools_fit_max_connections_with_two_replicas_each(services: dict[str, Any]) -> None:
    command = services["db"]["command"]
    settings = dict(arg.split("=", 1) for arg in command if "=" in arg)
    max_connections = int(settings["max_connections"])
    per_process = {}
    for name, svc in _services_with_a_database(services).items():
        pool = int(svc["environment"]["DB_POOL_SIZE"])
        per_process[name] = 2 * pool + EXTRA_CONNECTIONS  # pool_size + max_overflow
    jobs = sum(1 for name in services if name.startswith("migrate"))
    needed = 2 * sum(per_process.values()) + jobs
    assert needed <= max_connections - RESERVED_CONNECTIONS, (
        f"two replicas of every service need {needed} connections ({per_process}), "
        f"max_connections is {max_connections}"
    )


def _nginx_version(image: str) -> tuple[int, ...]:
    tag = image.partition(":")[2].split("-")[0]
    return tuple(int(x) for x in tag.split("."))


def test_gateway_re_resolves_its_upstreams(services: dict[str, Any]) -> None:
    """Resolved once at start, a recreated service answers 503 and --scale replicas get no
    traffic: `resolve` (nginx >= 1.27.3) and a short-lived resolver fix both."""
    gateway = services["gateway"]
    assert _nginx_version(gateway["image"]) >= (1, 27, 3), "`resolve` needs nginx 1.27.3"
    env = gateway["environment"]
    upstreams = {k: v for k, v in env.items() if k.endswith("_UPSTREAM")}
    assert upstreams
    for key, value in upstreams.items():
        host, _, rest = str(value).partition(":")
        assert host in services and rest.split() == [rest.split()[0], "resolve"], key
    assert env["GATEWAY_RESOLVER"] == "127.0.0.11"
    valid = str(env["GATEWAY_RESOLVER_VALID"])
    assert valid.endswith("s") and int(valid[:-1]) <= 10, "keep answers a few seconds"
    templates = ROOT / "deploy" / "gateway" / "templates"
    mounted = [v for v in gateway["volumes"] if str(v).endswith(":/etc/nginx/templates:ro")]
    assert mounted == ["./deploy/gateway/templates:/etc/nginx/templates:ro"]
    resolver = (templates / "00-resolver.conf.template").read_text()
    assert re.search(
        r"^resolver \$\{GATEWAY_RESOLVER\} valid=\$\{GATEWAY_RESOLVER_VALID\}", resolver, re.M
    )
    active = "\n".join(
        ln for ln in GATEWAY_TEMPLATE.read_text().splitlines() if not ln.lstrip().startswith("#")
    )
    blocks = re.findall(r"^upstream (\w+) \{(.*?)^\}", active, re.MULTILINE | re.DOTALL)
    assert blocks
    for name, body in blocks:
        assert re.search(rf"^\s*zone {name} \d+k;", body, re.MULTILINE), f"{name}: no zone"


def test_search_images_carry_the_local_model_and_agree(services: dict[str, Any]) -> None:
    """Same search quality as `make up` (MiniLM), and one vector space for both."""
    args = {name: services[name]["build"]["args"] for name in ("indexer", "assistant")}
    assert args["indexer"].get("LOCAL_MODEL") == args["assistant"].get("LOCAL_MODEL")
    assert str(args["indexer"]["LOCAL_MODEL"]).endswith(":-1}"), "local model by default"
    for name, svc in _python_services(services).items():
        if name not in args:
            assert "LOCAL_MODEL" not in svc["build"].get("args", {}), f"{name} stays slim"
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "https://download.pytorch.org/whl/cpu" in dockerfile
    assert "MiniLMEmbedder().embed" in dockerfile, "the image proves the model loads"


def _dockerfile_stage(dockerfile: str, stage: str) -> str:
    match = re.search(rf"^FROM \S+ AS {stage}\n(.*?)(?=^FROM |\Z)", dockerfile, re.M | re.S)
    assert match, f"no stage {stage}"
    return match.group(1)


def test_dockerfile_dependency_step_sees_only_the_lock_and_pyprojects(tmp_path: Path) -> None:
    """A code change must not re-install every third-party dependency: the step that does
    binds uv.lock, the root pyproject and a tree of the members' pyprojects only."""
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    build = "\n".join(
        line
        for line in _dockerfile_stage(dockerfile, "build").splitlines()
        if not line.lstrip().startswith("#")
    )
    step = next(
        run for run in re.split(r"^RUN ", build, flags=re.M) if "--no-install-workspace" in run
    )
    mounts = re.findall(r"--mount=(\S+)", step)
    binds = [m for m in mounts if "type=bind" in m]
    assert sorted(binds) == sorted(
        [
            "type=bind,source=uv.lock,target=uv.lock",
            "type=bind,source=pyproject.toml,target=pyproject.toml",
            "type=bind,from=manifests,source=/src/libs,target=libs",
            "type=bind,from=manifests,source=/src/services,target=services",
        ]
    )
    assert "uv sync --frozen --no-dev --no-install-workspace" in step
    assert not re.search(r"^COPY (libs|services)", build.split("--no-install-workspace")[0], re.M)
    # Run the manifests stage's commands on a copy of the workspace.
    manifests = _dockerfile_stage(dockerfile, "manifests")
    command = re.search(r"^RUN (.*?)(?<!\\)\n", manifests, re.M | re.S)
    assert command
    for part in ("libs", "services"):
        shutil.copytree(
            ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__", ".*")
        )
    script = command.group(1).replace("\\\n", " ")
    subprocess.run(["sh", "-c", script], cwd=tmp_path, check=True)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    members = sorted(
        str(p.relative_to(ROOT))
        for part in ("libs", "services")
        for p in (ROOT / part).glob("*/pyproject.toml")
    )
    assert left == members
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv:  # the step itself, as a dry run, from that tree alone
        shutil.copy(ROOT / "uv.lock", tmp_path / "uv.lock")
        shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
        done = subprocess.run(
            [uv, "sync", "--frozen", "--offline", "--no-dev", "--no-install-workspace",
             "--package", "marcus-catalog", "--dry-run"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(tmp_path / ".venv")},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
