"""Model choice per scene ("auto" by a stated policy), retries of failed predictions, fallback
to the next model, and the per-prediction timeout, against the Replicate double over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nbvideo as nv
from nbvideo.generate.clips import ClipFailed
from nbvideo.plan import routing
from nbvideo.providers import provider_set, replicate_reconcile
from nbvideo.providers.catalog import generated_duration, get_model, price
from tests.doubles.replicate_double import ReplicateDouble

TOKEN = "r8_" + "r" * 30
BRIEF = "15s ad for a cold brew coffee can"
WAN, KLING = "wan-video/wan-2.5-i2v-fast", "kwaivgi/kling-v2.1"


@pytest.fixture
def double(replicate_env: ReplicateDouble) -> ReplicateDouble:
    return replicate_env


def fast(p: nv.Project) -> nv.Project:
    """The double answers in well under a second, not a real model's minute: tell the poller."""
    p._rt.providers = provider_set(p.state.providers, p.state.models,
                                   {"replicate": {"typical_latency_s": 0.4, "backoff_s": 0.05}})
    return p


def boarded(tmp_path: Path, name: str = "cold", **opts: object) -> nv.Project:
    opts = {"duration_s": 15, "fps": 12, "providers": "replicate", **opts}
    p = fast(nv.Project.open(tmp_path / name, brief=BRIEF, **opts))
    p.storyboard()
    return p


def cheapest_by_hand(scene_s: float, aspect: str = "16:9") -> str:
    """The rule, spelled out independently of the code under test."""
    best = None
    for spec in nv.catalog().query("provider == 'replicate' and kind == 'video'").itertuples():
        m = get_model(spec.model)
        longest = max(m.durations_s)
        if aspect not in m.aspects or scene_s > longest:
            continue
        cost = price(m, resolution="720p", seconds=generated_duration(m, scene_s)).cost_usd
        if best is None or (cost, -m.quality_tier) < best[0]:
            best = ((cost, -m.quality_tier), m.id)
    assert best is not None
    return best[1]


def test_auto_picks_the_cheapest_model_per_scene_and_the_estimate_says_so(
    double: ReplicateDouble, tmp_path: Path
) -> None:
    p = boarded(tmp_path)
    p.edit_scene(1, duration_s=5.5)  # past 5 s: a 5/10 s model must make 10 s, hailuo makes 6
    p.edit_scene(2, duration_s=2)
    est = p.estimate(model="auto", policy="cheapest")
    body = est.iloc[1:]
    want = [cheapest_by_hand(s.duration_s) for s in p.scenes]
    assert list(body["model"]) == want
    assert want[0] == "hailuo-02" and want[1] == "kling-v2.1"  # the rule at work, not a constant
    assert est.iloc[0]["model"] == "auto"
    assert est.iloc[0]["cost_usd"] == pytest.approx(body["cost_usd"].sum())
    p.generate_clips(model="auto", policy="cheapest").wait(120)
    for s, model in zip(p.scenes, want, strict=True):
        assert s.clip.model == model and s.clip.status == "succeeded"
    assert p.costs.query("provider == 'replicate' and phase == 'clips'")["cost_usd"].sum() \
        == pytest.approx(est.iloc[0]["cost_usd"])
    # current on the model auto chose: a second run sends nothing
    creates = sum(double.creates.values())
    job = p.generate_clips(model="auto", policy="cheapest")
    assert job.wait(60) == [] and sum(double.creates.values()) == creates
    p.close()


def test_quality_policy_takes_the_top_tier_where_it_can_make_the_aspect(
    double: ReplicateDouble, tmp_path: Path
) -> None:
    wide = boarded(tmp_path, "wide")
    assert set(wide.estimate(model="auto", policy="quality").iloc[1:]["model"]) == {"veo-3-fast"}
    wide.close()
    square = boarded(tmp_path, "square", aspect="1:1")  # veo makes 16:9 and 9:16 only
    got = square.estimate(model="auto", policy="quality").iloc[1:]["model"]
    assert "veo-3-fast" not in set(got)
    assert all(get_model(m).quality_tier == 2 for m in got)
    square.close()


