"""A project on the paid text provider, end to end over loopback: costs match what the API
charged, a missing key is named, and the key is found nowhere on disk or in output."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import nbvideo as nv
from tests.conftest import OPENAI_KEY as KEY
from tests.doubles.openai_double import OpenAIDouble


def test_openai_planned_project_costs_what_the_api_charged(
        openai_double: OpenAIDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = nv.Project.open(tmp_path / "paid", brief="15s ad for a cold brew coffee can",
                        duration_s=15, fps=12, providers="openai")
    qs = p.questions
    assert 3 <= len(qs) <= 6
    p.answer(**{qs[0].id: "night-shift nurses"})
    scenes = p.storyboard()
    assert abs(sum(s.duration_s for s in scenes) - 15) <= 0.5
    assert scenes[0].beat == "hook" and scenes[-1].beat == "call-to-action"
    costs = p.costs
    paid = costs[costs["provider"] == "openai"]
    assert set(paid["phase"]) == {"questions", "storyboard"}
    assert paid["cost_usd"].sum() == pytest.approx(openai_double.charged_usd)
    assert paid["cost_usd"].sum() > 0 and (paid["unit"] == "token").all()
    print(repr(p), p.state, p.cost_summary())
    p.close()
    # the key is nowhere: not on disk, not in what the notebook printed
    for f in (tmp_path / "paid").rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f
    out = capsys.readouterr()
    assert KEY not in out.out and KEY not in out.err


def test_reopening_a_paid_project_reuses_its_plan(openai_double: OpenAIDouble,
                                                  tmp_path: Path) -> None:
    p = nv.Project.open(tmp_path / "paid", brief="15s ad for a cold brew coffee can",
                        duration_s=15, fps=12, providers="openai")
    p.storyboard()
    calls = sum(openai_double.counts.values())
    p.close()
    again = nv.Project.open(tmp_path / "paid")
    again.storyboard()
    after = sum(openai_double.counts.values())
    assert after == calls  # nothing asked again, nothing paid again
    assert again.costs["cache_hit"].any()
    again.close()


def test_costs_of_a_paid_project_can_be_read_without_its_key(
    openai_double: OpenAIDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = nv.Project.open(tmp_path / "paid", brief="15s ad for a cold brew coffee can",
                        duration_s=15, fps=12, providers="openai")
    p.ask()
    p.close()
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL")
    ro = nv.Project.open(tmp_path / "paid", read_only=True)
    assert ro.costs["cost_usd"].sum() == pytest.approx(openai_double.charged_usd)


def test_a_paid_project_is_made_without_keys_and_the_first_paid_call_names_the_missing_one(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    p = nv.Project.open(tmp_path / "nokey", brief="15s ad for a cold brew coffee can",
                        providers="openai")
    before = (p.path / "project.json").read_bytes()
    with pytest.raises(nv.MissingKey, match="OPENAI_API_KEY"):
        p.ask()
    assert (p.path / "project.json").read_bytes() == before
    assert p.costs["cost_usd"].fillna(0).sum() == 0
    p.close()


TOKEN = "r8_" + "t" * 30


def answer_fast(p: nv.Project, model: str) -> None:
    """The double answers in 0.5 s, not a real model's minute: tell the poller so."""
    from nbvideo.providers import replicate_options
    from nbvideo.providers.replicate import ReplicateVideo

    video = ReplicateVideo(model, typical_latency_s=0.5, **replicate_options())
    p._rt.providers = dataclasses.replace(p._rt.providers, video=video)


@pytest.fixture
def both(openai_double: OpenAIDouble, monkeypatch: pytest.MonkeyPatch):
    from tests.doubles.replicate_double import start_replicate_double

    rep = start_replicate_double(TOKEN)
    rep.latency_s = 0.5
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
    monkeypatch.setenv("REPLICATE_BASE_URL", rep.base_url)
    monkeypatch.setenv("NBVIDEO_DOWNLOAD_HOSTS", "127.0.0.1")
    yield openai_double, rep
    rep.stop()


