"""The Timeline widget's live preview: pieces pushed to the player in playing order as they
render (only the touched ones after an edit), the soundtrack after them, the scrub strip with
a time per image, and bad requests refused with the field."""

from __future__ import annotations

import pytest

pytest.importorskip("anywidget")

import nbvideo as nv
from nbvideo.widgets.timeline import Timeline
from tests.wire import Wire, send

pytestmark = pytest.mark.slow


def pushed(wire: Wire, mark: int, kind: str) -> list[tuple[dict, list[bytes]]]:
    out = []
    for m in wire.since(mark):
        content = m.data.get("content") if m.data.get("method") == "custom" else None
        if isinstance(content, dict) and content.get("kind") == kind:
            out.append((content, m.buffers))
    return out


def test_the_module_carries_the_live_player() -> None:
    assert "function livePlayer" in Timeline._esm and "export default" in Timeline._esm


def test_play_pushes_each_piece_in_order_then_the_sound_and_replies(rendered: nv.Project,
                                                                   wire: Wire) -> None:
    rendered.finish(music="bed")
    tl = Timeline(rendered)
    mark = wire.mark()
    send(tl, "preview_range", start_s=2.0, token="a1")
    tl.settle()
    pieces = pushed(wire, mark, "preview_piece")
    assert pieces and all(c["token"] == "a1" for c, _ in pieces)
    assert [c["index"] for c, _ in pieces] == list(range(len(pieces)))
    assert pieces[0][0]["start_s"] <= 2.0 < pieces[0][0]["end_s"]
    for (a, _), (b, _) in zip(pieces, pieces[1:]):
        assert b["start_s"] == pytest.approx(a["end_s"])  # back to back
    assert pieces[-1][0]["end_s"] == pytest.approx(rendered.timeline.duration_s)
    assert all(bufs[0][4:8] == b"ftyp" for _, bufs in pieces)  # an MP4 each
    sound = pushed(wire, mark, "preview_sound")
    assert len(sound) == 1 and sound[0][1][0][4:8] == b"ftyp"
    reply = wire.replies(mark)[-1]
    assert reply["ok"] and reply["result"]["pieces"] == len(pieces)
    assert reply["result"]["rendered"] == len(pieces) and reply["result"]["sound"] is True


def test_after_a_trim_only_the_touched_pieces_render_again(rendered: nv.Project,
                                                           wire: Wire) -> None:
    tl = Timeline(rendered)
    send(tl, "preview_range", start_s=0.0, token="a")
    tl.settle()
    table = rendered.timeline.to_pandas()
    send(tl, "trim", scene=str(table.iloc[1]["id"]), out_s=float(table.iloc[1]["out_s"]) - 0.5)
    tl.settle()
    mark = wire.mark()
    send(tl, "preview_range", start_s=0.0, token="b")
    tl.settle()
    pieces = pushed(wire, mark, "preview_piece")
    touched = [c for c, _ in pieces if c["rendered"]]
    assert 1 <= len(touched) <= 2 < len(pieces)
    assert wire.replies(mark)[-1]["result"]["rendered"] == len(touched)


def test_the_scrub_strip_has_a_jpeg_per_time(rendered: nv.Project, wire: Wire) -> None:
    tl = Timeline(rendered)
    mark = wire.mark()
    send(tl, "scrub_strip", every=6)
    tl.settle()
    reply = wire.replies(mark)[-1]
    times = reply["result"]["times"]
    assert reply["ok"] and times[0] == 0.0 and times == sorted(times)
    assert len(reply["buffers"]) == len(times)
    assert all(b[:3] == b"\xff\xd8\xff" for b in reply["buffers"])  # JPEG
    assert max(b - a for a, b in zip(times, times[1:])) <= 6 / reply["result"]["fps"] + 1e-6


@pytest.mark.parametrize("kind, fields, says", [
    ("preview_range", {"start_s": 99.0}, "start_s must be >= 0 and before end_s"),
    ("preview_range", {"start_s": "soon"}, "start_s"),
    ("scrub_strip", {"every": 0}, "every must be a whole number from 1 to 120"),
])
def test_a_bad_preview_request_is_refused_with_the_field(rendered: nv.Project, wire: Wire,
                                                         kind, fields, says) -> None:
    tl = Timeline(rendered)
    before = (rendered.path / "project.json").read_bytes()
    mark = wire.mark()
    send(tl, kind, **fields)
    tl.settle()
    reply = wire.replies(mark)[-1]
    assert not reply["ok"] and says in reply["error"] and says in tl.error
    assert (rendered.path / "project.json").read_bytes() == before
