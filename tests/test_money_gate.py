"""The money gate: every paid call reserves its estimate against every budget before it is
sent, so a budget that allows exactly k calls sees exactly k made on the vendor's double and
then a `BudgetExceeded` with its numbers; jobs keep that type, and the CLI prints one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import nbvideo as nv
from nbvideo.providers import catalog
from tests.doubles.openai_double import OpenAIDouble
from tests.doubles.replicate_double import ReplicateDouble
from tests.test_clip_routing import BRIEF, WAN, fast

FLUX = "black-forest-labs/flux-schnell"
FRAME_USD = catalog.get_model("flux-schnell").prices_usd["image"]  # 0.003


def replicate_project(tmp_path: Path, **opts: object) -> nv.Project:
    return fast(nv.Project.open(tmp_path / "paid", brief=BRIEF, duration_s=15, fps=12,
                                providers="replicate", **opts))


def refused_rows(p: nv.Project, phase: str) -> pd.DataFrame:
    df = p.costs
    return df[(df["status"] == "refused") & (df["phase"] == phase)]


# ------------------------------------------------------------------ frames and regenerations
def test_paid_frames_stop_at_the_budget_before_the_call_that_would_pass_it(
    replicate_env: ReplicateDouble, tmp_path: Path
) -> None:
    p = replicate_project(tmp_path, budget_usd=round(2 * FRAME_USD + FRAME_USD / 3, 6))
    with pytest.raises(nv.BudgetExceeded) as err:
        p.storyboard()
    n = len(p.scenes)
    assert n >= 3
    assert replicate_env.creates[FLUX] == 2  # exactly the two the budget holds
    exc = err.value
    assert exc.budget == "project budget" and exc.limit_usd == pytest.approx(p.budget_usd)
    assert exc.estimate_usd == pytest.approx(FRAME_USD) and exc.item.startswith("frame for scene")
    assert exc.spent_usd is not None and exc.spent_usd + exc.in_flight_usd == pytest.approx(
        2 * FRAME_USD)
    assert len(refused_rows(p, "frames")) == n - 2
    assert p.spent_usd == pytest.approx(replicate_env.charged_usd)
    assert p.spent_usd <= p.budget_usd
    p.close()


def test_a_budget_below_one_frame_refuses_every_frame_with_one_catchable_error(
    replicate_env: ReplicateDouble, tmp_path: Path
) -> None:
    """The issue's case: budget_usd=0.001 used to spend $0.009 on frames, unasked."""
    p = replicate_project(tmp_path, budget_usd=0.001)
    try:
        p.storyboard()
    except nv.BudgetExceeded as exc:  # several refusals, still one BudgetExceeded
        assert isinstance(exc, nv.ScenesFailed) and isinstance(exc, nv.NbvideoError)
        assert set(exc.scenes) == {s.id for s in p.scenes}
        for s in p.scenes:
            assert f"scene {s.id}: BudgetExceeded: frame for scene {s.id} refused" in str(exc)
        assert "$0.0030 estimated" in str(exc) and "project budget of $0.0010" in str(exc)
        assert exc.limit_usd == 0.001 and exc.estimate_usd == pytest.approx(FRAME_USD)
    else:
        pytest.fail("no BudgetExceeded")
    assert replicate_env.creates[FLUX] == 0 and p.spent_usd == 0
    p.close()


def test_regenerating_a_frame_goes_through_the_budget(replicate_env: ReplicateDouble,
                                                      tmp_path: Path) -> None:
    p = replicate_project(tmp_path)
    p.storyboard()
    made = replicate_env.creates[FLUX]
    p.budget_usd = round(p.spent_usd + FRAME_USD + FRAME_USD / 3, 6)  # room for one more
    p.regenerate_frame(1, prompt="low angle, heavy rain on the can")
    with pytest.raises(nv.BudgetExceeded, match="over the project budget") as err:
        p.regenerate_frame(2, prompt="macro shot of condensation")
    assert replicate_env.creates[FLUX] == made + 1
    assert err.value.item == f"frame for scene {p.scene(2).id}"
    assert len(refused_rows(p, "frames")) == 1
    p.close()


