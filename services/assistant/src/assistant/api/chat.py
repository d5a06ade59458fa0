"""Chat routes: sessions (owner only) and messages, answered as JSON or as Server-Sent
Events when the client asks with `Accept: text/event-stream`.

The stream: `start` (ids), then `delta` (the model's text, released a checked sentence
at a time: chat.grounding), `tool` (an offered tool the model used), `reset` (the text
so far is void: the model failed, or grounding left nothing, and a search-only answer
follows), `action` (a proposed action, e.g. a checkout the customer may confirm: also
in `done`'s `actions`), and last `done` (the stored reply, with its cited products and its
`grounding` mark) or `error` (it could not be stored). A client that disconnects ends
its listening, never the write: the turn records what was written as an interrupted
reply (chat.turns).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import StreamingResponse

from assistant import handlers
from assistant.api.dependencies import UnitOfWork, bearer_token
from assistant.api.schemas import (
    ChatReply,
    CitedProductOut,
    MessageOut,
    NewMessage,
    NewSession,
    SessionOut,
)
from assistant.chat.agent import TextDelta, ToolUsed
from assistant.chat.turns import ChatService, Done, Failed, Reset, Turn
from assistant.settings import AssistantSettings
from assistant.storage import actions as actions_store
from assistant.storage import queries
from assistant.storage.queries import StoredMessage
from marcus_eventstore import NotFound
from marcus_web.auth import Customer
from marcus_web.problems import Problem

router = APIRouter(prefix="/api/v1/chat", tags=["chat"])

EVENT_STREAM = "text/event-stream"
KEEPALIVE_S = 15.0


def _chat(request: Request) -> ChatService:
    service: ChatService = request.app.state.chat
    return service


def message_out(message: StoredMessage) -> MessageOut:
    return MessageOut(
        id=str(message.id),
        role="user" if message.role == "user" else "assistant",
        content=message.content,
        status="interrupted" if message.status == "interrupted" else "complete",
        degraded=message.degraded_reason is not None,
        degraded_reason=message.degraded_reason,
        grounding=message.grounding if message.grounding in ("corrected", "replaced") else None,
        cited_products=[CitedProductOut(**product) for product in message.cited_products],
        tools_called=message.tools_called,
        reply_to=None if message.reply_to is None else str(message.reply_to),
        created_at=message.created_at,
    )


def _invalid(field: str, msg: str, kind: str) -> Problem:
    return Problem(
        422,
        "Unprocessable Content",
        "The request is not valid; see `errors` for each field.",
        errors=[{"loc": ["body", field], "msg": msg, "type": kind}],
    )


@router.post("/sessions", status_code=201, response_model=SessionOut, summary="Start a chat")
async def start_session(
    request: Request,
    response: Response,
    customer: Customer,
    uow: UnitOfWork,
    body: Annotated[NewSession | None, Body()] = None,
) -> SessionOut:
    command = handlers.StartSession(customer.subject, (body or NewSession()).title)
    session_id = await handlers.start_session(command, uow)
    response.headers["Location"] = f"/api/v1/chat/sessions/{session_id}"
    return await _session_out(request, session_id, customer.subject)


async def _session_out(request: Request, session_id: UUID, customer: str) -> SessionOut:
    async with request.app.state.sessions() as db:
        view = await queries.session_view(db, session_id)
        actions = [] if view is None else await actions_store.of_session(db, session_id)
    if view is None or view.customer != customer:
        raise NotFound(f"chat session {session_id} not found")
    return SessionOut(
        id=str(view.id),
        title=view.title,
        created_at=view.created_at,
        updated_at=view.updated_at,
        messages=[message_out(m) for m in view.messages],
        actions=actions,
    )


@router.get(
    "/sessions/{session_id}",
    response_model=SessionOut,
    summary="A chat session with its messages (its owner only)",
)
async def get_session(request: Request, session_id: UUID, customer: Customer) -> SessionOut:
    return await _session_out(request, session_id, customer.subject)


@router.post(
    "/sessions/{session_id}/messages",
    response_model=ChatReply,
    summary="Send a message; the reply comes as JSON, or as Server-Sent Events",
    responses={200: {"content": {EVENT_STREAM: {}}}},
)
async def post_message(
    request: Request, session_id: UUID, body: NewMessage, customer: Customer, uow: UnitOfWork
) -> Any:
    settings: AssistantSettings = request.app.state.settings
    content = body.content.strip()
    if not content:
        raise _invalid("content", "must not be blank", "blank")
    if len(content) > settings.chat_max_message_chars:
        raise _invalid(
            "content",
            f"at most {settings.chat_max_message_chars} characters (this one has {len(content)})",
            "string_too_long",
        )
    command = handlers.ReceiveMessage(
        session_id, customer.subject, content, settings.chat_max_messages_per_session
    )
    question_id = await handlers.receive_message(command, uow)
    async with request.app.state.sessions() as db:
        stored = await queries.session_messages(db, session_id)
    history = [m for m in stored if m.id != question_id]
    question = next(m for m in stored if m.id == question_id)
    turn = _chat(request).start(
        session_id=session_id,
        customer=customer.subject,
        question_id=question_id,
        question=content,
        history=history,
        stream=EVENT_STREAM in request.headers.get("accept", ""),
        token=bearer_token(request),
    )
    if turn.stream:
        return StreamingResponse(
            _event_stream(turn, question),
            media_type=EVENT_STREAM,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    outcome = await turn.result()
    if isinstance(outcome, Failed):
        raise Problem(
            503,
            "Service Unavailable",
            "Your message was stored but the reply could not be; send it again shortly.",
            headers={"Retry-After": "2"},
        )
    return ChatReply(
        session_id=str(session_id),
        question=message_out(question),
        reply=message_out(outcome.reply).model_copy(update={"actions": turn.evidence.actions}),
    )


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


async def _event_stream(turn: Turn, question: StoredMessage) -> AsyncIterator[str]:
    """The turn's events as SSE. Starlette cancels this generator when the client
    disconnects; its `finally` then tells the turn that its listener is gone."""
    announced = 0
    try:
        yield sse(
            "start",
            {
                "session_id": str(turn.session_id),
                "question": message_out(question).model_dump(mode="json"),
            },
        )
        while True:
            try:
                event = await asyncio.wait_for(turn.next_event(), KEEPALIVE_S)
            except TimeoutError:
                yield ": keep-alive\n\n"  # a comment: keeps proxies from timing out
                continue
            if isinstance(event, TextDelta):
                yield sse("delta", {"text": event.text})
            elif isinstance(event, ToolUsed):
                yield sse("tool", {"name": event.name, "outcome": event.outcome})
                for action in turn.evidence.actions[announced:]:
                    yield sse("action", action.model_dump(mode="json"))
                announced = len(turn.evidence.actions)
            elif isinstance(event, Reset):
                yield sse("reset", {"degraded_reason": event.reason, "grounding": event.grounding})
            elif isinstance(event, Done):
                reply = message_out(event.reply)
                reply.actions = turn.evidence.actions
                yield sse("done", reply.model_dump(mode="json"))
                return
            elif isinstance(event, Failed):
                yield sse(
                    "error",
                    {
                        "type": "about:blank",
                        "title": "Service Unavailable",
                        "status": 503,
                        "detail": "Your message was stored but the reply could not be; "
                        "send it again shortly.",
                    },
                )
                return
    finally:
        turn.listener_gone()
