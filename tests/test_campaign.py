"""Campaigns: many variant projects that share assets and a budget, run on Dask.

The Dask tests start a real LocalCluster (processes, 2 workers); the rest run the variants
inline, which exercises the same worker code without the cluster's start-up time.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dask
import filelock
import pandas as pd
import pytest
from distributed import Client, LocalCluster

import nbvideo as nv
from nbvideo.plan import routing
from nbvideo.runtime.budget import Budget, BudgetExceeded, reserve
from nbvideo.runtime.shared_budget import SharedBudget
from nbvideo.store.ledger import Ledger
from tests.conftest import BRIEF, SHORT, SMALL

MARKETS = {"US": "Shop now", "DE": "Jetzt kaufen", "FR": "Achetez maintenant"}
HOOKS = ["Wet feet again?", "Built for the storm"]


@pytest.fixture
def base(tmp_path: Path) -> Iterator[nv.Project]:
    p = nv.Project.open(tmp_path / "shoe", brief=BRIEF, **SMALL)
    yield p
    p.close()


@pytest.fixture
def short(tmp_path: Path) -> Iterator[nv.Project]:
    """The base at the shortest length (SHORT): for the cluster tests, which run many variants
    and are about how they are shared out and survive a worker, not about their length."""
    p = nv.Project.open(tmp_path / "shoe", brief=BRIEF, **SHORT)
    yield p
    p.close()


@pytest.fixture
def client() -> Iterator[Client]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


def ledger_lines(c: nv.Campaign) -> dict[str, int]:
    out = {}
    for vid, project in zip(c.variants["variant"], c.variants["project"], strict=True):
        f = Path(project) / "ledger.jsonl"
        out[vid] = len(f.read_text().splitlines()) if f.exists() else 0
    return out


def made(costs: pd.DataFrame, phase: str) -> pd.DataFrame:
    return costs[(costs["phase"] == phase) & (costs["status"] == "succeeded")]


# ------------------------------------------------------------------ on Dask

@pytest.mark.slow
def test_twelve_variants_on_a_local_cluster_make_each_shared_clip_once(
    short: nv.Project, tmp_path: Path, client: Client
) -> None:
    c = nv.variants(short, markets=MARKETS, hooks=HOOKS, aspects=["16:9", "9:16"],
                    path=tmp_path / "camp")
    assert len(c.variants) == 12
    k = len(c._state.variants[0].scenes)
    # one variant's project is held open by someone else: it fails, the other 11 finish
    held = c.path / "variants" / "fr-h2-5s-9x16"
    held.mkdir(parents=True)
    lock = filelock.FileLock(str(held / ".nbvideo.lock"))
    lock.acquire()
    first = c.run(cluster=client, progress=False).set_index("variant")
    lock.release()
    assert (first["status"] == "done").sum() == 11
    assert first.loc["fr-h2-5s-9x16", "status"] == "failed"
    assert "open for writing in another process" in first.loc["fr-h2-5s-9x16", "error"]
    lines = ledger_lines(c)

    second = c.run(cluster=client, progress=False).set_index("variant")
    assert (second["status"] == "done").all()
    grown = {v for v, n in ledger_lines(c).items() if n != lines[v]}
    assert grown == {"fr-h2-5s-9x16"}  # the re-run redid only what failed

    costs = c.costs
    clips = made(costs, "clips")
    assert clips["key"].is_unique  # no request was generated twice, in any worker
    # per aspect: the middle scenes once, one hook scene per hook, one end card per market
    assert len(clips) == 2 * ((k - 2) + len(HOOKS) + len(MARKETS))
    shared = costs[(costs["phase"] == "clips") & costs["cache_hit"]
                   & costs["note"].str.startswith("shared:")]
    assert len(clips) + len(shared) == 12 * k
    sharing = c.sharing().set_index("kind")
    assert sharing.loc["clips", "generated"] == len(clips)
    assert sharing.loc["clips", "ratio"] < 0.5
    # a shared clip is one file on disk, linked into each project that uses it
    a = nv.Project.open(c.path / "variants" / "us-h1-5s-16x9", read_only=True)
    b = nv.Project.open(c.path / "variants" / "de-h2-5s-16x9", read_only=True)
    mid_a, mid_b = a.state.scenes[1].clip, b.state.scenes[1].clip
    assert mid_a.key == mid_b.key
    assert (a.path / mid_a.path).stat().st_ino == (b.path / mid_b.path).stat().st_ino
    for exports in second["exports"]:
        assert len(exports) == 1 and Path(exports[0]).stat().st_size > 0


@pytest.mark.slow
def test_killing_a_worker_mid_campaign_loses_no_finished_variant(
    short: nv.Project, tmp_path: Path
) -> None:
    c = nv.variants(short, hooks=["One?", "Two!", "Three.", "Four..."], aspects=["16:9", "9:16"],
                    path=tmp_path / "camp")
    # The killed worker may die holding a clip's claim (a distributed Lock): a short lease
    # frees it in seconds, not the default 30 (as a team's cluster would be told to).
    with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                          "distributed.scheduler.locks.lease-timeout": "5s",
                          "distributed.scheduler.locks.lease-validation-interval": "500ms"}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None) as cluster, Client(cluster) as client:
        out: list[pd.DataFrame] = []
        run = threading.Thread(target=lambda: out.append(c.run(cluster=client, progress=False)))
        run.start()
        deadline = time.monotonic() + 240
        while True:  # one variant finished, another one running on a worker
            assert time.monotonic() < deadline, "the campaign never got going"
            results = json.loads((c.path / "campaign.json").read_text())["results"]
            done = {k for k, v in results.items() if v["status"] == "done"}
            busy = {w: keys for w, keys in client.processing().items()
                    if any(k.rsplit("-", 1)[0].removeprefix("nbvideo-") not in done
                           for k in keys)}
            if done and busy:
                break
            time.sleep(0.05)
        kept = {v: [(p.stat().st_size, p.stat().st_mtime_ns)
                    for p in sorted((c.path / "variants" / v / "exports").glob("*.mp4"))]
                for v in done}
        victim = next(iter(busy))
        pid = client.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        run.join(300)
        assert not run.is_alive()
        first = out[0].set_index("variant")
        assert (first.loc[sorted(done), "status"] == "done").all()
        lost = first[first["status"] != "done"]
        assert len(lost) >= 1 and lost["error"].str.contains("worker running it died").all()
        lines = ledger_lines(c)

        second = c.run(cluster=client, progress=False).set_index("variant")
    assert (second["status"] == "done").all()
    for v, files in kept.items():  # finished variants were neither lost nor redone
        assert files and files == [(p.stat().st_size, p.stat().st_mtime_ns) for p in
                                   sorted((c.path / "variants" / v / "exports").glob("*.mp4"))]
        assert ledger_lines(c)[v] == lines[v]
    assert made(c.costs, "clips")["key"].is_unique


def test_the_campaign_budget_refuses_the_variant_that_would_exceed_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.doubles.replicate_double import start_replicate_double
    from tests.test_clip_routing import TOKEN, fast

    double = start_replicate_double(TOKEN)
    double.latency_s = 0.3
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)  # the workers inherit these
    monkeypatch.setenv("REPLICATE_BASE_URL", double.base_url)
    monkeypatch.setenv("NBVIDEO_DOWNLOAD_HOSTS", "127.0.0.1")
    try:
        p = fast(nv.Project.open(tmp_path / "cold", brief="15s ad for a cold brew coffee can",
                                 duration_s=15, fps=12, providers="replicate"))
        c = nv.variants(p, hooks=["Tired?", "Cold brew, fast", "Wake up"],
                        path=tmp_path / "camp")
        p.close()
        est = c.estimate().set_index("variant")
        h1, h2, h3 = (f"h{i}-15s-16x9" for i in (1, 2, 3))
        assert est.loc[h2, "new_usd"] < est.loc[h2, "alone_usd"]  # shared scenes count once
        c.budget_usd = float(est.loc[h1, "new_usd"] + est.loc[h2, "new_usd"] + 0.05)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            res = c.run(cluster=client, progress=False).set_index("variant")
        assert list(res["status"]) == ["done", "done", "refused"]
        assert res.loc[h3, "error"].startswith(f"variant {h3} refused before it was sent")
        assert "over the campaign budget of $" in res.loc[h3, "error"]
        assert not (c.path / "variants" / h3).exists()  # never reached a worker
        clips = made(c.costs, "clips")
        assert clips["key"].is_unique and clips["cost_usd"].sum() <= c.budget_usd
        assert double.creates["wan-video/wan-2.5-i2v-fast"] == len(clips)
        # every paid call of the workers went through the campaign budget: clips and frames
        spent = pd.concat([clips, made(c.costs, "frames")])["cost_usd"].sum()
        assert c.budget()["spent_usd"] == pytest.approx(spent)
        assert spent <= c.budget_usd
        assert c.budget()["in_flight_usd"] == 0
    finally:
        double.stop()


# ------------------------------------------------------------------ the shared budget

HOLDER = """
import sys, time
from pathlib import Path
from nbvideo.runtime.budget import reserve
from nbvideo.runtime.shared_budget import SharedBudget
with reserve([SharedBudget.at(Path(sys.argv[1]))], 0.6, "clip in another worker"):
    Path(sys.argv[2]).write_text("held")
    time.sleep(60)
