"""What the assistant's routes ask FastAPI for beyond `marcus_web.dependencies`: the
assistant's unit of work for a command, and the caller's own bearer token (the acting
tools call the shop's API with it, as the customer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from assistant.storage.uow import AssistantUnitOfWork
from marcus_web.dependencies import unit_of_work

UnitOfWork = Annotated[AssistantUnitOfWork, Depends(unit_of_work(AssistantUnitOfWork))]
"""A unit of work whose events carry the request's context (`CommandContext.from_request`)."""


def bearer_token(request: Request) -> str | None:
    """The caller's own bearer token, as they sent it (verified by `Customer`)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
