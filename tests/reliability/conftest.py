"""The reliability suite's stack: started once for the module, torn down after the
report is written. `RELIABILITY_PROFILE=ci|full` picks rounds and durations."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from services.orders.tests.stack import wait_read_model
from tests.reliability.faults import PROFILES, Profile
from tests.reliability.invariants import Checker
from tests.reliability.report import WRITTEN, Report
from tests.reliability.stack import SECRET, ReliabilityStack
from tests.reliability.workload import Book, Workload
from tests.support.servers import serve_app


def profile() -> Profile:
    name = os.environ.get("RELIABILITY_PROFILE", "ci")
    if name not in PROFILES:
        raise pytest.UsageError(f"RELIABILITY_PROFILE must be one of {sorted(PROFILES)}")
    return PROFILES[name]


@dataclass
class Harness:
    stack: ReliabilityStack
    book: Book
    workload: Workload
    checker: Checker
    report: Report
    profile: Profile
    known: set[str] = field(default_factory=set)
    """Violations earlier rounds reported (see Verdict.without)."""


@pytest.fixture(scope="module")
async def harness(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    chosen = profile()
    stack = ReliabilityStack(tmp_path_factory.mktemp("reliability"))
    report = Report(chosen.name)
    async with serve_app(stack.model.app) as model_url:
        stack.model.url = model_url
        stack.model.then_forever()
        workload: Workload | None = None
        checker: Checker | None = None
        try:
            await stack.start_servers()
            await stack.start_services()
            book = Book()
            workload = Workload(
                {name: stack.url(name) for name in ("catalog", "orders", "assistant")},
                SECRET,
                stack.libpq_url,
                book,
            )
            await workload.setup()
            await wait_read_model(stack.database_url, *workload.pool, within=60)
            checker = Checker(
                stack.url("catalog"),
                stack.chroma.url,
                stack.redis.url,
                stack.prefix,
                stack.libpq_url,
                stack.mail.folder,
            )
            yield Harness(stack, book, workload, checker, report, chosen)
        finally:
            if report.rounds:
                if workload is not None:
                    report.traffic = {
                        "search": {str(k): v for k, v in workload.book.searches.items()},
                        "chat": {str(k): v for k, v in workload.book.chats.items()},
                    }
                if checker is not None and workload is not None:
                    outcomes = Counter((await checker.statuses(workload.book)).values())
                    report.traffic["orders"] = dict(sorted(outcomes.items()))
                    report.traffic["stock sets"] = {"applied": len(workload.book.stock_sets)}
                WRITTEN.append(report.write())
            if workload is not None:
                await workload.aclose()
            await stack.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for path in WRITTEN:
        terminalreporter.write_sep("=", f"reliability report: {path}")
        terminalreporter.write(path.read_text())
