"""`python -m assistant serve|migrate|rebuild-projections|republish`."""

from assistant.settings import AssistantSettings
from assistant.storage.uow import AssistantUnitOfWork
from marcus_web.cli import run_service_cli

if __name__ == "__main__":
    run_service_cli("assistant", AssistantSettings, AssistantUnitOfWork)
