"""The operations console (`/ops`, admin only): the services and their readiness, every
consumer group's lag and pending entries (refreshed every 2 s), the dead letters with a
Replay button, the active search index and its rebuilds, the next scheduled jobs, and
the recent e-mails.

Like every page, built from the public API through the gateway as the signed-in admin:
each service's operations API (`/api/v1/admin/<service>/`), the indexer's and the
scheduler's admin APIs, the notifier's e-mails. A service that does not answer is shown
as such; its group's lag is still shown, as the owner of the stream it reads reports it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse

from storefront.client import ApiError, ApiUnavailable, PublicApi
from storefront.pages import TEMPLATES, is_htmx, render, signed_in_api
from storefront.session import check_csrf, require_admin

router = APIRouter(tags=["ops"], dependencies=[Depends(require_admin)])

SERVICES = ("catalog", "orders", "assistant", "indexer", "scheduler", "notifier")
"""The services with a consumer group, each serving `/api/v1/admin/<service>/`."""
CALL_TIMEOUT_S = 4.0
"""A console refreshing every 2 s must not hang on one service that stopped answering."""
ENTRY_ID = r"^\d{1,19}-\d{1,19}$"
T = TypeVar("T")


def _when(value: Any) -> str:
    """An API timestamp as `2026-12-07 05:30:12` (UTC), or an em dash."""
    if not value:
        return "—"
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _age(ms: Any) -> str:
    """Milliseconds as `850 ms`, `12 s`, `3 min`, `2 h`."""
    if ms is None:
        return "—"
    value = int(ms)
    if value < 1000:
        return f"{value} ms"
    for unit, size in (("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if value >= size:
            return f"{value // size} {unit}"
    return f"{value} ms"


TEMPLATES.env.filters["ops_when"] = _when
TEMPLATES.env.filters["ops_age"] = _age


@dataclass
class Answer:
    """One API call's result, or why there is none (shown in words on the page)."""

    data: Any = None
    error: str | None = None


@dataclass
class GroupRow:
    stream: str
    group: str
    lag: int
    pending: int
    oldest_pending_age_ms: int | None
    replicas: list[dict[str, Any]]
    reported_by: str
    """The group's own service, or the stream's owner when the group's API is down."""
    exists: bool = True


@dataclass
class Console:
    health: dict[str, Answer] = field(default_factory=dict)
    consumers: dict[str, Answer] = field(default_factory=dict)

    def groups(self) -> list[GroupRow]:
        """Every (stream, group): from the group's own service when it answers, else
        from the stream's owner (which still sees a stopped consumer's lag)."""
        rows: dict[tuple[str, str], GroupRow] = {}
        for owner, answer in self.consumers.items():
            for reader in (answer.data or {}).get("readers", []):
                rows[(reader["stream"], reader["group"])] = _row(reader, owner)
        for service, answer in self.consumers.items():
            for own in (answer.data or {}).get("streams", []):
                rows[(own["stream"], own["group"])] = _row(own, service)
        return sorted(rows.values(), key=lambda r: (r.group, r.stream))


def _row(report: dict[str, Any], reported_by: str) -> GroupRow:
    return GroupRow(
        stream=report["stream"],
        group=report["group"],
        lag=int(report["lag"]),
        pending=int(report["pending"]),
        oldest_pending_age_ms=report.get("oldest_pending_age_ms"),
        replicas=list(report.get("consumers", [])),
        reported_by=reported_by,
        exists=bool(report.get("exists", True)),
    )


async def _call(call: Awaitable[T]) -> Answer:
    try:
        return Answer(data=await call)
    except ApiUnavailable as exc:
        return Answer(error=f"not answering ({exc.detail})")
    except ApiError as exc:
        return Answer(error=f"{exc.status} {exc.title}: {exc.detail}")


def _get(api: PublicApi, path: str, **params: Any) -> Awaitable[Any]:
    return api.request("GET", path, params=params, read_timeout_s=CALL_TIMEOUT_S)


