"""One reply to one customer message, from the stored question to the stored answer.

A turn runs in a task of its own, owned by the app's `ChatService`, not by the HTTP
request: the request only listens (to the JSON result, or to the stream of events).
So a client that goes away mid-stream cannot leave half a write behind: the listener
tells the turn it is gone, the turn stops the model and records what was written so
far as an `interrupted` reply, in the same kind of command as a complete one. The
customer's message was committed before the turn began.

The model gets `CHAT_TIMEOUT_S` for its whole part (every call and tool round). No
model configured, an error, a refusal to connect or the deadline: the turn answers
from search alone (`chat.fallback`), marked degraded with the reason, and counted.

The model's text passes through a `Grounder` before anything is emitted, streamed or
not: it is released one checked sentence at a time (`chat.grounding`), so the customer
never reads, and the session never stores, a product or price no tool returned. A reply
left with nothing grounded is replaced by the search answer (`reset` first when part of
it was already shown); the reply is marked `corrected` or `replaced`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

import openai
from langchain_core.language_models import BaseChatModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant import handlers
from assistant.chat import fallback
from assistant.chat.agent import StepDone, StepLimit, TextDelta, ToolUsed, run_agent
from assistant.chat.citations import cite
from assistant.chat.facts import Known
from assistant.chat.grounding import Finding, Grounder, Grounding, echo
from assistant.chat.prompt import conversation
from assistant.chat.shop_tools import ShopContext
from assistant.chat.tools import Evidence, ToolContext, build_tools
from assistant.metrics import (
    CHAT_DEGRADED,
    CHAT_GROUNDING,
    CHAT_REPLIES,
    GROUNDING_FINDINGS,
    LLM_CALLS,
    REPLY_SECONDS,
    UNVERIFIED_CITATIONS,
)
from assistant.search import SearchService
from assistant.settings import AssistantSettings
from assistant.shop_api import ShopApi
from assistant.storage import queries
from assistant.storage.queries import StoredMessage
from assistant.storage.uow import AssistantUnitOfWork
from marcus_contracts.events.assistant import CitedProduct, DegradedReason, ReplyStatus

log = logging.getLogger("assistant.chat")


@dataclass(frozen=True)
class Reset:
    """The text streamed so far is void: a search answer replaces it (degraded with
    `reason`, or `grounding="replaced"`)."""

    reason: DegradedReason | None
    grounding: Grounding | None = None


@dataclass(frozen=True)
class Done:
    reply: StoredMessage


@dataclass(frozen=True)
class Failed:
    """The reply could not be stored (the database is away); the question stays."""

    error: str


TurnEvent = TextDelta | ToolUsed | Reset | Done | Failed


@dataclass
class _Outcome:
    content: str
    cited: list[CitedProduct]
    reason: DegradedReason | None
    tools_called: list[str] = field(default_factory=list)
    grounding: Grounding | None = None
    findings: list[Finding] = field(default_factory=list)


def degraded_reason_of(exc: BaseException) -> DegradedReason:
    if isinstance(exc, TimeoutError | openai.APITimeoutError):
        return "llm_timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "llm_unavailable"
    if isinstance(exc, openai.APIStatusError) and (
        exc.status_code >= 500 or exc.status_code in (408, 429)
    ):
        return "llm_unavailable"
    return "llm_error"


class Turn:
    def __init__(
        self,
        service: ChatService,
        *,
        session_id: UUID,
        customer: str,
        question_id: UUID,
        question: str,
        history: Sequence[StoredMessage],
        stream: bool,
        shop: ShopContext | None = None,
    ) -> None:
        self.service = service
        self.shop = shop
        self.session_id = session_id
        self.customer = customer
        self.question_id = question_id
        self.question = question
        self.history = list(history)
        self.stream = stream
        self.events: asyncio.Queue[TurnEvent] = asyncio.Queue()
        self.written: list[str] = []
        self.evidence = Evidence()
        self.prior = service.prior_known(self.history, question)
        self.grounder = Grounder(self.known)
        self.finished = False
        self._listener_gone = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------- the listener's side

    async def next_event(self) -> TurnEvent:
        return await self.events.get()

    async def result(self) -> Done | Failed:
        while True:
            event = await self.events.get()
            if isinstance(event, Done | Failed):
                return event

    def listener_gone(self) -> None:
        """The client went away: stop the model and store what was written (sync, so a
        cancelled response generator can call it from its `finally`)."""
        if not self.finished:
            self._listener_gone.set()

    # ----------------------------------------------------------------- the turn itself

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"chat-turn-{self.question_id}")

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        started = time.monotonic()
        generation = asyncio.create_task(self._generate())
        gone = asyncio.create_task(self._listener_gone.wait())
        try:
            await asyncio.wait({generation, gone}, return_when=asyncio.FIRST_COMPLETED)
            status: ReplyStatus = "complete"
            if generation.done():
                outcome = generation.result()
            else:
                generation.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await generation
                partial = "".join(self.written)
                outcome = _Outcome(
                    partial,
                    cite(partial, self.known().products).cited,
                    None,
                    self.evidence.tools_called,
                    self.grounder.outcome(),
                    self.grounder.findings,
                )
                status = "interrupted"
            gone.cancel()
            reply = await self._record(outcome, status)
        except Exception as exc:
            log.exception("chat turn for session %s failed", self.session_id)
            self.finished = True
            self.events.put_nowait(Failed(f"the reply could not be stored: {exc!r}"))
            return
        mode = "degraded" if outcome.reason else "model"
        CHAT_REPLIES.labels(mode, status).inc()
        if outcome.reason:
            CHAT_DEGRADED.labels(outcome.reason).inc()
        REPLY_SECONDS.labels(mode).observe(time.monotonic() - started)
        self.finished = True
        self.events.put_nowait(Done(reply))

    def known(self) -> Known:
        """What a reply may state now: this turn's tool results and the conversation's."""
        return self.prior.merged(self.evidence.known)

    def _emit_text(self, text: str) -> None:
        self.written.append(text)
        self.events.put_nowait(TextDelta(text))

    def _emit_checked(self, text: str) -> None:
        """Grounded text, emitted word by word as a model would stream it."""
        for word in re.findall(r"\S+\s*|\s+", text):
            self._emit_text(word)

    async def _generate(self) -> _Outcome:
        context = self.service.tool_context(self.customer, self.shop)
        reason: DegradedReason = "llm_not_configured"
        if self.service.model is None:
            reason = "llm_not_configured"
        else:
            try:
                stopped = await self._ask_model(context)
                LLM_CALLS.labels("ok").inc()
                return await self._answered(context, stopped)
            except Exception as exc:
                reason = degraded_reason_of(exc)
                LLM_CALLS.labels(reason.removeprefix("llm_")).inc()
                log.warning("model failed (%s), answering from search: %r", reason, exc)
        return await self._search_answer(context, reason, "")

    async def _answered(self, context: ToolContext, stopped: StepLimit | None) -> _Outcome:
        """The model's grounded text; the step limit's honest ending; or, when grounding
        left nothing, the search answer in its place."""
        grounding = self.grounder.outcome()
        for finding in self.grounder.findings:
            GROUNDING_FINDINGS.labels(finding.kind, finding.action).inc()
        if grounding is not None:
            CHAT_GROUNDING.labels(grounding).inc()
            log.warning("reply grounded (%s): %s", grounding, self.grounder.findings)
        if grounding == "replaced":
            answer = await self._replace(context)
            return _Outcome(
                answer.content,
                answer.cited,
                None,
                self.evidence.tools_called,
                grounding,
                self.grounder.findings,
            )
        if stopped is not None:
            if not self.evidence.products and not "".join(self.written).strip():
                intro = (
                    f"The AI model did not finish its answer within {stopped.steps} steps, "
                    "so this answer comes from the catalog search alone."
                )
                return await self._search_answer(context, "llm_error", intro)
            ending = fallback.found(self.evidence, stopped.steps)
            self._emit_checked(("\n\n" if "".join(self.written).strip() else "") + ending)
        content = "".join(self.written)
        if not content.strip():
            return await self._search_answer(context, "llm_error", "")
        citations = cite(content, self.known().products)
        if citations.unverified:
            UNVERIFIED_CITATIONS.inc(len(citations.unverified))
        return _Outcome(
            content,
            citations.cited,
            None,
            self.evidence.tools_called,
            grounding,
            self.grounder.findings,
        )

    async def _replace(self, context: ToolContext) -> fallback.Fallback:
        if self.written:
            self.written.clear()
            self.events.put_nowait(Reset(None, "replaced"))
        answer = await fallback.answer(context, self.question, None, fallback.UNGROUNDED)
        for line in answer.content.splitlines(keepends=True):
            self._emit_text(line)
        return answer

    async def _search_answer(
        self, context: ToolContext, reason: DegradedReason, intro: str
    ) -> _Outcome:
        if self.written:
            self.written.clear()
            self.events.put_nowait(Reset(reason))
        answer = await fallback.answer(context, self.question, reason, intro)
        for line in answer.content.splitlines(keepends=True):
            self._emit_text(line)
        tools = list(self.evidence.tools_called)
        return _Outcome(answer.content, answer.cited, reason, tools)

    async def _ask_model(self, context: ToolContext) -> StepLimit | None:
        """Runs the tool loop, emitting grounded text; the StepLimit if it was hit."""
        settings = self.service.settings
        assert self.service.model is not None
        tools = build_tools(context, self.evidence)
        messages, _ = conversation(self.history, self.question, settings.chat_history_tokens)
        stopped: StepLimit | None = None
        async with asyncio.timeout(settings.chat_timeout_s):
            async for event in run_agent(
                self.service.model,
                tools,
                messages,
                max_steps=settings.chat_max_steps,
                stream=self.stream,
            ):
                if isinstance(event, TextDelta):
                    self._emit_checked(self.grounder.feed(event.text))
                elif isinstance(event, StepDone):
                    self._emit_checked(self.grounder.flush())
                elif isinstance(event, ToolUsed):
                    self.evidence.tools_called.append(event.name)
                    self.events.put_nowait(event)
                elif isinstance(event, StepLimit):
                    stopped = event
        return stopped

    async def _record(self, outcome: _Outcome, status: ReplyStatus) -> StoredMessage:
        model = self.service.settings.chat_model if outcome.reason is None else ""
        reply_id = await handlers.record_reply(
            handlers.RecordReply(
                session_id=self.session_id,
                reply_to=self.question_id,
                content=outcome.content,
                status=status,
                degraded_reason=outcome.reason,
                cited=outcome.cited,
                tools_called=outcome.tools_called,
                model=model,
                grounding=outcome.grounding,
                findings=[finding.__dict__ for finding in outcome.findings],
            ),
            AssistantUnitOfWork(self.service.sessions),
        )
        async with self.service.sessions() as db:
            stored = await queries.message(db, reply_id)
        assert stored is not None
        return stored


class ChatService:
    """Starts turns and owns their tasks; on shutdown, interrupts and stores them."""

    def __init__(
        self,
        settings: AssistantSettings,
        sessions: async_sessionmaker[AsyncSession],
        search: SearchService,
        model: BaseChatModel | None,
        shop_api: ShopApi | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.search = search
        self.model = model
        self.shop_api = shop_api
        self._turns: set[Turn] = set()

    def tool_context(self, customer: str, shop: ShopContext | None = None) -> ToolContext:
        return ToolContext(customer, self.search, self.sessions, self.settings.chat_search_k, shop)

    def shop_context(
        self, customer: str, token: str | None, session_id: UUID
    ) -> ShopContext | None:
        """The acting tools' context: the customer's own token (None: anonymous)."""
        if self.shop_api is None:
            return None
        ttl = timedelta(seconds=self.settings.action_ttl_s)
        return ShopContext(self.shop_api, self.sessions, customer, token, session_id, ttl)

    @staticmethod
    def prior_known(history: Sequence[StoredMessage], question: str) -> Known:
        """Products earlier replies cited (a reply may name them again), and the ids and
        amounts the customer wrote (a reply may repeat them: "no order <id> among yours",
        "nothing under 50 EUR")."""
        known = Known()
        for message in history:
            for product in message.cited_products:
                known.add_product(CitedProduct.model_validate(product))
        for text in [question, *(m.content for m in history if m.role == "user")]:
            echo(known, text)
        return known

    def start(
        self,
        *,
        session_id: UUID,
        customer: str,
        question_id: UUID,
        question: str,
        history: Sequence[StoredMessage],
        stream: bool,
        token: str | None = None,
    ) -> Turn:
        """`token`: the customer's own bearer token, the only one the acting tools use."""
        turn = Turn(
            self,
            session_id=session_id,
            customer=customer,
            question_id=question_id,
            question=question,
            history=history,
            stream=stream,
            shop=self.shop_context(customer, token, session_id),
        )
        turn.start()
        self._turns.add(turn)
        assert turn._task is not None
        turn._task.add_done_callback(lambda _: self._turns.discard(turn))
        return turn

    async def close(self) -> None:
        """Interrupt every running turn and wait until each has stored its reply."""
        turns = list(self._turns)
        for turn in turns:
            turn.listener_gone()
        await asyncio.gather(*(turn.wait() for turn in turns))
