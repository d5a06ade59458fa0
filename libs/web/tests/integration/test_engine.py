"""Issue 19, finding 8: a failed statement's parameters (a customer's chat text) never
reach an error message, a traceback or a log line (real PostgreSQL)."""

from __future__ import annotations

import io
import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from marcus_telemetry import JsonFormatter
from marcus_web.app import make_engine
from marcus_web.settings import ServiceSettings

CHAT = "my private chat message: I need a wheelchair ramp for my mother"


async def test_finding_8_failed_statements_keep_their_parameters_out_of_logs(
    database_url: str,
) -> None:
    engine = make_engine(ServiceSettings(database_url=database_url))
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("web"))
    logger = logging.getLogger("test.web.engine")
    logger.handlers = [handler]
    logger.propagate = False
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as caught:
                await conn.execute(
                    text("SELECT CAST(:content AS text), 1 / (SELECT 0)"), {"content": CHAT}
                )
        try:
            raise caught.value
        except DBAPIError:
            logger.exception("the statement failed")
    finally:
        await engine.dispose()
    assert "division by zero" in str(caught.value)  # the error itself is kept
    assert CHAT not in str(caught.value)
    assert "CAST" in out.getvalue() and CHAT not in out.getvalue()
