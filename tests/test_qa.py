"""Automatic clip QA (faults made on purpose, then caught) and provider health routing."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import pytest
from imageio_ffmpeg import get_ffmpeg_exe

import nbvideo as nv
from nbvideo.generate.clips import ClipFailed
from nbvideo.generate.qa import Expectation, inspect_clip
from nbvideo.providers.catalog import get_model
from tests.doubles.replicate_double import ReplicateDouble
from tests.test_clip_routing import BRIEF, WAN, boarded

W, H, SECONDS = 320, 180, 4
WANT = Expectation(duration_s=SECONDS, width=W, height=H)


def clip(path: Path, *, size: str = f"{W}x{H}", seconds: float = SECONDS, vf: str = "",
         audio: bool = False) -> Path:
    """A small real clip from ffmpeg's moving test pattern, with `vf` adding a fault."""
    cmd = [get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
           f"testsrc2=size={size}:rate=12:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    cmd += (["-vf", vf] if vf else []) + ["-c:v", "libx264", "-preset", "ultrafast",
                                          "-pix_fmt", "yuv420p", "-movflags", "+faststart"]
    cmd += ["-c:a", "aac", "-shortest"] if audio else []
    subprocess.run([*cmd, str(path)], check=True)
    return path


def failed(result: nv.state.QAResult) -> dict[str, str]:  # type: ignore[name-defined]
    return {c.name: c.detail for c in result.checks if not c.passed}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("qa")
    made = {
        "good": clip(d / "good.mp4"),
        "black": clip(d / "black.mp4", vf="drawbox=color=black:t=fill:enable='between(t,1.5,2.5)'"),
        "frozen": clip(d / "frozen.mp4", vf="trim=duration=2,tpad=stop_mode=clone:stop_duration=2"),
        "still": clip(d / "still.mp4", vf="trim=end_frame=1,tpad=stop_mode=clone:stop_duration=4"),
        "narrow": clip(d / "narrow.mp4", size="240x180"),
        "short": clip(d / "short.mp4", seconds=3),
        "sound": clip(d / "sound.mp4", audio=True),
    }
    data = made["good"].read_bytes()
    made["truncated"] = d / "truncated.mp4"
    made["truncated"].write_bytes(data[: int(len(data) * 0.55)])
    return made


def test_a_good_clip_passes_every_check(clips: dict[str, Path]) -> None:
    result = inspect_clip(clips["good"], WANT)
    assert result.passed, result.problems
    assert {c.name for c in result.checks} == {"decodes", "duration", "size", "black",
                                               "frozen", "motion"}
    assert result.metrics["frames_decoded"] == 48 and result.metrics["black_s"] == 0


@pytest.mark.parametrize(("fault", "check", "detail"), [
    ("black", "black", "black from 1.50 s for 1.0"),
    ("frozen", "frozen", "frozen from 1.92 s for 2.08 s"),  # the last moving frame on
    ("narrow", "size", "240x180 for 320x180 asked"),
    ("short", "duration", "3.00 s for 4.00 s asked"),
    ("truncated", "decodes", ""),
])
def test_each_injected_fault_is_caught_by_its_check(clips: dict[str, Path], fault: str,
                                                    check: str, detail: str) -> None:
    result = inspect_clip(clips[fault], WANT)
    assert not result.passed
    assert check in failed(result), result.problems
    assert detail in failed(result)[check]


def test_a_still_image_has_no_motion_unless_a_still_was_asked_for(
    clips: dict[str, Path],
) -> None:
    moving = failed(inspect_clip(clips["still"], WANT))
    assert "no motion" in moving["motion"] and "frozen" in moving
    still_ok = inspect_clip(clips["still"], WANT.model_copy(update={"motion": False}))
    assert still_ok.passed and "still shot by request" in still_ok.checks[-1].detail


def test_audio_is_required_only_where_the_model_promises_it(clips: dict[str, Path]) -> None:
    promised = WANT.model_copy(update={"audio": True})
    assert "no audio stream" in failed(inspect_clip(clips["good"], promised))["audio"]
    assert inspect_clip(clips["sound"], promised).passed
    assert inspect_clip(clips["good"], WANT).passed


def test_offline_clips_are_checked_as_they_arrive_and_pass(rendered: nv.Project) -> None:
    qa = rendered.qa
    assert len(qa) == len(rendered.scenes) and qa["passed"].all(), qa["problems"].tolist()
    assert qa["current"].all() and (qa["frames_decoded"] > 0).all()


# ------------------------------------------------------------------ policies, paid clips
@pytest.fixture
def double(replicate_env: ReplicateDouble) -> ReplicateDouble:
    return replicate_env


