"""`python -m catalog serve|migrate|rebuild-projections|republish`."""

from catalog.settings import CatalogSettings
from catalog.storage.uow import CatalogUnitOfWork
from marcus_web.cli import run_service_cli

if __name__ == "__main__":
    run_service_cli("catalog", CatalogSettings, CatalogUnitOfWork)
