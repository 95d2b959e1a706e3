"""Routing by complexity: each scene's profile (from the planner, or derived), the model
"auto" picks for it and why, pinned models, unhealthy engines, the budget, and the seconds
paid for but never shown (wasted), against the Replicate double where clips are made."""

from __future__ import annotations

import asyncio
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

import nbvideo as nv
from nbvideo.generate.clips import ClipFailed
from nbvideo.media.ffmpeg import probe
from nbvideo.model import vocabulary
from nbvideo.model.complexity import Complexity, derive, of_scene
from nbvideo.model.state import Brief
from nbvideo.plan import routing
from nbvideo.providers import provider_set
from nbvideo.providers.base import PlanContext
from nbvideo.providers.catalog import get_model
from nbvideo.providers.local.planner import plan_storyboard
from tests.conftest import OPENAI_KEY
from tests.doubles.replicate_double import ReplicateDouble
from tests.test_clip_routing import boarded

SHOE = "30s ad for a waterproof trail shoe for weekend hikers"
BANK = "30 second ad for a banking app for young professionals"
BREW = "15s ad for a cold brew coffee can"
VEO = "google/veo-3-fast"


def planned(text: str, **ctx: object) -> list[nv.Scene]:
    return plan_storyboard(PlanContext(brief=Brief(text=text), **ctx)).scenes  # type: ignore[arg-type]


# ------------------------------------------------------------------ profiles


@pytest.mark.parametrize("text", [SHOE, BANK, BREW,
                                  "20s ad for a skateboard brand, fast tricks in the city",
                                  "30s ad for a sparkling water brand"])
def test_the_offline_planner_gives_every_scene_a_profile_that_follows_its_fields(
        text: str) -> None:
    scenes = planned(text)
    for s in scenes:
        prof = s.complexity
        assert isinstance(prof, Complexity)
        assert prof.camera_move == (s.camera != "static")
        if prof.product_closeup:
            assert s.shot in ("close-up", "detail")
        if prof.dialogue:
            assert prof.people and s.voice_line
        for s2 in (s, s.model_copy(update={"complexity": None})):  # old scenes: derived alike
            assert of_scene(s2) == prof
    proof = [s for s in scenes if s.beat == "proof"]
    for s in proof:  # the testimonial: someone on screen, speaking to camera
        assert s.complexity is not None and s.complexity.dialogue and s.complexity.tier() == 3
    hooks = scenes[0].complexity
    assert hooks is not None and hooks.people  # every hook here opens on the audience


def test_real_briefs_show_their_own_hard_parts() -> None:
    shoe = planned(SHOE)
    assert shoe[0].complexity.fast_motion  # hikers charging through mud
    bank = planned(BANK)
    assert any(s.complexity.legible_text for s in bank)  # a phone, the card and the app
    assert not any(s.complexity.legible_text for s in shoe)  # prompts say "no text"
    tiers = {s.complexity.tier() for s in shoe}
    assert tiers == {1, 2, 3}  # not every scene is hard: routing has a choice to make


def test_derive_reads_words_denied_and_words_shown() -> None:
    assert not derive(visual_prompt="wide shot of a lake, no text, no watermark").legible_text
    assert not derive(visual_prompt="hero image with space for a logo and text").legible_text
    label = derive(visual_prompt="detail shot of the bottle label, crisp lettering",
                   shot="detail", beat="product")
    assert label.legible_text and label.product_closeup and label.tier() == 2
    talk = derive(visual_prompt="medium shot of a woman talking to camera",
                  voice_line="I switched last spring.")
    assert talk.people and talk.dialogue and talk.tier() == 3
    quiet = derive(visual_prompt="medium shot of a woman talking to camera")
    assert not quiet.dialogue  # nothing is said: no lips to match
    assert derive(visual_prompt="a calm field at dawn", camera="push-in").tier() == 1
    assert derive(visual_prompt="runners sprinting downhill").tier() == 3  # faces, fast


def test_an_old_project_opens_and_its_scenes_are_profiled_from_their_fields(
        fresh: nv.Project) -> None:
    fresh.storyboard()
    path = fresh.path
    fresh.close()
    raw = json.loads((path / "project.json").read_text())
    raw["schema_version"] = 3
    for s in raw["scenes"]:
        del s["complexity"], s["video_model"]
    del raw["stretch_clips"]
    (path / "project.json").write_text(json.dumps(raw))
    with pytest.warns(UserWarning, match="does not match the end of its history"):
        old = nv.Project.open(path)  # (written by hand here, so history says so)
    assert all(s.complexity is None for s in old.state.scenes)
    est = old.estimate(model="auto")
    assert est.iloc[1:]["reason"].str.contains(r"-> quality tier \d").all()
    old.close()


