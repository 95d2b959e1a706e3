"""Hand-off to an editor: the cut written as OTIO, FCP 7 XML and CMX 3600 EDL, read back with
the opentimelineio library itself, and a cut changed there applied back to the project."""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import opentimelineio as otio
import pytest

import nbvideo as nv
from nbvideo.errors import InvalidInput
from tests.conftest import BRIEF

# FCP XML and EDL count in SMPTE timecode, which has no 12 fps (the shared fixture's rate).
AT_24 = dict(aspect="16:9", duration_s=8.0, resolution="720p", fps=24)


@pytest.fixture(scope="module")
def template_24(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("otio24")
    p = nv.Project.open(root / "shoe", brief=BRIEF, **AT_24)
    p.storyboard()
    p.generate_clips().wait()
    p.close()
    return root / "shoe"


@pytest.fixture
def p24(template_24: Path, tmp_path: Path) -> Iterator[nv.Project]:
    dest = tmp_path / "shoe"
    shutil.copytree(template_24, dest)
    p = nv.Project.open(dest)
    yield p
    p.close()


def _cut(p: nv.Project) -> None:
    """A cut with something in every field: a trim in and out, a crossfade and a cut."""
    p.trim(1, in_s=0.25)
    p.trim(2, out_s=p.scenes[1].clip.duration_s - 0.5)
    p.set_transition(1, "crossfade", 0.5)
    p.set_transition(2, "cut")


def _expected(p: nv.Project) -> list[dict]:
    """Each clip as the module docstring says it is written: its trim in frames, less the
    halves of the crossfades either side (in_offset = d // 2 before the cut)."""
    fps = p.state.brief.fps
    es = list(p.timeline)
    out = []
    for i, e in enumerate(es):
        before = round(es[i - 1].transition.duration_s * fps) // 2 if i else 0
        d = round(e.transition.duration_s * fps) if i + 1 < len(es) else 0
        after = d - d // 2
        out.append({"name_id": f"[{e.scene.id}]",
                    "start": round(e.trim_in_s * fps) + before,
                    "frames": e.frames - before - after,
                    "path": (p.path / e.clip.path).resolve()})
    return out


def _video(tl: otio.schema.Timeline) -> otio.schema.Track:
    return next(t for t in tl.tracks if t.kind == otio.schema.TrackKind.Video)


def _clips(track: otio.schema.Track) -> list[otio.schema.Clip]:
    return [c for c in track if isinstance(c, otio.schema.Clip)]


def _fades(track: otio.schema.Track) -> list[otio.schema.Transition]:
    return [c for c in track if isinstance(c, otio.schema.Transition)]


def _frames(t: otio.opentime.RationalTime, fps: int) -> int:
    v = t.rescaled_to(fps).value
    assert v == round(v), f"{t} is not a whole frame at {fps} fps"
    return round(v)


def test_otio_holds_every_clip_frame_exact_with_its_media(rendered: nv.Project,
                                                          tmp_path: Path) -> None:
    p = rendered
    _cut(p)
    fps = p.state.brief.fps
    out = p.timeline.to_otio(tmp_path / "cut.otio")
    tl = otio.adapters.read_from_file(str(out))
    track = _video(tl)
    clips, want = _clips(track), _expected(p)
    assert len(clips) == len(p.scenes) == len(want)
    for c, w in zip(clips, want):
        assert c.name.endswith(w["name_id"])
        assert c.source_range.start_time.rate == fps
        assert (_frames(c.source_range.start_time, fps),
                _frames(c.source_range.duration, fps)) == (w["start"], w["frames"])
        assert Path(otio.url_utils.filepath_from_url(c.media_reference.target_url)) == w["path"]
        assert w["path"].is_file()
    (fade,) = _fades(track)
    assert fade.transition_type == otio.schema.TransitionTypes.SMPTE_Dissolve
    assert _frames(fade.in_offset, fps) + _frames(fade.out_offset, fps) == round(0.5 * fps)
    # The track plays exactly as long as the project's timeline does.
    assert _frames(track.duration(), fps) == round(p.timeline.duration_s * fps)
    scene_marks = [m for m in tl.tracks.markers if m.metadata["nbvideo"]["kind"] == "scene"]
    assert [m.metadata["nbvideo"]["scene_id"] for m in scene_marks] == [s.id for s in p.scenes]
    assert p.scenes[0].title in scene_marks[0].name and p.scenes[0].beat in scene_marks[0].name


def test_voice_music_and_captions_are_on_their_own_tracks(rendered: nv.Project,
                                                          tmp_path: Path) -> None:
    p = rendered
    p.finish(voice="narrator-f", music="bed", captions=True)
    tl = otio.adapters.read_from_file(str(p.timeline.to_otio(tmp_path / "cut.otio")))
    fps = p.state.brief.fps
    audio = {t.metadata["nbvideo"]["track"]: t for t in tl.tracks
             if t.kind == otio.schema.TrackKind.Audio}
    assert set(audio) == {"voice", "music"}  # no presenter or lip sync: no clip sound track
    voiced = [e for e in p.timeline if e.scene.voice_line.strip()]
    lines = _clips(audio["voice"])
    assert [c.metadata["nbvideo"]["scene_id"] for c in lines] == [e.scene.id for e in voiced]
    for c, e in zip(lines, voiced):  # each line where the export speaks it: 0.15 s in
        start = audio["voice"].range_of_child(c).start_time
        assert _frames(start, fps) == round((e.start_s + 0.15) * fps)
        assert c.metadata["nbvideo"]["text"] == e.scene.voice_line
    (music,) = _clips(audio["music"])
    assert _frames(music.source_range.duration, fps) == round(p.timeline.duration_s * fps)
    captions = tl.metadata["nbvideo"]["captions"]
    assert [c["text"] for c in captions] == [" ".join(e.scene.voice_line.split())
                                             for e in voiced]
    cap_marks = [m for m in tl.tracks.markers if m.metadata["nbvideo"]["kind"] == "caption"]
    assert [m.name for m in cap_marks] == [c["text"] for c in captions]


@pytest.mark.slow
def test_after_an_export_the_sound_points_at_the_files_the_export_mixed(
        rendered: nv.Project, tmp_path: Path) -> None:
    p = rendered
    p.finish(voice="narrator-f", music="bed")
    p.export("ad", formats=["16:9"])
    tl = otio.adapters.read_from_file(str(p.timeline.to_otio(tmp_path / "cut.otio")))
    for t in tl.tracks:
        for c in _clips(t):
            assert isinstance(c.media_reference, otio.schema.ExternalReference), c.name
            assert Path(otio.url_utils.filepath_from_url(c.media_reference.target_url)).is_file()


@pytest.mark.parametrize("suffix", ["xml", "edl"])
def test_fcp_xml_and_edl_reread_with_the_same_cuts(p24: nv.Project, tmp_path: Path,
                                                   suffix: str) -> None:
    p = p24
    _cut(p)
    fps = p.state.brief.fps
    out = p.timeline.to_otio(tmp_path / f"cut.{suffix}")
    text = out.read_text()
    assert ("<xmeml" in text) if suffix == "xml" else text.startswith("TITLE:")
    tl = otio.adapters.read_from_file(str(out))
    track = _video(tl)
    clips, want = _clips(track), _expected(p)
    assert [c.name[-len(w["name_id"]):] for c, w in zip(clips, want)] == \
        [w["name_id"] for w in want]
    # How long each dissolve and the whole cut are, at the project's frames (an EDL puts a
    # dissolve wholly after its cut, so its clips' ranges differ; from_otio reads both).
    fades = [_frames(f.in_offset, fps) + _frames(f.out_offset, fps) for f in _fades(track)]
    assert fades == [round(0.5 * fps)]
    assert _frames(track.duration(), fps) == round(p.timeline.duration_s * fps)
    if suffix == "xml":
        assert [(_frames(c.source_range.start_time, fps), _frames(c.source_range.duration, fps))
                for c in clips] == [(w["start"], w["frames"]) for w in want]
        assert [Path(otio.url_utils.filepath_from_url(c.media_reference.target_url))
                for c in clips] == [w["path"] for w in want]
        marks = [m.name for m in tl.tracks.markers]  # sequence markers, one per scene
        assert len(marks) == len(p.scenes)
        assert all(s.title in m and s.beat in m for s, m in zip(p.scenes, marks))
    else:
        assert len(tl.tracks) == 1  # the picture only
    # Read back into the project: the same cut, so nothing to apply.
    before = p.timeline.to_pandas()
    report = p.timeline.from_otio(out)
    assert report.applied == [], report
    assert p.timeline.to_pandas().equals(before)
    # Changed here since: reading the file puts its cut back.
    p.trim(2, in_s=0.75)
    p.set_transition(1, "cut")
    report = p.timeline.from_otio(out)
    assert len(report.applied) == 2, report
    assert p.timeline.to_pandas().equals(before)


def test_an_edit_made_in_the_file_is_applied_and_one_undo_takes_it_back(
        rendered: nv.Project, tmp_path: Path) -> None:
    p = rendered
    _cut(p)
    fps = p.state.brief.fps
    path = p.timeline.to_otio(tmp_path / "cut.otio")
    tl = otio.adapters.read_from_file(str(path))
    track = _video(tl)
    clips = _clips(track)
    # In the editor: scene 2 starts 3 frames later, the crossfade 1 -> 2 becomes a cut,
    # 2 -> 3 a crossfade of 4 frames, and scene 3's clip is deleted from the sequence.
    sr = clips[1].source_range
    clips[1].source_range = otio.opentime.TimeRange(sr.start_time + otio.opentime.RationalTime(
        3, fps), sr.duration - otio.opentime.RationalTime(3, fps))
    fade = _fades(track)[0]
    a, b = _frames(fade.in_offset, fps), _frames(fade.out_offset, fps)
    idx = track.index(fade)
    del track[idx]  # the clips either side get back the frames the dissolve had of them
    clips[0].source_range = otio.opentime.TimeRange(
        clips[0].source_range.start_time,
        clips[0].source_range.duration + otio.opentime.RationalTime(b, fps))
    sr = clips[1].source_range
    clips[1].source_range = otio.opentime.TimeRange(
        sr.start_time - otio.opentime.RationalTime(a, fps),
        sr.duration + otio.opentime.RationalTime(a, fps))
    scene3 = p.scenes[2].id
    del track[track.index(clips[2])]
    otio.adapters.write_to_file(tl, str(path))

    s2_in = p.timeline.to_pandas()["in_s"][1]
    n = len(p.history)
    report = p.timeline.from_otio(path)
    df = p.timeline.to_pandas()
    assert df["in_s"][1] == pytest.approx(s2_in + 3 / fps, abs=1e-6)
    assert df["in_s"][0] == 0.25  # untouched values stay as they were
    assert list(df["transition"][:1]) == ["cut"]
    assert any("trim" in a for a in report.applied)
    assert any("crossfade 0.5 s -> cut" in a for a in report.applied)
    assert any(scene3 in u and "not in the file" in u for u in report.unmapped)
    assert scene3 in [s.id for s in p.scenes]  # a clip deleted there is reported, not deleted
    assert len(p.history) == n + 1 and p.history.iloc[-1]["kind"] == "import"
    p.undo()
    assert p.timeline.to_pandas()["in_s"][1] == s2_in
    assert list(p.timeline.to_pandas()["transition"][:1]) == ["crossfade"]


def test_a_new_crossfade_and_a_new_order_come_back(rendered: nv.Project,
                                                   tmp_path: Path) -> None:
    p = rendered
    fps = p.state.brief.fps
    ids = [s.id for s in p.scenes]
    tl = otio.adapters.read_from_file(str(p.timeline.to_otio(tmp_path / "cut.otio")))
    track = _video(tl)
    c1, c2, c3 = _clips(track)
    track[:] = []  # in the editor: scene 3 first, then 1 dissolving (4 frames) into 2
    for c in (c3, c1):
        track.append(c.deepcopy())
    track.append(otio.schema.Transition(
        transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
        in_offset=otio.opentime.RationalTime(2, fps), out_offset=otio.opentime.RationalTime(2, fps)))
    track[-2].source_range = otio.opentime.TimeRange(
        c1.source_range.start_time, c1.source_range.duration - otio.opentime.RationalTime(2, fps))
    last = c2.deepcopy()
    last.source_range = otio.opentime.TimeRange(
        c2.source_range.start_time + otio.opentime.RationalTime(2, fps),
        c2.source_range.duration - otio.opentime.RationalTime(2, fps))
    track.append(last)
    path = tmp_path / "moved.otio"
    otio.adapters.write_to_file(tl, str(path))
    report = p.timeline.from_otio(path)
    assert [s.id for s in p.scenes] == [ids[2], ids[0], ids[1]]
    df = p.timeline.to_pandas()
    assert list(df["transition"]) == ["cut", "crossfade", ""]
    assert df["transition_s"][1] == pytest.approx(4 / fps, abs=1e-6)
    assert list(df["in_s"]) == [0, 0, 0]  # the frames the dissolve took are handed back
    assert any(a.startswith("order:") for a in report.applied)


def test_what_cannot_be_mapped_is_reported_and_the_rest_applied(rendered: nv.Project,
                                                               tmp_path: Path) -> None:
    p = rendered
    fps = p.state.brief.fps
    p.set_transition(1, "crossfade", 0.5)
    tl = otio.adapters.read_from_file(str(p.timeline.to_otio(tmp_path / "cut.otio")))
    track = _video(tl)
    _fades(track)[0].transition_type = "SMPTE_Wipe"  # what the EDL reader makes of a wipe
    _clips(track)[1].effects.append(otio.schema.LinearTimeWarp(time_scalar=2.0))
    stranger = otio.schema.Clip(
        name="b-roll from the editor's bin",
        media_reference=otio.schema.ExternalReference(target_url="file:///elsewhere/b.mov"),
        source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, fps),
                                             otio.opentime.RationalTime(fps, fps)))
    track.append(stranger)
    tl.tracks.append(otio.schema.Track(name="V2 logo", kind=otio.schema.TrackKind.Video))
    path = tmp_path / "extra.otio"
    otio.adapters.write_to_file(tl, str(path))
    report = p.timeline.from_otio(path)
    text = "\n".join(report.unmapped)
    assert "SMPTE_Wipe" in text and "only dissolves" in text
    assert "LinearTimeWarp" in text or "effect" in text
    assert "b-roll from the editor's bin" in text and "no scene" in text
    assert "V2 logo" in text
    assert p.timeline.to_pandas()["transition"][0] == "crossfade"  # the wipe's cut kept
    assert set(report.to_pandas()["status"]) == {"unmapped"}


