"""The tool-calling loop: ask the model, run the tools it calls, ask again, until it
answers in text (at most `max_steps` model calls; the last one may not call tools).

Written out rather than taken from an agent framework so that every step is ours to
bound: the tools are exactly the ones built for this caller, an unknown tool is refused,
text streams out as it arrives, and the caller's deadline cancels the whole loop.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ToolMessage,
    message_chunk_to_message,
)
from langchain_core.tools import BaseTool

from assistant.chat.tools import run_tool
from assistant.metrics import LLM_CALL_SECONDS, TOOL_CALLS

log = logging.getLogger("assistant.chat")


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolUsed:
    name: str
    outcome: str


@dataclass(frozen=True)
class Answered:
    content: str


AgentEvent = TextDelta | ToolUsed | Answered


class NoAnswer(Exception):
    """The model used up its steps on tool calls, or answered with nothing."""


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(
        part.get("text", "") if isinstance(part, dict) else str(part) for part in content
    )


async def _ask(runnable: Any, messages: list[BaseMessage], stream: bool) -> AsyncIterator[Any]:
    """Yields text deltas (str), then the complete AIMessage."""
    started = time.perf_counter()
    if not stream:
        reply = await runnable.ainvoke(messages)
        LLM_CALL_SECONDS.labels("false").observe(time.perf_counter() - started)
        if _text(reply):
            yield _text(reply)
        yield reply
        return
    total: AIMessageChunk | None = None
    async for chunk in runnable.astream(messages):
        text = _text(chunk)
        if text:
            yield text
        total = chunk if total is None else total + chunk
    LLM_CALL_SECONDS.labels("true").observe(time.perf_counter() - started)
    if total is None:
        yield AIMessage("")
        return
    yield message_chunk_to_message(total)


async def run_agent(
    model: BaseChatModel,
    tools: Sequence[BaseTool],
    messages: list[BaseMessage],
    *,
    max_steps: int,
    stream: bool,
) -> AsyncIterator[AgentEvent]:
    by_name = {tool.name: tool for tool in tools}
    with_tools = model.bind_tools(list(tools))
    answer_now = model.bind_tools(list(tools), tool_choice="none")
    written: list[str] = []
    answered = False
    for step in range(max_steps):
        runnable = with_tools if step < max_steps - 1 else answer_now
        reply: AIMessage | None = None
        async for item in _ask(runnable, messages, stream):
            if isinstance(item, str):
                written.append(item)
                yield TextDelta(item)
            else:
                reply = item
        assert reply is not None
        messages.append(reply)
        calls = list(reply.tool_calls)
        invalid = list(getattr(reply, "invalid_tool_calls", []) or [])
        if not calls and not invalid:
            answered = True
            break
        for call in calls:
            output, outcome = await run_tool(by_name, call["name"], dict(call.get("args") or {}))
            TOOL_CALLS.labels(call["name"] if call["name"] in by_name else "unknown", outcome).inc()
            yield ToolUsed(call["name"], outcome)
            messages.append(ToolMessage(output, tool_call_id=call["id"] or "", name=call["name"]))
        for bad in invalid:
            TOOL_CALLS.labels("unknown", "error").inc()
            error = json.dumps({"error": f"the arguments are not valid JSON: {bad.get('error')}"})
            messages.append(
                ToolMessage(error, tool_call_id=bad.get("id") or "", name=bad.get("name") or "")
            )
    content = "".join(written)
    if not answered or not content.strip():
        raise NoAnswer(f"no answer after {max_steps} model calls")
    yield Answered(content)