def test_editing_a_scenes_words_drops_the_planners_profile_for_a_derived_one(
        fresh: nv.Project) -> None:
    fresh.storyboard()
    fresh.edit_scene(1, complexity={"dialogue": True, "people": True})
    assert fresh.state.scenes[0].complexity == Complexity(dialogue=True, people=True)
    fresh.edit_scene(1, duration_s=3)  # not what the profile reads: kept
    assert fresh.state.scenes[0].complexity == Complexity(dialogue=True, people=True)
    fresh.edit_scene(1, title="Dawn", description="A quiet morning.",
                     visual_prompt="a calm field at dawn", camera="static")
    scene = fresh.state.scenes[0]
    assert scene.complexity is None and of_scene(scene).tier() == 1


# ------------------------------------------------------------------ routing, estimate


def paid(p: nv.Project, monkeypatch: pytest.MonkeyPatch) -> nv.Project:
    """An offline-planned project priced as if on Replicate (no call is made)."""
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_" + "r" * 30)
    p._rt.providers = provider_set("replicate", p.state.models)
    return p


@pytest.fixture
def shoe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> nv.Project:
    p = nv.Project.open(tmp_path / "shoe", brief=SHOE, providers="local")
    p.storyboard()
    return paid(p, monkeypatch)


def test_auto_gives_each_scene_the_tier_its_profile_needs_and_says_why(
        shoe: nv.Project) -> None:
    est = shoe.estimate(model="auto")
    body = est.iloc[1:]
    for s, row in zip(shoe.state.scenes, body.itertuples(), strict=True):
        need = of_scene(s).tier()
        assert f"-> quality tier {need}" in row.reason
        assert get_model(row.model).quality_tier >= need  # every model here reaches tier 2
        assert row.model in row.reason
    three = [r for s, r in zip(shoe.state.scenes, body.itertuples(), strict=True)
             if of_scene(s).tier() == 3]
    assert three and {r.model for r in three} == {"veo-3-fast"}  # the only tier 3 for 16:9
    assert any("dialogue" in r.reason for r in three)
    easy = [r for s, r in zip(shoe.state.scenes, body.itertuples(), strict=True)
            if of_scene(s).tier() < 3]
    assert all(get_model(r.model).quality_tier == 2 for r in easy)  # not veo's $0.40/s
    cheapest = shoe.estimate(model="auto", policy="cheapest").iloc[1:]
    assert est.iloc[0]["cost_usd"] > cheapest["cost_usd"].sum()  # quality where it is needed


def test_a_model_whose_durations_fit_wins_within_ten_percent(shoe: nv.Project) -> None:
    shoe.edit_scene(2, duration_s=6, complexity={"people": True})
    row = shoe.estimate(model="auto").iloc[2]
    # kling makes 5 or 10 s: $0.50 for a 6 s scene; hailuo makes 6 s: $0.27, nothing wasted
    assert row["model"] == "hailuo-02" and row["wasted_s"] == 0
    assert "hailuo-02 fits 6 s exactly" in row["reason"]
    shoe.edit_scene(2, duration_s=5)
    row = shoe.estimate(model="auto").iloc[2]
    assert row["model"] == "kling-v2.1" and "kling-v2.1 fits 5 s exactly" in row["reason"]


def test_a_pinned_model_wins_over_routing_and_the_reason_says_so(shoe: nv.Project) -> None:
    shoe.edit_scene(2, video_model="wan-2.5-i2v-fast")
    body = shoe.estimate(model="auto").iloc[1:]
    assert body.iloc[1]["model"] == "wan-2.5-i2v-fast"
    assert body.iloc[1]["reason"].startswith(
        "pinned for this scene: wan-2.5-i2v-fast wins over routing")
    assert "pinned" not in body.iloc[0]["reason"]
    with pytest.raises(nv.InvalidInput, match=r"video_model.*flux-schnell"):
        shoe.edit_scene(3, video_model="flux-schnell")  # a frame model
    assert shoe.state.scenes[2].video_model is None


