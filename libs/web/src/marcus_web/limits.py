"""What every service refuses before a route runs: bodies over `max_body_bytes` (413) and
text PostgreSQL cannot store (422), each as problem+json.

- Size: the gateway refuses large bodies too, but a service reached directly must not
  buffer an arbitrarily large body. A declared Content-Length over the limit is refused
  before anything is read; a chunked body is counted as it arrives.
- Text: PostgreSQL `text` and `jsonb` cannot hold U+0000, and an unpaired UTF-16
  surrogate (`"\\ud800"` in JSON) is not Unicode at all, so neither can be stored,
  published or indexed. Both are refused wherever they appear (a JSON string or key at
  any depth, the query string, the path) with the location in `errors`, so no route,
  handler or consumer ever sees them. A cheap byte scan finds the candidates; only those
  bodies are parsed a second time. Every body is scanned, whatever its Content-Type says:
  media types are case-insensitive (`application/JSON`, `Application/Json`, `...+JSON` are
  all parsed as JSON by FastAPI), and a body that is not JSON is left to the route.

FastAPI reads a body whole before a route runs anyway, so buffering it here costs
nothing more, and it is replayed to the app unchanged.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marcus_web.problems import PROBLEM_JSON

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# A JSON escape of NUL or of any surrogate (valid pairs too: the parse tells them apart).
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MSG = "text may not contain U+0000 (NUL) or an unpaired UTF-16 surrogate"


def unstorable_locations(value: Any, loc: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Where in a parsed JSON document a string (or key) holds text that cannot be stored."""
    if isinstance(value, str):
        return [loc] if _UNSTORABLE.search(value) else []
    found: list[tuple[str, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if _UNSTORABLE.search(key):
                found.append(loc)
            found.extend(unstorable_locations(item, (*loc, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(unstorable_locations(item, (*loc, str(index))))
    return found


def _query_locations(scope: Scope) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    if "\x00" in unquote(scope.get("raw_path", b"").decode("latin-1")):
        found.append(("path",))
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True, encoding="utf-8"):
        if "\x00" in name or "\x00" in value:
            found.append(("query", name.replace("\x00", "")))
    return found


def body_locations(body: bytes) -> list[tuple[str, ...]]:
    if not _SUSPECT_ESCAPE.search(body):
        return []
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return []  # not JSON: the route's own parsing answers (400 or 422)
    return [("body", *loc) for loc in unstorable_locations(document)]


class InputLimitsMiddleware:
    """Pure ASGI middleware: no body over `limit` bytes and no unstorable text reach a route."""

    def __init__(self, app: ASGIApp, limit: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(scope, send)
            return
        bad = _query_locations(scope)
        if bad:
            await self._unstorable(scope, send, bad)
            return
        if declared in (None, b"0") and b"chunked" not in headers.get(b"transfer-encoding", b""):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        bad = body_locations(body)
        if bad:
            await self._unstorable(scope, send, bad)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        await _problem(
            scope,
            send,
            413,
            "Content Too Large",
            f"The request body is larger than {self.limit} bytes.",
            close=True,
        )

    async def _unstorable(self, scope: Scope, send: Send, where: list[tuple[str, ...]]) -> None:
        errors = [
            {"loc": list(loc), "msg": UNSTORABLE_MSG, "type": "string_unstorable"} for loc in where
        ]
        await _problem(
            scope,
            send,
            422,
            "Unprocessable Content",
            "The request is not valid; see `errors` for each field.",
            errors=errors,
        )


async def _problem(
    scope: Scope,
    send: Send,
    status: int,
    title: str,
    detail: str,
    *,
    close: bool = False,
    **extensions: Any,
) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": scope.get("path", ""),
            **extensions,
        }
    ).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
