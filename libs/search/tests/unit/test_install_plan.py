"""What `make install-local-model` says it will download: file sizes and their total."""

from __future__ import annotations

import sys
from pathlib import Path

from marcus_search.install_plan import human, main, size_of


def test_sizes_of_local_files_and_unknowns(tmp_path: Path) -> None:
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    wheel.write_bytes(b"x" * 1234)
    assert size_of(wheel.as_uri()) == 1234
    assert size_of((tmp_path / "missing.whl").as_uri()) is None
    assert size_of("ftp://example.invalid/x.whl") is None
    assert size_of("http://127.0.0.1:9/x.whl") is None  # nothing listens: unknown, no error


def test_human_sizes() -> None:
    assert human(None) == "?"
    assert human(512) == "512 B"
    assert human(191_800_000) == "191.8 MB"
    assert human(2_500_000_000) == "2.5 GB"


def test_a_plan_that_cannot_be_made_never_fails_the_install(capsys) -> None:
    assert main(["--pip", f"{sys.executable} -m no_such_pip", "torch==0"]) == 0
    assert "could not list the downloads" in capsys.readouterr().out
