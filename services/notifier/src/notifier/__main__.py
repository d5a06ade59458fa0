"""`python -m notifier serve|migrate|republish`."""

from marcus_web.cli import run_service_cli
from notifier.settings import NotifierSettings
from notifier.storage.uow import NotifierUnitOfWork

if __name__ == "__main__":
    run_service_cli("notifier", NotifierSettings, store=NotifierUnitOfWork.store)
