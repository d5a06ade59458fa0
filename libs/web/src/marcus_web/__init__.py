"""HTTP plumbing shared by every Marcus service."""
