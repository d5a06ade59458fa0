"""Each test's tier comes from where its file lives (tests/support/tiers.py), and every
top-level suite of tests/ is listed, so none is run by the wrong make target."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import tiers

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("path", "tier"),
    [
        ("services/orders/tests/unit/test_domain.py", "unit"),
        ("services/orders/tests/integration/sub/test_x.py", "integration"),
        ("libs/messaging/tests/e2e/test_x.py", "e2e"),
        ("services/orders/tests/test_untiered.py", "integration"),
        ("tests/gateway/test_gateway.py", "e2e"),
        ("tests/gateway/test_openapi_merge.py", "unit"),
        ("tests/test_compose.py", "unit"),
        ("tests/deploy/test_k8s_manifests.py", "unit"),
    ],
)
def test_the_tier_of_a_file(path: str, tier: str) -> None:
    assert tiers.tier_of(path) == tier


def test_every_top_level_suite_has_a_tier() -> None:
    suites = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").iterdir()
        if (path.is_dir() and any(path.glob("test_*.py")))
        or (path.is_file() and path.name.startswith("test_"))
    }
    assert suites <= set(tiers.SUITES), sorted(suites - set(tiers.SUITES))


def test_the_unit_paths_exist_and_hold_no_other_tier_by_folder() -> None:
    for path in tiers.paths("unit"):
        assert (ROOT / path).exists(), path
        assert "/integration" not in path and "/e2e" not in path
