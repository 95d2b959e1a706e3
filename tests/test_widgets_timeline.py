"""Timeline driven by simulated browser messages, checked against project.json."""

from __future__ import annotations

import json
import threading

import pytest

pytest.importorskip("anywidget")

import nbvideo as nv
from nbvideo.media.ffmpeg import RenderCanceled
from nbvideo.widgets.timeline import Timeline
from tests.wire import Wire, send


def on_disk(p: nv.Project) -> dict:
    return json.loads((p.path / "project.json").read_text())


def test_blocks_follow_the_timeline_table(rendered, wire: Wire):
    tl = Timeline(rendered)
    table = rendered.timeline.to_pandas()
    assert [c.key for c in tl.clips] == list(table["id"])
    assert [c.clip["start_s"] for c in tl.clips] == list(table["start_s"])
    assert [c.clip["kept_s"] for c in tl.clips] == list(table["kept_s"])
    assert tl.clips[-1].clip["transition"] is None and tl.clips[0].clip["transition"]["kind"] == "cut"
    assert [(x["id"], x["kind"]) for x in tl.tracks] == [
        ("video", "clips"), ("track-V2", "items"), ("track-voice", "items"),
        ("track-music", "items"), ("track-sfx", "items"), ("track-clips", "items"),
        ("text", "text"), ("music", "music")]
    assert tl.info["total_s"] == pytest.approx(rendered.timeline.duration_s)
    assert all(c.poster[:3] == b"\xff\xd8\xff" and c.preview == b"" for c in tl.clips)


def test_a_trim_is_saved_and_later_clips_move_up_without_sending_images(rendered, wire: Wire):
    tl = Timeline(rendered)
    first, second = tl.clips[0], tl.clips[1]
    start_before = second.clip["start_s"]
    mark = wire.mark()
    send(tl, "trim", scene=first.key, in_s=0.25)
    edit = on_disk(rendered)["timeline"]["edits"][first.key]
    assert edit["trim_in_s"] == 0.25
    assert first.clip["in_s"] == 0.25 and second.clip["start_s"] == pytest.approx(start_before - 0.25)
    assert not any(m.buffers for m in wire.since(mark))


@pytest.mark.parametrize("fields, says", [
    ({"in_s": 99}, "in_s must be from 0"),
    ({"out_s": "end"}, "out_s must be seconds"),
    ({"in_s": 1.5, "out_s": 1.6}, "keep at least 0.5 s"),
])
def test_a_bad_trim_is_refused_and_nothing_is_saved(rendered, wire: Wire, fields, says):
    tl = Timeline(rendered)
    before = (rendered.path / "project.json").read_bytes()
    shown = dict(tl.clips[1].clip)
    send(tl, "trim", scene=tl.clips[1].key, **fields)
    assert says in tl.error
    assert (rendered.path / "project.json").read_bytes() == before and tl.clips[1].clip == shown


def test_transitions_per_cut(rendered, wire: Wire):
    tl = Timeline(rendered)
    a, b, c = (x.key for x in tl.clips)
    send(tl, "set_transition", scene=a, transition="crossfade", duration_s=0.5)
    assert on_disk(rendered)["timeline"]["edits"][a]["transition"] == {
        "kind": "crossfade", "duration_s": 0.5}
    assert tl.clips[0].clip["transition"] == {"kind": "crossfade", "duration_s": 0.5}
    send(tl, "set_transition", scene=b, transition="crossfade", duration_s=2.9)
    assert "must be shorter than both clips" in tl.error
    send(tl, "set_transition", scene=c, transition="cut")
    assert "last scene has no next scene" in tl.error
    send(tl, "set_transition", scene=a, transition="wipe")  # no such name: the close ones
    assert "'wipe'" in tl.error and "did you mean 'wipeleft', 'wiperight'" in tl.error
    send(tl, "set_transition", scene=a, transition="wipeleft", duration_s=0.5)
    assert tl.clips[0].clip["transition"] == {"kind": "wipeleft", "duration_s": 0.5}
    send(tl, "set_transition", scene=a, transition="cut")
    assert tl.clips[0].clip["transition"]["kind"] == "cut" and tl.error == ""


