"""Shared fixtures: a small offline project rendered once, copied for each test that edits it."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import nbvideo as nv

_PACK_DIRS = itertools.count()  # a fresh, not yet created, packs folder per test

# Small but real: 720p is the smallest export size, so keep clips short and fps low.
SMALL = dict(aspect="16:9", duration_s=8.0, resolution="720p", fps=12)
BRIEF = "8s ad for a waterproof trail shoe for weekend hikers"
# The shortest ad a brief takes (still a hook, a middle scene and an end card): for the tests
# that render many variants and are about how they run, not how long they are.
SHORT = {**SMALL, "duration_s": 5.0}


# The day model lifecycles are counted from in tests (providers/lifecycle.py): fixed, so no
# test changes with the date it runs on. It is the day the catalog's lifecycles were read.
TEST_TODAY = date(2026, 12, 4)


@pytest.fixture(autouse=True)
def lifecycle_today() -> Iterator[date]:
    from nbvideo.providers import lifecycle

    with lifecycle.frozen(TEST_TODAY):
        yield TEST_TODAY


@pytest.fixture(autouse=True)
def catalog_as_shipped() -> Iterator[None]:
    """Entries a test registers (a fake remote model, a negotiated price) end with it: the
    catalog is a process-wide table, and a priced fake left in it changed what later tests in
    the same worker saw (test_money_gate's check of every priced model)."""
    from nbvideo.providers import catalog

    kept = dict(catalog._CATALOG)
    yield
    catalog._CATALOG.clear()
    catalog._CATALOG.update(kept)


PROJECT_V4 = Path(__file__).parent / "fixtures" / "project_v4"
"""A project saved by schema-4 code (tests/fixtures/make_project_v4.py): music is the bed,
seed 7, 12 fps, no tracks, effects or later fields."""


@pytest.fixture
def old(tmp_path: Path) -> Iterator[nv.Project]:
    """A copy of PROJECT_V4, opened now: it must open without a warning (no "edited by
    hand": its history goes on)."""
    import warnings

    shutil.copytree(PROJECT_V4, tmp_path / "old-shoe")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = nv.Project.open(tmp_path / "old-shoe")
    yield p
    p.close()


@pytest.fixture(autouse=True)
def engine_log_of_its_own(tmp_path_factory: pytest.TempPathFactory,
                          monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test shares engine outcomes only with itself (store/engine_log.py): a test that
    makes an engine fail must not send another test's routing around it."""
    path = tmp_path_factory.mktemp("engine-log") / "engine-calls.jsonl"
    monkeypatch.setenv("NBVIDEO_ENGINE_LOG", str(path))
    return path


@pytest.fixture(autouse=True)
def template_packs_of_its_own(tmp_path_factory: pytest.TempPathFactory,
                              monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test sees only the template packs it installs (store/packs.py), never the
    user's own nor another test's."""
    path = tmp_path_factory.getbasetemp() / f"packs-{os.getpid()}-{next(_PACK_DIRS)}"
    monkeypatch.setenv("NBVIDEO_PACKS_DIR", str(path))
    return path


@pytest.fixture(autouse=True)
def dry_run_platform_of_its_own(tmp_path_factory: pytest.TempPathFactory,
                                monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test posts to its own dry-run platform (deliver/platforms/dryrun.py), never the
    user's cache nor another test's."""
    path = tmp_path_factory.mktemp("dry-run-platform")
    monkeypatch.setenv("NBVIDEO_DRYRUN_PLATFORM", str(path))
    return path


@pytest.fixture(scope="session")
def rendered_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project taken through storyboard and clips, then closed (so copies can be opened)."""
    root = tmp_path_factory.mktemp("template")
    p = nv.Project.open(root / "shoe", brief=BRIEF, **SMALL)
    p.storyboard()
    p.generate_clips().wait()
    p.close()
    return root / "shoe"


@pytest.fixture
def rendered(rendered_template: Path, tmp_path: Path) -> Iterator[nv.Project]:
    dest = tmp_path / "shoe"
    shutil.copytree(rendered_template, dest)
    p = nv.Project.open(dest)
    yield p
    p.close()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[nv.Project]:
    p = nv.Project.open(tmp_path / "fresh", brief=BRIEF, **SMALL)
    yield p
    p.close()


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Every message widgets would send to the browser, recorded (see tests/wire.py)."""
    pytest.importorskip("anywidget")
    import comm

    from tests.wire import Wire

    w = Wire()
    monkeypatch.setattr(comm, "create_comm", w.create_comm)
    yield w


OPENAI_KEY = "sk-test-" + "k" * 30
"""The OpenAI double's key: tests check it never reaches disk or output."""


@pytest.fixture
def openai_double(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The OpenAI double on 127.0.0.1 with the SDK pointed at it (key and base URL)."""
    from tests.doubles.openai_double import start_openai_double

    d = start_openai_double(api_key=OPENAI_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", d.base_url)
    yield d
    d.stop()


@pytest.fixture
def replicate_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The Replicate double on 127.0.0.1 with the SDK pointed at it (token, base URL, and
    downloads allowed from it), answering in 0.4 s."""
    from tests.doubles.replicate_double import start_replicate_double
    from tests.test_clip_routing import TOKEN

    d = start_replicate_double(TOKEN)
    d.latency_s = 0.4
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
    monkeypatch.setenv("REPLICATE_BASE_URL", d.base_url)
    monkeypatch.setenv("NBVIDEO_DOWNLOAD_HOSTS", "127.0.0.1")
    yield d
    d.stop()


@pytest.fixture
def runway_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The Runway double on 127.0.0.1 with the SDK pointed at it the way a user would (the
    key and base URL in the SDK's own variables, downloads allowed from 127.0.0.1), its tasks
    running 0.4 s."""
    from tests.doubles.runway_double import start_runway_double
    from tests.test_runway import KEY

    d = start_runway_double(KEY)
    d.latency_s = 0.4
    monkeypatch.setenv("RUNWAYML_API_SECRET", KEY)
    monkeypatch.setenv("RUNWAYML_BASE_URL", d.base_url)
    monkeypatch.setenv("NBVIDEO_DOWNLOAD_HOSTS", "127.0.0.1")
    yield d
    d.stop()
