"""Pure logic of the chat: citations, grounding, history trimming, failure
classification, the session aggregate's rules."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from assistant.chat.citations import cite
from assistant.chat.facts import Known, money
from assistant.chat.grounding import Grounder, echo
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


# ------------------------------------------------------------------------- grounding


def _grounded(text: str, question: str = "") -> tuple[str, str | None]:
    """Streamed word by word, as a model writes."""
    known = Known.of([GRINDER, KETTLE])
    echo(known, question)
    grounder = Grounder(lambda: known)
    shown = "".join(grounder.feed(word) for word in re.findall(r"\S+\s*", text))
    return shown + grounder.flush(), grounder.outcome()


def test_a_correct_reply_is_left_as_written() -> None:
    text = (
        f"The Conical Burr Grinder [product:{GRINDER.product_id}] costs 149.50 EUR.\n"
        f"- Gooseneck Kettle [product:{KETTLE.product_id}]: €59,00\n"
        "Together they cost 208.50 EUR. Only 3 are left!"
    )
    assert _grounded(text) == (text, None)


def test_an_invented_product_is_dropped_and_a_real_name_gets_its_id() -> None:
    fake = "0c6e4f0e-0000-4000-8000-00000000dead"
    shown, mark = _grounded(
        f"The Gooseneck Kettle [product:{fake}] is lovely. Also the Turbo Kettle X "
        f"[product:{fake}] for 9.99 EUR."
    )
    assert shown == f"The Gooseneck Kettle [product:{KETTLE.product_id}] is lovely."
    assert mark == "corrected"


def test_a_wrong_name_and_price_are_rewritten_to_the_tools() -> None:
    shown, mark = _grounded(
        f"Best pick: the Burr Grinder Pro [product:{GRINDER.product_id}] at €9."
    )
    assert (
        shown
        == f"Best pick: the Conical Burr Grinder [product:{GRINDER.product_id}] at 149.50 EUR."
    )
    assert mark == "corrected"


def test_nothing_grounded_left_means_replaced() -> None:
    shown, mark = _grounded("Hi! The Quantum 9000 costs 49.99 EUR.")
    assert (shown, mark) == ("Hi!", "replaced")


def test_the_customers_own_amounts_and_ids_may_be_repeated() -> None:
    order = "0c6e4f0e-0000-4000-8000-0000000000aa"
    question = f"Anything under 50 EUR? And where is order {order}?"
    text = f"Nothing under 50 EUR, sorry. I found no order {order} among yours."
    assert _grounded(text, question) == (text, None)
    # ... but not as a product's price
    shown, _ = _grounded(f"The Gooseneck Kettle [product:{KETTLE.product_id}] is 50 EUR.", question)
    assert "59.00 EUR" in shown and "50 EUR" not in shown


def test_text_is_held_until_its_sentence_ends() -> None:
    grounder = Grounder(lambda: Known.of([GRINDER]))
    assert grounder.feed("The Conical Burr Grinder costs") == ""
    assert grounder.feed(" 149.50 EUR.") == ""  # the next character decides ("149.50 EUR.5"?)
    assert grounder.feed(" Anything") == "The Conical Burr Grinder costs 149.50 EUR."
    assert grounder.flush() == " Anything"


def test_prices_have_two_decimals() -> None:
    assert money("12.5") == "12.50" and money(Decimal("899")) == "899.00"


def test_a_measure_is_not_a_price() -> None:
    text = f"The Gooseneck Kettle [product:{KETTLE.product_id}] weighs 1.25 kg and holds 0.90 l."
    assert _grounded(text) == (text, None)


def test_an_ordered_product_is_citable_at_its_order_price() -> None:
    order_id, line_id = (
        "0c6e4f0e-0000-4000-8000-0000000000ab",
        "0c6e4f0e-0000-4000-8000-0000000000cd",
    )
    known = Known()
    known.add_order(
        {
            "order_id": order_id,
            "currency": "EUR",
            "total": "60.00",
            "lines": [
                {
                    "product_id": line_id,
                    "name": "Hand Grinder",
                    "quantity": 2,
                    "unit_price": "30.00",
                }
            ],
        }
    )
    grounder = Grounder(lambda: known)
    text = f"Order {order_id} has 2 x Hand Grinder [product:{line_id}] at 30.00 EUR, 60.00 EUR."
    assert grounder.feed(text) + grounder.flush() == text and grounder.outcome() is None