def test_warn_keeps_a_flawed_clip_and_flags_it(double: ReplicateDouble, tmp_path: Path) -> None:
    p = boarded(tmp_path)
    double.video_faults.append("black")
    job = p.generate_clips(scenes=[1])
    job.wait(60)
    take = p.scenes[0].clip
    assert take is not None and take.qa is not None and not take.qa.passed
    row = p.qa.iloc[0]
    assert not row["passed"] and row["problems"].startswith("black: black from")
    assert any(e.message.startswith("QA: black") for e in job.events)
    assert double.creates[WAN] == 1  # no second paid take under 'warn'
    p.close()


def test_retry_makes_a_new_take_with_a_new_seed_and_keeps_the_flawed_one(
    double: ReplicateDouble, tmp_path: Path
) -> None:
    p = boarded(tmp_path)
    p.set_qa_policy("retry", retries=2)
    seed = p.scenes[0].clip_seed
    double.video_faults.append("frozen")
    job = p.generate_clips(scenes=[1])
    job.wait(60)
    scene = p.scenes[0]
    assert double.creates[WAN] == 2
    assert [t.qa.passed for t in scene.clip_takes] == [False, True]  # type: ignore[union-attr]
    assert scene.clip.id == scene.clip_takes[1].id and scene.clip_seed == seed + 1
    assert (p.path / scene.clip_takes[0].path).exists()  # the flawed take is kept
    paid = p.costs.query("phase == 'clips' and status == 'succeeded'")
    assert len(paid) == 2 and (paid["cost_usd"] > 0).all()  # every paid retry is on record
    assert any("QA failed (frozen" in e.message for e in job.events)
    p.close()
    again = nv.Project.open(tmp_path / "cold")
    assert again.state.qa_policy.mode == "retry"
    assert list(again.qa["passed"]) == [False, True]
    again.close()


def test_retry_stops_at_the_budget_and_keeps_the_flawed_clip(double: ReplicateDouble,
                                                             tmp_path: Path) -> None:
    p = boarded(tmp_path)
    p.set_qa_policy("retry", retries=3)
    one = float(p.estimate(model="wan-2.5-i2v-fast").iloc[1]["cost_usd"])
    double.video_faults.extend(["black", "black"])
    p.generate_clips(scenes=[1], budget_usd=one * 1.5).wait(60)
    scene = p.scenes[0]
    assert double.creates[WAN] == 1  # the retry would have passed the budget: not sent
    assert scene.clip is not None and not scene.clip.qa.passed  # type: ignore[union-attr]
    p.close()


def test_policy_off_skips_qa_until_asked(double: ReplicateDouble, tmp_path: Path) -> None:
    p = boarded(tmp_path)
    p.set_qa_policy("off")
    double.video_faults.append("black")
    p.generate_clips(scenes=[1]).wait(60)
    assert p.scenes[0].clip.qa is None and p.qa.empty  # type: ignore[union-attr]
    qa = p.check_clips()
    assert list(qa["passed"]) == [False] and "black" in qa.loc[0, "problems"]
    with pytest.raises(nv.InvalidInput, match="set_qa_policy: mode"):
        p.set_qa_policy("sometimes")
    with pytest.raises(nv.InvalidInput, match="set_qa_policy: retries"):
        p.set_qa_policy("retry", retries=9)
    assert p.state.qa_policy.mode == "off"
    p.close()


# ------------------------------------------------------------------ provider health
def test_auto_routes_around_a_model_that_keeps_failing_and_says_so(
    double: ReplicateDouble, tmp_path: Path
) -> None:
    p = boarded(tmp_path, duration_s=6)
    first = str(p.estimate(model="auto").iloc[1]["model"])  # what "auto" picks, healthy
    ref = get_model(first).ref
    double.fail_refs[ref] = 3
    with pytest.raises(ClipFailed):
        p.generate_clips(scenes=[1], model=first, retries=2).wait(60)
    health = p.provider_health().set_index("model")
    assert health.loc[first, "failed"] == 3 and health.loc[first, "failure_rate"] == 1.0
    assert not health.loc[first, "healthy"]
    assert "CUDA out of memory" in health.loc[first, "last_error"]
    with pytest.warns(nv.RoutingWarning, match=f"routes around {first}: it failed "
                                              r"3 of its last 3 calls"):
        est = p.estimate(model="auto")
    assert (est.iloc[1:]["model"] != first).all()
    creates = double.creates[ref]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nv.RoutingWarning)
        p.generate_clips(model="auto").wait(120)
    assert double.creates[ref] == creates  # not asked again
    assert all(s.clip is not None and s.clip.model != first for s in p.scenes)
    p.close()


