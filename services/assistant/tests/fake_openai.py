"""A local OpenAI-compatible chat server for the tests: a real HTTP server (FastAPI on
uvicorn, on a free port) serving `POST /v1/chat/completions`, plain and `stream=true`
(SSE chunks in OpenAI's format, tool calls included), from a script per test.

Each request takes the next step of the script: a `Reply` (text and/or tool calls), or a
function of the request that returns one (so a scripted "model" can answer with what a
tool really returned), optionally after a pause, with a delay between streamed chunks,
failing with an HTTP status, or breaking the connection mid-stream. Every request is
recorded (body and headers), so tests assert on what the assistant sent: the tools it
offered, the tool results, the history. Pauses and held streams end early when the
client goes away, which is recorded too (`abandoned`): proof that the assistant stopped
waiting.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tests.support.servers import serve_app


@dataclass
class Reply:
    content: str = ""
    tool_calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)
    """(name, arguments): a dict is sent as JSON, a str as it is (invalid JSON too)."""
    chunks: list[str] | None = None
    """How `content` is streamed (default: word by word)."""
    pause: float = 0.0
    """Seconds before answering (ends early if the client goes away)."""
    chunk_delay: float = 0.0
    status: int = 200
    break_after_chunks: int | None = None
    """Stream this many content chunks, then drop the connection."""
    hold_after_chunks: int | None = None
    """Stream this many content chunks, then keep the stream open without sending more
    until the client goes away (or `hold_s` passes): a reply that is provably still
    being written when a test acts on it, whatever the machine's load."""
    hold_s: float = 300.0


Step = Reply | Callable[["Recorded"], Reply]


@dataclass
class Recorded:
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def tool_names(self) -> list[str]:
        return [tool["function"]["name"] for tool in self.body.get("tools", [])]

    def tool(self, name: str) -> dict[str, Any]:
        return next(
            t["function"] for t in self.body.get("tools", []) if t["function"]["name"] == name
        )

    def tool_results(self) -> list[dict[str, Any]]:
        """The JSON of every tool message in the request, in order."""
        return [json.loads(m["content"]) for m in self.messages if m["role"] == "tool"]

    @property
    def system(self) -> str:
        return next(m["content"] for m in self.messages if m["role"] == "system")

    @property
    def text(self) -> str:
        """Everything the request carried, as text (for 'never sent X' assertions)."""
        return json.dumps(self.body)


class FakeOpenAI:
    def __init__(self) -> None:
        self.script: deque[Step] = deque()
        self.requests: list[Recorded] = []
        self.abandoned = 0
        """Requests whose client went away before the answer was complete."""
        self.completed = 0
        self.url = ""
        self.app = self._build()

    def then(self, *steps: Step) -> FakeOpenAI:
        self.script.extend(steps)
        return self

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> Response:
            body = await request.json()
            recorded = Recorded(body, dict(request.headers))
            self.requests.append(recorded)
            if not self.script:
                return JSONResponse({"error": {"message": "script exhausted"}}, status_code=500)
            step = self.script.popleft()
            reply = step(recorded) if callable(step) else step
            if reply.pause and not await self._pause(request, reply.pause):
                self.abandoned += 1
                return Response(status_code=499)
            if reply.status != 200:
                self.completed += 1
                return JSONResponse(
                    {"error": {"message": f"scripted failure {reply.status}", "type": "server"}},
                    status_code=reply.status,
                )
            if body.get("stream"):
                return StreamingResponse(self._chunks(body, reply), media_type="text/event-stream")
            self.completed += 1
            return JSONResponse(_completion(body, reply))

        return app

    async def _pause(self, request: Request, seconds: float) -> bool:
        """False if the client went away during the pause."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if await request.is_disconnected():
                return False
            await asyncio.sleep(0.05)
        return True

    async def _chunks(self, body: dict[str, Any], reply: Reply) -> AsyncIterator[str]:
        finished = False
        try:
            yield _sse(_chunk(body, {"role": "assistant", "content": ""}))
            pieces = reply.chunks if reply.chunks is not None else _words(reply.content)
            for number, piece in enumerate(pieces):
                if reply.break_after_chunks is not None and number >= reply.break_after_chunks:
                    raise ConnectionAbortedError("scripted break")
                if number == reply.hold_after_chunks:
                    await asyncio.sleep(reply.hold_s)  # cancelled when the client goes away
                if reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
                yield _sse(_chunk(body, {"content": piece}))
            for index, (name, args) in enumerate(reply.tool_calls):
                start = {
                    "index": index,
                    "id": f"call_{index}",
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }
                yield _sse(_chunk(body, {"tool_calls": [start]}))
                more = {"index": index, "function": {"arguments": _arguments(args)}}
                yield _sse(_chunk(body, {"tool_calls": [more]}))
            finish = "tool_calls" if reply.tool_calls else "stop"
            yield _sse(_chunk(body, {}, finish))
            yield "data: [DONE]\n\n"
            finished = True
            self.completed += 1
        finally:
            if not finished:
                self.abandoned += 1


def _arguments(args: dict[str, Any] | str) -> str:
    return args if isinstance(args, str) else json.dumps(args)


def _words(content: str) -> list[str]:
    words = content.split(" ")
    return [word if i == len(words) - 1 else word + " " for i, word in enumerate(words)]


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data)}\n\n"


def _chunk(
    body: dict[str, Any], delta: dict[str, Any], finish: str | None = None
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{index}",
                "type": "function",
                "function": {"name": name, "arguments": _arguments(args)},
            }
            for index, (name, args) in enumerate(reply.tool_calls)
        ]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


@asynccontextmanager
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    async with serve_app(fake.app) as url:
        fake.url = url
        yield fake


def cite_first_product(request: Recorded) -> Reply:
    """The model's answer after a search: the first product found, cited by id."""
    found = request.tool_results()[0]["products"][0]
    return Reply(f"The {found['name']} costs {found['price']} EUR [product:{found['product_id']}].")
