"""`python -m assistant serve|migrate`."""

from assistant.settings import AssistantSettings
from marcus_web.cli import run_service_cli

if __name__ == "__main__":
    run_service_cli("assistant", AssistantSettings)