def test_a_new_project_routes_around_an_engine_another_project_saw_fail(
    double: ReplicateDouble, tmp_path: Path, engine_log_of_its_own: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second notebook's first cut does not pay a clip's wait to learn what the first one
    already saw: engines' outcomes are shared on this machine (no prompts, no keys, no
    costs), and "auto" reads them before anything is sent. Switched off, it learns alone."""
    a = boarded(tmp_path / "a", duration_s=6)
    first = str(a.estimate(model="auto").iloc[1]["model"])
    ref = get_model(first).ref
    double.fail_refs[ref] = 3
    with pytest.raises(ClipFailed):
        a.generate_clips(scenes=[1], model=first, retries=2).wait(60)
    a.close()
    shared = engine_log_of_its_own.read_text()
    assert first in shared and "CUDA" not in shared and "Boots" not in shared
    assert "r8_" not in shared and "cost" not in shared

    b = boarded(tmp_path / "b", duration_s=6)
    assert b.costs.query("kind == 'actual' and phase == 'clips'").empty  # no clip paid yet
    with pytest.warns(nv.RoutingWarning, match=f"routes around {first}: it failed 3 of"):
        est = b.estimate(model="auto")
    assert (est.iloc[1:]["model"] != first).all()
    assert not b.provider_health().set_index("model").loc[first, "healthy"]
    creates = double.creates[ref]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nv.RoutingWarning)
        b.generate_clips(model="auto").wait(120)
    assert double.creates[ref] == creates  # never asked
    b.close()

    monkeypatch.setenv("NBVIDEO_ENGINE_LOG", "off")
    c = boarded(tmp_path / "c", duration_s=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", nv.RoutingWarning)
        assert str(c.estimate(model="auto").iloc[1]["model"]) == first
    c.close()


def test_health_counts_only_what_the_provider_answers_for(tmp_path: Path) -> None:
    from nbvideo.generate.health import health_table

    p = nv.Project.open(tmp_path / "h", brief=BRIEF)
    assert p.provider_health().empty  # offline: local calls are not provider health
    p.close()
    assert health_table(p.costs).empty


def test_auto_routes_around_a_model_that_has_been_slow_and_says_so(
    double: ReplicateDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbvideo.generate import health

    # The double's clips take 2.5 s where the client expects 0.4 s (`boarded`): 6x. The
    # least excess that counts is lowered from 10 s so the test need not wait a real queue.
    monkeypatch.setattr(health, "SLOW_EXCESS_S", 1.0)
    p = boarded(tmp_path, duration_s=6)
    first = str(p.estimate(model="auto").iloc[1]["model"])
    ref = get_model(first).ref
    double.latency_by_model[ref] = 2.5
    p.generate_clips(scenes=[1, 2], model=first).wait(60)
    row = p.provider_health().set_index("model").loc[first]
    assert row["healthy"] and row["slow"]  # it answers, just late
    paid = p.costs.query("kind == 'actual' and phase == 'clips'")["units"]
    assert row["expected_s"] == pytest.approx(0.4 * max(1.0, paid.median() / 5))
    assert row["slowness"] >= 2.5 / row["expected_s"] * 0.99
    with pytest.warns(nv.RoutingWarning, match=f"routes around {first}: it ran "
                                              r"[\d.]+x its usual latency"):
        est = p.estimate(model="auto")
    assert (est.iloc[1:]["model"] != first).all()
    assert est.iloc[1:]["reason"].str.contains(f"{first} skipped").all()
    p.close()


def test_slowness_is_latency_against_expectation_per_paid_second() -> None:
    import pandas as pd

    from nbvideo.generate.health import health_table

    def rows(model: str, *calls: tuple[float, float]) -> list[dict[str, object]]:
        return [{"time": pd.Timestamp.now(tz="UTC"), "phase": "clips", "provider": "replicate",
                 "model": model, "units": secs, "unit": "second", "kind": "actual",
                 "latency_s": lat, "status": "succeeded", "cache_hit": False, "note": ""}
                for secs, lat in calls]

    costs = pd.DataFrame(rows("queued", (5, 30), (5, 28)) + rows("long", (10, 19), (10, 18))
                         + rows("busy-box", (5, 5), (5, 6)) + rows("once", (5, 40)))
    expected = {"queued": 9.0, "long": 9.0, "busy-box": 1.0, "once": 9.0}.get
    df = health_table(costs, expected=expected).set_index("model")
    assert df.loc["queued", "slow"] and df.loc["queued", "slowness"] == pytest.approx(29 / 9)
    # a 10 s clip is expected to take twice a 5 s one: as usual, not slow
    assert df.loc["long", "slowness"] == pytest.approx(18.5 / 18) and not df.loc["long", "slow"]
    # 5.5x, but 4.5 s late is a busy machine, not a vendor's queue
    assert not df.loc["busy-box", "slow"]
    assert not df.loc["once", "slow"]  # one call is not a pattern
    assert df["healthy"].all()
    # without an expectation there is no slowness to judge
    assert not health_table(costs)["slow"].any()
