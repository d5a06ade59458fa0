"""`python -m orders serve|migrate|rebuild-projections|republish`."""

from marcus_web.cli import run_service_cli
from orders.settings import OrdersSettings
from orders.storage.uow import OrdersUnitOfWork

if __name__ == "__main__":
    run_service_cli("orders", OrdersSettings, OrdersUnitOfWork)
