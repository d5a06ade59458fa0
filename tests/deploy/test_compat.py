"""deploy/compat.py: the consumers' released versions against what producers write now
(the contracts' compatibility check, run per consumer group at its release tag)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from deploy import compat
from tests.deploy import manifests as m

TYPES = ["orders.order.confirmed", "orders.order.cancelled"]


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def released(tmp_path: Path) -> Path:
    """A repository where the notifier was released (tag notifier-v<version>) with the
    schemas of today."""
    shutil.copytree(m.ROOT / compat.SCHEMAS, tmp_path / compat.SCHEMAS)
    (tmp_path / "services" / "notifier").mkdir(parents=True)
    shutil.copy(m.ROOT / "services/notifier/pyproject.toml", tmp_path / "services/notifier")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "release")
    git(tmp_path, "tag", f"notifier-v{m.version('notifier')}")
    return tmp_path


def _latest(repo: Path, event_type: str) -> Path:
    folder = repo / compat.SCHEMAS / event_type
    return folder / f"v{max(compat.versions(folder.parent, event_type))}.json"


def test_unchanged_contracts_pass(released: Path) -> None:
    lines: list[str] = []
    assert compat.run("orders", {"notifier": TYPES}, released, lines.append) == []
    assert lines == [f"notifier notifier-v{m.version('notifier')}: 2 event types, 0 problems"]


def test_a_field_the_released_consumer_forbids_is_a_problem(released: Path) -> None:
    latest = _latest(released, TYPES[0])
    schema = json.loads(latest.read_text())
    data = schema["properties"]["data"]
    assert data["additionalProperties"] is False  # the consumer's model forbids extras
    data["properties"]["gift_note"] = {"type": "string"}  # optional, new since the release
    latest.write_text(json.dumps(schema))
    problems = compat.run("orders", {"notifier": TYPES}, released, lambda _: None)
    assert [p.event_type for p in problems] == [TYPES[0]]
    assert "notifier-v" in str(problems[0])


def test_a_version_newer_than_the_release_is_a_problem(released: Path) -> None:
    latest = _latest(released, TYPES[1])
    newer = latest.with_name(f"v{int(latest.stem[1:]) + 1}.json")
    shutil.copy(latest, newer)
    (problem,) = compat.run("orders", {"notifier": TYPES}, released, lambda _: None)
    assert problem.event_type == TYPES[1]
    assert f"writes {newer.stem}" in problem.reason


def test_other_producers_and_unreleased_groups_are_skipped(released: Path) -> None:
    lines: list[str] = []
    assert compat.run("catalog", {"notifier": TYPES}, released, lines.append) == []
    assert lines == []  # the notifier reads nothing of the catalog's here
    shutil.copytree(m.ROOT / "services/orders", released / "services/orders", dirs_exist_ok=True)
    assert compat.run("orders", {"orders": TYPES}, released, lines.append) == []
    assert lines == [
        f"orders: no release tag orders-v{m.version('orders')}: nothing released to break, skipped"
    ]


def test_released_consumers_can_read_todays_events() -> None:
    """The real check on this repository: every group at its release tag (groups not
    released yet are skipped and say so)."""
    lines: list[str] = []
    groups = compat.consumer_types()
    assert set(groups) >= {"catalog", "orders", "assistant", "indexer", "notifier"}
    problems = compat.run(None, groups, m.ROOT, lines.append)
    assert not problems, "\n".join(map(str, problems))
    assert len(lines) == len(groups)
