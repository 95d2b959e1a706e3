"""Runway in a project, end to end against the Runway double: clips, the ledger, the budget,
cancellation, a failed task and a task resumed by a new process."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pytest

import nbvideo as nv
from nbvideo.media.ffmpeg import probe
from tests.doubles.runway_double import RunwayDouble
from tests.test_runway import KEY

pytestmark = pytest.mark.slow  # clips are real MP4s, probed and (once) exported

BRIEF = "8s ad for a waterproof trail shoe for weekend hikers"
SMALL = dict(aspect="16:9", duration_s=8.0, resolution="720p", fps=12)
MODELS = {"image": "pillow-storyboard", "video": "gen4_turbo"}  # frames offline, clips paid


@pytest.fixture
def runway(runway_env: RunwayDouble) -> RunwayDouble:
    """The Runway double (tests/conftest.py), the SDK pointed at it by its own variables."""
    return runway_env


def answer_fast(p: nv.Project) -> None:
    """The double answers in under a second, not Runway's half minute: poll it accordingly
    (the provider the project built, with only the schedule changed)."""
    from nbvideo.providers import runway_options
    from nbvideo.providers.runway import RunwayFrames, RunwayVideo

    fast: dict[str, Any] = {"poll_s": 0.05, "typical_latency_s": 0.2, **runway_options()}
    video = RunwayVideo(p.models["video"], **fast)
    frames = p._rt.providers.frames
    if p.models["image"] == "gen4_image":
        frames = RunwayFrames("gen4_image", **fast)
    p._rt.providers = dataclasses.replace(p._rt.providers, video=video, frames=frames)


def open_project(path: Path, models: dict[str, str] = MODELS) -> nv.Project:
    p = nv.Project.open(path, brief=BRIEF, providers="runway", models=models, **SMALL)
    answer_fast(p)
    p.storyboard()
    return p


def test_runway_clips_land_in_the_project_with_ledger_rows_at_what_runway_charged(
        runway: RunwayDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = open_project(tmp_path / "rw")
    assert p.models["video"] == "gen4_turbo"
    est = p.estimate()
    takes = p.generate_clips().wait(300)
    assert len(takes) == len(p.scenes) == runway.creates["gen4_turbo"]
    for s in p.scenes:
        body = runway.tasks[s.clip.request_id].body  # what this scene's task was asked
        made = max(2, -(-s.duration_s // 1))  # whole seconds, 2 at least, at or above the scene
        assert body["duration"] == made and body["ratio"] == "1280:720"
        info = probe(p.path / s.clip.path)
        assert info.duration_s == pytest.approx(made, abs=0.05)
        assert (info.width, info.height) == (1280, 720)
        assert s.clip.provider == "runway" and s.clip.request_id
    costs = p.costs.query("provider == 'runway' and status == 'succeeded'")
    assert len(costs) == len(p.scenes)
    assert costs["cost_usd"].sum() == pytest.approx(runway.charged_usd)
    assert costs["cost_usd"].sum() == pytest.approx(est.iloc[0]["cost_usd"])  # as estimated
    out = p.export("rw", formats=["16:9"])
    assert probe(out.paths[0]).duration_s == pytest.approx(8.0, abs=0.1)
    p.close()
    for f in (tmp_path / "rw").rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f
    printed = capsys.readouterr()
    assert KEY not in printed.out + printed.err


def test_a_runway_project_draws_its_frames_with_gen4_image_at_what_runway_charged(
        runway: RunwayDouble, tmp_path: Path) -> None:
    p = open_project(tmp_path / "rw", models={})  # the defaults for providers="runway"
    assert p.models["image"] == "gen4_image" and p.models["video"] == "gen4_turbo"
    bodies = runway.bodies("gen4_image")
    assert len(bodies) == len(p.scenes) and {b["ratio"] for b in bodies} == {"1280:720"}
    for s in p.scenes:
        assert s.frame is not None and s.frame.provider == "runway"
        assert (s.frame.width, s.frame.height) == (1280, 720)
    frames = p.costs.query("phase == 'frames' and status == 'succeeded'")
    assert frames["cost_usd"].sum() == pytest.approx(0.05 * len(p.scenes))  # 5 credits at 720p
    assert frames["cost_usd"].sum() == pytest.approx(runway.charged_usd)
    assert (frames["estimated_usd"] == 0.08).all()  # reserved at the 1080p rate
    p.close()


def test_a_budget_too_small_is_refused_before_any_request(runway: RunwayDouble,
                                                          tmp_path: Path) -> None:
    p = open_project(tmp_path / "rw")
    with pytest.raises(nv.BudgetExceeded, match="budget of this call"):
        p.generate_clips(budget_usd=0.01).wait(60)
    assert runway.api_requests() == []  # nothing was sent, so nothing was charged
    refused = p.costs.query("status == 'refused'")
    assert len(refused) >= 1 and (refused["provider"] == "runway").all()
    p.close()


def test_canceling_the_job_deletes_the_runway_tasks_and_records_it(
        runway: RunwayDouble, tmp_path: Path) -> None:
    runway.latency_s = 60.0
    p = open_project(tmp_path / "rw")
    n = len(p.scenes)
    job = p.generate_clips()
    deadline = time.monotonic() + 60
    while (p.costs["status"] == "submitted").sum() < n and time.monotonic() < deadline:
        time.sleep(0.05)
    job.cancel()
    while len(runway.deletes) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(runway.deletes) == sorted(runway.tasks)
    assert all(t.status(time.monotonic()) == "CANCELLED" for t in runway.tasks.values())
    while (p.costs["status"] == "canceled").sum() < n and time.monotonic() < deadline:
        time.sleep(0.05)
    canceled = [t for s in p.state.scenes for t in s.clip_takes if t.status == "canceled"]
    assert len(canceled) == n and all(t.request_id in runway.tasks for t in canceled)
    assert not list((p.path / "assets/clips").glob("*.mp4"))
    p.close()


def test_a_moderated_task_is_not_retried_and_its_charge_is_in_the_ledger(
        runway: RunwayDouble, tmp_path: Path) -> None:
    p = open_project(tmp_path / "rw")
    first = p.scenes[0]
    runway.fail_next, runway.failure_code = 1, "SAFETY.INPUT.IMAGE"
    runway.failure = "Input image flagged by content moderation"
    with pytest.raises(nv.NbvideoError, match="SAFETY.INPUT.IMAGE.*moderation"):
        p.generate_clips(scenes=[first.id]).wait(60)
    assert runway.creates["gen4_turbo"] == 1  # Runway: "You should not retry these"
    failed = p.costs.query("status == 'failed'")
    assert len(failed) == 1 and failed.iloc[0]["cost_usd"] == pytest.approx(runway.charged_usd)
    assert runway.charged_usd > 0  # moderated tasks cost as much as good ones
    assert p.scene(1).clip is None or not p.scene(1).clip.ok
    p.close()


def test_an_internal_failure_is_retried_with_a_new_task(runway: RunwayDouble,
                                                        tmp_path: Path) -> None:
    p = open_project(tmp_path / "rw")
    first = p.scenes[0]
    runway.fail_next, runway.failure_code = 1, "INTERNAL"
    [take] = p.generate_clips(scenes=[first.id]).wait(60)
    assert take.ok and runway.creates["gen4_turbo"] == 2
    assert p.costs.query("status == 'failed'")["cost_usd"].sum() == 0  # refunded
    p.close()


def _die_mid_job(project: str, ready: Any) -> None:
    """A kernel that submits every clip, then dies before any finishes."""
    p = nv.Project.open(project)
    answer_fast(p)
    p.generate_clips()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (p.costs["status"] == "submitted").sum() == len(p.scenes):
            break
        time.sleep(0.05)
    ready.put("submitted")
    ready.close()
    ready.join_thread()
    os._exit(1)  # no cleanup, no cancel: like a crashed kernel


def test_a_reopened_project_resumes_its_runway_tasks_instead_of_paying_again(
        runway: RunwayDouble, tmp_path: Path) -> None:
    runway.latency_s = 600.0
    p = open_project(tmp_path / "rw")
    n = len(p.scenes)
    p.close()
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_die_mid_job, args=(str(tmp_path / "rw"), q))
    proc.start()
    assert q.get(timeout=120) == "submitted"
    proc.join(30)
    assert runway.creates["gen4_turbo"] == n and runway.deletes == []
    again = nv.Project.open(tmp_path / "rw")
    flying = [t for s in again.state.scenes for t in s.clip_takes if t.status == "running"]
    assert len(flying) == n and all(t.request_id in runway.tasks for t in flying)
    for task in runway.tasks.values():  # by the time we come back, Runway has finished
        task.latency = 0.0
    answer_fast(again)
    takes = again.generate_clips().wait(120)
    assert runway.creates["gen4_turbo"] == n  # no second create
    assert {t.request_id for t in takes} == {t.request_id for t in flying}
    paid = again.costs.query("status == 'succeeded' and provider == 'runway'")
    assert paid["cost_usd"].sum() == pytest.approx(runway.charged_usd)
    again.close()
