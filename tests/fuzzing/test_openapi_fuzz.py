"""Schemathesis against every service's OpenAPI document, over real HTTP to the service
processes (authenticated as an admin so requests get past 401), and against the merged
document through the nginx gateway.

Every response must be no 5xx, carry a status code, content type, headers and body the
document declares, and invalid input (schemathesis' negative mode) must be refused with
a 4xx. Examples are derandomized and their number fixed (`FUZZ_EXAMPLES`, default 20 per
operation; an eighth of that through the gateway, where the same code answers), so a run
is reproducible.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from marcus_web.auth import mint_token
from scripts.api_docs import NOT_ROUTED, merge_openapi, service_openapi
from tests.fuzzing.stack import SECRET, SERVICES, FuzzStack

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
GATEWAY_EXAMPLES = max(1, EXAMPLES // 8)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
DOCUMENTS: dict[str, dict[str, Any]] = {name: service_openapi(name) for name in SERVICES}
ADMIN_TOKEN = mint_token("fuzz-admin", ["admin"], secret=SECRET, ttl_seconds=86_400)
CONFIG = {
    # Every request is an admin's, so it gets past 401/403 to the route itself.
    "auth": {"openapi": {"HTTPBearer": {"bearer": ADMIN_TOKEN}}},
    # Unknown query parameters are ignored by design (HTTP clients and proxies add them),
    # so schemathesis must not count them as invalid input that should be refused.
    "generation": {"allow-extra-parameters": False},
}


def _schema(document: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_dict(document, config=schemathesis.Config.from_dict(CONFIG))


def _reproducible(examples: int) -> Any:
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.target],
        suppress_health_check=list(HealthCheck),
    )


def _routed(document: dict[str, Any]) -> dict[str, Any]:
    """The merged document as the gateway serves it (no per-service probes)."""
    return {
        **document,
        "paths": {p: ops for p, ops in document["paths"].items() if p not in NOT_ROUTED},
    }


catalog = _schema(DOCUMENTS["catalog"])
orders = _schema(DOCUMENTS["orders"])
assistant = _schema(DOCUMENTS["assistant"])
indexer = _schema(DOCUMENTS["indexer"])
scheduler = _schema(DOCUMENTS["scheduler"])
merged = _schema(_routed(merge_openapi(DOCUMENTS)))


def _call(case: schemathesis.Case, base_url: str, stack: FuzzStack) -> None:
    case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=30)


@catalog.parametrize()
@_reproducible(EXAMPLES)
def test_catalog(case: schemathesis.Case, stack: FuzzStack) -> None:
    _call(case, stack.urls["catalog"], stack)


@orders.parametrize()
@_reproducible(EXAMPLES)
def test_orders(case: schemathesis.Case, stack: FuzzStack) -> None:
    _call(case, stack.urls["orders"], stack)


@assistant.parametrize()
@_reproducible(EXAMPLES)
def test_assistant(case: schemathesis.Case, stack: FuzzStack) -> None:
    _call(case, stack.urls["assistant"], stack)


@indexer.parametrize()
@_reproducible(EXAMPLES)
def test_indexer(case: schemathesis.Case, stack: FuzzStack) -> None:
    _call(case, stack.urls["indexer"], stack)


@scheduler.parametrize()
@_reproducible(EXAMPLES)
def test_scheduler(case: schemathesis.Case, stack: FuzzStack) -> None:
    _call(case, stack.urls["scheduler"], stack)


@merged.parametrize()
@_reproducible(GATEWAY_EXAMPLES)
def test_through_the_gateway(case: schemathesis.Case, gateway: str, stack: FuzzStack) -> None:
    _call(case, gateway, stack)


def test_the_fuzzed_documents_are_the_ones_served(stack: FuzzStack) -> None:
    """What is fuzzed is what each process serves at /openapi.json."""
    import httpx

    for name, url in stack.urls.items():
        assert httpx.get(f"{url}/openapi.json", timeout=10).json() == DOCUMENTS[name]
