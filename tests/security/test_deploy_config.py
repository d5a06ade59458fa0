"""Issue 18, parts 3 and 5, in the deployment files: compose runs every service and its
migration as its own role and ACL user (after the `ownership` job) and says
DEPLOYMENT=development; Kubernetes never does, and each Deployment reads its database and
Redis URLs from its own Secret (the role's and the ACL user's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from marcus_web import ownership
from tests.deploy import manifests as m

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    return services


def test_compose_runs_each_service_as_its_own_role_and_user(compose: dict[str, Any]) -> None:
    job = compose["ownership"]
    assert job["command"][:4] == ["python", "-m", "marcus_web.ownership", "bootstrap"]
    for service in m.SERVICES:
        migrate = compose["migrate" if service == "catalog" else f"migrate-{service}"]
        assert migrate["depends_on"]["ownership"]["condition"] == "service_completed_successfully"
        env = compose[service]["environment"]
        assert env["DEPLOYMENT"] == "development"
        database = make_url(env["DATABASE_URL"])
        assert database.username == ownership.role_name("marcus", service), service
        assert make_url(migrate["environment"]["DATABASE_URL"]).username == database.username
        user = env["REDIS_URL"].split("://", 1)[1].split(":", 1)[0]
        assert user == ownership.redis_user(service), service
        # the job sets the same passwords the services connect with
        password = f"MARCUS_{service.upper()}_DB_PASSWORD"
        assert password in str(job["environment"][f"DB_PASSWORD_{service.upper()}"])
        assert password in env["DATABASE_URL"]
        redis_password = f"MARCUS_{service.upper()}_REDIS_PASSWORD"
        assert redis_password in str(job["environment"][f"REDIS_PASSWORD_{service.upper()}"])
        assert redis_password in env["REDIS_URL"]


@pytest.mark.parametrize("overlay", m.OVERLAYS)
def test_kubernetes_never_says_development_and_reads_each_services_own_secret(
    overlay: str,
) -> None:
    deployments = m.by_kind(overlay, "Deployment")
    for service in m.SERVICES:
        workload = deployments[service]
        for container in m.containers(workload) + m.containers(workload, init=True):
            env = m.env_of(container)
            assert env["DEPLOYMENT"]["value"] == "production", (overlay, service)
            for name, key in (("DATABASE_URL", "database-url"), ("REDIS_URL", "redis-url")):
                ref = env[name]["valueFrom"]["secretKeyRef"]
                assert (ref["name"], ref["key"]) == (f"marcus-{service}", key), (service, name)
            assert env["JWT_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "marcus-auth"