def test_the_budget_left_steps_the_least_demanding_scenes_down(shoe: nv.Project) -> None:
    free = shoe.estimate(model="auto")
    cheapest = shoe.estimate(model="auto", policy="cheapest").iloc[0]["cost_usd"]
    budget = round((free.iloc[0]["cost_usd"] + cheapest) / 2, 2)  # room for some of it
    shoe.budget_usd = budget
    est = shoe.estimate(model="auto")
    assert cheapest <= est.iloc[0]["cost_usd"] <= budget < free.iloc[0]["cost_usd"]
    stepped = est.iloc[1:][est.iloc[1:]["reason"].str.contains("budget:")]
    assert len(stepped) >= 1
    assert all(f"${budget:.2f} left" in r for r in stepped["reason"])
    shoe.budget_usd = 0.5  # not even the cheapest fits: said, not hidden
    est = shoe.estimate(model="auto")
    assert est.iloc[0]["cost_usd"] == pytest.approx(cheapest)
    assert est.iloc[1:]["reason"].str.contains("over budget even at the cheapest").all()


def test_wasted_seconds_on_wan_25_a_6_s_scene_pays_10(shoe: nv.Project) -> None:
    shoe.edit_scene(1, duration_s=6)
    est = shoe.estimate(model="wan-2.5-i2v-fast")
    row = est.iloc[1]
    assert (row["duration_s"], row["generated_s"], row["wasted_s"]) == (6, 10, 4)
    assert row["cost_usd"] == pytest.approx(10 * 0.068)
    body = est.iloc[1:]
    want = [(10 if s.duration_s > 5 else 5) - s.duration_s for s in shoe.state.scenes]
    assert list(body["wasted_s"]) == pytest.approx(want)
    assert est.iloc[0]["wasted_s"] == pytest.approx(sum(want))
    kept = 1 - sum(want) / body["generated_s"].sum()
    assert est.iloc[0]["reason"].startswith(f"{kept:.0%} of {body['generated_s'].sum():g} paid")
    assert row["reason"] == ("wan-2.5-i2v-fast named; wan-2.5-i2v-fast makes 10 s for the "
                             "6 s scene (4 s wasted)")


def test_stretch_prices_a_shorter_clip_slowed_to_fill_its_scene(shoe: nv.Project) -> None:
    shoe.edit_scene(1, duration_s=6)
    est = shoe.estimate(model="wan-2.5-i2v-fast", stretch=True)
    row = est.iloc[1]  # 5 s stretched 1.2x instead of 10 s with 4 s trimmed
    assert (row["generated_s"], row["wasted_s"], row["stretch"]) == (5, 0, 1.2)
    assert row["cost_usd"] == pytest.approx(5 * 0.068)
    assert "stretched 1.20x" in row["reason"]
    plain = shoe.estimate(model="wan-2.5-i2v-fast")
    assert est.iloc[0]["cost_usd"] < plain.iloc[0]["cost_usd"]
    assert est.iloc[0]["wasted_s"] < plain.iloc[0]["wasted_s"]
    shoe.edit_scene(1, duration_s=7)  # 1.4x: too slow; the next length up again
    assert shoe.estimate(model="wan-2.5-i2v-fast", stretch=True).iloc[1]["generated_s"] == 10
    assert shoe.state.stretch_clips is False  # an estimate records nothing