def test_bad_model_or_policy_is_refused_by_name_and_nothing_changes(
    double: ReplicateDouble, tmp_path: Path
) -> None:
    p = boarded(tmp_path)
    with pytest.raises(nv.InvalidInput, match=r"policy='best'.*complexity, cheapest, quality"):
        p.generate_clips(model="auto", policy="best")
    with pytest.raises(nv.InvalidInput, match=r"model='flux-schnell'.*wan-2.5-i2v-fast"):
        p.generate_clips(model="flux-schnell")
    with pytest.raises(nv.InvalidInput, match="retries"):
        p.generate_clips(retries=-1)
    p.edit_scene(1, duration_s=9)
    with pytest.raises(nv.InvalidInput, match=r"veo-3-fast cannot make it: makes at most 8 s"):
        p.generate_clips(model="veo-3-fast", scenes=[1])
    assert sum(double.creates.values()) == len(p.scenes)  # the frames only: nothing was sent
    p.close()
    again = nv.Project.open(p.path)
    assert again.scenes[0].duration_s == 9  # the edit was kept
    assert not any(s.clip_takes for s in again.state.scenes)
    again.close()


def test_a_failed_prediction_is_retried_and_both_attempts_are_on_record(
    double: ReplicateDouble, tmp_path: Path
) -> None:
    p = boarded(tmp_path)
    double.fail_refs[WAN] = 1
    first = p.scenes[0].id
    job = p.generate_clips(scenes=[first])
    job.wait(60)
    assert double.creates[WAN] == 2
    takes = p.scenes[0].clip_takes
    assert [t.status for t in takes] == ["failed", "succeeded"]
    assert "CUDA out of memory" in takes[0].error
    assert any("retry 1 of 2" in e.message for e in job.events)
    rows = p.costs.query("phase == 'clips'")
    assert list(rows["status"]) == ["submitted", "failed", "submitted", "succeeded"]
    assert rows["cost_usd"].sum() == pytest.approx(double.charged_usd - 0.003 * len(p.scenes))
    p.close()


def test_a_scene_that_keeps_failing_moves_to_the_next_model(
    double: ReplicateDouble, tmp_path: Path
) -> None:
    p = boarded(tmp_path)
    double.fail_refs[WAN] = 3
    job = p.generate_clips(scenes=[1], model="wan-2.5-i2v-fast", fallback=["kling-v2.1"],
                           retries=2)
    job.wait(60)
    assert double.creates[WAN] == 3 and double.creates[KLING] == 1
    scene = p.scenes[0]
    assert scene.clip.model == "kling-v2.1"
    assert [t.model for t in scene.clip_takes if t.status == "failed"] == ["wan-2.5-i2v-fast"] * 3
    assert any("falling back to kling-v2.1" in e.message for e in job.events)
    p.close()


def test_a_model_the_ledger_shows_down_is_not_retried_before_falling_back(
    double: ReplicateDouble, tmp_path: Path
) -> None:
    p = boarded(tmp_path)
    double.fail_refs[WAN] = 100  # WAN is down
    first, *rest = [s.id for s in p.scenes]
    p.generate_clips(scenes=[first], model="wan-2.5-i2v-fast", fallback=["kling-v2.1"],
                     retries=2).wait(60)
    assert double.creates[WAN] == 3  # 1 + 2 retries: three failures, so now unhealthy
    assert "wan-2.5-i2v-fast" in set(p.provider_health().query("not healthy")["model"])
    job = p.generate_clips(scenes=rest, model="wan-2.5-i2v-fast", fallback=["kling-v2.1"],
                           retries=2)
    job.wait(60)
    # each other scene pays for one failed prediction on WAN, not three, then moves on
    assert double.creates[WAN] == 3 + len(rest)
    assert double.creates[KLING] == 1 + len(rest)
    assert all(s.clip.model == "kling-v2.1" for s in p.scenes)
    assert not any("retry" in e.message for e in job.events)
    assert sum("falling back to kling-v2.1" in e.message for e in job.events) == len(rest)
    p.close()


