"""Orders service: places orders, follows the stock saga, keeps a read model of prices."""