# ------------------------------------------------------------------ clips
def test_clip_budget_refusal_is_catchable_from_the_job(replicate_env: ReplicateDouble,
                                                       tmp_path: Path) -> None:
    p = replicate_project(tmp_path)
    p.storyboard()
    costs = p.estimate(model="wan-2.5-i2v-fast").iloc[1:]["cost_usd"].tolist()
    # the first scene's clip fits (it is reserved first), no second one does
    p.budget_usd = round(p.spent_usd + costs[0] + min(costs) / 3, 6)
    job = p.generate_clips(retries=0)
    try:
        job.wait(120)
    except nv.BudgetExceeded as exc:
        assert exc.budget == "project budget" and exc.estimate_usd == pytest.approx(costs[1])
        assert exc.item == f"clip for scene {p.scene(2).id}"
        assert isinstance(exc, nv.ScenesFailed) and len(exc.exceptions) == len(p.scenes) - 1
        assert all(isinstance(e, nv.BudgetExceeded) for e in exc.exceptions)
    else:
        pytest.fail("no BudgetExceeded")
    assert replicate_env.creates[WAN] == 1
    assert p.spent_usd == pytest.approx(replicate_env.charged_usd)
    assert p.spent_usd <= p.budget_usd
    p.close()


def test_a_single_failed_clip_raises_its_own_error_naming_the_scene(
    replicate_env: ReplicateDouble, tmp_path: Path
) -> None:
    p = replicate_project(tmp_path)
    p.storyboard()
    replicate_env.fail_refs[WAN] = 1
    with pytest.raises(nv.NbvideoError) as err:
        p.generate_clips(scenes=[1], retries=0).wait(60)
    assert type(err.value).__name__ == "ClipFailed"
    assert f"scene {p.scene(1).id}" in str(err.value)
    p.close()


# ------------------------------------------------------------------ the planner
def test_paid_questions_stop_at_the_budget(openai_double: OpenAIDouble, tmp_path: Path) -> None:
    p = nv.Project.open(tmp_path / "plan", brief=BRIEF, duration_s=15, fps=12,
                        providers="openai")
    p.ask()
    row = p.costs.query("phase == 'questions'").iloc[-1]
    estimate, actual = float(row["estimated_usd"]), float(row["cost_usd"])
    assert 0 < actual < estimate  # the estimate is an upper bound
    p.budget_usd = p.spent_usd + estimate + actual / 2  # one more call fits, not two
    p.ask(force=True)
    with pytest.raises(nv.BudgetExceeded) as err:
        p.ask(force=True)
    assert len(openai_double.bodies()) == 2
    exc = err.value
    assert exc.item == "questions from gpt-6-luna" and exc.estimate_usd == pytest.approx(estimate)
    assert exc.spent_usd == pytest.approx(2 * actual) and exc.budget == "project budget"
    assert len(refused_rows(p, "questions")) == 1
    p.close()


def test_paid_storyboard_stops_at_the_budget(openai_double: OpenAIDouble, tmp_path: Path) -> None:
    p = nv.Project.open(tmp_path / "plan", brief=BRIEF, duration_s=15, fps=12,
                        providers="openai")
    p.storyboard()
    asked = len(openai_double.bodies())
    row = p.costs.query("phase == 'storyboard' and status == 'succeeded'").iloc[-1]
    estimate, actual = float(row["estimated_usd"]), float(row["cost_usd"])
    assert 0 < actual < estimate
    p.budget_usd = p.spent_usd + estimate + actual / 2
    p.storyboard(replan=True)
    with pytest.raises(nv.BudgetExceeded, match="storyboard from gpt-6-luna refused"):
        p.storyboard(replan=True)
    assert len(openai_double.bodies()) == asked + 1
    p.close()


