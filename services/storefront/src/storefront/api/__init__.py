"""The storefront's page routes, one module per area of the shop."""