def test_reorder_on_the_timeline_is_the_storyboard_order(rendered, wire: Wire):
    tl = Timeline(rendered)
    a, b, c = (x.key for x in tl.clips)
    send(tl, "reorder", order=[b, c, a])
    assert [s["id"] for s in on_disk(rendered)["scenes"]] == [b, c, a]
    send(tl, "move", scene=a, to=1)
    assert [x.key for x in tl.clips] == [a, b, c]


def test_the_player_gets_a_clip_preview_when_it_asks(rendered, wire: Wire):
    tl = Timeline(rendered)
    send(tl, "preview", scene=tl.clips[2].key)
    tl.settle()
    assert tl.clips[2].preview[4:8] == b"ftyp" and tl.clips[0].preview == b""


def test_export_runs_with_progress_then_offers_the_file(rendered, wire: Wire):
    tl = Timeline(rendered)
    mark = wire.mark()
    send(tl, "export", formats=["16:9", "1:1"], fit="pad", name="cut one")
    assert tl.export["state"] == "running"
    tl.settle(120)
    ex = tl.export
    assert ex["state"] == "done" and ex["progress"] == 1.0
    paths = [f["path"] for f in ex["files"]]
    assert paths == ["exports/cut-one-16x9-720p.mp4", "exports/cut-one-1x1-720p.mp4"]
    assert [r["path"] for r in on_disk(rendered)["exports"]] == paths
    shown = [m.data["state"]["export"]["state"] for m in wire.updates(mark)
             if "export" in m.data["state"]]
    assert shown[0] == "running" and shown[-1] == "done"
    mark = wire.mark()
    send(tl, "download", path=paths[1])
    (reply,) = wire.replies(mark)
    data = (rendered.path / paths[1]).read_bytes()
    assert reply["ok"] and reply["buffers"] == [data]
    send(tl, "download", path="project.json")
    assert "not one of this project's exports" in tl.error


def test_a_bad_export_choice_is_refused_with_the_reason(rendered, wire: Wire):
    tl = Timeline(rendered)
    send(tl, "export", formats=["21:9"])
    tl.settle()
    assert "formats: '21:9' not allowed" in tl.error and tl.export["state"] == "failed"
    assert on_disk(rendered)["exports"] == []


def test_cancel_stops_a_running_export(rendered, wire: Wire, monkeypatch):
    seen: list[threading.Event] = []

    def slow_export(name, formats, *, resolution=None, fit="crop", on_progress=None, cancel=None):
        seen.append(cancel)
        on_progress(0.3)
        assert cancel.wait(10)
        raise RenderCanceled("render canceled; ffmpeg was stopped")

    monkeypatch.setattr(rendered, "export", slow_export)
    tl = Timeline(rendered)
    send(tl, "export", formats=["16:9"])
    send(tl, "cancel_export")
    tl.settle()
    assert seen and seen[0].is_set() and tl.export["state"] == "canceled"


def test_reopening_shows_the_same_timeline(rendered, wire: Wire):
    tl = Timeline(rendered)
    send(tl, "trim", scene=tl.clips[1].key, out_s=1.0)
    send(tl, "set_transition", scene=tl.clips[0].key, transition="crossfade", duration_s=0.25)
    shown = [c.clip for c in tl.clips]
    path = rendered.path
    rendered.close()
    with nv.Project.open(path) as again:
        assert [c.clip for c in Timeline(again).clips] == shown


# ---------------------------------------------------------------- text and music tracks
def track(tl: Timeline, kind: str) -> dict:
    return next(x for x in tl.tracks if x["kind"] == kind)


def wav_bytes(seconds: float, rate: int = 22050) -> bytes:
    import io
    import wave

    import numpy as np

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        n = int(seconds * rate)
        w.writeframes((np.sin(np.arange(n) * 0.05) * 8000).astype("<i2").tobytes())
    return buf.getvalue()


