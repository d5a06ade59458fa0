"""The Kubernetes manifests (deploy/k8s): rendered output current, every document valid
against the Kubernetes schemas of a named version and KEDA's CRDs, and the deployment's
rules: per service a Deployment (migrate init container, probes, resources from the
benches), a Service, a PodDisruptionBudget; secrets by reference only; network policies
that let exactly the intended traffic through; autoscaling on each consumer group's lag.
No cluster and no kubectl needed (kubectl, when installed, re-renders and compares)."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
from typing import Any

import kubernetes_validate
import pytest
from cloudcoil.models.keda.v1alpha1 import ScaledObject, TriggerAuthentication

from tests.deploy import manifests as m

KEDA_MODELS = {"ScaledObject": ScaledObject, "TriggerAuthentication": TriggerAuthentication}
# The redis-streams scaler's metadata (KEDA docs); anything else is a typo KEDA ignores.
REDIS_STREAMS_METADATA = {
    "address", "addressFromEnv", "host", "hostFromEnv", "port", "portFromEnv",
    "usernameFromEnv", "passwordFromEnv", "stream", "consumerGroup", "pendingEntriesCount",
    "streamLength", "lagCount", "activationLagCount", "databaseIndex", "enableTLS", "unsafeSsl",
}  # fmt: skip
# PostgreSQL's max_connections in production (docs/scaling.md, "Connections").
PRODUCTION_MAX_CONNECTIONS = 400
RESERVED_CONNECTIONS = 3
EXTRA_CONNECTIONS = 2  # per process beside the pool: relay LISTEN, follower / sync queue
# The dev overlay's Chroma servers: CHROMA_URL's and the alternate CHROMA_ALT_URL's
# (ADR 0035).
CHROMA_SERVERS = ("chroma", "chroma-alt")


@pytest.fixture(scope="module", params=m.OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# ----------------------------------------------------------------- rendered and valid


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl renders Kustomize")
def test_checked_in_render_is_current() -> None:
    done = subprocess.run(
        [sys.executable, str(m.K8S / "render.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr + " (run `make k8s`)"


def test_every_document_is_valid_kubernetes(overlay: str) -> None:
    problems = []
    docs = m.documents(overlay)
    assert len(docs) > 30
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in KEDA_MODELS:
            continue  # CRDs: next test
        try:
            kubernetes_validate.validate(doc, m.KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{name}: {exc.message} at {list(exc.path)}")
    assert not problems, "\n".join(problems)


def _unknown_fields(given: Any, parsed: Any, path: str = "") -> list[str]:
    """Keys in the manifest that the model dropped (pydantic ignores unknown fields)."""
    if isinstance(given, dict) and isinstance(parsed, dict):
        found = []
        for key, value in given.items():
            if key not in parsed:
                found.append(f"{path}/{key}")
            else:
                found += _unknown_fields(value, parsed[key], f"{path}/{key}")
        return found
    if isinstance(given, list) and isinstance(parsed, list):
        return [x for a, b in zip(given, parsed, strict=True) for x in _unknown_fields(a, b, path)]
    return []


def test_keda_objects_match_the_keda_crd_schema() -> None:
    docs = [d for d in m.documents("production") if d["kind"] in KEDA_MODELS]
    assert {d["kind"] for d in docs} == set(KEDA_MODELS)
    for doc in docs:
        model = KEDA_MODELS[doc["kind"]].model_validate(doc)
        dumped = model.model_dump(by_alias=True, exclude_none=True, mode="json")
        unknown = _unknown_fields(doc, dumped)
        assert not unknown, f"{doc['kind']}/{doc['metadata']['name']}: unknown {unknown}"


def test_validation_catches_broken_manifests() -> None:
    """The validators are not vacuous: a typo and a wrong type are refused."""
    deployment = dict(m.by_kind("dev", "Deployment")["catalog"])
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, m.KUBERNETES_VERSION, strict=True)
    scaled = m.by_kind("production", "ScaledObject")["catalog"]
    with pytest.raises(ValueError):
        ScaledObject.model_validate({**scaled, "spec": {**scaled["spec"], "minReplicaCount": "x"}})
    typo = {**scaled, "spec": {**scaled["spec"], "cooldownPeriods": 1}}
    dumped = ScaledObject.model_validate(typo).model_dump(by_alias=True, exclude_none=True)
    assert _unknown_fields(typo, dumped) == ["/spec/cooldownPeriods"]


# ------------------------------------------------------------------- per service


def test_each_service_has_deployment_service_and_budget(overlay: str) -> None:
    deployments = m.by_kind(overlay, "Deployment")
    services = m.by_kind(overlay, "Service")
    budgets = m.by_kind(overlay, "PodDisruptionBudget")
    ports = m.procfile_ports()
    for name in (*m.SERVICES, *m.WEB, "gateway"):
        deployment = deployments[name]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert services[name]["spec"]["selector"].items() <= labels.items(), name
        budget = budgets[name]["spec"]
        assert budget["selector"]["matchLabels"].items() <= labels.items(), name
        assert budget.get("maxUnavailable") == 1, f"{name}: one pod at a time"
        strategy = deployment["spec"]["strategy"]["rollingUpdate"]
        assert strategy["maxUnavailable"] == 0, f"{name}: never below the wanted replicas"
        if name in ports:
            (port,) = services[name]["spec"]["ports"]
            assert port["port"] == ports[name], f"{name}: the Procfile's port"


def test_migrations_run_before_the_new_version_serves(overlay: str) -> None:
    deployments = m.by_kind(overlay, "Deployment")
    configmaps = {
        n.rsplit("-", 1)[0]: d for n, d in m.by_kind(overlay, "ConfigMap").items()
    }  # generated names carry a content hash
    script = (m.K8S / "base" / "migrate" / "migrate.py").read_text()
    assert configmaps["marcus-migrate"]["data"]["migrate.py"] == script
    for name in m.SERVICES:
        (init,) = m.containers(deployments[name], init=True)
        (main,) = m.containers(deployments[name])
        assert init["name"] == "migrate" and init["image"] == main["image"], name
        assert init["command"] == ["python", "/opt/marcus/migrate.py"], name
        assert m.env_of(init)["SERVICE"]["value"] == name
        assert m.env_of(init)["DATABASE_URL"] == m.env_of(main)["DATABASE_URL"], name
        mounts = {v["name"]: v["mountPath"] for v in init["volumeMounts"]}
        volumes = {v["name"]: v for v in deployments[name]["spec"]["template"]["spec"]["volumes"]}
        assert mounts["migrate"] == "/opt/marcus"
        assert volumes["migrate"]["configMap"]["name"].startswith("marcus-migrate-")


def test_probes_and_resources(overlay: str) -> None:
    deployments = m.by_kind(overlay, "Deployment")
    for name in m.SERVICES:
        (container,) = m.containers(deployments[name])
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        (port,) = container["ports"]
        assert port == {"name": "http", "containerPort": m.procfile_ports()[name]}
        for item in (container, *m.containers(deployments[name], init=True)):
            resources = item["resources"]
            for kind in ("cpu", "memory"):
                assert resources["requests"][kind] and resources["limits"][kind], (name, kind)
            assert m.mebibytes(resources["requests"]["memory"]) <= m.mebibytes(
                resources["limits"]["memory"]
            )
            assert m.cores(resources["requests"]["cpu"]) <= m.cores(resources["limits"]["cpu"])
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert deployments[name]["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]


def test_memory_covers_the_measured_peak_rss() -> None:
    """Requests hold the peak RSS the latest full bench measured; limits leave 1.5x."""
    bench = m.latest_full_bench()
    deployments = m.by_kind("production", "Deployment")
    measured = {s: bench.peak_rss_mib[s] for s in m.SERVICES if s in bench.peak_rss_mib}
    assert len(measured) >= 5, f"{bench.path.name}: {bench.peak_rss_mib}"
    for name, peak in measured.items():
        (container,) = m.containers(deployments[name])
        request = m.mebibytes(container["resources"]["requests"]["memory"])
        limit = m.mebibytes(container["resources"]["limits"]["memory"])
        assert request >= peak, f"{name}: request {request} MiB < peak {peak} ({bench.path.name})"
        assert limit >= 1.5 * peak, f"{name}: limit {limit} MiB < 1.5 x peak {peak}"
    for name in CHROMA_SERVERS:
        (container,) = m.containers(m.by_kind("dev", "StatefulSet")[name])
        assert (
            m.mebibytes(container["resources"]["limits"]["memory"])
            >= 1.5 * bench.peak_rss_mib["chroma"]
        ), name


def test_images_are_tagged_with_each_services_version() -> None:
    for overlay, expect in (("production", m.version), ("dev", lambda _: "dev")):
        deployments = m.by_kind(overlay, "Deployment")
        for name in (*m.SERVICES, *m.WEB, "gateway"):
            for container in m.containers(deployments[name]) + m.containers(
                deployments[name], init=True
            ):
                image, _, tag = container["image"].rpartition(":")
                assert image.endswith(f"/marcus-{name}") or image == f"marcus-{name}", image
                assert tag == expect(name), f"{overlay} {name}: {container['image']}"


def test_chroma_in_the_dev_overlay_is_the_locked_client_version() -> None:
    for name in CHROMA_SERVERS:
        (container,) = m.containers(m.by_kind("dev", "StatefulSet")[name])
        assert container["image"] == f"chromadb/chroma:{m.locked_version('chromadb')}", name


# ---------------------------------------------------------------------- secrets

SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "KEY", "DATABASE_URL", "REDIS_URL")


def test_secrets_by_reference_only(overlay: str) -> None:
    docs = m.documents(overlay)
    assert not [d for d in docs if d["kind"] == "Secret"], "no Secret in the manifests"
    for doc in docs:
        if doc["kind"] == "ConfigMap":
            keys = [k for k in doc.get("data", {}) if any(w in k for w in SECRET_WORDS)]
            assert not keys, f"{doc['metadata']['name']}: secrets in a ConfigMap: {keys}"
        if doc["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for container in m.containers(doc) + m.containers(doc, init=True):
            for name, env in m.env_of(container).items():
                if any(word in name for word in SECRET_WORDS):
                    assert "value" not in env, f"{doc['metadata']['name']}: {name} inline"
                    assert "secretKeyRef" in env["valueFrom"], f"{name}: by secretKeyRef"
    for name in m.SERVICES:
        (container,) = m.containers(m.by_kind(overlay, "Deployment")[name])
        assert m.env_of(container)["DEPLOYMENT"]["value"] == "production", name


# ------------------------------------------------------------- network policies


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"only matchLabels selectors: {selector}"
    return selector.get("matchLabels", {}).items() <= labels.items()


def _port_matches(rule: dict[str, Any], port: int, named: dict[str, int]) -> bool:
    if "ports" not in rule:
        return True
    for item in rule["ports"]:
        wanted = item["port"]
        if wanted == port or named.get(str(wanted)) == port:
            return True
    return False


class Cluster:
    """Enough of NetworkPolicy semantics for one namespace: pod selectors with matchLabels,
    same-namespace podSelector peers, ipBlock peers, numbered and named ports."""

    def __init__(self, overlay: str) -> None:
        self.policies = list(m.by_kind(overlay, "NetworkPolicy").values())
        self.pods: dict[str, tuple[dict[str, str], dict[str, int]]] = {}
        for kind in ("Deployment", "StatefulSet"):
            for name, workload in m.by_kind(overlay, kind).items():
                labels = workload["spec"]["template"]["metadata"]["labels"]
                ports = {
                    p["name"]: p["containerPort"]
                    for c in m.containers(workload)
                    for p in c.get("ports", [])
                    if "name" in p
                }
                self.pods[name] = (labels, ports)

    def _allowed(self, direction: str, pod: str, peer: str | None, port: int) -> bool:
        labels = self.pods[pod][0]
        target_ports = self.pods[pod if direction == "Ingress" else peer][1] if peer else {}
        selecting = [
            p
            for p in self.policies
            if direction in p["spec"]["policyTypes"] and _matches(p["spec"]["podSelector"], labels)
        ]
        assert selecting, f"{pod}: no {direction} policy selects it (default deny missing)"
        key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for policy in selecting:
            for rule in policy["spec"].get(key, []):
                if not _port_matches(rule, port, target_ports):
                    continue
                if peers_key not in rule:
                    return True  # from / to anywhere
                for item in rule[peers_key]:
                    if peer is None:
                        if "ipBlock" in item and item["ipBlock"]["cidr"] == "0.0.0.0/0":
                            return True
                    elif set(item) == {"podSelector"} and _matches(
                        item["podSelector"], self.pods[peer][0]
                    ):
                        return True
        return False

    def can_connect(self, source: str | None, target: str, port: int) -> bool:
        """source None: a client outside the namespace (the load balancer)."""
        egress = source is None or self._allowed("Egress", source, target, port)
        return egress and self._allowed("Ingress", target, source, port)

    def can_reach_internet(self, source: str, port: int) -> bool:
        return self._allowed("Egress", source, None, port)


def test_network_policies_let_exactly_the_intended_traffic_through() -> None:
    cluster = Cluster("dev")
    ports = m.procfile_ports()
    backing = {"postgres": 5432, "redis": 6379, "chroma": 8000, "chroma-alt": 8000, "mailpit": 1025}
    uses = {
        "catalog": {"postgres", "redis"},
        "orders": {"postgres", "redis"},
        "assistant": {"postgres", "redis", "chroma", "chroma-alt"},
        "indexer": {"postgres", "redis", "chroma", "chroma-alt"},
        "scheduler": {"postgres", "redis"},
        "notifier": {"postgres", "redis", "mailpit"},
    }
    assert cluster.can_connect(None, "gateway", 8000)
    for name in m.SERVICES:
        behind = name in m.BEHIND_GATEWAY
        assert cluster.can_connect("gateway", name, ports[name]) is behind, name
        assert not cluster.can_connect(None, name, ports[name]), f"{name} reachable from outside"
        for other in m.SERVICES:
            if other != name:
                assert not cluster.can_connect(name, other, ports[other]), f"{name} -> {other}"
        for server, port in backing.items():
            wanted = server in uses[name]
            assert cluster.can_connect(name, server, port) is wanted, f"{name} -> {server}"
        assert not cluster.can_connect(name, "gateway", 8000), f"{name} -> gateway"
        internet = cluster.can_reach_internet(name, 443)
        assert internet is (name in ("assistant", "indexer")), f"{name} -> internet:443"
        assert not cluster.can_reach_internet(name, 80), f"{name} -> internet:80"
    for server, port in backing.items():
        assert not cluster.can_connect("gateway", server, port), f"gateway -> {server}"
        assert not cluster.can_connect(None, server, port), f"outside -> {server}"


def test_the_storefront_talks_to_the_gateway_only() -> None:
    """A client of the public API: reached through the gateway, reaching only the gateway
    (never a service or a backing server directly), with no database and no migration."""
    cluster = Cluster("dev")
    ports = m.procfile_ports()
    backing = {"postgres": 5432, "redis": 6379, "chroma": 8000, "chroma-alt": 8000, "mailpit": 1025}
    assert cluster.can_connect("gateway", "storefront", ports["storefront"])
    assert not cluster.can_connect(None, "storefront", ports["storefront"])
    assert cluster.can_connect("storefront", "gateway", 8000)
    for name in m.SERVICES:
        assert not cluster.can_connect("storefront", name, ports[name]), name
        assert not cluster.can_connect(name, "storefront", ports["storefront"]), name
    for server, port in backing.items():
        assert not cluster.can_connect("storefront", server, port), server
    assert not cluster.can_reach_internet("storefront", 443)
    for overlay in m.OVERLAYS:
        deployment = m.by_kind(overlay, "Deployment")["storefront"]
        assert not m.containers(deployment, init=True), "no database: nothing to migrate"
        (container,) = m.containers(deployment)
        env = m.env_of(container)
        assert env["DEPLOYMENT"]["value"] == "production"  # no development sign-in
        assert env["PUBLIC_API_URL"]["value"] == "http://gateway:8000"
        assert "DATABASE_URL" not in env and "REDIS_URL" not in env
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


def test_production_replaces_only_the_destinations() -> None:
    dev = m.by_kind("dev", "NetworkPolicy")
    production = m.by_kind("production", "NetworkPolicy")
    dev_only = {n for n in dev if n.endswith("-from-services")}
    assert set(production) == set(dev) - dev_only | {"to-otel-collector"}
    otel = production["to-otel-collector"]["spec"]
    assert [p["port"] for rule in otel["egress"] for p in rule["ports"]] == [4318]
    for name in ("to-postgres", "to-redis", "to-chroma", "to-smtp"):
        assert production[name]["spec"]["podSelector"] == dev[name]["spec"]["podSelector"]
        assert production[name]["spec"]["egress"] != dev[name]["spec"]["egress"], name


# ------------------------------------------------------------------ autoscaling

HTTP_SCALED = ("catalog", "orders", "assistant")


def test_every_consumer_group_scales_on_its_stream_lag() -> None:
    scaled = m.by_kind("production", "ScaledObject")
    deployments = m.by_kind("production", "Deployment")
    auth = m.by_kind("production", "TriggerAuthentication")
    groups = m.consumer_groups()
    # The scheduler's group is not scaled: one leader, fixed replicas (docs/scaling.md).
    assert set(groups) - {"scheduler"} == set(scaled)
    for group, streams in groups.items():
        if group == "scheduler":
            continue
        spec = scaled[group]["spec"]
        assert spec["scaleTargetRef"]["name"] == group and group in deployments
        redis = [t for t in spec["triggers"] if t["type"] == "redis-streams"]
        assert sorted(t["metadata"]["stream"] for t in redis) == sorted(streams), group
        for trigger in redis:
            meta = trigger["metadata"]
            assert set(meta) <= REDIS_STREAMS_METADATA, (
                f"{group}: {set(meta) - REDIS_STREAMS_METADATA}"
            )
            assert meta["consumerGroup"] == group
            assert int(meta["lagCount"]) >= 1 and "pendingEntriesCount" not in meta
            assert trigger["authenticationRef"]["name"] in auth
        cpu = [t for t in spec["triggers"] if t["type"] == "cpu"]
        assert bool(cpu) is (group in HTTP_SCALED), f"{group}: cpu trigger for HTTP only"
        assert spec["minReplicaCount"] >= (2 if group in HTTP_SCALED else 1), group
        assert spec["maxReplicaCount"] > spec["minReplicaCount"]
        assert "replicas" not in deployments[group]["spec"], f"{group}: KEDA owns replicas"
    for parameter in auth["marcus-redis-streams"]["spec"]["secretTargetRef"]:
        assert parameter["name"] and parameter["key"]


def test_one_autoscaler_per_deployment_and_the_scheduler_is_fixed() -> None:
    scaled = m.by_kind("production", "ScaledObject")
    hpas = m.by_kind("production", "HorizontalPodAutoscaler")
    targets = [s["spec"]["scaleTargetRef"]["name"] for s in scaled.values()]
    targets += [h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()]
    assert sorted(targets) == sorted(set(targets)), "two autoscalers on one Deployment"
    gateway = hpas["gateway"]["spec"]
    assert gateway["metrics"][0]["resource"]["name"] == "cpu" and gateway["minReplicas"] >= 2
    deployments = m.by_kind("production", "Deployment")
    assert deployments["scheduler"]["spec"]["replicas"] == 2
    assert "scheduler" not in targets
    assert not m.by_kind("dev", "ScaledObject"), "dev needs no KEDA"


# ------------------------------------------------------------------ connections


def _connections(overlay: str, replicas: dict[str, int]) -> int:
    deployments = m.by_kind(overlay, "Deployment")
    total = 0
    for name in m.SERVICES:
        (container,) = m.containers(deployments[name])
        pool = int(m.env_of(container)["DB_POOL_SIZE"]["value"])
        surge = 1  # maxSurge: one new pod beside the old ones during a rollout
        total += (replicas[name] + surge) * (2 * pool + EXTRA_CONNECTIONS)
        total += 2  # a starting pod's migrate init container: the lock and Alembic
    return total


def test_pools_fit_postgres_max_connections() -> None:
    """Each pod holds up to 2 x DB_POOL_SIZE pooled connections (pool + overflow) and two
    of its own; every service at its most replicas plus a surge pod must fit."""
    (postgres,) = m.containers(m.by_kind("dev", "StatefulSet")["postgres"])
    args = dict(a.split("=", 1) for a in postgres["args"] if "=" in a)
    dev = _connections("dev", dict.fromkeys(m.SERVICES, 1))
    assert dev <= int(args["max_connections"]) - RESERVED_CONNECTIONS, dev
    scaled = m.by_kind("production", "ScaledObject")
    deployments = m.by_kind("production", "Deployment")
    most = {
        name: scaled[name]["spec"]["maxReplicaCount"]
        if name in scaled
        else deployments[name]["spec"]["replicas"]
        for name in m.SERVICES
    }
    production = _connections("production", most)
    assert production <= PRODUCTION_MAX_CONNECTIONS - RESERVED_CONNECTIONS, production


# ---------------------------------------------------------------------- gateway


def test_gateway_deployment_fills_every_template_placeholder() -> None:
    templates = m.ROOT / "deploy" / "gateway" / "templates"
    placeholders = set()
    for template in templates.glob("*.template"):
        active = "\n".join(
            ln for ln in template.read_text().splitlines() if not ln.lstrip().startswith("#")
        )
        placeholders |= set(re.findall(r"\$\{(\w+)\}", active))
    dockerfile = (m.ROOT / "deploy" / "gateway" / "Dockerfile").read_text()
    image_env = set(re.findall(r"^\s+(GATEWAY_\w+)=", dockerfile, re.MULTILINE))
    (container,) = m.containers(m.by_kind("production", "Deployment")["gateway"])
    env = m.env_of(container)
    missing = placeholders - set(env) - image_env
    assert not missing, f"the gateway would render literal ${{...}}: {missing}"
    for name in m.BEHIND_GATEWAY:
        value = env[f"{name.upper()}_UPSTREAM"]["value"]
        assert value == f"{name}:{m.procfile_ports()[name]}", value
    assert "COPY templates/ /etc/nginx/templates/" in dockerfile
    assert "COPY docs/ /usr/share/nginx/marcus-docs/" in dockerfile
    assert math.isclose(m.cores(container["resources"]["limits"]["cpu"]), 1.0)


def test_scaling_doc_states_the_budgets_the_manifests_give() -> None:
    """docs/scaling.md's "Connections" table says what the manifests add up to."""
    doc = (m.ROOT / "docs" / "scaling.md").read_text()
    rows = dict(re.findall(r"^\| (k8s dev|k8s production) \|.*?: (\d+) <= \d+ \|$", doc, re.M))
    scaled = m.by_kind("production", "ScaledObject")
    deployments = m.by_kind("production", "Deployment")
    most = {
        n: scaled[n]["spec"]["maxReplicaCount"]
        if n in scaled
        else deployments[n]["spec"]["replicas"]
        for n in m.SERVICES
    }
    assert int(rows["k8s dev"]) == _connections("dev", dict.fromkeys(m.SERVICES, 1))
    assert int(rows["k8s production"]) == _connections("production", most)
    assert "| 400 (the managed instance's setting) |" in doc
    assert PRODUCTION_MAX_CONNECTIONS == 400


