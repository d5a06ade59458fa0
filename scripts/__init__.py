"""Developer tooling: the local stack runner, embedded servers, sample data."""