def test_a_malformed_file_is_refused_and_the_project_is_unchanged(rendered: nv.Project,
                                                                 tmp_path: Path) -> None:
    p = rendered
    before = (p.path / "project.json").read_bytes()
    n = len(p.history)
    broken = tmp_path / "broken.otio"
    broken.write_text('{"OTIO_SCHEMA": "Timeline.1", "tracks": {"OTIO_SCHEMA": "Stack.1", ')
    with pytest.raises(InvalidInput, match="broken.otio is not a timeline"):
        p.timeline.from_otio(broken)
    garbage = tmp_path / "cut.xml"
    garbage.write_text("<xmeml><sequence><media>")
    with pytest.raises(InvalidInput, match="cut.xml is not a timeline"):
        p.timeline.from_otio(garbage)
    with pytest.raises(InvalidInput, match="no timeline format for the suffix '.mp4'"):
        p.timeline.from_otio(p.scenes[0].clip_path)
    # A readable file with a trim the timeline refuses (a clip cut to two frames): the usual
    # error, and nothing changes.
    tl = otio.adapters.read_from_file(str(p.timeline.to_otio(tmp_path / "cut.otio")))
    fps = p.state.brief.fps
    c = _clips(_video(tl))[0]
    c.source_range = otio.opentime.TimeRange(c.source_range.start_time,
                                             otio.opentime.RationalTime(2, fps))
    bad = tmp_path / "short.otio"
    otio.adapters.write_to_file(tl, str(bad))
    with pytest.raises(InvalidInput, match=r"scene 1: trims leave 0\.17 s"):
        p.timeline.from_otio(bad)
    assert (p.path / "project.json").read_bytes() == before and len(p.history) == n
    assert json.loads(before)  # still a readable project


