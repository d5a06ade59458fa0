"""An honest OpenAPI document: every error a route can answer is declared, as problem+json.

FastAPI documents only the success status and a 422 shaped like its own validation
error, but every service answers errors through `marcus_web.problems`. So the document
is completed here, once, from what the code really does (API fuzzing checks it):

- 422: the problem document with field `errors` (replaces FastAPI's shape);
- 401: the route reads a bearer token; 403: it needs the admin role;
- 404: the route names a resource in its path;
- 400: the route takes a body (not JSON, not UTF-8) or a header (malformed);
- 412: the route takes `If-Match` (the version changed);
- 409: the route writes (a domain `Conflict` with the current state);
- 413: the route takes a body (see `marcus_web.limits`);
- 503 with Retry-After: PostgreSQL, Redis or another dependency is not answering.

A route declares anything else (409, a 202, ...) itself with `responses=problems(...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from marcus_web.auth import admin_principal, optional_principal
from marcus_web.problems import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; extensions (e.g. `errors`) may follow.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}
VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "ValidationProblem",
    "description": "A 422 problem document; `errors` has one entry per invalid field.",
    "allOf": [
        {"$ref": "#/components/schemas/Problem"},
        {
            "type": "object",
            "properties": {
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["loc", "msg", "type"],
                        "properties": {
                            "loc": {"type": "array", "items": {"type": "string"}},
                            "msg": {"type": "string"},
                            "type": {"type": "string"},
                        },
                    },
                }
            },
        },
    ],
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
DESCRIPTIONS = {
    400: "Bad Request: a header or parameter is malformed",
    401: "Unauthorized: no bearer token, or one that is not valid",
    403: "Forbidden: the token lacks the role this needs",
    404: "Not Found",
    409: "Conflict with the resource's current state",
    412: "Precondition Failed: the resource's version changed",
    413: "Content Too Large: the body exceeds the limit",
    422: "Unprocessable Content: the request is not valid (see `errors`, or `detail`)",
    503: "Service Unavailable: a dependency is not answering; nothing changed, retry later",
}


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    """One response object whose body is a problem document."""
    schema = "ValidationProblem" if status == 422 else "Problem"
    response: dict[str, Any] = {
        "description": description or DESCRIPTIONS.get(status, "Error"),
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    if status == 503:
        response["headers"] = {
            "Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}
        }
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return response


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that answers these statuses besides the common ones."""
    return {status: problem_response(status) for status in statuses}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def api_routes(app: FastAPI) -> Iterator[Any]:
    """Every API route as FastAPI documents it: with its router's prefix and dependencies
    (FastAPI >= 0.16x keeps included routers nested; `iter_route_contexts` flattens them)."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    if iterate is None:  # older FastAPI: included routes are copied onto the app
        yield from (route for route in app.routes if isinstance(route, APIRoute))
        return
    for context in iterate(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def common_statuses(route: Any) -> set[int]:
    """The error statuses every route of this shape can answer (see the module doc)."""
    calls = set(_calls(route.dependant))
    statuses = {503}
    if route.dependant.path_params:
        statuses.add(404)
    if optional_principal in calls:
        statuses.add(401)
    if admin_principal in calls:
        statuses.add(403)
    if any(param.alias.lower() == "if-match" for param in route.dependant.header_params):
        statuses.add(412)
    if route.body_field is not None:
        statuses |= {400, 413, 422}
    if route.dependant.header_params:
        statuses |= {400, 422}
    if route.dependant.query_params or route.dependant.path_params:
        statuses.add(422)
    if set(route.methods) & WRITES:
        statuses.add(409)
    return statuses


def honest_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with its error responses completed (cached on the app)."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        servers=app.servers,
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["ValidationProblem"] = VALIDATION_PROBLEM_SCHEMA
    for route in api_routes(app):
        if not route.include_in_schema:
            continue
        for method in route.methods:
            operation = document["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(common_statuses(route)):
                responses.setdefault(str(status), problem_response(status))
            for status, response in responses.items():
                if status.startswith(("4", "5")) and "application/json" in response.get(
                    "content", {}
                ):
                    response["content"] = problem_response(int(status))["content"]
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    app.openapi_schema = document
    return document


def install_honest_openapi(app: FastAPI) -> None:
    app.openapi = lambda: honest_openapi(app)  # type: ignore[method-assign]
