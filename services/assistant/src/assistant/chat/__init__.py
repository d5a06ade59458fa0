"""The chat: a LangChain tool-calling loop over an OpenAI-compatible model, with a
retrieval-only answer whenever the model is not configured or fails."""