async def _per_service(api: PublicApi, what: str, **params: Any) -> dict[str, Answer]:
    answers = await asyncio.gather(
        *(_call(_get(api, f"/api/v1/admin/{s}/{what}", **params)) for s in SERVICES)
    )
    return dict(zip(SERVICES, answers, strict=True))


async def _groups_context(api: PublicApi) -> dict[str, Any]:
    health, consumers = await asyncio.gather(
        _per_service(api, "health"), _per_service(api, "consumers")
    )
    console = Console(health=health, consumers=consumers)
    return {"console": console, "groups": console.groups(), "services": SERVICES}


async def _dead_letters_context(api: PublicApi) -> dict[str, Any]:
    return {"dead_letters": await _per_service(api, "dead-letters", limit=20)}


@router.get("/ops", response_class=HTMLResponse)
async def console(request: Request, api: PublicApi = Depends(signed_in_api)) -> HTMLResponse:
    return await _console_page(request, api)


async def _console_page(
    request: Request, api: PublicApi, replayed: dict[str, Any] | None = None
) -> HTMLResponse:
    groups, letters, index, rebuilds, jobs, emails = await asyncio.gather(
        _groups_context(api),
        _dead_letters_context(api),
        _call(_get(api, "/api/v1/admin/index")),
        _call(_get(api, "/api/v1/admin/index/rebuilds", limit=10)),
        _call(_get(api, "/api/v1/admin/jobs")),
        _call(_get(api, "/api/v1/admin/notifier/emails", limit=20)),
    )
    settings = request.app.state.settings
    context = {
        **groups,
        **letters,
        "index": index,
        "rebuilds": rebuilds,
        "jobs": _next_jobs(jobs),
        "emails": emails,
        "replayed": replayed,
        "development": settings.deployment == "development",
        "nav": "ops",
    }
    return await render(request, "ops/page.html", context)


@router.get("/ops/groups", response_class=HTMLResponse)
async def groups_fragment(
    request: Request, api: PublicApi = Depends(signed_in_api)
) -> HTMLResponse:
    """The services and consumer-group tables (polled every 2 s)."""
    return await render(request, "ops/groups.html", await _groups_context(api))


@router.get("/ops/dead-letters", response_class=HTMLResponse)
async def dead_letters_fragment(
    request: Request, api: PublicApi = Depends(signed_in_api)
) -> HTMLResponse:
    """The dead letters (polled, and refreshed after a replay)."""
    return await render(request, "ops/dead_letters.html", await _dead_letters_context(api))


@router.post(
    "/ops/dead-letters/{service}/{entry_id}/replay",
    response_class=HTMLResponse,
    dependencies=[Depends(check_csrf)],
)
async def replay(
    request: Request,
    service: str = Path(pattern=f"^({'|'.join(SERVICES)})$"),
    entry_id: str = Path(pattern=ENTRY_ID, max_length=39),
    api: PublicApi = Depends(signed_in_api),
) -> HTMLResponse:
    """Replays one letter into its group; the outcome is announced (htmx: into the
    page's live region, and the dead letters are reloaded; a plain form: the page)."""
    path = f"/api/v1/admin/{service}/dead-letters/{entry_id}/replay"
    outcome = await _call(api.post(path, read_timeout_s=30.0))
    result = {"service": service, "entry_id": entry_id, "answer": outcome}
    if is_htmx(request):
        return await render(
            request, "ops/replay_result.html", result, headers={"HX-Trigger": "dead-letters"}
        )
    return await _console_page(request, api, replayed=result)


def _next_jobs(answer: Answer) -> Answer:
    """The scheduler's jobs, soonest next run first (housekeeping on an interval last)."""
    if answer.data is None:
        return answer
    items = list(answer.data.get("items", []))
    items.sort(key=lambda job: (job.get("next_run_at") is None, job.get("next_run_at") or ""))
    return Answer(data={**answer.data, "items": items})


def stream_label(stream: str) -> str:
    """`browser-1a2b:events.orders` -> `events.orders` (the prefix is the deployment's)."""
    return re.sub(r"^.*?(?=(events|dlq)\.)", "", stream)


TEMPLATES.env.filters["ops_stream"] = stream_label
