"""The shared parts of the views: media bytes, the message protocol, refresh on change."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

pytest.importorskip("anywidget")

from nbvideo.media.ffmpeg import probe
from nbvideo.widgets import media
from nbvideo.widgets.questions import QuestionForm
from tests.wire import Wire, send


def test_thumbnail_is_a_small_jpeg_made_once(rendered):
    frame = rendered.state.scenes[0].frame
    data = media.thumbnail(rendered.path, frame)
    assert data[:3] == b"\xff\xd8\xff" and 2_000 < len(data) <= media.THUMB_MAX_BYTES
    cached = rendered.path / "assets" / "thumbs" / f"{frame.id}-w{media.THUMB_SIDE}.jpg"
    assert cached.read_bytes() == data
    assert media.thumbnail(rendered.path, None) == b""


def test_preview_is_at_most_480p_and_cached_by_checksum(rendered, monkeypatch):
    clip = rendered.state.scenes[0].clip
    data = media.preview(rendered.path, clip)
    files = list((rendered.path / "assets" / "previews").glob("*.mp4"))
    assert len(files) == 1 and files[0].name.startswith(clip.checksum[:20])
    info = probe(files[0])
    assert min(info.width, info.height) <= 480 and info.codec == "h264" and not info.has_audio
    assert len(data) < (rendered.path / clip.path).stat().st_size

    def no_ffmpeg(*a, **k):
        raise AssertionError("preview made twice")

    monkeypatch.setattr(media, "run_ffmpeg", no_ffmpeg)
    assert media.preview(rendered.path, clip) == data


def test_preview_size_keeps_aspect_and_even_sides():
    assert media.preview_size(1280, 720) == (854, 480)
    assert media.preview_size(1080, 1920) == (480, 854)
    assert media.preview_size(320, 240) == (320, 240)


def test_unknown_action_and_unknown_field_are_refused_by_name(rendered, wire: Wire):
    form = QuestionForm(rendered)
    before = (rendered.path / "project.json").read_bytes()
    mark = wire.mark()
    send(form, "frobnicate")
    send(form, "answer", answers={"tone": "Warm"}, colour="red")
    replies = wire.replies(mark)
    assert [r["ok"] for r in replies] == [False, False]
    assert "unknown action 'frobnicate'" in replies[0]["error"]
    assert "colour" in replies[1]["error"] and "colour" in form.error
    assert (rendered.path / "project.json").read_bytes() == before


def test_reply_carries_the_request_id_and_clears_the_error(rendered, wire: Wire):
    form = QuestionForm(rendered)
    send(form, "answer", answers={"nope": "x"})
    assert form.error
    mark = wire.mark()
    form._handle_custom_msg({"kind": "answer", "id": 41, "answers": {"tone": "Warm"}}, [])
    (reply,) = wire.replies(mark)
    assert reply["id"] == 41 and reply["ok"] and reply["error"] is None
    assert form.error == ""


def test_view_follows_changes_made_from_a_cell(rendered, wire: Wire):
    form = QuestionForm(rendered)
    rendered.answer(tone="Calm")
    form.settle()
    assert form.answers["tone"] == "Calm"


def test_closed_view_stops_listening(rendered, wire: Wire):
    form = QuestionForm(rendered)
    form.close()
    mark = wire.mark()
    rendered.answer(tone="Calm")
    form.settle()
    assert wire.since(mark) == []


def test_mime_bundle_has_the_widget_and_a_static_fallback(rendered, wire: Wire):
    form = QuestionForm(rendered)
    data, _meta = form._repr_mimebundle_()
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == form.model_id
    assert "What tone should it have?" in data["text/html"]
    json.dumps(data)  # all of it is JSON, as a notebook stores it


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("names", [("questions.js",), ("presence.js", "board.js"), ("grid.js",),
                                   ("preview.js", "timeline.js")])
def test_each_view_module_is_valid_javascript(names, tmp_path):
    """A syntax error would only show in the browser; node finds it here."""
    from nbvideo.widgets.base import STATIC, esm

    if not all((STATIC / n).exists() for n in names):
        pytest.skip(f"{names} not written yet")
    module = tmp_path / (names[-1].replace(".js", ".mjs"))
    module.write_text(esm(*names))
    out = subprocess.run(["node", "--check", str(module)], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