def test_on_screen_text_is_edited_on_the_text_track(rendered, wire: Wire):
    tl = Timeline(rendered)
    sid = tl.clips[1].key
    mark = wire.mark()
    send(tl, "edit_text", scene=sid, text="Dry feet, all weekend")
    assert on_disk(rendered)["scenes"][1]["on_screen_text"] == "Dry feet, all weekend"
    assert tl.clips[1].clip["text"] == "Dry feet, all weekend" and tl.error == ""
    # Only that clip's JSON went out: no posters, no other clip.
    sent = wire.updates(mark)
    assert not any(m.buffers for m in sent)
    assert {m.comm_id for m in sent if "clip" in m.data["state"]} == {tl.clips[1].comm.comm_id}


def test_a_bad_text_is_refused_on_the_widget_and_nothing_is_saved(rendered, wire: Wire):
    tl = Timeline(rendered)
    before = (rendered.path / "project.json").read_bytes()
    shown = dict(tl.clips[0].clip)
    send(tl, "edit_text", scene=tl.clips[0].key, text="x" * 201)
    assert "on_screen_text" in tl.error and "200" in tl.error
    send(tl, "edit_text", scene="s00000000", text="hi")
    assert "s00000000" in tl.error
    assert (rendered.path / "project.json").read_bytes() == before and tl.clips[0].clip == shown


def test_caption_cues_on_the_text_track_are_the_ones_the_export_burns(rendered, wire: Wire):
    tl = Timeline(rendered)
    assert track(tl, "text")["cues"] == [] and "no voice-over" in track(tl, "text")["captions"]
    rendered.finish(voice="narrator-f")
    tl.refresh()
    text = track(tl, "text")
    lines = [s.voice_line for s in rendered.scenes if s.voice_line]
    assert [c["text"] for c in text["cues"]] == lines and text["captions"] == ""
    send(tl, "export", formats=["16:9"], name="capt")
    tl.settle(240)
    assert tl.export["state"] == "done", tl.export
    srt = (rendered.path / "exports" / "capt-16x9-720p.srt").read_text()
    tl.refresh()  # the lines are spoken now: the track shows their measured length
    stamps = [ln for ln in srt.splitlines() if "-->" in ln]

    def srt_s(stamp: str) -> float:
        h, m, rest = stamp.strip().split(":")
        s, ms = rest.split(",")
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    cues = track(tl, "text")["cues"]
    assert len(stamps) == len(cues)
    for stamp, cue in zip(stamps, cues):
        a, b = stamp.split("-->")
        assert srt_s(a) == pytest.approx(cue["start_s"], abs=1e-3)
        assert srt_s(b) == pytest.approx(cue["end_s"], abs=1e-3)


def test_a_music_file_from_the_browser_is_kept_in_the_project_and_used(rendered, wire: Wire):
    tl = Timeline(rendered)
    assert track(tl, "music")["music"]["source"] == "none"
    song = wav_bytes(3.0)
    mark = wire.mark()
    send(tl, "music_file", filename="Trail Song.wav", buffers=[song])
    tl.settle()
    assert tl.error == ""
    (reply,) = wire.replies(mark)
    assert reply["ok"] and reply["result"] == {"name": "Trail-Song.wav"}
    music = on_disk(rendered)["finishing"]["music"]
    assert music.startswith("assets/music/user/Trail-Song-") and music.endswith(".wav")
    assert (rendered.path / music).read_bytes() == song
    shown = track(tl, "music")["music"]
    assert shown == {"source": "file", "name": "Trail-Song.wav", "path": music,
                     "duration_s": 3.0, "loops": True}
    # The export really carries it: an audio stream the length of the film.
    send(tl, "export", formats=["16:9"], name="with music")
    tl.settle(240)
    assert tl.export["state"] == "done", tl.export
    from nbvideo.media.ffmpeg import probe

    info = probe(rendered.path / "exports" / "with-music-16x9-720p.mp4")
    assert info.has_audio and info.duration_s == pytest.approx(rendered.timeline.duration_s,
                                                               abs=0.1)


