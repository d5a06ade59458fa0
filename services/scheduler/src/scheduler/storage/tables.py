"""The scheduler schema: the event store, the job-runs projection, the leader lease and
the ledger of the consumer that reads outcome reports.

`job_runs` is unique on (job, fire_time) and is written in the transaction that appends
the fire's event (and queues it in the outbox): a second fire of the same (job, fire
time) cannot commit, whichever replica tries.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from marcus_eventstore import event_store_tables
from marcus_messaging import ledger_tables
from scheduler.settings import SCHEMA

metadata = MetaData(schema=SCHEMA)

event_store = event_store_tables(metadata, SCHEMA)
ledger = ledger_tables(metadata, SCHEMA)

RUN_UNIQUE = "uq_job_runs_job_fire_time"

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Uuid, primary_key=True, comment="run id = id of the fire's event"),
    Column("job", String(80), nullable=False),
    Column("fire_time", DateTime(timezone=True), nullable=False),
    Column("requested_by", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("fired_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("outcome_at", DateTime(timezone=True)),
    Column("outcome_detail", Text),
    Column("report_id", Uuid),
    Column("version", Integer, nullable=False),
    UniqueConstraint("job", "fire_time", name=RUN_UNIQUE),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(80), primary_key=True),
    Column("holder", Text, nullable=False),
    Column("token", BigInteger, nullable=False, comment="fencing token, +1 per new tenure"),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

PROJECTIONS = (job_runs,)
