"""The chat model: LangChain's ChatOpenAI, pointed at any OpenAI-compatible server."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from assistant.settings import AssistantSettings

NO_KEY = "not-needed"
"""Local servers (Ollama, vLLM, llama.cpp) take any key; the client insists on one."""


def chat_model(settings: AssistantSettings) -> BaseChatModel | None:
    """None when no model is configured: every reply is then answered from search."""
    if not settings.chat_configured:
        return None
    return ChatOpenAI(
        model=settings.chat_model,
        base_url=settings.chat_endpoint,
        api_key=SecretStr(settings.chat_key or NO_KEY),
        timeout=settings.chat_timeout_s,
        max_retries=settings.chat_max_retries,
        temperature=settings.chat_temperature,
        max_tokens=settings.chat_max_reply_tokens,
    )
