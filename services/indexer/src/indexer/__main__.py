"""`python -m indexer serve|migrate|republish|reindex`."""

from indexer.cli import reindex_command
from indexer.settings import IndexerSettings
from indexer.storage.tables import event_store
from marcus_eventstore import EventStore
from marcus_web.cli import run_service_cli

if __name__ == "__main__":
    run_service_cli(
        "indexer",
        IndexerSettings,
        store=EventStore(event_store),
        extra={
            "reindex": (
                "rebuild the index from a catalog snapshot, or by replay (REBUILD_SOURCE); waits until it is switched",
                reindex_command,
            )
        },
    )