def test_scenes_that_fail_together_on_a_model_all_fall_back_without_a_retry(
    double: ReplicateDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbvideo.generate import clips

    # However slowly this machine runs, a failed scene waits for its siblings' outcomes
    # (they fail, so the wait ends when they do; the bound only matters for healthy ones).
    monkeypatch.setattr(clips, "RETRY_WAIT_MIN_S", 60.0)
    p = boarded(tmp_path)
    double.fail_refs[WAN] = 100  # WAN is down; nothing on record yet
    job = p.generate_clips(model="wan-2.5-i2v-fast", fallback=["kling-v2.1"], retries=2)
    job.wait(120)
    n = len(p.scenes)
    assert n >= 3
    assert double.creates[WAN] == n  # one failed prediction per scene, no retries
    assert double.creates[KLING] == n
    assert all(s.clip is not None and s.clip.model == "kling-v2.1" for s in p.scenes)
    assert not any("retry" in e.message for e in job.events)
    p.close()


def test_a_prediction_stuck_in_the_queue_is_canceled_unbilled_and_the_scene_moves_on(
    double: ReplicateDouble, tmp_path: Path
) -> None:
    p = boarded(tmp_path)
    first = p.scenes[0].id
    # WAN's queue is long: its predictions stay "starting" for 12 s (a fifth of 60 s), where
    # the client expects the whole clip in 0.4 s (`fast`)
    double.latency_by_model[WAN] = 60.0
    job = p.generate_clips(scenes=[first], model="wan-2.5-i2v-fast", fallback=["kling-v2.1"])
    job.wait(60)
    scene = p.scenes[0]
    assert scene.clip is not None and scene.clip.model == "kling-v2.1"
    assert double.creates[WAN] == 1 and double.creates[KLING] == 1
    (wan_id,) = double.ids(WAN)
    assert double._preds[wan_id].canceled  # stopped at Replicate, not left queued
    rows = p.costs.query("kind == 'actual' and model == 'wan-2.5-i2v-fast' "
                         "and status != 'submitted'")
    assert list(rows["status"]) == ["failed"] and rows["cost_usd"].sum() == 0
    assert "had not started" in rows["note"].iloc[0]
    assert any("falling back to kling-v2.1" in e.message for e in job.events)
    assert double.charged_usd == pytest.approx(p.costs.query("kind == 'actual'")["cost_usd"].sum())
    # with nowhere to go, a slow start is waited out
    double.latency_by_model[WAN] = 2.0
    p.regenerate_clip(first, force=True, model="wan-2.5-i2v-fast").wait(60)
    assert p.scenes[0].clip.model == "wan-2.5-i2v-fast"
    p.close()


def test_a_create_that_may_exist_is_counted_at_its_estimate_and_neither_retried_nor_replaced(
    double: ReplicateDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer to WAN's create is garbled and the listing cannot be read: the prediction
    may run and be billed. Another create (a retry, or kling as the fallback) could pay twice,
    so the scene stops there, and its estimate counts against the budget until then."""
    monkeypatch.setattr(replicate_reconcile, "LISTING_WAITS_S", (0.0,))
    p = boarded(tmp_path)
    first = p.scenes[0].id
    before = p.spent_usd  # the frames
    double.inject("create", "malformed")
    double.inject("list", 500, times=20)
    job = p.generate_clips(scenes=[first], model="wan-2.5-i2v-fast", fallback=["kling-v2.1"])
    with pytest.raises(ClipFailed, match="may exist.*no fallback for this scene"):
        job.wait(60)
    assert double.creates[WAN] == 1 and double.creates[KLING] == 0
    rows = p.costs.query("kind == 'actual' and model == 'wan-2.5-i2v-fast'")
    assert list(rows["status"]) == ["failed"]
    estimate = rows["estimated_usd"].iloc[0]
    assert estimate > 0 and rows["cost_usd"].iloc[0] == pytest.approx(estimate)
    assert rows["note"].iloc[0].startswith("may be charged, counted at its estimate")
    assert p.spent_usd == pytest.approx(before + estimate)
    p.close()


def test_a_failure_without_fallback_fails_only_that_scene(
    double: ReplicateDouble, tmp_path: Path
) -> None:
    p = boarded(tmp_path)
    double.fail_refs[WAN] = 1
    job = p.generate_clips(retries=0)
    with pytest.raises(ClipFailed, match="CUDA out of memory"):
        job.wait(60)
    statuses = sorted(s.clip.status if s.clip else "none" for s in p.scenes)
    assert statuses == ["none"] + ["succeeded"] * (len(p.scenes) - 1)
    failed = [t for s in p.state.scenes for t in s.clip_takes if t.status == "failed"]
    assert len(failed) == 1 and "CUDA out of memory" in failed[0].error
    p.close()


def test_a_prediction_past_its_timeout_is_canceled_and_the_scene_fails_over(
    double: ReplicateDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbvideo.generate import clips

    # The double's long prediction also sits in "starting" for 12 s, which the queue deadline
    # would catch first (see the stuck-in-the-queue test); here the timeout is under test.
    monkeypatch.setattr(clips, "START_BY_SHARE", 1e6)
    p = boarded(tmp_path)
    double.latency_by_model[WAN] = 60
    job = p.generate_clips(scenes=[1], fallback=["kling-v2.1"], timeout_s=1.5)
    job.wait(60)
    wan_take = p.scenes[0].clip_takes[0]
    assert wan_take.status == "failed" and "1.5 s timeout" in wan_take.error
    assert double.cancels == [wan_take.request_id]  # it stops running (and billing)
    assert p.scenes[0].clip.model == "kling-v2.1"
    p.close()


def test_auto_on_an_offline_project_uses_the_animatic(fresh: nv.Project) -> None:
    fresh.storyboard()
    assert set(fresh.estimate(model="auto").iloc[1:]["model"]) == {"ffmpeg-animatic"}
    chain = routing.chain_for(fresh._rt.providers, fresh.state.scenes[0], fresh.state.brief,
                              "auto", "cheapest", True)
    assert chain[0] == "ffmpeg-animatic"  # free, so first under "cheapest"


def _worker(project: Path, mode: str, double: ReplicateDouble) -> subprocess.Popen[str]:
    env = {**os.environ, "REPLICATE_API_TOKEN": TOKEN, "REPLICATE_BASE_URL": double.base_url,
           "NBVIDEO_DOWNLOAD_HOSTS": "127.0.0.1",
           # the sources under test first (not whichever checkout the venv installed)
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                          str(Path(__file__).parents[1])])}
    # Ctrl-C in a terminal reaches a process whose SIGINT is at its default: do not let the
    # worker inherit an "ignore" from whatever started this test run.
    proc = subprocess.Popen([sys.executable, "-m", "tests.scripts.clip_worker", str(project), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=Path(__file__).parents[1],
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "submitted", proc.stderr.read() if proc.stderr else line
    return proc


def test_a_killed_kernel_is_resumed_from_replicate_without_a_second_create(
    double: ReplicateDouble, tmp_path: Path
) -> None:
    p = boarded(tmp_path)
    n = len(p.scenes)
    p.close()
    double.latency_by_model[WAN] = 120  # still running when the worker dies
    proc = _worker(p.path, "die", double)
    assert proc.wait(60) == 1
    assert double.creates[WAN] == n and not double.cancels
    again = fast(nv.Project.open(p.path))
    flying = [t for s in again.state.scenes for t in s.clip_takes if t.status == "running"]
    assert len(flying) == n and all(t.request_id for t in flying)  # saved before waiting
    for pred in double._preds.values():  # by now the server has finished them
        pred.latency = 0
    takes = again.generate_clips().wait(60)
    assert double.creates[WAN] == n  # picked up, never created again
    assert {t.request_id for t in takes} == {t.request_id for t in flying}
    clip_cost = again.costs.query("phase == 'clips'")["cost_usd"].sum()
    assert clip_cost == pytest.approx(double.charged_usd - 0.003 * n)  # frames are $0.003 each
    again.close()


def test_interrupting_a_waiting_script_cancels_its_predictions_and_records_them(
    double: ReplicateDouble, tmp_path: Path
) -> None:
    p = boarded(tmp_path)
    n = len(p.scenes)
    p.close()
    double.latency_by_model[WAN] = 120
    proc = _worker(p.path, "wait", double)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert "KeyboardInterrupt" in err
    assert len(double.cancels) == n  # every prediction told to stop
    again = nv.Project.open(p.path, read_only=True)
    takes = [t for s in again.state.scenes for t in s.clip_takes]
    assert len(takes) == n and {t.status for t in takes} == {"canceled"}
    assert {t.request_id for t in takes} == set(double.cancels)
    rows = again.costs.query("phase == 'clips' and status == 'canceled'")
    assert len(rows) == n and rows["cost_usd"].sum() == 0
    assert double.charged_usd == pytest.approx(0.003 * n)  # the frames; canceled clips are free
    assert TOKEN not in err


def test_interrupting_the_kernel_during_await_job_cancels_the_predictions(
    double: ReplicateDouble, tmp_path: Path
) -> None:
    from jupyter_client.manager import start_new_kernel

    p = boarded(tmp_path)
    n = len(p.scenes)
    p.close()
    double.latency_by_model[WAN] = 120
    km, kc = start_new_kernel(kernel_name="python3", env={
        **os.environ, "REPLICATE_API_TOKEN": TOKEN, "REPLICATE_BASE_URL": double.base_url,
        "NBVIDEO_DOWNLOAD_HOSTS": "127.0.0.1"})
    try:
        kc.execute_interactive(f"import nbvideo as nv\np = nv.Project.open({str(p.path)!r})",
                               timeout=60)
        msg_id = kc.execute("job = p.generate_clips()\nawait job")
        deadline = time.monotonic() + 60
        while len(double.creates) == 0 or double.creates[WAN] < n:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # the ids are saved right after the creates answer
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=60)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = kc.get_shell_msg(timeout=60)
        assert reply["content"]["status"] == "error"
        deadline = time.monotonic() + 30
        while len(double.cancels) < n:
            assert time.monotonic() < deadline, double.cancels
            time.sleep(0.05)
        kc.execute_interactive("p.close()", timeout=60)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    again = nv.Project.open(p.path, read_only=True)
    takes = [t for s in again.state.scenes for t in s.clip_takes]
    assert {t.status for t in takes} == {"canceled"} and len(takes) == n


def test_a_prediction_canceled_elsewhere_fails_its_scene_with_that_reason(
    double: ReplicateDouble, tmp_path: Path
) -> None:
    p = boarded(tmp_path)
    double.latency_by_model[WAN] = 30
    job = p.generate_clips(scenes=[1])
    deadline = time.monotonic() + 30
    while not double.creates[WAN]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert len(double.cancel_elsewhere()) == 1
    with pytest.raises(ClipFailed, match="canceled"):
        job.wait(60)
    take = p.scenes[0].clip_takes[0]
    assert take.status == "failed" and "canceled" in take.error
    assert double.creates[WAN] == 1  # a cancel by a person is not retried
    p.close()
