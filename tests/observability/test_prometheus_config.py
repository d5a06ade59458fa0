"""Prometheus in compose scrapes every service, on the port the service listens on."""

from __future__ import annotations

from pathlib import Path

import yaml

from scripts.stack.procfile import parse_procfile, services

ROOT = Path(__file__).resolve().parents[2]


def test_prometheus_scrapes_every_service_and_every_replica() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for process in services(parse_procfile(ROOT / "Procfile")):
        job = jobs[process.name]
        [discovery] = job["dns_sd_configs"]  # DNS: all replicas of a scaled service
        assert discovery["names"] == [process.name] and discovery["type"] == "A"
        assert discovery["port"] == process.port
        assert process.name in compose
    prometheus = compose["prometheus"]
    assert (
        "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro"
        in (prometheus["volumes"])
    )
    assert compose["jaeger"]["healthcheck"]
    tracing = compose["catalog"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert "jaeger:4318" in tracing