# ------------------------------------------------------------------ voice
# OpenAI's speech models shut down on 2027-01-06 with no successor on the speech endpoint:
# the lifecycle warns (ModelRetiring) at each paid voice line until then.
@pytest.mark.filterwarnings("ignore::nbvideo.errors.ModelRetiring")
def test_paid_voice_lines_stop_at_the_budget(openai_double: OpenAIDouble,
                                             rendered: nv.Project) -> None:
    p = rendered
    lines = [s.voice_line.strip() for s in p.scenes if s.voice_line.strip()]
    assert len(lines) >= 2
    p.finish(voice="narrator-f", voice_model="tts-1", music="none")
    price = catalog.get_model("tts-1").prices_usd["mchar"] / 1e6
    first = len(lines[0]) * price
    p.budget_usd = p.spent_usd + first + len(lines[1]) * price / 2  # the first line only
    with pytest.raises(nv.BudgetExceeded, match="voice line for scene") as err:
        p.export("ad", formats=["16:9"])
    assert len(openai_double.bodies("/v1/audio/speech")) == 1
    assert err.value.estimate_usd == pytest.approx(len(lines[1]) * price)
    assert p.spent_usd == pytest.approx(openai_double.charged_usd) == pytest.approx(first)
    assert len(refused_rows(p, "voice")) == 1


# ------------------------------------------------------------------ no way around the gate
def paid_methods() -> dict[tuple[str, str], tuple[type, tuple[str, ...]]]:
    """The provider methods that make a vendor bill us, by (vendor, kind) of model."""
    from nbvideo.providers.elevenlabs import ElevenLabsSpeech
    from nbvideo.providers.heygen import HeyGenPresenter
    from nbvideo.providers.openai import OpenAIImageFrames, OpenAIPlanner
    from nbvideo.providers.openai_tts import OpenAISpeech
    from nbvideo.providers.replicate import ReplicateFrames, ReplicateVideo
    from nbvideo.providers.replicate_lipsync import ReplicateLipSync
    from nbvideo.providers.runway import RunwayFrames, RunwayVideo

    return {("runway", "image"): (RunwayFrames, ("frame",)),
            ("runway", "video"): (RunwayVideo, ("submit", "clip")),
            ("openai", "text"): (OpenAIPlanner, ("questions", "storyboard")),
            ("openai", "image"): (OpenAIImageFrames, ("frame",)),
            ("openai", "audio"): (OpenAISpeech, ("speak",)),
            ("elevenlabs", "audio"): (ElevenLabsSpeech, ("speak",)),
            ("replicate", "image"): (ReplicateFrames, ("frame",)),
            ("replicate", "video"): (ReplicateVideo, ("submit", "clip")),
            ("heygen", "video"): (HeyGenPresenter, ("submit", "clip")),
            ("replicate", "lipsync"): (ReplicateLipSync, ("submit", "lip_sync"))}


def test_every_priced_model_has_its_paid_methods_watched() -> None:
    """A new paid vendor or kind (lip-sync, music, ...) must be added to `paid_methods`, so
    the test below checks that its calls go through the gate too."""
    priced = {(m.provider, m.kind) for m in catalog.models() if m.price_basis != "free"}
    assert priced <= set(paid_methods()), priced - set(paid_methods())


@pytest.fixture
def around_the_gate(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[bool]]:
    """Each paid provider method, wrapped to note whether it was called inside the gate."""
    from nbvideo.runtime.budget import inside_gate

    calls: dict[str, list[bool]] = {}
    for cls, names in paid_methods().values():
        for name in names:
            real, label = getattr(cls, name), f"{cls.__name__}.{name}"
            calls[label] = []

            def watched(self: object, *args: object, _real=real, _label=label,
                        **kwargs: object) -> object:
                calls[_label].append(inside_gate())
                return _real(self, *args, **kwargs)

            monkeypatch.setattr(cls, name, watched)
    return calls


