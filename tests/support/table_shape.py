"""The shape of tables as PostgreSQL holds them (columns, defaults, identity, constraints,
indexes, triggers), read from the catalog, for tests that pin a schema down exactly."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

COLUMNS = text(
    """
    SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
           pg_get_expr(d.adbin, d.adrelid), a.attidentity
    FROM pg_attribute a
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = CAST(:rel AS regclass) AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum
    """
)
CONSTRAINTS = text(
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE conrelid = CAST(:rel AS regclass) ORDER BY conname"
)
INDEXES = text(
    "SELECT indexname, indexdef FROM pg_indexes"
    " WHERE schemaname = :schema AND tablename = :table ORDER BY indexname"
)
TRIGGERS = text(
    "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger"
    " WHERE tgrelid = CAST(:rel AS regclass) AND NOT tgisinternal ORDER BY tgname"
)
IDENTITY_SEQUENCES = text(
    """
    SELECT a.attname, s.seqtypid::regtype::text, s.seqstart, s.seqincrement, s.seqmin,
           s.seqmax, s.seqcache, s.seqcycle
    FROM pg_attribute a
    JOIN pg_sequence s
      ON s.seqrelid = CAST(pg_get_serial_sequence(:rel, a.attname) AS regclass)
    WHERE a.attrelid = CAST(:rel AS regclass) AND a.attidentity <> ''
    """
)


def describe(conn: Connection, schema: str, table: str) -> dict[str, Any]:
    """Everything that defines `schema.table`, as plain tuples (comparable with ==)."""
    rel = {"rel": f'"{schema}"."{table}"'}
    return {
        "columns": [tuple(row) for row in conn.execute(COLUMNS, rel)],
        "constraints": [tuple(row) for row in conn.execute(CONSTRAINTS, rel)],
        "indexes": [
            tuple(row) for row in conn.execute(INDEXES, {"schema": schema, "table": table})
        ],
        "triggers": [tuple(row) for row in conn.execute(TRIGGERS, rel)],
        "identity": [tuple(row) for row in conn.execute(IDENTITY_SEQUENCES, rel)],
    }


def tables_in(conn: Connection, schema: str) -> set[str]:
    rows = conn.execute(
        text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"), {"schema": schema}
    )
    return {row[0] for row in rows}


BIGINT_MAX = 9223372036854775807
TZ = "timestamp with time zone"


def shared_tables(schema: str) -> dict[str, dict[str, Any]]:
    """The event store and the consumer ledger every service keeps, spelled out: what the
    first migrations created before the DDL moved into `marcus_eventstore.migrations`."""
    s = schema
    return {
        "events": {
            "columns": [
                ("position", "bigint", True, None, "a"),
                ("id", "uuid", True, None, ""),
                ("subject", "text", True, None, ""),
                ("sequence", "integer", True, None, ""),
                ("type", "text", True, None, ""),
                ("dataversion", "integer", True, None, ""),
                ("time", TZ, True, None, ""),
                ("envelope", "json", True, None, ""),
            ],
            "constraints": [
                ("events_id_key", "UNIQUE (id)"),
                ("events_pkey", 'PRIMARY KEY ("position")'),
                ("uq_events_subject_sequence", "UNIQUE (subject, sequence)"),
            ],
            "indexes": [
                (
                    "events_id_key",
                    f"CREATE UNIQUE INDEX events_id_key ON {s}.events USING btree (id)",
                ),
                (
                    "events_pkey",
                    f'CREATE UNIQUE INDEX events_pkey ON {s}.events USING btree ("position")',
                ),
                (
                    f"ix_{s}_events_type",
                    f"CREATE INDEX ix_{s}_events_type ON {s}.events USING btree (type)",
                ),
                (
                    "uq_events_subject_sequence",
                    f"CREATE UNIQUE INDEX uq_events_subject_sequence ON {s}.events"
                    " USING btree (subject, sequence)",
                ),
            ],
            "triggers": [],
            "identity": [("position", "bigint", 1, 1, 1, BIGINT_MAX, 1, False)],
        },
        "outbox": {
            "columns": [("position", "bigint", True, None, "")],
            "constraints": [
                ("outbox_pkey", 'PRIMARY KEY ("position")'),
                (
                    "outbox_position_fkey",
                    f'FOREIGN KEY ("position") REFERENCES {s}.events("position") ON DELETE CASCADE',
                ),
            ],
            "indexes": [
                (
                    "outbox_pkey",
                    f'CREATE UNIQUE INDEX outbox_pkey ON {s}.outbox USING btree ("position")',
                )
            ],
            "triggers": [],
            "identity": [],
        },
        "processed_events": {
            "columns": [
                ("consumer_group", "text", True, None, ""),
                ("event_id", "uuid", True, None, ""),
                ("event_type", "text", True, None, ""),
                ("stream", "text", True, None, ""),
                ("entry_id", "text", True, None, ""),
                ("processed_at", TZ, True, "now()", ""),
            ],
            "constraints": [("processed_events_pkey", "PRIMARY KEY (consumer_group, event_id)")],
            "indexes": [
                (
                    f"ix_{s}_processed_events_processed_at",
                    f"CREATE INDEX ix_{s}_processed_events_processed_at ON {s}.processed_events"
                    " USING btree (processed_at)",
                ),
                (
                    "processed_events_pkey",
                    f"CREATE UNIQUE INDEX processed_events_pkey ON {s}.processed_events"
                    " USING btree (consumer_group, event_id)",
                ),
            ],
            "triggers": [],
            "identity": [],
        },
        "subject_sequences": {
            "columns": [
                ("scope", "text", True, "''::text", ""),
                ("subject", "text", True, None, ""),
                ("sequence", "bigint", True, None, ""),
                ("updated_at", TZ, True, "now()", ""),
            ],
            "constraints": [("subject_sequences_pkey", "PRIMARY KEY (scope, subject)")],
            "indexes": [
                (
                    "subject_sequences_pkey",
                    f"CREATE UNIQUE INDEX subject_sequences_pkey ON {s}.subject_sequences"
                    " USING btree (scope, subject)",
                )
            ],
            "triggers": [],
            "identity": [],
        },
    }
