"""Prometheus metrics of the chat (exposed by the web lib's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

CHAT_REPLIES = Counter(
    "assistant_chat_replies_total",
    "Replies recorded, by how they were made (model | degraded) and status.",
    ["mode", "status"],
)
CHAT_DEGRADED = Counter(
    "assistant_chat_degraded_total",
    "Replies answered from search alone, by reason (model not configured, timeout, ...).",
    ["reason"],
)
LLM_CALLS = Counter(
    "assistant_llm_calls_total",
    "Replies the model was asked for, by outcome (ok | timeout | unavailable | error).",
    ["outcome"],
)
TOOL_CALLS = Counter(
    "assistant_chat_tool_calls_total",
    "Tool calls the model made, by offered tool (`not_offered` for any other name) and "
    "outcome (ok | error | refused).",
    ["tool", "outcome"],
)
UNVERIFIED_CITATIONS = Counter(
    "assistant_chat_unverified_citations_total",
    "Product ids a model reply named that no tool returned (not cited).",
)
CHAT_GROUNDING = Counter(
    "assistant_chat_grounding_total",
    "Model replies whose text grounding changed, by outcome (corrected | replaced).",
    ["grounding"],
)
GROUNDING_FINDINGS = Counter(
    "assistant_chat_grounding_findings_total",
    "What grounding found in model text (unknown_id, unknown_product, wrong_name, "
    "wrong_price, unknown_price) and did (rewrote | dropped).",
    ["kind", "action"],
)
LLM_CALL_SECONDS = Histogram(
    "assistant_llm_call_seconds",
    "Duration of one model call (one step of the tool loop; streamed calls until the last chunk).",
    ["streamed"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60),
)
REPLY_SECONDS = Histogram(
    "assistant_chat_reply_seconds",
    "Time to a recorded reply, by mode.",
    ["mode"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120),
)
ACTIONS = Counter(
    "assistant_actions_total",
    "Actions the assistant proposed (checkouts), by step: proposed, confirmed, executed, "
    "failed, expired (a confirmation refused with 410), unavailable (orders unreachable "
    "when confirmed: 503, performed by the next confirmation).",
    ["step"],
)
