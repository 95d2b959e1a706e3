"""Runs the guide's code examples (`pytest --markdown-docs docs/`, part of `make test`).

Each ```python fence is one test, run offline in a fresh temporary folder so examples can
create `projects/...` freely and never touch the repository. Fences marked `notest` need an
API key or a browser; their page says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

# Examples use the local providers only: a key in the developer's environment must not make an
# example that says "offline" call a paid API.
_KEY_VARS = ("OPENAI_API_KEY", "REPLICATE_API_TOKEN", "OPENAI_BASE_URL", "HEYGEN_API_KEY")


# Model lifecycles and price ages count from a fixed day (as in tests/conftest.py), so an
# example's output does not change with the date CI runs it on.
CATALOG_READ = date(2026, 12, 4)


@pytest.fixture(autouse=True)
def _catalog_day() -> Iterator[None]:
    from nbvideo.providers import lifecycle

    with lifecycle.frozen(CATALOG_READ):
        yield


@pytest.fixture(autouse=True)
def _example_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in _KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")  # cost charts draw without a display
    monkeypatch.setenv("NBVIDEO_PACKS_DIR", str(tmp_path / "packs"))  # never the user's packs
    monkeypatch.setenv("NBVIDEO_DRYRUN_PLATFORM", str(tmp_path / "dry-run-platform"))
    monkeypatch.chdir(tmp_path)
    yield
    assert Path(os.getcwd()) == tmp_path, "an example changed the working directory"
