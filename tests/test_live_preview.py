"""Live preview: what a person sees after an edit — only the pieces the edit touched render
again, each piece is a 360p MP4 of the right length, the range joins into one playable MP4
with its sound, the cache outlives the kernel, and the scrub strip shows the frame under
the playhead."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import nbvideo as nv
from nbvideo.errors import InvalidInput
from nbvideo.media.ffmpeg import probe
from nbvideo.render import live_preview as lp

pytestmark = pytest.mark.slow


def _logo(p: nv.Project) -> str:
    Image.new("RGBA", (64, 32), (255, 0, 0, 255)).save(p.path / "assets" / "logo.png")
    return "assets/logo.png"


def _rendered_now(p: nv.Project) -> list[lp.PreviewPiece]:
    pp = lp.plan(p.runtime)
    pieces = list(lp.render_pieces(pp))
    return [x for x in pieces if x.rendered]


def test_a_trim_re_renders_only_the_pieces_at_the_cut_it_moved(rendered: nv.Project) -> None:
    rendered.set_transitions("crossfade", 0.5)
    first = _rendered_now(rendered)
    total = len(lp.plan(rendered.runtime).pieces)
    assert len(first) == total > 6  # the first preview renders every piece
    assert _rendered_now(rendered) == []  # nothing changed: nothing renders
    table = rendered.timeline.to_pandas()
    rendered.trim(2, out_s=float(table.iloc[1]["out_s"]) - 0.5)
    cut = float(rendered.timeline.to_pandas().iloc[1]["end_s"])
    again = _rendered_now(rendered)
    # the last piece of scene 2 (now shorter) and the crossfade into scene 3; scene 3's
    # pieces only moved up the film, and scene 1's did not change
    assert 1 <= len(again) <= 2
    for piece in again:
        assert cut - lp.PIECE_S - 0.5 <= piece.start_s and piece.end_s <= cut + 1e-6


def test_moving_a_logo_re_renders_only_the_pieces_under_its_old_and_new_place(
        rendered: nv.Project) -> None:
    logo = rendered.timeline.add_image(_logo(rendered), 0.5, 1.0, x=0.9, y=0.1,
                                       anchor="top-right", width=0.2)
    _rendered_now(rendered)
    rendered.timeline.move(logo.id, start_s=5.0)
    again = _rendered_now(rendered)
    assert again
    for piece in again:  # each overlaps [0.5, 1.5) or [5.0, 6.0) (one frame of margin)
        assert piece.start_s < 1.6 and piece.end_s > 0.4 or piece.start_s < 6.1 and piece.end_s > 4.9
    pp = lp.plan(rendered.runtime)
    assert len(again) < len(pp.pieces) / 2


def test_pieces_are_360p_mp4s_of_their_planned_length_and_join_into_the_range(
        rendered: nv.Project) -> None:
    rendered.set_transitions("crossfade", 0.5)
    pp = lp.plan(rendered.runtime, 2.0, 5.0)
    assert pp.start_s <= 2.0 and pp.end_s >= 5.0
    for piece in lp.render_pieces(pp):
        info = probe(piece.path)
        assert (info.width, info.height) == (640, 360)
        assert info.frames == piece.frames and piece.frames <= round(lp.PIECE_S * pp.fps) or \
            piece.frames == round(0.5 * pp.fps)  # a transition piece is the transition
        assert info.fps == pp.fps
    out = lp.join(pp)
    info = probe(out)
    assert (info.width, info.height) == (640, 360)
    assert info.frames == sum(p.frames for p in pp.pieces)
    assert info.duration_s == pytest.approx(pp.end_s - pp.start_s, abs=1.5 / pp.fps)


def test_the_notebook_preview_plays_the_range_with_the_music(rendered: nv.Project) -> None:
    rendered.finish(music="bed")
    shown = rendered.timeline.preview(1.0, 4.0)
    info = probe(shown.path)
    assert info.has_audio and (info.width, info.height) == (640, 360)
    assert shown.start_s <= 1.0 and shown.end_s >= 4.0
    assert "<video" in shown._repr_html_() and shown.rendered == len(shown.pieces)
    assert rendered.timeline.preview(1.0, 4.0).rendered == 0


def test_the_preview_cache_survives_reopening_the_project(rendered: nv.Project) -> None:
    first = rendered.timeline.preview()
    assert first.rendered == len(first.pieces)
    path = rendered.path
    rendered.close()
    p = nv.Project.open(path)
    try:
        again = p.timeline.preview()
        assert again.rendered == 0 and again.path == first.path
    finally:
        p.close()


def test_the_scrub_strip_shows_the_frame_under_the_playhead(rendered: nv.Project) -> None:
    strip = rendered.timeline.scrub_strip(every=3, height=60)
    fps = rendered.state.brief.fps
    times = [t for t, _ in strip]
    assert times == sorted(times) and times[0] == 0.0
    assert max(b - a for a, b in zip(times, times[1:])) <= 3 / fps + 1e-9
    with Image.open(strip[0][1]) as im:
        assert im.height == 60 and im.format == "JPEG"
    # the image at a time is the film's frame there: compare with the joined preview
    t = times[len(times) // 2]
    assert strip.at(t + 0.5 / fps) == strip[len(times) // 2][1]
    import av

    shown = rendered.timeline.preview()
    with av.open(str(shown.path)) as c:
        frame = next(f for n, f in enumerate(c.decode(video=0)) if n == round(t * fps))
        want = np.asarray(frame.to_image().resize(Image.open(strip.at(t)).size), float)
    got = np.asarray(Image.open(strip.at(t)).convert("RGB"), float)
    assert np.abs(got - want).mean() < 12
    # a second strip renders and decodes nothing new: the same files
    assert [p for _, p in rendered.timeline.scrub_strip(every=3, height=60)] == [p for _, p in strip]


@pytest.mark.parametrize("call, says", [
    (lambda p: p.timeline.preview(5.0, 2.0), "start_s must be >= 0 and before end_s"),
    (lambda p: p.timeline.preview(60.0, 70.0), "and the end of the film"),
    (lambda p: p.timeline.preview("a"), "start_s must be a number of seconds"),
    (lambda p: p.timeline.scrub_strip(every=0), "every must be a whole number from 1 to 120"),
    (lambda p: p.timeline.scrub_strip(height=2.5), "height must be a whole number"),
])
def test_a_bad_range_or_strip_is_refused_with_the_field(rendered: nv.Project, call, says) -> None:
    with pytest.raises(InvalidInput, match=says):
        call(rendered)


def test_deferred_sound_is_the_same_soundtrack_made_after_the_picture(
        rendered: nv.Project, tmp_path) -> None:
    from nbvideo.edit.timeline import require_clips
    from nbvideo.render import finishing

    rendered.finish(music="bed")
    rt = rendered.runtime
    es = require_clips(rt)
    clips = lp._clips(rt, es)
    later = finishing.prepare(rt, es, clips, (640, 360), 12, None, tmp_path, defer_sound=True)
    assert later.audio is None and later.sound is not None
    now = finishing.prepare(rt, es, clips, (640, 360), 12, None, tmp_path)
    made, lufs = later.sound()
    assert made == now.audio and made.is_file() and lufs == pytest.approx(now.audio_lufs)
