"""Timeline driven by simulated browser messages, checked against project.json."""

from __future__ import annotations

import json
import threading

import pytest

pytest.importorskip("anywidget")

import nbvideo as nv
from nbvideo.media import RenderCanceled
from nbvideo.widgets.timeline import Timeline
from tests.wire import Wire, send


def on_disk(p: nv.Project) -> dict:
    return json.loads((p.path / "project.json").read_text())


def test_blocks_follow_the_timeline_table(rendered, wire: Wire):
    tl = Timeline(rendered)
    table = rendered.timeline.frame()
    assert [c.key for c in tl.clips] == list(table["id"])
    assert [c.clip["start_s"] for c in tl.clips] == list(table["start_s"])
    assert [c.clip["kept_s"] for c in tl.clips] == list(table["kept_s"])
    assert tl.clips[-1].clip["transition"] is None and tl.clips[0].clip["transition"]["kind"] == "cut"
    assert [(x["id"], x["kind"]) for x in tl.tracks] == [("video", "clips"), ("text", "text"),
                                                        ("music", "music")]
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
    send(tl, "set_transition", scene=a, transition="wipe")
    assert "'cut' or 'crossfade'" in tl.error
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