def test_formats_without_timecode_at_the_projects_fps_are_refused(rendered: nv.Project,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InvalidInput, match="SMPTE timecode, which has no 12 fps"):
        rendered.timeline.to_otio(out / "cut.edl")
    with pytest.raises(InvalidInput, match="no timeline format for the suffix '.mov'"):
        rendered.timeline.to_otio(out / "cut.mov")
    assert not list(out.iterdir())


def test_a_clip_trimmed_to_its_own_end_is_accepted(rendered: nv.Project) -> None:
    """A clip's length is not a whole number of frames at 6 places (1.6666666 s at 12 fps):
    keeping it to its end must not be refused as past the end."""
    p = rendered
    end = p.scenes[0].clip.duration_s
    p.trim(1, out_s=end)
    assert p.timeline.to_pandas()["out_s"][0] == pytest.approx(end, abs=1e-6)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="the offline presenter speaks "
                    "through espeak-ng")
def test_a_presenters_own_sound_is_a_track_in_step_with_its_picture(rendered: nv.Project,
                                                                    tmp_path: Path) -> None:
    p = rendered
    p.scene(2).present(avatar="ben", voice="narrator-m")
    p.generate_clips().wait(300)
    p.finish(voice="narrator-f", captions=False)
    fps = p.state.brief.fps
    tl = otio.adapters.read_from_file(str(p.timeline.to_otio(tmp_path / "cut.otio")))
    own = next(t for t in tl.tracks if t.metadata["nbvideo"]["track"] == "clip_sound")
    video = _video(tl)
    (sound,) = _clips(own)
    picture = _clips(video)[1]
    assert sound.metadata["nbvideo"]["scene_id"] == p.scene(2).id
    assert sound.media_reference.target_url == picture.media_reference.target_url
    assert sound.source_range == picture.source_range
    assert own.range_of_child(sound).start_time == video.range_of_child(picture).start_time
    voice = next(t for t in tl.tracks if t.metadata["nbvideo"]["track"] == "voice")
    # the presenter says its own line: the voice-over has no line for it
    assert p.scene(2).id not in [c.metadata["nbvideo"]["scene_id"] for c in _clips(voice)]
    assert _frames(own.duration(), fps) <= _frames(video.duration(), fps)


