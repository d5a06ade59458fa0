"""The assistant's schema: chat sessions (event store + projections), the orders read
model, co-purchase counts and the best-sellers view, and the consumer's ledger."""