def _shared_config(overlay: str) -> dict[str, str]:
    (config,) = [
        d for n, d in m.by_kind(overlay, "ConfigMap").items() if n.startswith("marcus-config-")
    ]
    return dict(config["data"])


def test_dev_settings_point_at_services_of_the_overlay() -> None:
    """CHROMA_URL, CHROMA_ALT_URL and SMTP_HOST/SMTP_PORT name a Service and port that
    the dev overlay runs, and the production ones leave the namespace (managed services)."""
    services = m.by_kind("dev", "Service")
    data = _shared_config("dev")
    endpoints = [(data["SMTP_HOST"], data["SMTP_PORT"])]
    for key in ("CHROMA_URL", "CHROMA_ALT_URL"):
        chroma = re.fullmatch(r"http://([\w-]+):(\d+)", data[key])
        assert chroma, data[key]
        endpoints.append((chroma.group(1), chroma.group(2)))
    for host, port in endpoints:
        assert host in services, f"no Service {host}"
        assert int(port) in [p["port"] for p in services[host]["spec"]["ports"]], (host, port)
    production = _shared_config("production")
    for key in ("CHROMA_URL", "CHROMA_ALT_URL", "SMTP_HOST"):
        assert production[key] != data[key], f"production {key} still the dev pod"


def test_two_chroma_servers_each_behind_its_own_service() -> None:
    """ADR 0035: the indexer and the assistant read one ConfigMap, so they name the same
    alternate server, a Service other than CHROMA_URL's. Each Chroma Service selects its
    own StatefulSet's pod only (they share app.kubernetes.io/name: chroma, which the
    network policies select), and no StatefulSet's selector matches the other's pod."""
    data = _shared_config("dev")
    hosts = [
        re.sub(r"^http://([\w-]+):\d+$", r"\1", data[k]) for k in ("CHROMA_URL", "CHROMA_ALT_URL")
    ]
    assert sorted(hosts) == sorted(CHROMA_SERVERS), hosts
    services = m.by_kind("dev", "Service")
    stateful = m.by_kind("dev", "StatefulSet")
    pods = {
        name: stateful[name]["spec"]["template"]["metadata"]["labels"] for name in CHROMA_SERVERS
    }
    for name in CHROMA_SERVERS:
        assert pods[name]["app.kubernetes.io/name"] == "chroma", name
        service = {"matchLabels": services[name]["spec"]["selector"]}
        selector = stateful[name]["spec"]["selector"]
        for other, labels in pods.items():
            assert _matches(service, labels) is (other == name), f"Service {name} -> {other}"
            assert _matches(selector, labels) is (other == name), f"StatefulSet {name} -> {other}"
    for overlay in m.OVERLAYS:
        deployments = m.by_kind(overlay, "Deployment")
        for name in ("indexer", "assistant"):
            (container,) = m.containers(deployments[name])
            refs = [e["configMapRef"]["name"] for e in container.get("envFrom", [])]
            assert any(r.startswith("marcus-config-") for r in refs), f"{overlay} {name}"
            assert not {"CHROMA_URL", "CHROMA_ALT_URL"} & set(m.env_of(container)), name


def test_production_reaches_both_managed_chroma_servers() -> None:
    """CHROMA_URL and CHROMA_ALT_URL are two servers of the Chroma namespace, and to-chroma
    lets the indexer and the assistant reach that namespace's Chroma pods."""
    data = _shared_config("production")
    namespaces = set()
    hosts = set()
    for key in ("CHROMA_URL", "CHROMA_ALT_URL"):
        match = re.fullmatch(r"http://([\w-]+)\.([\w-]+)\.svc\.cluster\.local:(\d+)", data[key])
        assert match, data[key]
        hosts.add(match.group(1))
        namespaces.add(match.group(2))
        port = int(match.group(3))
    assert len(hosts) == 2 and len(namespaces) == 1, data
    (egress,) = m.by_kind("production", "NetworkPolicy")["to-chroma"]["spec"]["egress"]
    assert {p["port"] for p in egress["ports"]} == {port}
    (peer,) = egress["to"]
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": namespaces.pop()
    }
    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "chroma"}
