"""Consistency tokens: read-your-writes for GETs served from a replica's read cache.

A write answers with the position of the last event it committed, in the
`Marcus-Consistency-Token` header and in a cookie (browsers send it back by themselves).
A GET that carries it (header first, else the cookie) is served from the cache only if
that replica has applied every event up to that position; otherwise it reads PostgreSQL.

A token above every committed event was not returned by any write: it would make every
read bypass the cache (issue 19, finding 12). A token above the highest position this
replica knows committed is checked against the event table (one index probe) and refused
with 400 if it is from the future; a real token from another replica's write, which this
replica's follower has not applied yet, passes and reads PostgreSQL until it has.
"""

from __future__ import annotations

from fastapi import Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Scope

from catalog.storage.read_cache import ReadCache
from marcus_contracts import Envelope
from marcus_web.problems import Problem

HEADER = "Marcus-Consistency-Token"
COOKIE = "marcus_consistency_token"
COOKIE_MAX_AGE = 300
"""Seconds: far longer than a follower takes to apply a write, short enough to expire."""

_HEADER_RAW = HEADER.lower().encode()
_COOKIE_RAW = COOKIE.encode() + b"="
_MAX_DIGITS = 19


def _parse(raw: bytes, where: str) -> int:
    if not raw.isdigit() or len(raw) > _MAX_DIGITS:
        raise Problem(
            400, "Bad Request", f"The {where} {HEADER} must be a token a write returned, e.g. 42."
        )
    return int(raw)


def _cookie(raw: bytes) -> bytes | None:
    for part in raw.split(b";"):
        part = part.strip()
        if part.startswith(_COOKIE_RAW):
            return part[len(_COOKIE_RAW) :]
    return None


def token_of(scope: Scope) -> int | None:
    """The request's token, or None; 400 if it is not one a write returned."""
    cookie: bytes | None = None
    for name, value in scope["headers"]:
        if name == _HEADER_RAW:
            return _parse(value.strip(), "header")
        if name == b"cookie" and cookie is None:
            cookie = _cookie(value)
    return None if cookie is None else _parse(cookie, "cookie")


def lenient(scope: Scope) -> int | None:
    """The request's token for a route that never refused one (the product list): a
    malformed token counts as one no replica has applied, so it reads PostgreSQL."""
    try:
        return token_of(scope)
    except Problem:
        return UNAPPLIED


UNAPPLIED = 2**63
"""Above every position: `ReadCache.usable` is false for it."""


async def refuse_from_the_future(
    token: int, cache: ReadCache, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """400 unless `token` is at or below a committed event's position."""
    if token <= cache.committed_position:
        return
    async with sessions() as session:
        newest = await session.execute(
            text("SELECT coalesce(max(position), 0) FROM catalog.events")
        )
        cache.saw_committed(int(newest.scalar_one()))
    if token > cache.committed_position:
        raise Problem(
            400,
            "Bad Request",
            f"The {HEADER} {token} is ahead of every committed write: send the token a write"
            f" returned (the latest is at most {cache.committed_position}).",
        )


def committed(
    response: Response, cache: ReadCache | None, position: int, envelopes: list[Envelope]
) -> None:
    """After a write committed: evict its subjects here (no wait for the follower) and
    hand the client its token."""
    if cache is not None:
        cache.evict_changes((envelope.subject, envelope.type) for envelope in envelopes)
        cache.saw_committed(position)
    response.headers[HEADER] = str(position)
    response.set_cookie(
        COOKIE, str(position), max_age=COOKIE_MAX_AGE, path="/", httponly=True, samesite="lax"
    )
