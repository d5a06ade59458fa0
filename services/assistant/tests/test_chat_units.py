"""Pure logic of the chat: citations, history trimming, failure classification, the
session aggregate's rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from assistant.chat.citations import cite
from assistant.chat.prompt import conversation, count_tokens
from assistant.chat.turns import degraded_reason_of
from assistant.domain import ChatSession, SessionFull
from assistant.storage.queries import StoredMessage
from marcus_contracts.events.assistant import CitedProduct
from marcus_eventstore import DomainError, NotFound

GRINDER = CitedProduct(
    product_id=uuid.UUID("0c6e4f0e-0000-4000-8000-000000000001"),
    name="Conical Burr Grinder",
    price=Decimal("149.50"),
    currency="EUR",
)
KETTLE = CitedProduct(
    product_id=uuid.UUID("0c6e4f0e-0000-4000-8000-000000000002"),
    name="Gooseneck Kettle",
    price=Decimal("59.00"),
    currency="EUR",
)
KNOWN = {str(p.product_id): p for p in (GRINDER, KETTLE)}


def test_cites_ids_and_exact_names_in_order_of_mention() -> None:
    text = f"Try the gooseneck kettle, then [product:{GRINDER.product_id}]."
    assert cite(text, KNOWN).cited == [KETTLE, GRINDER]


def test_an_id_no_tool_returned_is_not_cited_but_reported() -> None:
    made_up = "0c6e4f0e-0000-4000-8000-00000000dead"
    result = cite(f"Buy [product:{made_up}] for 1.00 EUR", KNOWN)
    assert result.cited == [] and result.unverified == [made_up]


def test_upper_case_ids_match() -> None:
    assert cite(str(GRINDER.product_id).upper(), KNOWN).cited == [GRINDER]


def _message(role: str, content: str, status: str = "complete") -> StoredMessage:
    return StoredMessage(
        id=uuid.uuid4(),
        role=role,
        content=content,
        status=status,
        degraded_reason=None,
        cited_products=[],
        tools_called=[],
        reply_to=None,
        created_at=datetime.now(UTC),
    )


def test_history_within_budget_is_sent_whole() -> None:
    history = [_message("user", "hello"), _message("assistant", "hi, how can I help?")]
    messages, dropped = conversation(history, "a tent please", budget=1000)
    assert dropped == 0
    assert isinstance(messages[0], SystemMessage)
    assert [m.content for m in messages[1:]] == ["hello", "hi, how can I help?", "a tent please"]


def test_oldest_turns_are_dropped_first_and_the_prompt_says_so() -> None:
    history = []
    for n in range(10):
        history += [
            _message("user", f"question {n} " + "x" * 300),
            _message("assistant", "y" * 300),
        ]
    messages, dropped = conversation(history, "the newest question", budget=500)
    kept = messages[1:]
    assert count_tokens(kept) <= 500
    assert kept[-1].content == "the newest question"
    assert isinstance(kept[0], HumanMessage)  # starts on a customer message
    newest = [m.content for m in history[len(history) - len(kept) + 1 :]]
    assert [m.content for m in kept[:-1]] == newest  # the newest turns, whole
    assert dropped == len(history) + 1 - len(kept) > 0
    assert f"{dropped} earlier messages" in messages[0].content


def test_interrupted_replies_are_not_sent_to_the_model() -> None:
    history = [_message("user", "q1"), _message("assistant", "half an ans", "interrupted")]
    messages, _ = conversation(history, "q2", budget=1000)
    assert [m.content for m in messages[1:]] == ["q1", "q2"]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (TimeoutError(), "llm_timeout"),
        (openai.APITimeoutError(httpx.Request("POST", "http://x")), "llm_timeout"),
        (openai.APIConnectionError(request=httpx.Request("POST", "http://x")), "llm_unavailable"),
        (ValueError("bad tool JSON"), "llm_error"),
    ],
)
def test_failures_map_to_degraded_reasons(error: Exception, reason: str) -> None:
    assert degraded_reason_of(error) == reason


@pytest.mark.parametrize(
    ("status", "reason"), [(500, "llm_unavailable"), (429, "llm_unavailable"), (401, "llm_error")]
)
def test_http_statuses_map_to_degraded_reasons(status: int, reason: str) -> None:
    response = httpx.Response(status, request=httpx.Request("POST", "http://x"))
    error = openai.APIStatusError("failed", response=response, body=None)
    assert degraded_reason_of(error) == reason


def test_session_rules() -> None:
    session = ChatSession.start("alice")
    with pytest.raises(NotFound):
        session.check_owner("bob")
    with pytest.raises(DomainError):
        session.receive("   ", limit=10)
    question = session.receive("hello", limit=4)
    session.reply(
        question,
        "hi",
        status="complete",
        degraded_reason=None,
        cited=[],
        tools_called=[],
        model="m",
    )
    with pytest.raises(SessionFull):
        session.receive("again", limit=3)
    types = [event.event_type for event in session.pending]
    assert types == [
        "assistant.session.started",
        "assistant.session.message_received",
        "assistant.session.reply_recorded",
    ]