@pytest.mark.parametrize("filename, data, says", [
    ("notes.mp3", b"this is not an mp3 at all " * 40, "is not audio that can be decoded"),
    ("cover.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "not a supported audio type"),
    ("empty.wav", b"", "is empty"),
])
def test_a_file_that_is_not_music_is_refused_and_the_music_kept(rendered, wire: Wire,
                                                                 filename, data, says):
    tl = Timeline(rendered)
    send(tl, "music_file", filename="song.wav", buffers=[wav_bytes(2.0)])
    tl.settle()
    kept = on_disk(rendered)["finishing"]["music"]
    before = (rendered.path / "project.json").read_bytes()
    files = sorted((rendered.path / "assets" / "music" / "user").iterdir())
    send(tl, "music_file", filename=filename, buffers=[data])
    tl.settle()
    assert says in tl.error and "music file" in tl.error
    assert (rendered.path / "project.json").read_bytes() == before
    assert sorted((rendered.path / "assets" / "music" / "user").iterdir()) == files
    assert track(tl, "music")["music"]["path"] == kept


def test_music_goes_back_to_the_bed_or_off_and_bad_choices_are_refused(rendered, wire: Wire):
    tl = Timeline(rendered)
    send(tl, "music", source="bed")
    assert on_disk(rendered)["finishing"]["music"] == "bed"
    assert track(tl, "music")["music"]["source"] == "bed"
    send(tl, "music", source="../../etc/passwd")
    assert "choose 'bed' or 'none'" in tl.error
    send(tl, "music_file", filename="a.wav")
    assert "one buffer, got 0" in tl.error
    assert on_disk(rendered)["finishing"]["music"] == "bed"
    send(tl, "music", source="none")
    assert on_disk(rendered)["finishing"]["music"] == "none" and tl.error == ""


def test_the_static_repr_names_the_music_and_lists_the_captions(rendered, wire: Wire):
    rendered.finish(voice="narrator-f", music="bed")
    html = Timeline(rendered).static_html()
    assert "<b>Music</b>: Generated bed" in html
    for s in rendered.scenes:
        if s.voice_line:
            assert s.voice_line.replace("'", "&#x27;") in html


def _logo(p: nv.Project) -> str:
    from PIL import Image

    Image.new("RGBA", (40, 20), (255, 0, 0, 255)).save(p.path / "assets" / "logo.png")
    return "assets/logo.png"


def test_items_are_blocks_dragged_to_move_and_trim_and_tracks_mute_and_solo(rendered,
                                                                            wire: Wire):
    item = rendered.timeline.add_image(_logo(rendered), 1.0, 2.0)
    tl = Timeline(rendered)
    v2 = next(x for x in tl.tracks if x["id"] == "track-V2")
    assert v2["items"] == [{"id": item.id, "kind": "image", "start_s": 1.0, "end_s": 3.0,
                            "label": "logo.png"}]
    cut = float(rendered.timeline.to_pandas().iloc[1]["start_s"])
    assert cut in v2["snaps"] and 0.0 in v2["snaps"]
    send(tl, "item_move", item_id=item.id, start_s=cut)
    assert rendered.timeline.item(item.id).start_s == cut and tl.error == ""
    assert next(x for x in tl.tracks if x["id"] == "track-V2")["items"][0]["start_s"] == cut
    send(tl, "item_trim", item_id=item.id, end_s=cut + 1.0)
    assert on_disk(rendered)["timeline"]["tracks"]["V2"]["items"][item.id]["duration_s"] == 1.0
    send(tl, "track_set", track="music", solo=True)
    assert on_disk(rendered)["timeline"]["tracks"]["music"]["solo"] is True
    assert next(x for x in tl.tracks if x["id"] == "track-music")["solo"] is True
    rendered.undo()
    rendered.undo()
    assert rendered.timeline.item(item.id).end_s == cut + 2.0  # the drag to trim, undone


@pytest.mark.parametrize("kind, fields, says", [
    ("item_move", {"start_s": -2}, "start_s must be seconds"),
    ("item_move", {"track": "music"}, "image item cannot go on music"),
    ("item_trim", {"start_s": 2.5, "end_s": 2.0}, "must be after start_s"),
    ("track_set", {"track": "V2", "solo": True}, "solo is for audio tracks"),
])
def test_a_bad_drag_is_refused_and_nothing_is_saved(rendered, wire: Wire, kind, fields, says):
    item = rendered.timeline.add_image(_logo(rendered), 1.0, 2.0)
    tl = Timeline(rendered)
    before = (rendered.path / "project.json").read_bytes()
    shown = [dict(x) for x in tl.tracks]
    send(tl, kind, **({"item_id": item.id} if kind != "track_set" else {}), **fields)
    assert says in tl.error
    assert (rendered.path / "project.json").read_bytes() == before and tl.tracks == shown


def test_sounds_carry_small_waveforms_and_drags_snap_to_beats(rendered, wire: Wire):
    import numpy as np

    from nbvideo.media.audio_io import write_wav

    rendered.finish(music="bed")
    ramp = np.linspace(0.0, 0.9, 48_000) * np.sin(np.arange(48_000) / 5)
    write_wav(rendered.path / "assets" / "ramp.wav", ramp)
    item = rendered.timeline.add_audio("assets/ramp.wav", 0.5, track="sfx")
    tl = Timeline(rendered)
    sfx = next(x for x in tl.tracks if x["id"] == "track-sfx")
    wave = sfx["items"][0]["wave"]
    assert len(wave) == 2 * 200 and all(-127 <= v <= 127 for v in wave)
    assert max(wave[-20:]) > 100 > 10 > max(wave[:20])  # the ramp, quiet to loud
    music = next(x for x in tl.tracks if x["id"] == "music")
    beats = rendered.timeline.beats
    assert music["beats"] == pytest.approx(beats, abs=1e-4) and len(beats) > 4
    assert max(music["wave"]) > 50
    assert all(round(b, 6) in sfx["snaps"] for b in beats)  # a drag sticks to every beat
    assert len(json.dumps(tl.tracks)) < 20_000  # small enough to send with every change
    send(tl, "item_move", item_id=item.id, start_s=beats[3])
    assert rendered.timeline.item(item.id).start_s == pytest.approx(
        round(beats[3] * rendered.state.brief.fps) / rendered.state.brief.fps)


def test_the_clips_track_draws_each_scene_clips_own_sound(rendered, wire: Wire, tmp_path):
    """A scene clip with sound shows its waveform on the clips track, where its scene is;
    a clip without sound (the local animatics) draws nothing there."""
    import subprocess

    from nbvideo.media.ffmpeg import ffmpeg_exe

    p = rendered
    fps = p.state.brief.fps
    kept = p.timeline.to_pandas()["kept_s"][1]
    src = tmp_path / "with-sound.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"testsrc2=size=320x180:rate={fps}:duration={kept + 1}", "-f", "lavfi",
                    "-i", f"sine=frequency=440:duration={kept + 1}", "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                    str(src)], check=True)
    p.import_clip(2, src)
    tl = Timeline(p)
    clips = next(x for x in tl.tracks if x["id"] == "track-clips")
    (line,) = clips["lines"]
    row = p.timeline.to_pandas().iloc[1]
    assert line["scene"] == p.scene(2).id and line["label"] == "Scene clip sound"
    assert line["start_s"] == pytest.approx(row["start_s"], abs=1 / fps)
    peaks = line["wave"][1::2]  # (min, max) per bucket: lavfi's sine is at 1/8 of full scale
    assert len(peaks) > 20 and all(8 <= v <= 20 for v in peaks)  # steady, start to end
    voice = next(x for x in tl.tracks if x["id"] == "track-voice")
    assert all(v["label"] == "Voice line" for v in voice.get("lines", []))
