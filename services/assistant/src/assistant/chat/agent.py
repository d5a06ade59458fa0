"""The tool-calling loop: ask the model, run the tools it calls, ask again, until it
answers in text (at most `max_steps` model calls; the last one is offered no tool).

Written out rather than taken from an agent framework so that every step is ours to
bound: the tools are exactly the ones built for this caller, an unknown tool is refused,
text streams out as it arrives, and the caller's deadline cancels the whole loop.

Streamed and plain replies are read the same way: each tool call's arguments are the
raw JSON string the model sent, parsed strictly (LangChain repairs partial JSON in
streamed calls only), so invalid arguments are a tool error in both modes. At the last
step tool calls are not run: the loop says so (`StepLimit`) and the turn answers from
what the tools found.
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

from assistant.chat.tools import advertised, run_tool
from assistant.metrics import LLM_CALL_SECONDS, TOOL_CALLS

log = logging.getLogger("assistant.chat")

NOT_OFFERED = "not_offered"
"""The metric label of a call of a tool that was not offered (names are the model's)."""


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class StepDone:
    """A model call ended: its text is complete; tools (if any) run next."""


@dataclass(frozen=True)
class ToolUsed:
    name: str
    outcome: str


@dataclass(frozen=True)
class StepLimit:
    """The last model call asked for tools again: none was run."""

    steps: int


@dataclass(frozen=True)
class Answered:
    content: str


AgentEvent = TextDelta | StepDone | ToolUsed | StepLimit | Answered


class NoAnswer(Exception):
    """The model answered with nothing."""


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    args: dict[str, Any] | None
    error: str | None = None


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(
        part.get("text", "") if isinstance(part, dict) else str(part) for part in content
    )


def _parse(call_id: str | None, name: str | None, raw: Any) -> Call:
    if isinstance(raw, dict):
        return Call(call_id or "", name or "", raw)
    try:
        args = json.loads(raw or "{}", strict=False)
    except (TypeError, ValueError) as exc:
        return Call(call_id or "", name or "", None, f"the arguments are not valid JSON: {exc}")
    if not isinstance(args, dict):
        return Call(call_id or "", name or "", None, "the arguments must be a JSON object")
    return Call(call_id or "", name or "", args)


def calls_of(reply: AIMessage, chunk: AIMessageChunk | None) -> list[Call]:
    """The tool calls of a reply, arguments parsed strictly from the model's raw JSON."""
    if chunk is not None:
        return [_parse(c.get("id"), c.get("name"), c.get("args")) for c in chunk.tool_call_chunks]
    raw = {c.get("id"): c for c in reply.additional_kwargs.get("tool_calls", []) or []}
    calls = []
    for call in reply.tool_calls:
        original = raw.get(call.get("id"), {}).get("function", {}).get("arguments")
        calls.append(_parse(call.get("id"), call["name"], original or dict(call["args"])))
    for bad in reply.invalid_tool_calls:
        calls.append(_parse(bad.get("id"), bad.get("name"), bad.get("args")))
    return calls


async def _ask(runnable: Any, messages: list[BaseMessage], stream: bool) -> AsyncIterator[Any]:
    """Yields text deltas (str), then (the complete AIMessage, the summed chunk or None)."""
    started = time.perf_counter()
    if not stream:
        reply = await runnable.ainvoke(messages)
        LLM_CALL_SECONDS.labels("false").observe(time.perf_counter() - started)
        if _text(reply):
            yield _text(reply)
        yield reply, None
        return
    total: AIMessageChunk | None = None
    async for chunk in runnable.astream(messages):
        text = _text(chunk)
        if text:
            yield text
        total = chunk if total is None else total + chunk
    LLM_CALL_SECONDS.labels("true").observe(time.perf_counter() - started)
    if total is None:
        yield AIMessage(""), None
        return
    message = message_chunk_to_message(total)
    assert isinstance(message, AIMessage)
    yield message, total


async def run_agent(
    model: BaseChatModel,
    tools: Sequence[BaseTool],
    messages: list[BaseMessage],
    *,
    max_steps: int,
    stream: bool,
) -> AsyncIterator[AgentEvent]:
    by_name = {tool.name: tool for tool in tools}
    schemas = advertised(tools)
    with_tools = model.bind_tools(schemas)
    answer_now = model.bind_tools(schemas, tool_choice="none")
    written: list[str] = []
    for step in range(max_steps):
        last = step == max_steps - 1
        reply: AIMessage | None = None
        chunk: AIMessageChunk | None = None
        async for item in _ask(answer_now if last else with_tools, messages, stream):
            if isinstance(item, str):
                written.append(item)
                yield TextDelta(item)
            else:
                reply, chunk = item
        assert reply is not None
        messages.append(reply)
        yield StepDone()
        calls = calls_of(reply, chunk)
        if not calls:
            break
        if last:
            log.warning("the model asked for tools at its last step (%d); none ran", max_steps)
            yield StepLimit(max_steps)
            return
        for call in calls:
            async for event in _run(by_name, call, messages):
                yield event
    content = "".join(written)
    if not content.strip():
        raise NoAnswer("the model answered with no text")
    yield Answered(content)


async def _run(
    by_name: dict[str, BaseTool], call: Call, messages: list[BaseMessage]
) -> AsyncIterator[ToolUsed]:
    """One call: run (or refuse) it, tell the model the result."""
    offered = call.name in by_name
    if call.args is None:
        output, outcome = json.dumps({"error": call.error}), "error"
    else:
        output, outcome = await run_tool(by_name, call.name, call.args)
    TOOL_CALLS.labels(call.name if offered else NOT_OFFERED, outcome).inc()
    if offered:
        yield ToolUsed(call.name, outcome)
    messages.append(ToolMessage(output, tool_call_id=call.id, name=call.name))
