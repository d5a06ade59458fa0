"""A customer's chat sessions: list them (newest first, paginated) and delete one."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from assistant import handlers
from assistant.api.dependencies import UnitOfWork
from assistant.api.schemas import SessionPage, SessionSummaryOut
from assistant.storage import queries
from marcus_web.auth import Customer
from marcus_web.dependencies import ReadSession
from marcus_web.openapi import problems
from marcus_web.pagination import CURSOR_RESPONSES, PageCursor, encode_cursor

router = APIRouter(prefix="/api/v1/chat", tags=["chat"])


@router.get(
    "/sessions",
    response_model=SessionPage,
    summary="Your chat sessions, newest first",
    responses=CURSOR_RESPONSES,
)
async def list_sessions(
    db: ReadSession,
    customer: Customer,
    before: PageCursor,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SessionPage:
    page, next_before = await queries.sessions_of(db, customer.subject, limit, before)
    return SessionPage(
        items=[
            SessionSummaryOut(
                id=str(s.id),
                title=s.title,
                message_count=s.message_count,
                created_at=s.created_at,
                updated_at=s.updated_at,
            )
            for s in page
        ],
        next_cursor=encode_cursor(next_before) if next_before else None,
    )


@router.delete(
    "/sessions/{session_id}",
    status_code=204,
    summary="Delete one of your chat sessions, with its messages",
    responses=problems(404),
)
async def delete_session(session_id: UUID, customer: Customer, uow: UnitOfWork) -> Response:
    await handlers.delete_session(handlers.DeleteSession(session_id, customer.subject), uow)
    return Response(status_code=204)