def test_the_planner_can_fit_scene_lengths_to_a_models_durations(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = nv.Project.open(tmp_path / "fit", brief=SHOE, providers="local")
    p.storyboard(fit_model="wan-2.5-i2v-fast")
    lengths = [s.duration_s for s in p.state.scenes]
    assert set(lengths) <= {5.0, 10.0} and sum(lengths) == 30
    assert paid(p, monkeypatch).estimate(model="wan-2.5-i2v-fast").iloc[0]["wasted_s"] == 0
    default = planned(SHOE)
    assert [s.duration_s for s in default] != lengths  # the default is timed freely
    with pytest.raises(nv.InvalidInput, match="video model"):
        p.storyboard(replan=True, fit_model="flux-schnell")
    p.close()


# ------------------------------------------------------------------ against the double


def test_a_project_pin_wins_over_routing_and_a_scene_pin_over_both(
        replicate_env: ReplicateDouble, tmp_path: Path) -> None:
    p = boarded(tmp_path)
    p.use_models(video="hailuo-02")
    p.edit_scene(2, video_model="kling-v2.1")
    body = p.estimate(model="auto").iloc[1:]
    assert list(body["model"]) == ["hailuo-02", "kling-v2.1"] + ["hailuo-02"] * (len(body) - 2)
    assert body.iloc[0]["reason"].startswith(
        "pinned for the project (p.use_models(video=...)): hailuo-02 wins over routing")
    assert body.iloc[1]["reason"].startswith("pinned for this scene: kling-v2.1")
    p.generate_clips(model="auto").wait(120)
    assert [s.clip.model for s in p.scenes] == list(body["model"])
    p.close()


def test_regenerate_clip_on_auto_routes_by_the_same_policy_as_generate_clips(
        replicate_env: ReplicateDouble, tmp_path: Path) -> None:
    p = boarded(tmp_path)
    p.edit_scene(2, complexity={"people": True, "dialogue": True})  # lips to match: tier 3
    est = p.estimate(model="auto").iloc[1:]  # the default policy: complexity
    cheap = p.estimate(model="auto", policy="cheapest").iloc[1:]
    differ = [n for n in range(len(est)) if est.iloc[n]["model"] != cheap.iloc[n]["model"]]
    assert differ, "the brief has no scene where the policies disagree: nothing is tested"
    n = differ[0]
    made = p.regenerate_clip(n + 1, force=True, model="auto").wait(120)
    assert [t.model for t in made] == [est.iloc[n]["model"]]  # not the cheapest model
    assert p.scenes[n].clip.model == est.iloc[n]["model"]
    made = p.regenerate_clip(n + 1, force=True, model="auto", policy="cheapest").wait(120)
    assert [t.model for t in made] == [cheap.iloc[n]["model"]]  # still selectable
    with pytest.raises(nv.InvalidInput, match="policy='cheap' is not a policy"):
        p.regenerate_clip(n + 1, force=True, model="auto", policy="cheap")
    assert routing.DEFAULT_POLICY == "complexity"
    assert tuple(routing.POLICIES) == vocabulary.POLICY_NAMES  # the CLI's choices
    p.close()


def test_an_unhealthy_engine_is_skipped_and_the_reason_says_so(
        replicate_env: ReplicateDouble, tmp_path: Path) -> None:
    p = boarded(tmp_path)
    p.edit_scene(1, duration_s=5, complexity={"people": True, "dialogue": True})
    assert p.estimate(model="auto").iloc[1]["model"] == "veo-3-fast"
    replicate_env.fail_refs[VEO] = 3
    with pytest.raises(ClipFailed):
        p.generate_clips(scenes=[1], model="veo-3-fast", retries=2).wait(60)
    with pytest.warns(nv.RoutingWarning, match="routes around veo-3-fast"):
        row = p.estimate(model="auto").iloc[1]
    assert row["model"] != "veo-3-fast"
    assert "veo-3-fast skipped: unhealthy (failed 3 of its last 3 calls" in row["reason"]
    assert "quality tier 3 (none of 'replicate' reaches it; best here: tier 2)" in row["reason"]
    p.close()


@pytest.mark.slow
def test_a_stretched_clip_plays_for_its_scene_and_pays_for_the_shorter_one(
        replicate_env: ReplicateDouble, tmp_path: Path) -> None:
    p = boarded(tmp_path)
    p.edit_scene(1, duration_s=6)
    job = p.generate_clips(scenes=[1], model="kling-v2.1", stretch=True)
    job.wait(120)
    take = p.scenes[0].clip
    assert take is not None and take.status == "succeeded"
    assert take.inputs["duration_s"] == 5 and take.inputs["stretch_to_s"] == 6
    info = probe(p.path / take.path)
    assert info.duration_s == pytest.approx(6, abs=1 / p.state.brief.fps)
    assert info.frames == 6 * p.state.brief.fps
    assert p.state.stretch_clips is True  # recorded: later runs and the estimate agree
    row = p.costs.query("phase == 'clips' and status == 'succeeded'").iloc[-1]
    assert row["cost_usd"] == pytest.approx(5 * 0.05)  # 5 s paid, not 10
    est = p.estimate(model="kling-v2.1")
    assert est.iloc[1]["cost_usd"] == 0  # the stretched clip is current
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert p.generate_clips(scenes=[1], model="kling-v2.1").wait(60)[0].id == take.id
    p.close()


def test_routing_reasons_without_a_project(monkeypatch: pytest.MonkeyPatch) -> None:
    """The router itself: a scene's chain and reason from the catalog alone."""
    scene = planned(SHOE)[0].model_copy(update={"duration_s": 5.0})
    brief = Brief(text=SHOE)
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_" + "r" * 30)
    providers = provider_set("replicate", {})
    routes = routing.routes(providers, [scene], brief, "auto", "complexity", True,
                            {"veo-3-fast": "failed 3 of its last 4 calls"})
    r = routes[scene.id]
    assert r.chain[-1] == "veo-3-fast"  # kept as a last resort, at the end
    assert "veo-3-fast skipped: unhealthy (failed 3 of its last 4 calls)" in routing.reason(r)


# ------------------------------------------------------------------ the OpenAI planner


def test_the_openai_planner_asks_for_a_profile_and_keeps_the_one_it_gets(
        openai_double: Any) -> None:
    from nbvideo.providers.openai import OpenAIPlanner
    from tests.doubles.openai_double import default_storyboard

    ctx = PlanContext(brief=Brief(text=SHOE, duration_s=30, fps=30))
    plan = OpenAIPlanner(api_key=OPENAI_KEY, base_url=openai_double.base_url)
    sb = asyncio.run(plan.storyboard(ctx)).storyboard
    body = openai_double.bodies()[-1]
    schema = body["response_format"]["json_schema"]["schema"]["$defs"]
    prof = schema["ComplexityOut"]
    assert set(prof["required"]) == set(prof["properties"]) == set(Complexity.model_fields)
    assert "complexity" in schema["SceneOut"]["required"]  # strict: asked of every scene
    assert "complexity:" in body["messages"][0]["content"]
    want = default_storyboard()["scenes"]
    for got, sent in zip(sb.scenes, want, strict=True):  # as given (camera from the camera)
        assert got.complexity == Complexity(**{**sent["complexity"],
                                               "camera_move": sent["camera"] != "static"})
    assert sb.scenes[2].complexity.product_closeup and not sb.scenes[2].complexity.people

    answer = default_storyboard()  # an answer without profiles: derived from each scene
    for s in answer["scenes"]:
        s["complexity"] = None
    answer["scenes"][3]["visual_prompt"] = "medium shot of a hiker talking to camera"
    answer["scenes"][3]["voice_line"] = "I stayed dry all weekend."
    openai_double.push(answer)
    sb = asyncio.run(plan.storyboard(ctx)).storyboard
    assert all(s.complexity == derive(**{k: getattr(s, k) for k in (
        "description", "visual_prompt", "shot", "camera", "on_screen_text",
        "voice_line", "beat")}) for s in sb.scenes)
    assert sb.scenes[3].complexity.dialogue


def test_the_openai_planner_can_be_asked_for_a_models_lengths(openai_double: Any) -> None:
    from nbvideo.providers.openai import OpenAIPlanner

    ctx = PlanContext(brief=Brief(text=SHOE, duration_s=30, fps=30), fit_durations=(5.0, 10.0))
    plan = OpenAIPlanner(api_key=OPENAI_KEY, base_url=openai_double.base_url)
    sb = asyncio.run(plan.storyboard(ctx)).storyboard
    user = openai_double.bodies()[-1]["messages"][1]["content"]
    assert "clips of exactly 5 or 10 seconds" in user
    lengths = [s.duration_s for s in sb.scenes]  # the canned 3/6/8/7/6 s, fitted
    assert set(lengths) <= {5.0, 10.0} and sum(lengths) == 30
    assert sb.scenes[0].beat == "hook" and sb.scenes[-1].beat == "call-to-action"


def test_fit_lengths_adds_up_from_allowed_lengths_and_wastes_least() -> None:
    from nbvideo.providers.local.timing import by_weight, fit_lengths

    assert fit_lengths(30, (5.0, 10.0), 7) == [5.0] * 6  # nearest count to 7 that adds up
    assert fit_lengths(30, (5.0, 10.0), 3) == [10.0, 10.0, 10.0]
    assert fit_lengths(30, (6.0, 10.0), 6) == [6.0] * 5
    # 30 s of 8 s clips cannot add up: one scene takes the 6 s left (2 s of its clip wasted)
    assert fit_lengths(30, (8.0,), 5) == [8.0, 8.0, 8.0, 6.0]
    assert by_weight([10.0, 5.0, 5.0], [0.5, 2.0, 1.0]) == [5.0, 10.0, 5.0]
    with pytest.raises(ValueError, match="cannot be made"):
        fit_lengths(10, (10.0,), 3)  # two scenes at least (a hook and a call to action)
