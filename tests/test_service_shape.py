"""Every service has the same shape, so a reader who knows one knows them all.

    services/<name>/src/<name>/
        api/          HTTP routes (FastAPI routers)
        domain.py     aggregates and rules, no I/O
        handlers.py   command handlers: a command and a unit of work
        consumer.py   event handlers: `@handles(Event)` functions `on_<event>`, and
                      `build_consumer(settings, app)`
        storage/      tables, repositories, queries
        settings.py   pydantic-settings, on the shared `ServiceSettings`
        main.py       the composition root: `create_app()`

Other modules may stand beside these. A service that departs names the ADR that says
why (`DEPARTURES`). Read from the source text (no service is imported), except for the
registrations, which are read from the modules as the runtime reads them.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES = sorted(path.name for path in (ROOT / "services").iterdir() if (path / "src").is_dir())
PACKAGES = ("api", "storage")
MODULES = ("domain.py", "handlers.py", "consumer.py", "settings.py", "main.py")

DEPARTURES = {
    "storefront": "docs/adr/0026-storefront-departs-from-the-service-shape.md",
}
"""Services without events or a database of their own, and the ADR that says why."""


def package(service: str) -> Path:
    return ROOT / "services" / service / "src" / service


def source_files(service: str) -> list[Path]:
    return [path for path in package(service).rglob("*.py") if "migrations" not in path.parts]


def test_every_service_is_listed() -> None:
    assert {"catalog", "orders", "assistant", "indexer", "scheduler", "notifier"} <= set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_has_the_shape(service: str) -> None:
    if service in DEPARTURES:
        assert (ROOT / DEPARTURES[service]).is_file(), f"{service}: its ADR is missing"
        return
    root = package(service)
    missing = [name for name in PACKAGES if not (root / name / "__init__.py").is_file()]
    missing += [name for name in MODULES if not (root / name).is_file()]
    assert not missing, f"{service} lacks {', '.join(missing)}"


@pytest.mark.parametrize("service", [s for s in SERVICES if s not in DEPARTURES])
def test_build_consumer_has_the_same_signature_everywhere(service: str) -> None:
    tree = ast.parse((package(service) / "consumer.py").read_text())
    functions = {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    build = functions.get("build_consumer")
    assert build is not None, f"{service}.consumer has no build_consumer"
    assert [arg.arg for arg in build.args.args] == ["settings", "app"], service
    assert not build.args.kwonlyargs and build.args.vararg is None, service


@pytest.mark.parametrize("service", [s for s in SERVICES if s not in DEPARTURES])
def test_event_handlers_are_registered_in_consumer_py_only(service: str) -> None:
    """One place to look: no closure registered with `consumer.handler(...)`, and no
    `@handles` outside consumer.py."""
    for path in source_files(service):
        text = path.read_text()
        where = path.relative_to(ROOT)
        assert not re.search(r"\.handler\(", text), f"{where}: use @handles in consumer.py"
        if path.name != "consumer.py":
            assert "@handles(" not in text, f"{where}: event handlers live in consumer.py"


@pytest.mark.parametrize("service", [s for s in SERVICES if s not in DEPARTURES])
def test_handlers_are_named_after_their_events(service: str) -> None:
    from marcus_messaging import registered

    module = importlib.import_module(f"{service}.consumer")
    handlers = registered(module)
    assert handlers, f"{service}.consumer registers no @handles function"
    misnamed = sorted(
        {fn.__name__ for fn in handlers.values() if not fn.__name__.startswith("on_")}
    )
    assert not misnamed, f"{service}: event handlers are named on_<event>: {misnamed}"


@pytest.mark.parametrize("service", SERVICES)
def test_services_use_the_unversioned_event_names(service: str) -> None:
    """`OrderPlaced`, not `OrderPlacedV2`: one grep finds the producer and every consumer;
    old versions (`marcus_contracts.events.history`) are the registry's business."""
    versioned = re.compile(r"\b(?:[A-Z][a-z]+)+V\d+\b")
    found = [
        f"{path.relative_to(ROOT)}: {match}"
        for path in source_files(service)
        for match in versioned.findall(path.read_text())
    ]
    assert not found, found


@pytest.mark.parametrize("service", SERVICES)
def test_command_contexts_come_from_their_cause(service: str) -> None:
    """`CommandContext.from_request(request)` or `.caused_by(envelope)`: one correlation
    rule, never built by hand."""
    found = []
    for path in source_files(service):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "CommandContext"
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, found