def test_openai_and_replicate_end_to_end_costs_match_and_exports_are_exact(
    both, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nbvideo.media.ffmpeg import probe

    oa, rep = both
    p = nv.Project.open(tmp_path / "full", brief="15s ad for a cold brew coffee can",
                        duration_s=15, fps=24, providers="openai+replicate")
    answer_fast(p, "wan-2.5-i2v-fast")
    p.storyboard()
    est = p.estimate()
    assert est.iloc[0]["cost_usd"] > 0 and est.iloc[0]["model"] == "wan-2.5-i2v-fast"
    takes = p.generate_clips().wait(300)
    assert len(takes) == len(p.scenes)
    assert sum(rep.creates.values()) == 2 * len(p.scenes)  # one frame and one clip each
    assert sum(rep.status_requests.values()) / len(p.scenes) <= 3
    for s in p.scenes:  # the model's shortest clip (5 or 10 s) that covers the scene, trimmed
        expected = 5.0 if s.duration_s <= 5.0 else 10.0  # back to the scene on the timeline
        assert s.clip.duration_s == pytest.approx(expected, abs=0.05)
        assert s.clip.source_url and s.clip.checksum
    out = p.export("paid", formats=["9:16"])
    assert probe(out.paths[0]).frames == round(sum(s.duration_s for s in p.scenes) * 24)
    costs = p.costs
    assert costs.query("provider == 'replicate'")["cost_usd"].sum() == pytest.approx(rep.charged_usd)
    assert costs.query("provider == 'openai'")["cost_usd"].sum() == pytest.approx(oa.charged_usd)
    print(p, p.costs, p.takes())
    p.close()
    for f in (tmp_path / "full").rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert KEY.encode() not in data and TOKEN.encode() not in data, f
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err and KEY not in out.out + out.err


def test_choosing_another_video_model_sends_clips_to_it(both, tmp_path: Path) -> None:
    _oa, rep = both
    p = nv.Project.open(tmp_path / "kling", brief="15s ad for a cold brew coffee can",
                        duration_s=15, fps=12, providers="replicate",
                        models={"video": "kling-v2.1"})
    assert p.models == {"text": "rule-planner-v1", "image": "flux-schnell", "video": "kling-v2.1"}
    p.storyboard()
    assert p.estimate().iloc[0]["model"] == "kling-v2.1"
    answer_fast(p, "kling-v2.1")
    p.generate_clips(scenes=[p.scenes[0].id]).wait(300)
    assert rep.creates["kwaivgi/kling-v2.1"] == 1
    assert "start_image" in rep.last_input("kwaivgi/kling-v2.1")
    p.use_models(video="hailuo-02")
    assert p.state.models["video"] == "hailuo-02"
    p.close()
    assert nv.Project.open(tmp_path / "kling").models["video"] == "hailuo-02"


def test_a_model_the_providers_cannot_serve_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(nv.InvalidInput, match=r"models\['video'\]: wan-2.5-i2v-fast .*ffmpeg-animatic"):
        nv.Project.open(tmp_path / "x", brief="15s ad for a cold brew coffee can",
                        models={"video": "wan-2.5-i2v-fast"})
    assert not (tmp_path / "x").exists()


def test_a_scene_edit_that_sends_the_same_request_pays_nothing(both, tmp_path: Path) -> None:
    _oa, rep = both
    p = nv.Project.open(tmp_path / "same", brief="15s ad for a cold brew coffee can",
                        duration_s=15, fps=12, providers="replicate")
    answer_fast(p, "wan-2.5-i2v-fast")
    p.storyboard()
    first = p.scenes[0]
    p.edit_scene(first.id, duration_s=3)
    p.generate_clips(scenes=[first.id]).wait(300)
    assert rep.creates["wan-video/wan-2.5-i2v-fast"] == 1
    p.edit_scene(first.id, duration_s=4)  # still one 5 s WAN clip: the same request
    job = p.generate_clips()
    assert first.id not in [e.scene for e in job.events]  # not even queued: it is current
    job.wait(300)
    assert rep.creates["wan-video/wan-2.5-i2v-fast"] == len(p.scenes)  # the others, once each
    assert p.timeline.to_pandas().iloc[0]["kept_s"] == pytest.approx(4.0)  # trimmed to the scene
    p.close()


def test_auto_providers_use_the_keys_that_are_set_and_offline_for_the_rest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    p = nv.Project.open(tmp_path / "auto", brief="15s ad for a cold brew coffee can",
                        providers="auto", models={"video": "kling-v2.1"})
    assert p.models == {"text": "rule-planner-v1", "image": "pillow-storyboard",
                        "video": "ffmpeg-animatic"}  # no key: offline, nothing paid for
    assert p.state.providers == "auto" and p.state.models == {"video": "kling-v2.1"}
    p.close()
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
    again = nv.Project.open(tmp_path / "auto")  # the same notebook, now with a key
    assert again.models == {"text": "rule-planner-v1", "image": "flux-schnell",
                            "video": "kling-v2.1"}
    again.close()


def test_a_paid_project_opens_without_keys_and_asks_for_one_only_before_a_paid_call(
    both, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbvideo.keys import forget_keys

    _oa, rep = both
    p = nv.Project.open(tmp_path / "paid", brief="15s ad for a cold brew coffee can",
                        duration_s=15, fps=12, providers="openai+replicate")
    answer_fast(p, "wan-2.5-i2v-fast")
    p.storyboard()
    p.generate_clips().wait(300)
    p.close()
    creates = sum(rep.creates.values())
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "REPLICATE_API_TOKEN"):
        monkeypatch.delenv(var)
    forget_keys()

    q = nv.Project.open(tmp_path / "paid")  # no keys: reading and re-exporting need none
    rows = len(q.costs)
    assert q.costs["cost_usd"].sum() > 0 and not q.history.empty
    assert len(q.takes()) >= 2 * len(q.scenes)
    q.generate_clips(scenes=[1]).wait(300)  # its take is reused: no key, no call
    out = q.export("again", formats=["1:1"])  # a re-export of the clips it has
    assert out.paths[0].exists()
    seed = q.scenes[1].clip_seed
    with pytest.raises(nv.MissingKey, match="OPENAI_API_KEY"):
        q.storyboard(replan=True)
    with pytest.raises(nv.MissingKey, match="REPLICATE_API_TOKEN"):
        q.regenerate_clip(2, force=True)
    assert q.scenes[1].clip_seed == seed  # refused before anything changed
    assert sum(rep.creates.values()) == creates  # nothing was sent
    assert len(q.scenes) == len(p.scenes) and len(q.costs) >= rows
    assert not (q.costs["status"] == "failed").any()
    q.close()
