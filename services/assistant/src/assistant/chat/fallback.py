"""The answer without a model: the products search finds for the message, with prices.

Used when no model is configured, or the model failed or ran out of time. It is still
useful: the best matches of the catalog (hybrid search, so exact words count), each with
its price and stock, cited like a model's answer; a message about orders also gets the
customer's latest order. It says plainly that it was made without the AI model.

The same answer replaces a model's reply that grounding left with nothing it could
check (`UNGROUNDED`). A model stopped at its step limit gets `found`: what its own tool
calls found, said to be that.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from assistant.chat.facts import money
from assistant.chat.tools import Evidence, ToolContext
from assistant.search import CHAT_MODE, Filters, Hit
from assistant.storage import categories as categories_store
from assistant.storage import orders as orders_store
from marcus_contracts.events.assistant import CitedProduct, DegradedReason

log = logging.getLogger("assistant.chat")

ORDER_WORDS = frozenset({"order", "orders", "delivery", "shipped", "shipping", "parcel"})
WHY = {
    "llm_not_configured": "No AI model is configured for the assistant",
    "llm_timeout": "The AI model took too long to answer",
    "llm_unavailable": "The AI model cannot be reached right now",
    "llm_error": "The AI model failed to answer",
}
UNGROUNDED = (
    "The AI model's answer named products or prices the catalog does not confirm, so "
    "this answer comes from the catalog search alone."
)


@dataclass(frozen=True)
class Fallback:
    content: str
    cited: list[CitedProduct]


def _line(number: int, hit: Hit) -> str:
    stock = "in stock" if hit.in_stock else "out of stock"
    price = f"{money(hit.price)} {hit.currency}"
    return f"{number}. {hit.name}: {price} ({stock}) [product:{hit.product_id}]"


def found(evidence: Evidence, steps: int) -> str:
    """The honest end of a reply cut at the step limit: what the tools found so far."""
    head = f"I could not finish looking into this within {steps} steps."
    if not evidence.products:
        return head
    lines = [
        f"{n}. {p.name}: {money(p.price)} {p.currency} [product:{p.product_id}]"
        for n, p in enumerate(evidence.products.values(), start=1)
    ]
    return head + " What I found so far:\n" + "\n".join(lines)


async def answer(
    context: ToolContext, question: str, reason: DegradedReason | None, intro: str = ""
) -> Fallback:
    """`reason`: why the model did not answer (its intro); or None with an `intro`."""
    why = WHY.get(reason or "", "The AI model is not available")
    parts = [intro or f"{why}, so this answer comes from the catalog search alone."]
    evidence = Evidence()
    if ORDER_WORDS & set(question.lower().replace("?", " ").split()):
        try:
            async with context.sessions() as db:
                latest = await orders_store.orders_of(db, context.customer, 1)
        except Exception as exc:  # a failing read model must not fail the answer
            log.warning("orders read model unavailable for a degraded answer: %r", exc)
            latest = []
        if latest:
            order = latest[0]
            total = (
                f" (total {money(order.total)} {order.currency})" if order.total is not None else ""
            )
            parts.append(f"Your latest order {order.order_id} is {order.status}{total}.")
    try:
        parsed = await categories_store.parse_query(context.sessions, question)
        results = await context.search.search_mode(
            parsed.text, context.search_k, Filters.of(parsed), CHAT_MODE
        )
        hits = results.hits
    except Exception as exc:  # the index is away too: say so, still no error
        log.warning("search unavailable for a degraded answer: %r", exc)
        parts.append("The catalog search is not available either; please try again shortly.")
        return Fallback("\n\n".join(parts), [])
    if hits:
        for hit in hits:
            evidence.saw(hit)
        listing = "\n".join(_line(n, hit) for n, hit in enumerate(hits, start=1))
        parts.append(f"Products matching your message:\n{listing}")
    else:
        parts.append("No products in the catalog match your message.")
    return Fallback("\n\n".join(parts), list(evidence.products.values()))
