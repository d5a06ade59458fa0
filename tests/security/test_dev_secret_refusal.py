"""Safe by default (issue 18, part 5): a service process refuses to serve with the built-in
development JWT secret unless `DEPLOYMENT=development` is said explicitly, and refuses
JWKS without an issuer and an audience. Real `python -m catalog serve` processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port

STARTUP_S = 120.0
"""A process start may take long on a loaded machine."""

CLEARED = ("JWT_SECRET", "DEPLOYMENT", "JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE")


def service_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a catalog process: nothing about auth unless `extra` says so."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env |= {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "RELAY_ENABLED": "false",
        "SAGA_ENABLED": "false",
        "READ_CACHE": "false",
        "LEDGER_PRUNE_INTERVAL_S": "0",
        "IDEMPOTENCY_PRUNE_INTERVAL_S": "0",
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "warning",
    }
    return env | extra


def serve(port: int, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    # cwd: a folder without `.env`, so only the environment configures the process
    return subprocess.Popen(
        [sys.executable, "-m", "catalog", "serve", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def refused(env: dict[str, str], cwd: Path) -> tuple[int, str]:
    proc = serve(free_port(), env, cwd)
    try:
        _, stderr = proc.communicate(timeout=STARTUP_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, stderr


def test_the_dev_secret_without_deployment_development_exits(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    code, stderr = refused(service_env(database_url, redis_url), tmp_path)
    assert code != 0
    assert "catalog refuses to start" in stderr
    assert "JWT_SECRET is the built-in development secret" in stderr
    assert "DEPLOYMENT=development" in stderr


def test_jwks_without_issuer_and_audience_exits(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = service_env(
        database_url,
        redis_url,
        JWKS_URL="https://idp.example/.well-known/jwks.json",
        JWT_ALGORITHMS='["RS256"]',
        JWT_ISSUER="https://idp.example/",
    )
    code, stderr = refused(env, tmp_path)
    assert code != 0
    assert "JWT_AUDIENCE is not" in stderr
    assert "JWT_ISSUER" not in stderr.split("JWKS_URL is set but", 1)[1].split("\n")[0]


def test_the_dev_secret_with_deployment_development_serves(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    proc = serve(port, service_env(database_url, redis_url, DEPLOYMENT="development"), tmp_path)
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            assert proc.poll() is None, f"exited {proc.returncode}: {proc.stderr.read()}"  # type: ignore[union-attr]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the catalog did not answer /healthz"
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


@pytest.mark.parametrize("deployment", ["production", None])
def test_a_strong_secret_serves_in_any_deployment(deployment: str | None) -> None:
    """The same check in-process: a secret of one's own needs no DEPLOYMENT at all."""
    from marcus_web.settings import DEV_JWT_SECRET, ServiceSettings, refusals

    strong = ServiceSettings(deployment=deployment, jwt_secret="s" * 32)
    assert refusals(strong) == []
    assert refusals(ServiceSettings(deployment="development")) == []
    assert refusals(ServiceSettings(deployment=None, jwt_secret=DEV_JWT_SECRET))