"""


def test_the_shared_budget_counts_what_other_processes_hold(tmp_path: Path) -> None:
    budget = SharedBudget.at(tmp_path)
    budget.set_limit(1.0)
    ready = tmp_path / "ready"
    other = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), str(ready)])
    try:
        while not ready.exists():
            assert other.poll() is None, "the holder died"
            time.sleep(0.05)
        assert budget.snapshot()["in_flight_usd"] == pytest.approx(0.6)
        with pytest.raises(BudgetExceeded, match=r"\$0\.60 in flight.*campaign budget of \$1\.00"):
            with reserve([budget], 0.5, "clip here"):
                pass
        with reserve([budget, Budget("call", None, lambda: 0.0)], 0.4, "clip here") as r:
            r.actual_usd = 0.35
    finally:
        other.kill()
        other.wait()
    # the dead holder's reservation is dropped; what was paid stays spent
    snap = budget.snapshot()
    assert snap["in_flight_usd"] == 0 and snap["spent_usd"] == pytest.approx(0.35)


# ------------------------------------------------------------------ inline runs

def test_rerun_redoes_only_the_variants_whose_recipe_changed(base: nv.Project,
                                                              tmp_path: Path) -> None:
    c = nv.variants(base, hooks=HOOKS, path=tmp_path / "camp")
    assert (c.run(cluster="inline", progress=False)["status"] == "done").all()
    lines = ledger_lines(c)
    assert (c.run(cluster="inline", progress=False)["status"] == "done").all()
    assert ledger_lines(c) == lines  # nothing to redo

    c = nv.variants(base, hooks=[HOOKS[0], "Dry from the first step"], path=tmp_path / "camp")
    assert list(c.results["status"]) == ["done", "changed"]
    c.run(cluster="inline", progress=False)
    after = ledger_lines(c)
    assert after["h1-8s-16x9"] == lines["h1-8s-16x9"] and after["h2-8s-16x9"] > lines["h2-8s-16x9"]
    h2 = c.project("h2-8s-16x9", read_only=True)
    assert h2.state.scenes[0].on_screen_text == "Dry from the first step"
    new = Ledger(h2.path / "ledger.jsonl").to_pandas().iloc[lines["h2-8s-16x9"]:]
    assert (made(new, "clips")["scene"] == h2.state.scenes[0].id).all()  # only the hook


@pytest.mark.slow
def test_a_variant_of_another_length_opens_without_the_brief_length_note(
        base: nv.Project, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The brief says 8 s; the campaign's 5 s variant is 5 s on purpose, so its project is
    made without "the brief says 8 s but duration_s=5" (one such line per variant was noise)."""
    c = nv.variants(base, durations=[5], path=tmp_path / "camp")
    with caplog.at_level(logging.WARNING, logger="nbvideo"):
        res = c.run(cluster="inline", progress=False)
    assert (res["status"] == "done").all()
    assert nv.Project.open(res["project"][0], read_only=True).brief.duration_s == 5
    assert "the brief says" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="nbvideo"):  # a user's own project still is
        nv.Project.open(tmp_path / "own", brief=BRIEF, duration_s=5).close()
    assert "the brief says 8 s but duration_s=5 was given" in caplog.text


