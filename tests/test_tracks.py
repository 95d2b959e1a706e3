"""The multi-track timeline: items on overlay and audio tracks, edited from Python with undo,
bad input refused with nothing changed, and a project saved before tracks opening intact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

import nbvideo as nv
from nbvideo.errors import InvalidInput, PathEscape
from nbvideo.model.state import SCHEMA_VERSION, Timeline
from nbvideo.model.tracks import ImageItem, Track, default_tracks
from tests.conftest import PROJECT_V4


def _logo(p: nv.Project, name: str = "logo.png") -> str:
    Image.new("RGBA", (80, 40), (255, 0, 0, 255)).save(p.path / "assets" / name)
    return f"assets/{name}"


def test_a_project_saved_before_tracks_opens_with_everything_intact(old: nv.Project) -> None:
    raw = json.loads((PROJECT_V4 / "project.json").read_text())
    assert raw["schema_version"] == 4 and "tracks" not in raw["timeline"]
    st = old.state
    assert st.schema_version == SCHEMA_VERSION == 5
    # every edit, take and export as saved
    assert st.timeline.edits == Timeline.model_validate(
        {"edits": raw["timeline"]["edits"]}).edits
    assert st.timeline.edits[st.scenes[0].id].transition.kind == "crossfade"
    saved = {s["id"]: s for s in raw["scenes"]}
    for s in st.scenes:
        assert [t.id for t in s.clip_takes] == [t["id"] for t in saved[s.id]["clip_takes"]]
        assert [t.id for t in s.frame_takes] == [t["id"] for t in saved[s.id]["frame_takes"]]
        assert s.clip_take_id == saved[s.id]["clip_take_id"]
    assert [e.path for e in st.exports] == [e["path"] for e in raw["exports"]]
    assert st.finishing.music == "bed"
    # the default tracks, empty, the clips' own sound muted as before
    assert set(st.timeline.tracks) == {"V2", "voice", "music", "sfx", "clips"}
    assert st.timeline.tracks == default_tracks()
    assert st.timeline.tracks["clips"].mute
    # the history goes on: the upgrade is recorded, and the last change before it undoes
    assert old.history.iloc[-1]["kind"] == "migrate"
    before = old.timeline.to_pandas()
    old.undo()  # the finish(...) before the export
    assert old.state.finishing.music == "none"
    old.redo()
    assert old.timeline.to_pandas().equals(before)


def test_items_are_added_moved_trimmed_keyframed_and_removed_each_one_undo_step(
        old: nv.Project) -> None:
    tl = old.timeline
    logo = tl.add_image(_logo(old), 1.0, 2.0, x=0.95, y=0.05, anchor="top-right", width=0.2)
    assert isinstance(logo, ImageItem) and logo.end_s == 3.0
    text = tl.add_text("Trail ready", 0.5, 1.5, color="#ffcc00", size=0.1)
    assert list(tl.items["id"]) == [text.id, logo.id]  # by start on V2
    moved = tl.move(logo.id, start_s=2.0, track="V3")
    assert (moved.start_s, tl.items.set_index("id").loc[logo.id, "track"]) == (2.0, "V3")
    trimmed = tl.trim(logo.id, start_s=2.5)
    assert (trimmed.start_s, trimmed.end_s) == (2.5, 4.0)
    tl.keyframe(logo.id, "opacity", 0.0, 0.0)
    tl.keyframe(logo.id, "opacity", 1.0, 1.0, easing="ease-in")
    assert [(k.t_s, k.value, k.easing) for k in tl.item(logo.id).keyframes["opacity"]] == [
        (0.0, 0.0, "linear"), (1.0, 1.0, "ease-in")]
    tl.remove(text.id)
    assert list(tl.items["id"]) == [logo.id]
    kinds = list(old.history["kind"].iloc[-7:])
    assert kinds == ["tracks"] * 7
    old.undo()  # the remove
    assert text.id in set(tl.items["id"])
    old.undo()
    old.undo()  # both keyframes
    assert tl.item(logo.id).keyframes == {}
    old.undo()
    old.undo()  # trim and move
    assert tl.item(logo.id) == logo
    old.undo()
    old.undo()
    assert tl.items.empty and old.state.timeline.tracks == default_tracks()


def test_times_snap_to_frames_and_lengths_default_to_the_film(old: nv.Project) -> None:
    item = old.timeline.add_image(_logo(old), start_s=1.01)
    fps = old.state.brief.fps
    assert item.start_s == round(round(1.01 * fps) / fps, 6)
    assert item.end_s == pytest.approx(old.timeline.duration_s)
    tracks = old.timeline.tracks.set_index("track")
    assert tracks.loc["V2", "items"] == 1 and tracks.loc["V1", "kind"] == "scenes"


@pytest.mark.parametrize(("call", "match"), [
    (lambda tl, i: tl.set(i, opacity=1.5), r"opacity: Input should be less than or equal to 1"),
    (lambda tl, i: tl.set(i, blend="dodge"),
     r"blend: Input should be 'normal', 'multiply', 'screen', 'overlay' or 'add'"),
    (lambda tl, i: tl.set(i, x=float("nan")), r"x: Input should be a finite number"),
    (lambda tl, i: tl.set(i, width=float("inf")), r"width: Input should be a finite number"),
    (lambda tl, i: tl.set(i, anchor="middle"), r"anchor: .*'top-left'"),
    (lambda tl, i: tl.move(i, start_s=-1), r"start_s must be seconds"),
    (lambda tl, i: tl.move(i, track="A7"), r"track: 'A7' is not a track; use V2"),
    (lambda tl, i: tl.move(i, track="music"), r"image item cannot go on music"),
    (lambda tl, i: tl.trim(i, start_s=3, end_s=2), r"end_s \(2 s\) must be after start_s"),
    (lambda tl, i: tl.keyframe(i, "colour", 0, 1), r"prop: 'colour' cannot be keyframed; use "
                                                    r"one of x, y, scale, rotation, opacity"),
    (lambda tl, i: tl.keyframe(i, "opacity", 0, 2), r"value: opacity is 0 \(transparent\)"),
    (lambda tl, i: tl.keyframe(i, "opacity", 0, 1, easing="bounce"),
     r"easing: 'bounce' is not allowed; use one of linear, ease-in"),
    (lambda tl, i: tl.keyframe(i, "x", 99, 0.5), r"t_s: 99 s is past the end of item"),
    (lambda tl, i: tl.set(i, id="i00000000"), r"id and kind cannot change"),
    (lambda tl, i: tl.remove("i12345678"), r"item_id: no timeline item 'i12345678'"),
    (lambda tl, i: tl.track("voice", solo="maybe"), r"solo: Input should be a valid boolean"),
    (lambda tl, i: tl.track("V2", solo=True), r"solo is for audio tracks"),
    (lambda tl, i: tl.add_audio(start_s=0, duration_s=1, effect="Whoosh!"), r"effect: a sound"),
    (lambda tl, i: tl.add_audio("assets/logo.png", 0, 1), r"not an audio file"),
    (lambda tl, i: tl.add_audio(None, 0, 1), r"give exactly one"),
    (lambda tl, i: tl.add_audio(effect="whoosh", duration_s=1, fade_in_s=1, fade_out_s=1),
     r"fade_in_s \+ fade_out_s \(2 s\) must fit in duration_s \(1 s\)"),
    (lambda tl, i: tl.add_text("   "), r"text must have something to draw"),
    (lambda tl, i: tl.add_text("hi", color="red"), r"color: .*'#rrggbb'"),
    (lambda tl, i: tl.add_image("assets/missing.png"), r"not found"),
    (lambda tl, i: tl.add_image("../../etc/passwd"), r"inside the project folder"),
    (lambda tl, i: tl.add_clip("assets/logo.png"), r"not a video file"),
])
def test_bad_input_is_refused_naming_the_field_and_nothing_changes(old: nv.Project, call,
                                                                     match) -> None:
    item = old.timeline.add_image(_logo(old), 1.0, 2.0)
    before = old.state.model_dump_json()
    events = len(old.history)
    with pytest.raises((InvalidInput, PathEscape, nv.errors.NbvideoError), match=match):
        call(old.timeline, item.id)
    assert old.state.model_dump_json() == before and len(old.history) == events


def test_a_symlink_out_of_the_project_is_refused(old: nv.Project, tmp_path: Path) -> None:
    outside = tmp_path / "outside.png"
    Image.new("RGB", (8, 8)).save(outside)
    (old.path / "assets" / "link.png").symlink_to(outside)
    with pytest.raises(PathEscape, match="outside the project folder"):
        old.timeline.add_image("assets/link.png")


def test_tracks_refuse_items_of_the_other_kind_and_bad_names() -> None:
    with pytest.raises(ValueError, match="cannot go on a music track"):
        Track(kind="music", items={"i00000001": ImageItem(id="i00000001", path="a.png",
                                                          duration_s=1)})
    with pytest.raises(ValueError, match="is not a track name"):
        Timeline(tracks={"V1": Track(kind="overlay")})
    with pytest.raises(ValueError, match="past the item's end"):
        ImageItem(id="i00000001", path="a.png", duration_s=1,
                  keyframes={"opacity": [{"t_s": 2, "value": 1}]})


def test_mute_solo_and_gain_are_saved_per_track_and_undone(old: nv.Project) -> None:
    old.timeline.track("music", mute=True)
    old.timeline.track("voice", solo=True, gain_db=-3)
    t = old.timeline.tracks.set_index("track")
    assert t.loc["music", "mute"] and t.loc["voice", "solo"] and t.loc["voice", "gain_db"] == -3
    old.undo()
    old.undo()
    assert old.state.timeline.tracks == default_tracks()


def test_solo_silences_the_tracks_not_soloed_and_mute_always_wins() -> None:
    from nbvideo.sound.track_items import audible

    rows = [("voice", False, False), ("music", False, False), ("sfx", False, False),
            ("clips", True, False)]
    assert audible(rows) == {"voice", "music", "sfx"}
    rows[2] = ("sfx", False, True)
    assert audible(rows) == {"sfx"}
    rows[2] = ("sfx", True, True)  # muted and soloed: silent, and still silences the rest
    assert audible(rows) == set()


def test_a_placed_sound_has_its_gain_fades_and_place_to_the_sample(tmp_path: Path) -> None:
    import numpy as np

    from nbvideo.media.audio_io import SAMPLE_RATE, read_wav, write_wav
    from nbvideo.sound.track_items import Placed, place_sounds

    write_wav(tmp_path / "dc.wav", np.full(SAMPLE_RATE, 0.5))
    out = place_sounds([Placed(tmp_path / "dc.wav", 0.25, 0.5, gain_db=-6.0206,
                               fade_in_s=0.1, fade_out_s=0.1)], 1.0, tmp_path / "stem.wav")
    x, rate = read_wav(out)
    x = x.mean(axis=1)
    assert rate == SAMPLE_RATE and len(x) == SAMPLE_RATE
    at = round(0.25 * SAMPLE_RATE)
    assert not x[:at].any() and not x[at + SAMPLE_RATE // 2:].any()  # silent around it
    assert x[at + SAMPLE_RATE // 4] == pytest.approx(0.25, abs=1e-3)  # -6 dB of 0.5
    assert x[at] == pytest.approx(0.0, abs=1e-3)  # the fade in starts from silence
    assert x[at + round(0.05 * SAMPLE_RATE)] == pytest.approx(0.125, abs=2e-3)  # halfway