def test_speed_is_a_time_warp_an_editor_plays_and_the_file_reads_back_unchanged(
        rendered: nv.Project, tmp_path: Path) -> None:
    """A constant speed is OTIO's LinearTimeWarp (the clip lasts its played frames, from its
    first source frame); a ramp is written at its average speed and a look as a named effect,
    and the write says an editor will not reproduce them. Read back untouched, nothing
    changes; a speed changed there is reported, not applied (the clip is read at ours)."""
    p = rendered
    _cut(p)
    p.timeline.effects(2, speed=2)
    p.timeline.effects(3, ramp=[(0, 1), (0.5, 0.5), (1, 1)], look="warm")
    fps = p.state.brief.fps
    with pytest.warns(UserWarning, match=r"scene 3 .*speed ramp \(played at its average "
                      r"[0-9.]+x\), look") as got:
        out = p.timeline.to_otio(tmp_path / "cut.otio")
    assert "scene 2" not in str(got[0].message)  # a constant speed is played as it is
    tl = otio.adapters.read_from_file(str(out))
    track = _video(tl)
    clips = _clips(track)
    es = list(p.timeline)
    warp = [fx for fx in clips[1].effects if isinstance(fx, otio.schema.LinearTimeWarp)]
    assert [w.time_scalar for w in warp] == [2.0]
    half = round(0.5 * fps) // 2  # the crossfade before scene 2: its half in scene 2
    assert _frames(clips[1].source_range.start_time, fps) == round(es[1].trim_in_s * fps) + 2 * half
    (avg,) = [fx for fx in clips[2].effects if isinstance(fx, otio.schema.LinearTimeWarp)]
    assert avg.time_scalar == pytest.approx(round(es[2].kept_s * fps) / es[2].frames)
    assert 0.5 < avg.time_scalar < 1
    assert {fx.effect_name for fx in clips[2].effects} >= {"nbvideo look", "nbvideo ramp"}
    # The track is exactly as long as the film; the source a clip uses is its kept window.
    assert _frames(track.duration(), fps) == round(p.timeline.duration_s * fps)
    assert clips[2].metadata["nbvideo"]["effects"]["look"] == "warm"

    before = p.timeline.to_pandas()
    n = len(p.history)
    report = p.timeline.from_otio(out)
    assert not report.changed and report.unmapped == []
    assert len(p.history) == n
    assert p.timeline.to_pandas().equals(before)

    # In the editor: scene 2 at 1.5x instead of 2x over the same played frames.
    warp[0].time_scalar = 1.5
    otio.adapters.write_to_file(tl, str(out))
    report = p.timeline.from_otio(out)
    assert any("speed 1.5x" in u and "2x" in u for u in report.unmapped)
    assert p.timeline.effects(2).speed == 2  # not applied
    assert p.timeline.to_pandas().equals(before)  # read at the project's speed: no change