def test_variants_of_one_length_share_the_plan_and_differ_only_where_asked(
    base: nv.Project, tmp_path: Path
) -> None:
    from nbvideo.plan.storyboard import plan
    from nbvideo.runtime.jobs import run_sync

    run_sync(plan(base._rt))  # the base's own plan (and any edits to it) is used as is
    base.edit_scene(2, visual_prompt="the shoe in a puddle, low angle")
    de = {"cta": "Jetzt kaufen", "copy": {"hook": "Nasse Füße?"}}
    c = nv.variants(base, markets={"DE": de},
                    durations=[8, 15], aspects=["1:1"], path=tmp_path / "camp")
    specs = {s.id: s for s in c._state.variants}
    assert set(specs) == {"de-8s-1x1", "de-15s-1x1"}
    short = specs["de-8s-1x1"]
    assert short.scenes[0].on_screen_text == "Nasse Füße?"
    assert short.scenes[-1].on_screen_text == "Jetzt kaufen"
    assert [s.id for s in short.scenes] == [s.id for s in base.state.scenes]
    assert short.scenes[1] == base.state.scenes[1]  # untouched scenes stay identical
    assert short.scenes[1].visual_prompt == "the shoe in a puddle, low angle"
    assert abs(sum(s.duration_s for s in specs["de-15s-1x1"].scenes) - 15) < 0.5
    planned = Ledger(c.path / "ledger.jsonl").to_pandas()
    assert list(planned["note"]) == ["campaign plan for 15s"]  # 8 s is the base's own plan