# OpenAI's speech models shut down on 2027-01-06 with no successor on the speech endpoint:
# the lifecycle warns (ModelRetiring) at each paid voice line until then.
@pytest.mark.filterwarnings("ignore::nbvideo.errors.ModelRetiring")
def test_every_dollar_a_vendor_billed_passed_the_gate(openai_double: OpenAIDouble,
                                                      replicate_env: ReplicateDouble,
                                                      around_the_gate: dict[str, list[bool]],
                                                      tmp_path: Path) -> None:
    """Every paid phase of a project on OpenAI and Replicate (and a campaign's planning):
    each paid provider call ran inside the gate, each billed row carries the estimate the
    gate reserved, and the vendors billed exactly what those rows say."""
    p = fast(nv.Project.open(tmp_path / "all", brief=BRIEF, duration_s=15, fps=12,
                             providers="openai+replicate"))
    p.storyboard()
    p.regenerate_frame(1, prompt="low angle, rain")
    p.generate_clips(scenes=[1], retries=0).wait(120)
    p.finish(voice="narrator-f", voice_model="tts-1", music="none")
    from nbvideo.edit.timeline import entries
    from nbvideo.render.finishing import speak_lines

    assert speak_lines(p._rt, entries(p._rt))  # the voice-over an export would speak
    from tests.test_lipsync import tone_wav

    p.lip_sync(1, voice=tone_wav(tmp_path / "line.wav", 1.0), model="lipsync-2").wait()
    nv.batch(pd.DataFrame({"brief": [BRIEF]}), tmp_path / "camp", providers="openai",
             budget_usd=1)
    outside = {k: v.count(False) for k, v in around_the_gate.items() if False in v}
    assert not outside, f"paid calls made around the money gate: {outside}"
    used = {k for k, v in around_the_gate.items() if v}
    assert {"OpenAIPlanner.questions", "OpenAIPlanner.storyboard", "ReplicateFrames.frame",
            "ReplicateVideo.submit", "OpenAISpeech.speak", "ReplicateLipSync.submit"} <= used
    billed = openai_double.charged_usd + replicate_env.charged_usd
    df = pd.concat([p.costs, nv.Campaign.open(tmp_path / "camp").costs])
    paid = df[df["cost_usd"] > 0]
    assert set(paid["phase"]) == {"questions", "storyboard", "frames", "clips", "voice"}
    assert paid["estimated_usd"].notna().all(), paid[paid["estimated_usd"].isna()]
    assert (paid["cost_usd"] <= paid["estimated_usd"] + 1e-9).all()
    assert paid["cost_usd"].sum() == pytest.approx(billed)
    p.close()


# ------------------------------------------------------------------ the command line
def test_cli_run_over_budget_prints_one_line_and_no_traceback(
    replicate_env: ReplicateDouble, tmp_path: Path
) -> None:
    p = replicate_project(tmp_path)
    p.storyboard()
    p.close()
    res = subprocess.run([sys.executable, "-m", "nbvideo.cli", "run", str(tmp_path / "paid"),
                          "--budget", "0.01"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 6, res.stderr
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.strip().splitlines() if "clip/s" not in line]  # tqdm
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "refused before sending" in lines[0] and "budget of this call of $0.01" in lines[0]
    assert replicate_env.creates[WAN] == 0


def test_every_dollar_runway_charged_passed_the_gate(runway_env: Any,
                                                     around_the_gate: dict[str, list[bool]],
                                                     tmp_path: Path) -> None:
    """A project on Runway (gen4_image frames, gen4_turbo clips): each paid call ran inside
    the gate, and the ledger says exactly what the double charged, never over its estimate."""
    from tests.test_runway_project import open_project

    p = open_project(tmp_path / "rw", models={})
    p.regenerate_frame(1, prompt="low angle, rain")
    p.generate_clips(scenes=[1], retries=0).wait(120)
    outside = {k: v.count(False) for k, v in around_the_gate.items() if False in v}
    assert not outside, f"paid calls made around the money gate: {outside}"
    used = {k for k, v in around_the_gate.items() if v}
    assert {"RunwayFrames.frame", "RunwayVideo.submit"} <= used
    paid = p.costs[p.costs["cost_usd"] > 0]
    assert set(paid["phase"]) == {"frames", "clips"}
    assert (paid["cost_usd"] <= paid["estimated_usd"] + 1e-9).all()
    assert paid["cost_usd"].sum() == pytest.approx(runway_env.charged_usd)
    p.close()