@pytest.mark.parametrize("suffix", ["xml", "edl"])
def test_speed_through_fcp_xml_and_edl_is_said_and_reads_back_without_changing_trims(
        p24: nv.Project, tmp_path: Path, suffix: str) -> None:
    """OTIO's FCP 7 XML adapter writes no speed and its EDL adapter no negative one: the
    write says so, and reading the file back leaves the project's trims and effects as they
    are (the clip is read at the project's speed) and says what the file lacked."""
    p = p24
    p.timeline.effects(2, speed=2)
    p.timeline.effects(3, reverse=True)
    before = p.timeline.to_pandas()
    with pytest.warns(UserWarning) as got:
        out = p.timeline.to_otio(tmp_path / f"cut.{suffix}")
    said = " ".join(str(w.message) for w in got)
    if suffix == "xml":
        assert "scene 2" in said and "speed 2x" in said and "writes no speed" in said
    else:
        assert "scene 3" in said and "reverse" in said and "scene 2" not in said
    report = p.timeline.from_otio(out)
    assert not report.changed
    assert p.timeline.to_pandas().equals(before)
    assert p.timeline.effects(2).speed == 2 and p.timeline.effects(3).reverse


def test_every_track_item_is_on_its_own_otio_track_at_its_time(rendered: nv.Project,
                                                               tmp_path: Path) -> None:
    """Overlays (V2 and up) and sound items reach the editor: each track's items in time
    order with gaps between, overlapping items on a second lane, a keyframed logo's fields in
    its metadata, a text item as a generator, a built-in whoosh pointing at its file."""
    from PIL import Image

    p = rendered
    fps = p.state.brief.fps
    (p.path / "assets").mkdir(exist_ok=True)
    Image.new("RGBA", (80, 40), (255, 0, 0, 255)).save(p.path / "assets/logo.png")
    logo = p.timeline.add_image("assets/logo.png", 1.0, 2.0, x=0.9, y=0.1, width=0.2)
    p.timeline.keyframe(logo.id, "opacity", 0.0, 0.0)
    p.timeline.keyframe(logo.id, "opacity", 0.5, 1.0, "ease-out")
    text = p.timeline.add_text("Trail ready", 2.0, 1.5)  # overlaps the logo: a second lane
    top = p.timeline.add_image("assets/logo.png", 0.5, 1.0, track="V3", effects={"blur": 2})
    whoosh = p.timeline.add_audio(effect="whoosh", start_s=1.5)
    p.export("fx")  # renders the whoosh's file, so its reference is on disk
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        out = p.timeline.to_otio(tmp_path / "cut.otio")
    tl = otio.adapters.read_from_file(str(out))
    by = {t.name: t for t in tl.tracks}
    assert [t.name for t in tl.video_tracks()] == ["V1 scenes", "V2 items", "V2 items lane 2",
                                                    "V3 items"]

    def placed(track: otio.schema.Track) -> list[tuple[str, int, int]]:
        return [(c.metadata["nbvideo"]["item"]["id"],
                 _frames(track.range_of_child(c).start_time, fps), _frames(c.duration(), fps))
                for c in track.find_clips()]

    assert placed(by["V2 items"]) == [(logo.id, fps, 2 * fps)]
    assert placed(by["V2 items lane 2"]) == [(text.id, 2 * fps, round(1.5 * fps))]
    assert placed(by["V3 items"]) == [(top.id, round(0.5 * fps), fps)]
    assert placed(by["sfx items"]) == [(whoosh.id, round(1.5 * fps),
                                        round(whoosh.duration_s * fps))]
    (clip,) = by["V2 items"].find_clips()
    kept = clip.metadata["nbvideo"]["item"]
    assert kept["x"] == 0.9 and [k["value"] for k in kept["keyframes"]["opacity"]] == [0, 1]
    assert Path(otio.url_utils.filepath_from_url(clip.media_reference.target_url)) == (
        p.path / "assets/logo.png").resolve()
    (words,) = by["V2 items lane 2"].find_clips()
    assert words.media_reference.parameters["text"] == "Trail ready"
    (blurred,) = by["V3 items"].find_clips()
    assert [fx.effect_name for fx in blurred.effects] == ["nbvideo blur"]
    (sound,) = by["sfx items"].find_clips()
    assert Path(otio.url_utils.filepath_from_url(sound.media_reference.target_url)).is_file()
    report = p.timeline.from_otio(out)
    assert not report.changed
    assert any("V2 items" in u and "not read" in u for u in report.unmapped)


def test_fcp_xml_carries_the_overlay_and_sound_items(p24: nv.Project, tmp_path: Path) -> None:
    from PIL import Image

    p = p24
    (p.path / "assets").mkdir(exist_ok=True)
    Image.new("RGBA", (80, 40), (255, 0, 0, 255)).save(p.path / "assets/logo.png")
    p.timeline.add_image("assets/logo.png", 1.0, 2.0)
    p.timeline.add_audio(effect="whoosh", start_s=1.5)
    tl = otio.adapters.read_from_file(str(p.timeline.to_otio(tmp_path / "cut.xml")))
    assert [len(list(t.find_clips())) for t in tl.video_tracks()] == [len(p.scenes), 1]
    assert any(_frames(t.range_of_child(c).start_time, 24) == 36
               for t in tl.audio_tracks() for c in t.find_clips())
