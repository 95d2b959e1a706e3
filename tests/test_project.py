"""The notebook API end to end on the offline providers: what a director would notice."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

import nbvideo as nv
from nbvideo.media.ffmpeg import probe
from tests.conftest import BRIEF, SMALL


# ---------------------------------------------------------------- open / reopen
def test_new_project_creates_the_folder_layout(fresh: nv.Project) -> None:
    for sub in ("project.json", "assets/frames", "assets/clips", "assets/thumbs", "exports"):
        assert (fresh.path / sub).exists(), sub


def test_reopen_restores_answers_scenes_and_takes(tmp_path: Path) -> None:
    p = nv.Project.open(tmp_path / "p", brief=BRIEF, **SMALL)
    qid = p.questions[0].id
    p.answer(**{qid: "something specific"})
    p.storyboard()
    p.regenerate_frame(1, "low angle, rain")
    before = p.state
    p.close()
    again = nv.Project.open(tmp_path / "p")
    assert again.state == before
    assert again.state.answers[qid] == "something specific"
    assert len(again.scene(1).frame_takes) == 2
    again.close()


def test_open_refuses_unknown_options_listing_the_allowed_ones(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="allowed: brief, aspect"):
        nv.Project.open(tmp_path / "x", brief=BRIEF, aspekt="9:16")


def test_bad_aspect_names_the_field_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(nv.InvalidInput, match="aspect"):
        nv.Project.open(tmp_path / "x", brief=BRIEF, aspect="21:9")
    assert not (tmp_path / "x").exists()


def test_reopen_with_a_different_brief_is_refused(fresh: nv.Project) -> None:
    path = fresh.path
    fresh.close()
    with pytest.raises(nv.InvalidInput, match="different brief"):
        nv.Project.open(path, brief="a completely different ad")
    nv.Project.open(path, brief=BRIEF, **SMALL).close()  # same arguments: fine


def test_missing_project_without_a_brief_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(nv.ProjectNotFound, match="brief="):
        nv.Project.open(tmp_path / "nothing-here")


def test_corrupt_project_json_is_reported_and_kept(fresh: nv.Project) -> None:
    path = fresh.path
    fresh.ask()  # a second save, so a last good copy exists
    fresh.close()
    (path / "project.json").write_text('{"schema_version": 1, "name": ')
    with pytest.raises(nv.ProjectCorrupt, match="project.json"):
        nv.Project.open(path)
    assert (path / "project.json").read_text() == '{"schema_version": 1, "name": '
    nv.Project.restore_last_good(path)
    nv.Project.open(path).close()


def _open_in_child(path: str, q: multiprocessing.Queue[str]) -> None:
    try:
        nv.Project.open(path)
        q.put("opened")
    except nv.ProjectLocked:
        q.put("locked")


def test_a_second_kernel_cannot_open_the_project_for_writing(fresh: nv.Project) -> None:
    ctx = multiprocessing.get_context("spawn")
    q: multiprocessing.Queue[str] = ctx.Queue()
    proc = ctx.Process(target=_open_in_child, args=(str(fresh.path), q))
    proc.start()
    proc.join(120)
    assert q.get(timeout=5) == "locked"
    ro = nv.Project.open(fresh.path, read_only=True)  # reading is always allowed
    assert ro.name == fresh.name


# ---------------------------------------------------------------- questions
def test_questions_are_asked_once_and_answers_validated(fresh: nv.Project) -> None:
    qs = fresh.questions
    assert 3 <= len(qs) <= 6
    with pytest.raises(nv.InvalidInput, match="unknown question id 'colour'"):
        fresh.answer(colour="red")
    required = next(q for q in qs if q.required)
    with pytest.raises(nv.InvalidInput, match=f"{required.id}.*required"):
        fresh.answer(**{required.id: "   "})
    assert fresh.state.answers == {}
    assert fresh.questions.ids == qs.ids
    asked = fresh.costs.query("phase == 'questions'")
    assert list(asked["status"]) == ["succeeded"]  # the second look did not ask again


# ---------------------------------------------------------------- storyboard
def test_storyboard_fits_the_target_and_has_one_frame_per_scene(rendered: nv.Project) -> None:
    scenes = rendered.scenes
    assert abs(sum(s.duration_s for s in scenes) - SMALL["duration_s"]) <= 0.5
    assert scenes[0].beat == "hook" and scenes[-1].beat == "call-to-action"
    for s in scenes:
        assert s.frame_path is not None and s.frame_path.exists()
        from PIL import Image

        assert Image.open(s.frame_path).size == (1280, 720)


def test_rerun_of_unchanged_storyboard_costs_nothing_and_logs_cache_hits(
    rendered: nv.Project,
) -> None:
    before = rendered.takes()
    rows_before = len(rendered.costs)
    rendered.storyboard()
    assert rendered.takes().equals(before)
    new_rows = rendered.costs.iloc[rows_before:]
    frames = new_rows[new_rows["phase"] == "frames"]
    assert len(frames) == len(rendered.scenes) and frames["cache_hit"].all()
    assert new_rows["cost_usd"].sum() == 0


def test_regenerate_with_a_new_prompt_is_a_new_take_and_keeps_the_old(rendered: nv.Project) -> None:
    s = rendered.scene(2)
    old = s.frame
    take = s.regenerate(prompt="low angle, rain")
    assert take.id != old.id and s.frame.id == take.id
    assert s.visual_prompt == "low angle, rain"
    assert [t.id for t in s.frame_takes] == [old.id, take.id]
    assert (rendered.path / old.path).exists()
    # the same cell run again reuses the take
    again = s.regenerate(prompt="low angle, rain")
    assert again.id == take.id
    assert rendered.costs.iloc[-1]["cache_hit"]
    # choosing the old take goes back to its prompt
    s.choose_take(old.id)
    assert s.frame.id == old.id and s.visual_prompt == old.inputs["visual_prompt"]
    rendered.storyboard()
    assert s.frame.id == old.id  # nothing regenerated: the scene is current again


def test_force_makes_a_new_take_with_a_new_seed(rendered: nv.Project) -> None:
    s = rendered.scene(1)
    first = s.frame
    forced = s.regenerate(force=True)
    assert forced.id != first.id and forced.seed != first.seed
    assert (rendered.path / forced.path).read_bytes() != (rendered.path / first.path).read_bytes()


def test_scene_edits_validate_and_a_refused_edit_changes_nothing(rendered: nv.Project) -> None:
    before = rendered.state
    with pytest.raises(nv.InvalidInput, match="duration_s must be .* from 1 to 15"):
        rendered.edit_scene(1, duration_s=40)
    with pytest.raises(nv.InvalidInput, match="shot"):
        rendered.edit_scene(1, shot="extreme")
    with pytest.raises(nv.InvalidInput, match="editable scene fields"):
        rendered.edit_scene(1, frame_take_id="x")
    assert rendered.state == before
    s = rendered.edit_scene(1, description="A hiker laces up at dawn", duration_s=2.04)
    assert s.description == "A hiker laces up at dawn"
    assert s.duration_s == pytest.approx(2.0)  # snapped to whole frames at 12 fps


def test_reorder_add_duplicate_delete_and_restore(rendered: nv.Project) -> None:
    ids = [s.id for s in rendered.scenes]
    rendered.move_scene(ids[0], 2)
    assert [s.id for s in rendered.scenes][:2] == [ids[1], ids[0]]
    with pytest.raises(nv.InvalidInput, match="every scene exactly once"):
        rendered.reorder(ids[:-1])
    added = rendered.add_scene(after=1, description="Close on the sole", visual_prompt="sole",
                               duration_s=2, shot="detail")
    assert rendered.scenes[1].id == added.id
    dup = rendered.duplicate_scene(added.id)
    assert rendered.scenes[2].id == dup.id and dup.description == "Close on the sole"
    gone = rendered.delete_scene(dup.id)
    assert gone not in [s.id for s in rendered.scenes]
    assert gone in [s.id for s in rendered.state.archived_scenes]
    rendered.restore_scene(gone, to=1)
    assert rendered.scenes[0].id == gone


# ---------------------------------------------------------------- clips
def test_each_clip_plays_with_the_scene_duration(rendered: nv.Project) -> None:
    for s in rendered.scenes:
        info = probe(s.clip_path)
        assert (info.width, info.height, info.codec, info.pix_fmt) == (1280, 720, "h264", "yuv420p")
        assert info.fps == pytest.approx(12)
        assert info.frames == round(s.duration_s * 12)


def test_rerun_of_generate_clips_costs_nothing(rendered: nv.Project) -> None:
    job = rendered.generate_clips()
    assert job.wait() == [] and job.total == 0


def test_regenerate_one_clip_after_an_edit_renders_only_that_scene(rendered: nv.Project) -> None:
    s = rendered.scene(2)
    old_clip = s.clip
    rendered.edit_scene(2, camera="pan-left" if s.camera != "pan-left" else "pan-right")
    rendered.storyboard()
    job = rendered.generate_clips()
    takes = job.wait()
    assert [t.id for t in takes] == [s.clip.id] and s.clip.id != old_clip.id
    assert [e.scene for e in job.events if e.status == "succeeded"] == [s.id]
    forced = rendered.regenerate_clip(2, force=True).wait()
    assert forced[0].id != s.clip_takes[-2].id and len(s.clip_takes) == 3


def test_clip_job_can_be_awaited_from_async_code(rendered: nv.Project) -> None:
    import asyncio

    async def main() -> int:
        return len(await rendered.regenerate_clip(1, force=True))

    assert asyncio.run(main()) == 1


# ---------------------------------------------------------------- timeline + export
def test_export_has_the_exact_timeline_duration(rendered: nv.Project) -> None:
    out = rendered.export("cuts", formats=["16:9"])
    info = probe(out.paths[0])
    assert info.frames == round(SMALL["duration_s"] * 12)
    assert out[0].stream_copy  # clips already match: no re-encode


def test_crossfades_and_trims_shorten_the_export_as_shown(rendered: nv.Project) -> None:
    n = len(rendered.scenes)
    rendered.set_transitions("crossfade", 0.5)
    rendered.trim(1, in_s=0.25)
    rendered.trim(n, out_s=rendered.scene(n).duration_s - 0.5)
    expected = SMALL["duration_s"] - 0.5 * (n - 1) - 0.25 - 0.5
    assert rendered.timeline.duration_s == pytest.approx(expected, abs=1 / 12)
    out = rendered.export("xfade", formats=["9:16", "1:1", "4:5"], fit="pad")
    sizes = {(r.width, r.height) for r in out}
    assert sizes == {(720, 1280), (720, 720), (720, 900)}
    for path in out.paths:
        info = probe(path)
        assert abs(info.duration_s - rendered.timeline.duration_s) <= 1 / 12 + 1e-6


def test_invalid_timeline_edits_are_refused(rendered: nv.Project) -> None:
    with pytest.raises(nv.InvalidInput, match="crossfade .* shorter"):
        rendered.set_transition(1, "crossfade", rendered.scene(1).duration_s)
    with pytest.raises(nv.InvalidInput, match="from one frame to 3 s"):
        rendered.set_transition(1, "crossfade", 5.0)
    with pytest.raises(nv.InvalidInput, match="last scene"):
        rendered.set_transition(len(rendered.scenes), "crossfade", 0.5)
    with pytest.raises(nv.InvalidInput, match="keep at least"):
        rendered.trim(1, in_s=rendered.scene(1).duration_s - 0.1)
    with pytest.raises(nv.InvalidInput, match="formats"):
        rendered.export("x", formats=["21:9"])
    assert rendered.state.timeline.edits == {}


def test_export_before_clips_names_the_missing_step(fresh: nv.Project) -> None:
    fresh.storyboard()
    with pytest.raises(nv.PhaseNotReady, match="generate_clips"):
        fresh.export("x")


def test_every_call_lands_in_the_ledger(rendered: nv.Project) -> None:
    rendered.export("ledger", formats=["16:9"])
    df = rendered.costs
    assert set(df["phase"]) >= {"questions", "storyboard", "frames", "clips", "export"}
    assert df["cost_usd"].sum() == 0
    assert (df["provider"] == "local").all()
    summary = rendered.cost_summary()
    assert summary.iloc[-1]["phase"] == "total"
    assert summary.iloc[-1]["calls"] == len(df[df["kind"] == "actual"])


def test_project_json_never_holds_absolute_asset_paths(rendered: nv.Project) -> None:
    raw = json.loads((rendered.path / "project.json").read_text())
    for scene in raw["scenes"]:
        for take in scene["frame_takes"] + scene["clip_takes"]:
            assert not take["path"].startswith("/") and ".." not in take["path"]


def test_canceling_a_clip_job_leaves_no_partial_clip_and_no_take(rendered: nv.Project) -> None:
    import time

    s = rendered.scene(1)
    rendered.edit_scene(1, duration_s=12)  # long enough to still be rendering when canceled
    rendered.storyboard()
    takes_before = len(s.clip_takes)
    clips_before = set((rendered.path / "assets/clips").iterdir())
    job = rendered.generate_clips()
    deadline = time.monotonic() + 60
    while not any(e.status == "processing" for e in job.events) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.cancel()
    with pytest.raises(nv.Canceled):  # an NbvideoError, not asyncio's or futures' cancel
        job.wait(60)
    deadline = time.monotonic() + 30  # the render thread notices and cleans up
    while time.monotonic() < deadline:
        if set((rendered.path / "assets/clips").iterdir()) == clips_before and (
            "canceled" in set(rendered.costs["status"])
        ):
            break
        time.sleep(0.05)
    assert set((rendered.path / "assets/clips").iterdir()) == clips_before
    assert len(s.clip_takes) == takes_before
    assert job.state == "canceled"
    assert "canceled" in set(rendered.costs["status"])


def test_1080p_export_of_720p_clips_is_full_size_and_exact(rendered: nv.Project) -> None:
    out = rendered.export("hd", formats=["16:9", "9:16"], resolution="1080p", fit="crop")
    by_aspect = {r.aspect: probe(p) for r, p in zip(out, out.paths)}
    assert (by_aspect["16:9"].width, by_aspect["16:9"].height) == (1920, 1080)
    assert (by_aspect["9:16"].width, by_aspect["9:16"].height) == (1080, 1920)
    assert {i.frames for i in by_aspect.values()} == {round(SMALL["duration_s"] * 12)}
    assert not out[0].stream_copy
    assert (rendered.path / "exports" / "hd-16x9-1080p.jpg").exists()  # poster frame


def test_ledger_rows_carry_units_latency_and_keys(rendered: nv.Project) -> None:
    df = rendered.costs
    frames = df[(df["phase"] == "frames") & (df["status"] == "succeeded")]
    assert len(frames) == len(rendered.scenes)
    assert (frames["kind"] == "actual").all() and (frames["latency_s"] > 0).all()
    assert frames["key"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert set(frames["take"]) == {s.frame_takes[0].id for s in rendered.scenes}
    clips = df[(df["phase"] == "clips") & (df["status"] == "succeeded")]
    assert (clips["unit"] == "second").all()
    assert clips["units"].sum() == pytest.approx(SMALL["duration_s"], abs=1e-6)


def test_an_export_name_cannot_leave_the_project(rendered: nv.Project) -> None:
    out = rendered.export("../../../tmp/evil", formats=["16:9"])
    assert out.paths[0].parent == rendered.path / "exports"
    with pytest.raises(nv.InvalidInput, match="export name"):
        rendered.export("../..", formats=["16:9"])


def test_regenerate_clip_with_a_new_prompt_remakes_frame_then_clip(rendered: nv.Project) -> None:
    s = rendered.scene(1)
    frames, clips = len(s.frame_takes), len(s.clip_takes)
    takes = rendered.regenerate_clip(1, prompt="macro shot of laces, rain").wait()
    assert len(s.frame_takes) == frames + 1 and len(s.clip_takes) == clips + 1
    assert takes[0].inputs["frame_sha256"] == s.frame.checksum
    assert s.visual_prompt == "macro shot of laces, rain"
    with pytest.raises(nv.InvalidInput, match="seed"):
        s.regenerate(seed=-3)
