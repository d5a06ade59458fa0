"""Assistant service: semantic product search, recommendations and the shopping chat."""
