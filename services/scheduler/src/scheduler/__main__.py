"""`python -m scheduler serve|migrate|rebuild-projections|republish`."""

from marcus_web.cli import run_service_cli
from scheduler.settings import SchedulerSettings
from scheduler.storage.uow import SchedulerUnitOfWork

if __name__ == "__main__":
    run_service_cli("scheduler", SchedulerSettings, SchedulerUnitOfWork)
