"""Fault injection under a steady workload: every fault, several rounds, then the
invariants (tests/reliability/invariants.py) must hold with nothing lost and nothing
duplicated. Every round is recorded in the report, passing or not."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.reliability.conftest import Harness
from tests.reliability.faults import FAULTS
from tests.reliability.invariants import Verdict
from tests.reliability.report import RoundResult
from tests.reliability.workload import resolve

pytestmark = [pytest.mark.reliability, pytest.mark.fault, pytest.mark.timeout(1800)]


async def run_round(harness: Harness, fault: str, number: int) -> RoundResult:
    """The workload runs for the profile's duration; the fault starts a third of the way in.
    Recovery: from the end of the fault until every invariant holds."""
    profile = harness.profile
    events_before = harness.book.events()
    work = asyncio.create_task(harness.workload.run(profile.workload_seconds, number))
    await asyncio.sleep(profile.workload_seconds / 3)
    await FAULTS[fault](harness.stack, harness.book, profile)
    fault_over = time.monotonic()
    await work
    await resolve(harness.book, harness.stack.libpq_url)

    deadline = time.monotonic() + profile.settle_seconds
    verdict: Verdict = (await harness.checker.verdict(harness.book)).without(harness.known)
    while not verdict.holds and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        verdict = (await harness.checker.verdict(harness.book)).without(harness.known)
    harness.known |= verdict.items()
    return RoundResult(
        fault=fault,
        round=number,
        events=harness.book.events() - events_before,
        lost=verdict.lost,
        duplicated=verdict.duplicated,
        recovery_seconds=round(time.monotonic() - fault_over, 2),
        invariants={o.name: {"lost": o.lost, "duplicated": o.duplicated} for o in verdict.outcomes},
        details=verdict.describe(),
    )


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_nothing_lost_nothing_duplicated(harness: Harness, fault: str) -> None:
    if fault in harness.profile.skipped:
        pytest.skip(f"the {harness.profile.name} profile leaves it to RELIABILITY_PROFILE=full")
    rounds = 1 if fault.startswith("none") else harness.profile.rounds
    results = []
    for number in range(1, rounds + 1):
        result = await run_round(harness, fault, number)
        harness.report.rounds.append(result)
        results.append(result)
    for result in results:
        assert result.events > 0, "the workload produced nothing"
        assert (result.lost, result.duplicated) == (0, 0), f"round {result.round}: {result.details}"
