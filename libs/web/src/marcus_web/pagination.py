"""Keyset-pagination cursors: one encoding and one answer to a bad cursor for every service.

A cursor is the id of the last row of a page (what it means, "after" or "before", is the
service's business), sent as unpadded base64url so that clients treat it as opaque. A
cursor that is not one the API returned (malformed, truncated, re-encoded) is answered
exactly like any other invalid query parameter: FastAPI's 422 problem document with an
`errors` entry at `["query", "cursor"]`, so a client behind the gateway sees one
behaviour whichever service it pages through.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError

from marcus_web.openapi import problem_response

CURSOR_MAX_LENGTH = 64
"""Longer than any cursor we hand out (22 characters), as the query parameter allows."""

INVALID_CURSOR = "not a cursor this API returned; pass `next_cursor` back unchanged"

CURSOR_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: problem_response(
        422,
        "Unprocessable Content: a parameter is not valid, e.g. a `cursor` this API did not "
        "return (see `errors`)",
    )
}
"""`responses=` for a route that takes a cursor (the 422 is also implied by any query
parameter; this says why a cursor can cause it)."""


class InvalidCursor(ValueError):
    """The text is not a cursor `encode_cursor` produced."""


def encode_cursor(last_id: UUID) -> str:
    """The opaque cursor for a page that ended at `last_id`."""
    return base64.urlsafe_b64encode(last_id.bytes).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> UUID:
    """The id `encode_cursor` was given; anything else (even text that base64 would
    forgive, such as stray characters or other padding) is refused, so a cursor either
    round-trips or is an error."""
    try:
        last_id = UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise InvalidCursor(INVALID_CURSOR) from None
    if encode_cursor(last_id) != cursor:
        raise InvalidCursor(INVALID_CURSOR)
    return last_id


def cursor_error(cursor: str, reason: str = INVALID_CURSOR) -> RequestValidationError:
    """The validation error FastAPI would raise for a bad `cursor` query parameter, so
    the common handler renders it as every other query validation error."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", "cursor"), "msg": reason, "input": cursor}]
    )


async def page_cursor(
    cursor: Annotated[
        str | None,
        Query(
            max_length=CURSOR_MAX_LENGTH,
            description="`next_cursor` of the previous page; omit it for the first page.",
        ),
    ] = None,
) -> UUID | None:
    """FastAPI dependency: the `cursor` query parameter, decoded (None: the first page).
    `async` only so that FastAPI calls it inline: a plain function goes to a thread."""
    if not cursor:  # absent, or empty as some clients send it: the first page
        return None
    try:
        return decode_cursor(cursor)
    except InvalidCursor as exc:
        raise cursor_error(cursor, str(exc)) from None


PageCursor = Annotated[UUID | None, Depends(page_cursor)]
"""A route parameter of this type reads, documents and validates `cursor`."""