def test_auto_routes_by_the_projects_default_policy_and_a_saved_policy_is_kept(
        base: nv.Project, tmp_path: Path) -> None:
    import inspect

    from nbvideo.campaign import plan

    for fn in (nv.variants, nv.batch, plan.from_project, plan.from_table, base.generate_clips,
               base.regenerate_clip, base.estimate):
        assert inspect.signature(fn).parameters["policy"].default == routing.DEFAULT_POLICY
    c = nv.variants(base, hooks=HOOKS[:1], path=tmp_path / "camp", model="auto")
    assert [s.policy for s in c._state.variants] == ["complexity"]
    old = nv.variants(base, hooks=HOOKS[:1], path=tmp_path / "old", model="auto",
                      policy="cheapest")  # still selectable
    assert (old.run(cluster="inline", progress=False)["status"] == "done").all()
    raw = json.loads((old.path / "campaign.json").read_text())
    assert [v["policy"] for v in raw["variants"]] == ["cheapest"]  # saved explicitly
    again = nv.Campaign.open(old.path)  # the default changed since: the saved one holds
    assert [s.policy for s in again._state.variants] == ["cheapest"]
    assert list(again.results["status"]) == ["done"]  # same recipe: nothing to redo


def test_a_hook_given_twice_is_refused(base: nv.Project, tmp_path: Path) -> None:
    """Every hook in a campaign is its own: a repeat (case and punctuation aside) would
    make and pay for the same variants twice (issue 23)."""
    with pytest.raises(nv.InvalidInput, match="hooks repeat: 'Wet feet again\\?' and "
                                              "'wet feet, again'"):
        nv.variants(base, hooks=["Wet feet again?", "Dry at last", "wet feet, again"],
                    path=tmp_path / "camp")
    c = nv.variants(base, hooks=["Wet feet again?", "Dry at last"], path=tmp_path / "ok")
    assert sorted(s.hook or "" for s in c._state.variants) == ["Dry at last", "Wet feet again?"]


def test_batch_of_briefs_runs_one_project_per_row(tmp_path: Path) -> None:
    table = pd.DataFrame([
        {"variant": "shoe", "brief": BRIEF, "duration_s": 8, "fps": 12, "tone": "gritty"},
        {"variant": "app", "brief": "8s ad for Flowly, a budgeting app", "fps": 12,
         "template": "app-install", "duration_s": 8, "store": "Google Play"},
    ])
    c = nv.batch(table, tmp_path / "batch")
    res = c.run(cluster="inline", progress=False).set_index("variant")
    assert (res["status"] == "done").all()
    app = c.project("app", read_only=True)
    assert app.brief.template == "app-install" and app.brief.aspect == "9:16"
    assert app.state.answers["store"] == "Google Play"
    with pytest.raises(nv.InvalidInput, match=r"row 1: column\(s\) colour are not options"):
        nv.batch(pd.DataFrame([{"brief": BRIEF, "colour": "red"}]), tmp_path / "bad")
    with pytest.raises(nv.InvalidInput, match=r"row 2: aspect: "):
        nv.batch(pd.DataFrame([{"brief": BRIEF}, {"brief": BRIEF, "aspect": "21:9"}]),
                 tmp_path / "bad")


def test_campaign_reopens_and_shows_itself(base: nv.Project, tmp_path: Path) -> None:
    c = nv.variants(base, hooks=HOOKS, path=tmp_path / "camp", budget_usd=3)
    again = nv.Campaign.open(tmp_path / "camp")
    assert again.budget_usd == 3 and list(again.variants["variant"]) == list(c.variants["variant"])
    assert "2 pending" in repr(again) and "<table" in again._repr_html_()
    with pytest.raises(nv.InvalidInput, match="budget_usd"):
        again.budget_usd = -1
    with pytest.raises(nv.InvalidInput, match="cluster must be"):
        again.run(cluster=42, progress=False)


def test_one_progress_bar_follows_the_whole_campaign(base: nv.Project, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """What a director watching the bar sees: variants finished of all, how they came out,
    what they spent and the last one's name."""
    c = nv.variants(base, hooks=HOOKS, path=tmp_path / "camp")
    res = c.run(cluster="inline")
    err = capsys.readouterr().err
    last = [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith("campaign camp")][-1]
    assert "2/2" in last and "2 done" in last and "$0.00" in last, last
    assert "last h2-8s-16x9" in last, last
    # each row says what the variant cost in CPU, not only in wall time
    assert (res["cpu_s"] > 0).all()
    assert (res["cpu_s"] < res["seconds"] * (os.cpu_count() or 1) + 5).all()

