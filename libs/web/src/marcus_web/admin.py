"""The operations API every consuming service serves, written once (ADR 0017):

    GET    /api/v1/admin/<service>/consumers                      lag, pending, consumers
    GET    /api/v1/admin/<service>/dead-letters?limit=&after=     the DLQ, oldest first
    POST   /api/v1/admin/<service>/dead-letters/{entry_id}/replay into this group only
    DELETE /api/v1/admin/<service>/dead-letters/{entry_id}        discard (logged)
    GET    /api/v1/admin/<service>/health                         the readiness checks

Admin only. `create_service_app` mounts it for every service that has a consumer group
(`ownership.CONSUMES`): the gateway routes `/api/v1/admin/<service>/` to the service,
so the operations console reads every group through the public API. Inspection uses
the service's own Redis user (reads its group may make); a replay needs the service's
consumer running in the answering process (`marcus_messaging.running_consumer`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any

import redis.asyncio as aioredis
from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from marcus_contracts import StreamNames
from marcus_messaging import (
    ENTRY_ID,
    DeadLetterNotFound,
    GroupReport,
    ParkedLetter,
    ReplayInProgress,
    ReplayUnavailable,
    discard_dead_letter,
    group_report,
    list_dead_letters,
    readers_of,
    running_consumer,
    stream_length,
)
from marcus_web.auth import Admin
from marcus_web.observability import Check, run_checks
from marcus_web.problems import Problem

ENTRY_PATTERN = ENTRY_ID.pattern
RETRY_AFTER = {"Retry-After": "2"}


class ConsumerOut(BaseModel):
    name: str = Field(description="a replica of the group (host-pid)")
    pending: int
    idle_ms: int = Field(description="since the replica's last read")


class StreamGroupOut(BaseModel):
    stream: str
    group: str
    exists: bool = Field(description="false until the group's consumer first started")
    lag: int = Field(description="entries not yet delivered to the group")
    pending: int = Field(description="delivered, not acknowledged (in hand or retrying)")
    consumers: list[ConsumerOut]
    oldest_pending_id: str | None
    oldest_pending_age_ms: int | None = Field(
        description="how long ago the oldest pending entry was added to the stream"
    )
    oldest_pending_deliveries: int | None


class DeadLetterStreamOut(BaseModel):
    stream: str
    size: int


class ConsumersOut(BaseModel):
    service: str
    group: str
    streams: list[StreamGroupOut]
    readers: list[StreamGroupOut] = Field(
        description="every group reading this service's own stream, as its owner sees "
        "them: a stopped consumer's lag is reported here while its own API is down"
    )
    dead_letters: DeadLetterStreamOut
    replay_available: bool = Field(
        description="the group's consumer runs in the process that answered: replay works"
    )


class DeadLetterOut(BaseModel):
    id: str = Field(description="the entry's id in the dead-letter stream")
    origin_stream: str
    origin_id: str = Field(description="the entry's id in its origin stream")
    event_type: str | None
    event_id: str | None
    subject: str | None
    error: str
    failed_at: datetime
    attempts: int = Field(description="deliveries to the handler, replays included")
    consumer: str = Field(description="the replica that gave up on it")
    replayed_from: str | None = Field(description="the letter a failed replay replaced")


class DeadLetterPage(BaseModel):
    stream: str
    size: int
    entries: list[DeadLetterOut]
    next_after: str | None = Field(description="pass as `after` for the next page")


class ReplayOut(BaseModel):
    entry_id: str
    outcome: str = Field(description="processed | duplicate | unhandled | failed")
    event_type: str | None
    event_id: str | None
    error: str | None = Field(description="why it failed again")
    dead_letter_id: str | None = Field(
        description="where the letter is now (failed again); null when it left the DLQ"
    )


class HealthOut(BaseModel):
    service: str
    status: str = Field(description="ok | unavailable (what /readyz would answer)")
    checks: dict[str, str]


EntryId = Annotated[
    str, Path(pattern=ENTRY_PATTERN, max_length=39, description="a dead-letter entry id")
]


def _dead_letter(letter: ParkedLetter) -> DeadLetterOut:
    envelope = letter.envelope

    def text(name: str) -> str | None:
        value: Any = envelope.get(name)
        return value if isinstance(value, str) else None

    return DeadLetterOut(
        id=letter.id,
        origin_stream=letter.origin_stream,
        origin_id=letter.origin_id,
        event_type=text("type"),
        event_id=text("id"),
        subject=text("subject"),
        error=letter.error,
        failed_at=letter.failed_at,
        attempts=letter.deliveries,
        consumer=letter.consumer,
        replayed_from=letter.replayed_from,
    )


def _group_out(report: GroupReport) -> StreamGroupOut:
    return StreamGroupOut(
        stream=report.stream,
        group=report.group,
        exists=report.exists,
        lag=report.lag,
        pending=report.pending,
        consumers=[ConsumerOut(**vars(c)) for c in report.consumers],
        oldest_pending_id=report.oldest_pending_id,
        oldest_pending_age_ms=report.oldest_pending_age_ms,
        oldest_pending_deliveries=report.oldest_pending_deliveries,
    )


def admin_router(
    service: str, sources: Sequence[str], checks: Mapping[str, Check], names: StreamNames
) -> APIRouter:
    """The routes of `service`, whose group (named like it) reads `sources`' streams."""
    router = APIRouter(prefix=f"/api/v1/admin/{service}", tags=["operations"])
    streams = [names.events(source) for source in sources]
    own = names.events(service)
    dlq = names.dlq(service)

    def redis_of(request: Request) -> aioredis.Redis:
        client: aioredis.Redis = request.app.state.redis
        return client

    @router.get("/consumers", response_model=ConsumersOut, summary="The consumer group")
    async def consumers(request: Request, _: Admin) -> ConsumersOut:
        """Per stream the group reads: lag, pending, the replicas and the oldest pending
        entry; every group reading this service's own stream; and the size of the
        group's dead-letter stream."""
        redis = redis_of(request)
        reports = [await group_report(redis, stream, service) for stream in streams]
        return ConsumersOut(
            service=service,
            group=service,
            streams=[_group_out(r) for r in reports],
            readers=[_group_out(r) for r in await readers_of(redis, own)],
            dead_letters=DeadLetterStreamOut(stream=dlq, size=await stream_length(redis, dlq)),
            replay_available=running_consumer(dlq) is not None,
        )

    @router.get("/dead-letters", response_model=DeadLetterPage, summary="Dead letters")
    async def dead_letters(
        request: Request,
        _: Admin,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        after: Annotated[
            str | None,
            Query(pattern=ENTRY_PATTERN, max_length=39, description="an entry id (exclusive)"),
        ] = None,
    ) -> DeadLetterPage:
        """The group's dead letters, oldest first: where each came from, its event and
        the error of its last delivery."""
        redis = redis_of(request)
        letters = await list_dead_letters(redis, dlq, limit=limit, after=after)
        return DeadLetterPage(
            stream=dlq,
            size=await stream_length(redis, dlq),
            entries=[_dead_letter(letter) for letter in letters],
            next_after=letters[-1].id if len(letters) == limit else None,
        )

    @router.post(
        "/dead-letters/{entry_id}/replay",
        response_model=ReplayOut,
        summary="Replay a dead letter into this group",
        responses={
            404: {"description": "no such dead letter"},
            409: {"description": "a replay of it is running"},
            503: {"description": "PostgreSQL, Redis or the consumer unavailable"},
        },
    )
    async def replay(entry_id: EntryId, _: Admin) -> ReplayOut:
        """Runs the letter's event through this group's handler, exactly once (an event
        already applied is a no-op), and removes it from the DLQ; if the handler fails
        again the letter is back in the DLQ with the new error (`dead_letter_id`)."""
        consumer = running_consumer(dlq)
        if consumer is None:
            raise Problem(
                503,
                "Service Unavailable",
                f"The consumer of group {service} does not run in this process; "
                "retry once it has started.",
                headers=RETRY_AFTER,
            )
        try:
            result = await consumer.replay_dead_letter(entry_id)
        except DeadLetterNotFound:
            raise Problem(
                404, "Not Found", f"No dead letter {entry_id} in {dlq}: replayed or discarded?"
            ) from None
        except ReplayInProgress:
            raise Problem(
                409, "Conflict", f"A replay of dead letter {entry_id} is running; wait for it."
            ) from None
        except ReplayUnavailable as exc:
            raise Problem(
                503, "Service Unavailable", f"Nothing was replayed: {exc}", headers=RETRY_AFTER
            ) from None
        return ReplayOut(
            entry_id=result.letter_id,
            outcome=result.outcome.value,
            event_type=result.event_type,
            event_id=result.event_id,
            error=result.error,
            dead_letter_id=result.dead_letter_id,
        )

    @router.delete(
        "/dead-letters/{entry_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary="Discard a dead letter",
        responses={404: {"description": "no such dead letter"}},
    )
    async def discard(request: Request, entry_id: EntryId, principal: Admin) -> Response:
        """Deletes the letter without handling it (logged with who asked)."""
        if not await discard_dead_letter(redis_of(request), dlq, entry_id, by=principal.subject):
            raise Problem(404, "Not Found", f"No dead letter {entry_id} in {dlq}.")
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/health", response_model=HealthOut, summary="Readiness, through the gateway")
    async def health(_: Admin) -> HealthOut:
        """What `/readyz` checks (not routed by the gateway), as data: answered 200
        whatever the outcome, so a console can show which dependency failed."""
        results = await run_checks(checks)
        ok = all(value == "ok" for value in results.values())
        return HealthOut(service=service, status="ok" if ok else "unavailable", checks=results)

    return router
