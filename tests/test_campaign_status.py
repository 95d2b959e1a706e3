"""The campaign's live status table: one row per variant, updated in place while it runs.

The notebook's display is replaced by a fake handle (the frontend check says yes), so each
update the user would see is captured as the DataFrame it shows.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from distributed import Client, LocalCluster

import nbvideo as nv
from nbvideo.campaign import runner, status
from nbvideo.campaign.models import CampaignState, VariantResult, VariantSpec
from tests.conftest import BRIEF, SHORT

HOOKS = ["Wet feet again?", "Built for the storm"]


class FakeHandle:
    """What `display(..., display_id=True)` returns; keeps every table shown."""

    def __init__(self, shown: list[pd.DataFrame]) -> None:
        self.shown = shown

    def update(self, view: status.StatusView) -> None:
        assert "<table" in view._repr_html_()
        self.shown.append(view.table)


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[pd.DataFrame]:
    """Tables the notebook would show, every change sent at once (no throttling)."""
    tables: list[pd.DataFrame] = []

    def open_display(view: status.StatusView) -> FakeHandle:
        tables.append(view.table)
        return FakeHandle(tables)

    monkeypatch.setattr(status, "live_frontend", lambda: True)
    monkeypatch.setattr(status, "open_display", open_display)
    monkeypatch.setattr(status, "UPDATE_EVERY_S", 0.0)
    return tables


@pytest.fixture
def base(tmp_path: Path) -> Iterator[nv.Project]:
    p = nv.Project.open(tmp_path / "shoe", brief=BRIEF, **SHORT)
    yield p
    p.close()


def transitions(tables: list[pd.DataFrame]) -> dict[str, list[str]]:
    """Per variant, the statuses it went through as the user saw them (repeats dropped)."""
    out: dict[str, list[str]] = {}
    for df in tables:
        for v, s in zip(df["variant"], df["status"], strict=True):
            seen = out.setdefault(v, [])
            if not seen or seen[-1] != s:
                seen.append(s)
    return out


def test_an_inline_run_shows_each_variant_queued_then_running_then_done(
        base: nv.Project, tmp_path: Path, shown: list[pd.DataFrame]) -> None:
    c = nv.variants(base, hooks=HOOKS, path=tmp_path / "camp")
    res = c.run(cluster="inline")
    seen = transitions(shown)
    assert seen == {v: ["queued", "running on this process", "done"]
                    for v in c.variants["variant"]}, seen
    # variants run one by one: the second is still queued while the first runs
    first, second = list(c.variants["variant"])
    assert any(dict(zip(df["variant"], df["status"], strict=True)) ==
               {first: "running on this process", second: "queued"} for df in shown)
    # the last table shown is the final one, and status() gives it after the run
    final = c.status()
    pd.testing.assert_frame_equal(shown[-1], final)
    assert list(final.columns) == status.STATUS_COLUMNS
    assert (final["status"] == "done").all() and (final["seconds"] > 0).all()
    assert all(Path(x).exists() for xs in final["exports"] for x in xs)
    assert list(final["cost_usd"]) == list(res["cost_usd"])
    # run again: everything is current, so no table is opened and none updated
    shown.clear()
    c.run(cluster="inline")
    assert shown == [] and (c.status()["status"] == "done").all()


def test_results_have_each_variant_as_soon_as_it_finishes(base: nv.Project,
                                                          tmp_path: Path) -> None:
    c = nv.variants(base, hooks=HOOKS, path=tmp_path / "camp")
    seen: list[tuple[str, dict[str, str], dict[str, str]]] = []

    def on_result(res: VariantResult) -> None:
        here = c.results.set_index("variant")["status"].to_dict()
        on_disk = nv.Campaign.open(c.path).results.set_index("variant")["status"].to_dict()
        seen.append((res.variant, here, on_disk))

    runner.run(c.path, c._state, cluster="inline", progress=False, on_result=on_result)
    first, second = list(c.variants["variant"])
    assert seen == [
        (first, {first: "done", second: "pending"}, {first: "done", second: "pending"}),
        (second, {first: "done", second: "done"}, {first: "done", second: "done"}),
    ]
    assert list(c.status()["status"]) == ["done", "done"]


def test_status_before_any_run(base: nv.Project, tmp_path: Path,
                               shown: list[pd.DataFrame]) -> None:
    c = nv.variants(base, hooks=HOOKS, path=tmp_path / "camp")
    assert list(c.status()["status"]) == ["pending", "pending"]
    assert shown == []  # status() displays nothing


def test_updates_are_throttled_and_the_last_state_is_always_sent(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """300 variants finishing 10 ms apart with one update a second allowed: about three
    updates, not 900, and the last one shows every variant done."""
    n = 300
    state = CampaignState.model_validate({"name": "big", "variants": [], "results": {}})
    one = VariantSpec.model_validate({
        "id": "v0", "duration_s": 8, "aspect": "9:16", "project": "variants/v0",
        "brief": {"text": BRIEF}, "scenes": [{"id": "s0000abcd", "beat": "hook", "title": "t",
                                              "description": "d", "visual_prompt": "p",
                                              "duration_s": 8}]})
    state.variants = [one.model_copy(update={"id": f"v{i}", "project": f"variants/v{i}"})
                      for i in range(n)]
    now = [0.0]
    timers: list[tuple[float, Callable[[], None]]] = []
    tables: list[pd.DataFrame] = []

    class Handle:
        def update(self, view: status.StatusView) -> None:
            tables.append(view.table)

    def open_display(view: status.StatusView) -> Handle:
        tables.append(view.table)
        return Handle()

    def later(wait: float, fn: Callable[[], None]) -> Any:
        timers.append((now[0] + wait, fn))
        return None

    monkeypatch.setattr(status, "live_frontend", lambda: True)
    monkeypatch.setattr(status, "open_display", open_display)
    board = status.StatusBoard(tmp_path, state, True, every_s=1.0, clock=lambda: now[0],
                               later=later)
    board.queue([s.id for s in state.variants])
    for s in state.variants:
        now[0] += 0.005
        board.start(s.id, "w1")
        now[0] += 0.005
        state.results[s.id] = VariantResult(variant=s.id, project=s.project, status="done",
                                            digest=s.digest(), seconds=0.01)
        board.finish(state.results[s.id])
        if timers and now[0] >= timers[0][0]:  # the timer fires when its window ends
            timers.pop(0)[1]()
    board.close()
    assert 3 <= len(tables) <= 6, len(tables)  # 3 s of events, one per second, + first, last
    assert (tables[-1]["status"] == "done").all() and len(tables[-1]) == n
    assert len(tables[0]) == n and (tables[0]["status"] == "queued").all()


def test_no_html_is_displayed_outside_a_notebook(base: nv.Project, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """In a script or CI log the tqdm bar alone reports progress."""
    import IPython.display

    calls: list[Any] = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: calls.append(a))
    assert not status.live_frontend()
    c = nv.variants(base, hooks=HOOKS, path=tmp_path / "camp")
    c.run(cluster="inline")
    assert calls == []
    assert "2/2" in capsys.readouterr().err


@pytest.mark.slow
def test_on_a_local_cluster_each_variant_shows_its_worker_before_it_is_done(
        base: nv.Project, tmp_path: Path, shown: list[pd.DataFrame]) -> None:
    c = nv.variants(base, hooks=HOOKS, durations=[8], aspects=["9:16", "16:9"],
                    path=tmp_path / "camp")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        pids = {f"{socket.gethostname()}:{pid}" for pid in client.run(os.getpid).values()}
        res = c.run(cluster=client)
    assert (res["status"] == "done").all()
    seen = transitions(shown)
    for v, steps in seen.items():
        assert steps[0] == "queued" and steps[-1] == "done", (v, steps)
        running = [s for s in steps if s.startswith("running on ")]
        assert running and steps.index(running[0]) < steps.index("done"), (v, steps)
        assert {s.removeprefix("running on ") for s in running} <= pids, (v, steps)
    final = c.status()
    assert (final["status"] == "done").all()
    # a row names one worker throughout: where it ran is where it says it finished
    for v, steps in seen.items():
        running = {s.removeprefix("running on ") for s in steps if s.startswith("running on ")}
        assert running == {final.set_index("variant").loc[v, "worker"]}, (v, steps)
