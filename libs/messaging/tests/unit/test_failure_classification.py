"""Whose fault a failure is, decided from the error alone: a handler's (counted towards
max_deliveries, blamed in its batch), or the database's (never counted)."""

from __future__ import annotations

import psycopg
from sqlalchemy import exc as sa_exc

from marcus_messaging.availability import is_connection_error, is_database_unavailable
from marcus_messaging.batch import _blame, _HandlerFailed


def wrapped(error: Exception) -> sa_exc.DBAPIError:
    """What SQLAlchemy raises for a driver error: the driver's error as `orig`/`__cause__`."""
    try:
        raise sa_exc.DBAPIError.instance("SELECT 1", None, error, psycopg.Error) from error
    except sa_exc.DBAPIError as exc:
        return exc


def test_who_is_blamed_for_a_failed_batch() -> None:
    def failed(index: int, error: Exception) -> _HandlerFailed:
        try:
            raise _HandlerFailed(index) from error
        except _HandlerFailed as exc:
            return exc

    bug = RuntimeError("bug")
    assert _blame(failed(2, bug)) == (2, bug)  # counted at once, not run again
    assert _blame(failed(2, wrapped(psycopg.errors.UniqueViolation())))[0] == 2
    # Not the handler's own doing: each entry runs again alone.
    assert _blame(failed(2, wrapped(psycopg.errors.DeadlockDetected())))[0] is None
    assert _blame(failed(2, wrapped(psycopg.errors.SerializationFailure())))[0] is None
    assert _blame(failed(2, wrapped(psycopg.errors.InFailedSqlTransaction())))[0] is None
    assert _blame(bug) == (None, bug)  # the ledger insert or the commit


def test_classification_of_database_failures() -> None:
    refused = psycopg.OperationalError("connection failed: Connection refused")
    assert is_database_unavailable(refused)
    assert is_database_unavailable(wrapped(refused))
    assert is_database_unavailable(wrapped(psycopg.errors.AdminShutdown()))
    assert is_database_unavailable(wrapped(psycopg.errors.TooManyConnections()))
    assert is_database_unavailable(sa_exc.TimeoutError("QueuePool limit reached"))
    try:  # a handler wrapping the outage in its own error
        raise RuntimeError("could not save") from wrapped(refused)
    except RuntimeError as exc:
        assert is_database_unavailable(exc)

    # The event's (or its handler's) fault: these count towards max_deliveries.
    assert not is_database_unavailable(RuntimeError("bug"))
    assert not is_database_unavailable(wrapped(psycopg.errors.DeadlockDetected()))
    assert not is_database_unavailable(wrapped(psycopg.errors.QueryCanceled()))
    assert not is_database_unavailable(wrapped(psycopg.errors.UniqueViolation()))
    # Ambiguous: decided by probing the database.
    assert is_connection_error(ConnectionRefusedError())
    assert not is_database_unavailable(ConnectionRefusedError())
