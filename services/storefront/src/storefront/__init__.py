"""Marcus storefront: the shop in a browser, a client of the public API only."""
