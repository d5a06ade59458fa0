"""End to end with services as processes (`python -m <service> serve`): catalog,
indexer and assistant, a Chroma server and the local OpenAI-compatible fake. The
assistant is SIGKILLed in the middle of a streamed reply and restarted: the stored
session stays consistent, the conversation goes on, and the projections rebuilt from
the event table are the same."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.assistant.tests.fake_openai import FakeOpenAI, Recorded, Reply
from services.assistant.tests.shop import bearer
from services.assistant.tests.test_chat_stream import read_events
from tests.support.servers import free_port, wait_for
from tests.support.stack import SECRET, admin_headers

pytestmark = pytest.mark.fault


class Service:
    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name, self.env, self.log = name, env, log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, within: float = 180) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.name, "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        async def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.log.read_text()[-3000:]}")
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(f"{self.url}/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(ready, within=within, what=f"{self.name} ready")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
async def services(
    clean_database, redis_url, stream_prefix, chroma_url, llm: FakeOpenAI, tmp_path: Path
) -> AsyncIterator[dict[str, Service]]:
    env = {
        **os.environ,
        "DATABASE_URL": clean_database,
        "REDIS_URL": redis_url,
        "STREAM_PREFIX": stream_prefix,
        "JWT_SECRET": SECRET,
        "LOG_LEVEL": "warning",
        "RELAY_POLL_INTERVAL": "0.2",
        "CHROMA_URL": chroma_url,
        "INDEX_NAMESPACE": stream_prefix,
        "EMBEDDER": "hash",
        "CHAT_BASE_URL": llm.base_url,
        "CHAT_API_KEY": "test-key",
        "CHAT_MODEL": "fake-model",
        "CHAT_TIMEOUT_S": "120",  # a slow machine must not turn the model's reply degraded
        "CONSUMER_RECLAIM_MIN_IDLE_MS": "3000",
        "CONSUMER_BACKOFF_BASE_MS": "200",
    }
    env.pop("OPENAI_API_KEY", None)
    running = {
        name: Service(name, env, tmp_path / f"{name}.log")
        for name in ("catalog", "indexer", "assistant")
    }
    try:
        for service in running.values():
            await service.start()
        yield running
    finally:
        for service in running.values():
            service.stop()


def _rebuild_projections(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "assistant", "rebuild-projections"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


# Four service starts, a restart and a replay: minutes on a machine shared with a full
# suite, more than the default per-test limit.
@pytest.mark.timeout(900)
async def test_sigkill_mid_stream_then_restart(
    services: dict[str, Service], llm: FakeOpenAI
) -> None:
    # Generous bounds: under a full suite on a busy machine, replies are slow, not wrong.
    catalog = httpx.AsyncClient(base_url=services["catalog"].url, timeout=120)
    assistant = httpx.AsyncClient(base_url=services["assistant"].url, timeout=120)
    alice = bearer("alice")
    try:
        category = await catalog.post(
            "/api/v1/categories", json={"slug": "bikes", "name": "Bikes"}, headers=admin_headers()
        )
        bike = await catalog.post(
            "/api/v1/products",
            json={
                "sku": "BIK-1",
                "name": "Gravel Bike Aurora",
                "price": "1299.00",
                "currency": "EUR",
                "category_id": category.json()["id"],
                "stock": 4,
            },
            headers=admin_headers(),
        )
        assert bike.status_code == 201, bike.text
        bike_id = bike.json()["id"]

        async def searchable() -> bool:
            response = await assistant.get("/api/v1/search", params={"q": "gravel bike", "k": 1})
            hits = response.json().get("results", []) if response.status_code == 200 else []
            return any(hit["product_id"] == bike_id for hit in hits)

        await wait_for(searchable, within=180, what="the bike searchable")

        def cite(request: Recorded) -> Reply:
            found = request.tool_results()[0]["products"][0]
            return Reply(
                f"The {found['name']} costs {found['price']} EUR [product:{found['product_id']}]."
            )

        session = (await assistant.post("/api/v1/chat/sessions", headers=alice)).json()["id"]
        messages_url = f"/api/v1/chat/sessions/{session}/messages"
        sse = alice | {"Accept": "text/event-stream"}

        # 1. A streamed reply through the real processes.
        llm.then(Reply(tool_calls=[("search_products", {"query": "gravel bike"})]), cite)
        async with assistant.stream(
            "POST", messages_url, json={"content": "a gravel bike?"}, headers=sse
        ) as response:
            events = [item async for item in read_events(response)]
        done = events[-1]
        assert done[0] == "done" and [c["product_id"] for c in done[1]["cited_products"]] == [
            bike_id
        ]

        # 2. SIGKILL in the middle of the next streamed reply. The model sends three
        # chunks and then holds the stream open until its client goes away, so the reply
        # is still being written when the kill comes, however slow the machine is; the
        # kill follows the first delta the client saw.
        llm.then(Reply(chunks=["part0 ", "part1 ", "part2 ", "never sent"], hold_after_chunks=3))
        seen: list[str] = []
        with pytest.raises(httpx.HTTPError):
            async with assistant.stream(
                "POST", messages_url, json={"content": "tell me more"}, headers=sse
            ) as response:
                async for name, _ in read_events(response):
                    seen.append(name)
                    if name == "delta" and seen.count("delta") == 1:
                        services["assistant"].kill()
        assert seen[0] == "start" and "delta" in seen, seen
        assert not {"done", "error", "reset"} & set(seen), seen
        # The model saw its client vanish mid-reply: the kill came while it was writing.
        await wait_for(lambda: llm.abandoned == 1, within=60, what="the model stream abandoned")
        assert llm.completed == 2  # the tool call and the cited reply; never the held one
        await services["assistant"].start()

        # The question is stored, its reply never was: nothing half-written.
        view = (await assistant.get(f"/api/v1/chat/sessions/{session}", headers=alice)).json()
        assert [(m["role"], m["content"][:12]) for m in view["messages"]] == [
            ("user", "a gravel bik"),
            ("assistant", done[1]["content"][:12]),
            ("user", "tell me more"),
        ]

        # 3. The conversation goes on after the restart, with the history it has.
        llm.then(Reply("Happy to help again."))
        again = await assistant.post(messages_url, json={"content": "still there?"}, headers=alice)
        assert again.status_code == 200, again.text
        sent = [m["content"] for m in llm.requests[-1].messages if m["role"] != "system"]
        assert sent[0] == "a gravel bike?" and sent[-2:] == ["tell me more", "still there?"]

        # 4. Rebuilt from the event table, the session reads the same.
        before = (await assistant.get(f"/api/v1/chat/sessions/{session}", headers=alice)).json()
        _rebuild_projections(services["assistant"].env)
        after = (await assistant.get(f"/api/v1/chat/sessions/{session}", headers=alice)).json()
        assert json.dumps(after, sort_keys=True) == json.dumps(before, sort_keys=True)
        assert len(after["messages"]) == 5
    finally:
        await catalog.aclose()
        await assistant.aclose()
