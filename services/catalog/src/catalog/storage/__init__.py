"""Persistence of the catalog: tables, repository, projector, unit of work, migrations."""
