"""The chat model: LangChain's ChatOpenAI, pointed at any OpenAI-compatible server.

The reply cap goes out under the name the server reads. OpenAI takes
`max_completion_tokens` (its `max_tokens` is deprecated and refused by reasoning
models), and refuses a request that sets both; vLLM, Ollama and llama.cpp all read
`max_tokens`, and not all of them read the newer name. So `CHAT_MAX_TOKENS_FIELD=auto`
sends `max_completion_tokens` to OpenAI (no base URL, or api.openai.com) and
`max_tokens` to any other server; set it to name the field for a proxy that needs the
other one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from assistant.settings import AssistantSettings

NO_KEY = "not-needed"
"""Local servers (Ollama, vLLM, llama.cpp) take any key; the client insists on one."""
OPENAI_HOSTS = frozenset({"api.openai.com"})


def max_tokens_field(settings: AssistantSettings) -> str:
    """The request field that caps the reply on the configured server."""
    if settings.chat_max_tokens_field != "auto":
        return settings.chat_max_tokens_field
    endpoint = settings.chat_endpoint
    if endpoint is None or urlparse(endpoint).hostname in OPENAI_HOSTS:
        return "max_completion_tokens"
    return "max_tokens"


def chat_model(settings: AssistantSettings) -> BaseChatModel | None:
    """None when no model is configured: every reply is then answered from search."""
    if not settings.chat_configured:
        return None
    cap: dict[str, Any] = {"max_tokens": settings.chat_max_reply_tokens}
    if max_tokens_field(settings) == "max_tokens":
        # ChatOpenAI renames its max_tokens to max_completion_tokens: send it as is.
        cap = {"extra_body": {"max_tokens": settings.chat_max_reply_tokens}}
    return ChatOpenAI(
        model=settings.chat_model,
        base_url=settings.chat_endpoint,
        api_key=SecretStr(settings.chat_key or NO_KEY),
        timeout=settings.chat_timeout_s,
        max_retries=settings.chat_max_retries,
        temperature=settings.chat_temperature,
        **cap,
    )
