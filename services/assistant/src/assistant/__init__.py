"""Assistant service: semantic product search and recommendations."""
