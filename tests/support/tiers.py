"""Which tier a test belongs to, from where its file lives (read by the root conftest,
which marks each test, and by `make test-unit`, which needs the paths to collect).

- `unit`: pure; no database, no Redis, no processes; milliseconds each.
- `integration`: one service or lib against real PostgreSQL / Redis / Chroma in-process.
- `e2e`: services started as processes (and nginx, a browser, `make up`).

A folder `*/tests/unit/`, `*/tests/integration/` or `*/tests/e2e/` names its tier. The
cross-service suites under the top-level `tests/` are listed in `SUITES` (the longest
listed prefix of a path wins); anything else is `integration`, the safe default: it is
run by `make test-integration` and never by `make test-unit`, which has no database.
A test marked `unit`, `integration` or `e2e` by hand keeps its own marker.

Standard library only: imported while pytest starts, and by make.
"""

from __future__ import annotations

import sys
from pathlib import Path, PurePosixPath

TIERS = ("unit", "integration", "e2e")
FALLBACK = "integration"
ROOT = Path(__file__).resolve().parents[2]

SUITES: dict[str, str] = {
    "tests/access": "e2e",
    "tests/bench": "integration",
    "tests/browser": "e2e",
    "tests/deploy": "unit",
    "tests/fuzzing": "e2e",
    "tests/gateway": "e2e",
    "tests/gateway/test_openapi_merge.py": "unit",
    "tests/observability": "e2e",
    "tests/observability/test_prometheus_config.py": "unit",
    "tests/reliability": "e2e",
    "tests/security": "e2e",
    "tests/security/test_deploy_config.py": "unit",
    "tests/security/test_ownership.py": "integration",
    "tests/test_compose.py": "unit",
    "tests/test_docs_links.py": "unit",
    "tests/test_fakes.py": "unit",
    "tests/test_first_run.py": "e2e",
    "tests/test_seed_data.py": "unit",
    "tests/test_service_shape.py": "unit",
    "tests/test_shared_fixtures.py": "integration",
    "tests/test_stack_supervisor.py": "e2e",
    "tests/test_tiers.py": "unit",
}
"""Top-level `tests/` suites (folders or files, relative to the repository) -> tier."""


def tier_of(path: str | PurePosixPath) -> str:
    """The tier of a test file, `path` relative to the repository root."""
    parts = PurePosixPath(path).parts
    for index, part in enumerate(parts[:-1]):
        if part == "tests" and parts[index + 1] in TIERS:
            return parts[index + 1]
    text = PurePosixPath(*parts).as_posix()
    listed = [prefix for prefix in SUITES if text == prefix or text.startswith(prefix + "/")]
    return SUITES[max(listed, key=len)] if listed else FALLBACK


def paths(tier: str, root: Path = ROOT) -> list[str]:
    """Where pytest must look for the tests of `tier`: every `*/tests/<tier>` folder and
    the top-level suites listed with that tier (their other tiers are deselected by `-m`)."""
    folders = sorted(
        str(folder.relative_to(root))
        for pattern in (f"libs/*/tests/{tier}", f"services/*/tests/{tier}", f"tests/{tier}")
        for folder in root.glob(pattern)
        if folder.is_dir()
    )
    suites = sorted(
        prefix
        for prefix, listed in SUITES.items()
        if listed == tier
        and (root / prefix).exists()
        and not any(prefix.startswith(other + "/") for other in SUITES if SUITES[other] == tier)
    )
    return folders + suites


def main(argv: list[str]) -> int:
    """`python -m tests.support.tiers paths unit`: the paths, one per line."""
    if len(argv) != 2 or argv[0] != "paths" or argv[1] not in TIERS:
        print(f"usage: python -m tests.support.tiers paths {{{'|'.join(TIERS)}}}", file=sys.stderr)
        return 2
    print("\n".join(paths(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
