"""The assistant as a chat panel: the reply streams in as the model writes it (the API's
Server-Sent Events, relayed as text and as rendered fragments), cited products appear as
cards, and a proposed checkout appears with a button that confirms it (one order, however
often it is pressed: the assistant performs an action once).

With JavaScript (static/app.js), the message form is sent with `fetch` and the stream read
as it comes; without it, the form posts, waits for the whole reply, and shows the page.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from storefront.client import ApiError, ApiUnavailable, PublicApi
from storefront.forms import form_of, text
from storefront.pages import (
    CustomerApi,
    ShortParam,
    fragment,
    htmx_or_redirect,
    please_check,
    render,
)
from storefront.session import check_csrf

router = APIRouter(tags=["chat"])

MAX_MESSAGE = 4000
"""Longer messages are cut here; the assistant refuses beyond its own limit in words."""


@router.get("/chat", response_class=HTMLResponse)
async def chat_page(request: Request, api: CustomerApi, session: ShortParam = None) -> HTMLResponse:
    if session is None:
        recent = await api.chat_sessions()
        session = recent[0]["id"] if recent else None
    view = await api.chat_session(session) if session else None
    return await render(request, "chat/page.html", {"session": view, "nav": "chat"})


@router.post("/chat/new", dependencies=[Depends(check_csrf)])
async def new_chat(api: CustomerApi) -> Response:
    started = await api.start_chat()
    return RedirectResponse(f"/chat?session={started['id']}", status_code=303)


@router.post("/chat/messages", dependencies=[Depends(check_csrf)])
async def send_message(request: Request, api: CustomerApi) -> Response:
    form = await form_of(request)
    content = text(form, "content", MAX_MESSAGE)
    session_id = text(form, "session_id", 64)
    if not content:
        return await please_check(request, "Write a message first.")
    if not session_id:
        session_id = (await api.start_chat())["id"]
    if "text/event-stream" in request.headers.get("accept", ""):
        return StreamingResponse(
            _relay(request, api, session_id, content),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    await api.chat_reply(session_id, content)
    return RedirectResponse(f"/chat?session={session_id}", status_code=303)


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _relay(
    request: Request, api: PublicApi, session_id: str, content: str
) -> AsyncIterator[str]:
    """The API's events for the page: text as text, products and actions as HTML."""
    yield _sse("start", {"session_id": session_id})
    try:
        async for event, data in api.chat_stream(session_id, content):
            if event == "delta" and isinstance(data, dict):
                yield _sse("delta", {"text": str(data.get("text", ""))})
            elif event == "reset":
                yield _sse("reset", {})
            elif event == "tool" and isinstance(data, dict):
                yield _sse("status", {"text": _tool_words(str(data.get("name", "")))})
            elif event == "action" and isinstance(data, dict):
                html = await fragment(
                    request, "chat/action.html", {"action": data, "session_id": session_id}
                )
                yield _sse("action", {"html": html})
            elif event == "done" and isinstance(data, dict):
                html = await fragment(
                    request, "chat/reply.html", {"message": data, "session_id": session_id}
                )
                yield _sse("done", {"html": html})
            elif event == "error":
                detail = data.get("detail", "") if isinstance(data, dict) else str(data)
                yield _sse("error", {"html": await _alert(request, detail, retry=True)})
    except ApiUnavailable:
        words = "The assistant did not answer. Your message is kept: send it again in a moment."
        yield _sse("error", {"html": await _alert(request, words, retry=True)})
    except ApiError as exc:
        yield _sse("error", {"html": await _alert(request, exc.detail)})


async def _alert(request: Request, detail: str, retry: bool = False) -> str:
    title = "Please try again" if retry else "The assistant could not answer"
    return await fragment(
        request,
        "partials/alert.html",
        {"status": 503 if retry else 400, "title": title, "detail": detail, "retry": False},
    )


def _tool_words(name: str) -> str:
    return {
        "search_products": "Searching the shop…",
        "quote_configuration": "Pricing the configuration…",
        "add_to_cart": "Adding to your cart…",
        "propose_checkout": "Preparing the checkout…",
    }.get(name, "Working…")


@router.post("/chat/{session_id}/actions/{action_id}/confirm", dependencies=[Depends(check_csrf)])
async def confirm_action(
    request: Request, session_id: str, action_id: str, api: CustomerApi
) -> Response:
    confirmed = await api.confirm_action(session_id, action_id)
    order = confirmed.get("order") or {}
    target = f"/orders/{order['id']}" if order.get("id") else f"/chat?session={session_id}"
    context = {"action": confirmed["action"], "order": order, "session_id": session_id}
    return await htmx_or_redirect(request, "chat/action.html", context, target)
