"""Export engine behaviour, checked on real (tiny) videos rendered through the bundled ffmpeg."""

from __future__ import annotations

import itertools
import subprocess
import threading
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from nbvideo.media.ffmpeg import FFmpegError, RenderCanceled, ffmpeg_exe, probe
from nbvideo.model.state import Transition, frame_size
from nbvideo.render import engine as render
from nbvideo.render.engine import (
    RenderClip,
    RenderSpec,
    export_timeline,
    plan_duration,
    poster_frame,
)

pytestmark = pytest.mark.slow

FPS = 30
XF = Transition(kind="crossfade", duration_s=0.5)


def _make(path: Path, size: str, seconds: float, rate: int = FPS, hue: int = 0,
          audio: bool = False) -> Path:
    """A moving test pattern; same encoder settings for all so stream copy is possible."""
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
            "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds},hue=h={hue}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=duration={seconds}", "-c:a", "aac", "-shortest"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(args, check=True)
    return path


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """All source clips, made once per session."""
    d = tmp_path_factory.mktemp("render-src")
    clips = {f"small{i}": _make(d / f"small{i}.mp4", "320x180", 2, hue=60 * i) for i in range(3)}
    clips |= {f"hd{i}": _make(d / f"hd{i}.mp4", "1280x720", 1, hue=60 * i) for i in range(2)}
    clips["hd_audio"] = _make(d / "hd_audio.mp4", "1280x720", 1, audio=True)
    clips["small_audio"] = _make(d / "small_audio.mp4", "320x180", 2, audio=True)
    clips["fps24"] = _make(d / "fps24.mp4", "320x180", 2, rate=24)
    clips["short"] = _make(d / "short.mp4", "320x180", 1.9)  # 57 frames, claimed 2.0 s below
    return clips


def clip(path: Path, duration_s: float = 2.0, **kw: object) -> RenderClip:
    return RenderClip(path=path, duration_s=duration_s, **kw)  # type: ignore[arg-type]


def spec(out: Path, aspect: str = "16:9", fit: str = "crop", **kw: Any) -> RenderSpec:
    return RenderSpec(aspect=aspect, resolution="720p", fit=fit, fps=FPS, out=out,  # type: ignore[arg-type]
                      preset="ultrafast", **kw)


def frames_on_disk(path: Path) -> int:
    return probe(path, count_frames=True).frames


def container_seconds(path: Path) -> float:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.duration is not None and s.time_base is not None
        return float(s.duration * s.time_base)


def frame_at(path: Path, index: int) -> np.ndarray:
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == index:
                return f.to_ndarray(format="rgb24").astype(np.int16)
    raise IndexError(index)


def top_level_boxes(path: Path) -> list[bytes]:
    data, kinds, pos = path.read_bytes(), [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        kinds.append(data[pos + 4:pos + 8])
        pos += size if size > 1 else len(data)
    return kinds


def assert_exact(result: render.RenderResult, clips: list[RenderClip]) -> None:
    planned, seconds = plan_duration(clips, FPS)
    assert result.frames == planned
    assert frames_on_disk(result.path) == planned
    assert container_seconds(result.path) == pytest.approx(planned / FPS, abs=1e-3)
    assert result.duration_s == pytest.approx(seconds)


def test_cuts_of_matching_clips_are_stream_copied_with_exact_frames(media, tmp_path):
    clips = [clip(media["hd0"], 1.0), clip(media["hd1"], 1.0), clip(media["hd0"], 1.0)]
    result = export_timeline(clips, spec(tmp_path / "copy.mp4"))
    assert result.stream_copy
    assert "copy" in result.command and "-filter_complex" not in result.command
    assert (result.width, result.height) == (1280, 720)
    assert_exact(result, clips)
    boxes = top_level_boxes(result.path)
    assert boxes.index(b"moov") < boxes.index(b"mdat")  # fast start: playable while loading


def test_copy_falls_back_to_faststart_when_the_reserved_index_room_is_short(
        media, tmp_path, monkeypatch):
    monkeypatch.setattr(render, "_MOOV_BASE", 64)
    monkeypatch.setattr(render, "_MOOV_PER_FRAME", 0)
    clips = [clip(media["hd0"], 1.0), clip(media["hd1"], 1.0)]
    result = export_timeline(clips, spec(tmp_path / "fs.mp4"))
    assert result.stream_copy and "+faststart" in result.command
    assert_exact(result, clips)
    boxes = top_level_boxes(result.path)
    assert boxes.index(b"moov") < boxes.index(b"mdat")
    assert [p.name for p in tmp_path.iterdir()] == ["fs.mp4"]


def test_clips_with_audio_export_video_only_on_both_paths(media, tmp_path):
    copy = export_timeline([clip(media["hd_audio"], 1.0), clip(media["hd0"], 1.0)],
                           spec(tmp_path / "a.mp4"))
    enc = export_timeline([clip(media["small_audio"]), clip(media["small0"])],
                          spec(tmp_path / "b.mp4"))
    assert copy.stream_copy and not enc.stream_copy
    assert not probe(copy.path).has_audio and not probe(enc.path).has_audio


def test_copy_can_be_refused_and_then_the_timeline_is_reencoded(media, tmp_path):
    clips = [clip(media["hd0"], 1.0), clip(media["hd1"], 1.0)]
    result = export_timeline(clips, spec(tmp_path / "enc.mp4", allow_copy=False))
    assert not result.stream_copy
    assert_exact(result, clips)


def test_crossfade_shortens_the_timeline_by_exactly_the_overlap(media, tmp_path):
    one = [clip(media["small0"], transition=XF), clip(media["small1"]), clip(media["small2"])]
    two = [clip(media["small0"], transition=XF), clip(media["small1"], transition=XF),
           clip(media["small2"])]
    assert plan_duration(one, FPS) == (180 - 15, 5.5)
    assert plan_duration(two, FPS) == (180 - 30, 5.0)
    for name, clips in (("one", one), ("two", two)):
        result = export_timeline(clips, spec(tmp_path / f"{name}.mp4"))
        assert not result.stream_copy
        assert "xfade" in " ".join(result.command)
        assert_exact(result, clips)


def test_crossfade_blends_the_neighbouring_clips(media, tmp_path):
    clips = [clip(media["hd0"], 1.0, transition=Transition(kind="crossfade", duration_s=0.4)),
             clip(media["hd1"], 1.0)]
    out = export_timeline(clips, spec(tmp_path / "x.mp4")).path
    mid = frame_at(out, 24)  # 0.4 s fade over frames 18..29: frame 24 is about half and half
    a, b = frame_at(media["hd0"], 24), frame_at(media["hd1"], 6)
    assert np.abs(mid - (a + b) / 2).mean() < np.abs(mid - a).mean() / 2
    assert np.abs(mid - (a + b) / 2).mean() < np.abs(mid - b).mean() / 2


def test_trims_cut_whole_frames_from_both_ends(media, tmp_path):
    clips = [clip(media["hd0"], 1.0, trim_in_s=0.3, trim_out_s=0.2), clip(media["hd1"], 1.0)]
    assert plan_duration(clips, FPS)[0] == (30 - 9 - 6) + 30
    result = export_timeline(clips, spec(tmp_path / "trim.mp4"))
    assert not result.stream_copy
    assert_exact(result, clips)
    first = frame_at(result.path, 0)
    off = {k: np.abs(first - frame_at(media["hd0"], k)).mean() for k in (8, 9, 10)}
    assert off[9] < min(off[8], off[10]) / 3  # starts on source frame 9 exactly, not a neighbour


def test_mixed_cuts_and_crossfades_keep_the_planned_frame_count(media, tmp_path):
    clips = [clip(media["small0"]), clip(media["small1"], transition=XF),
             clip(media["fps24"], trim_in_s=0.2), clip(media["small2"], trim_out_s=0.5)]
    assert plan_duration(clips, FPS)[0] == 60 + 60 - 15 + 54 + 45
    assert_exact(export_timeline(clips, spec(tmp_path / "mix.mp4")), clips)


def test_other_frame_rates_and_a_short_source_still_give_planned_frames(media, tmp_path):
    clips = [clip(media["fps24"]), clip(media["short"], 2.0)]  # short holds 57, not 60, frames
    assert_exact(export_timeline(clips, spec(tmp_path / "fps.mp4")), clips)


@pytest.mark.parametrize("aspect, size", [("16:9", (1280, 720)), ("9:16", (720, 1280)),
                                          ("1:1", (720, 720)), ("4:5", (720, 900))])
def test_each_aspect_exports_at_its_even_720p_size(media, tmp_path, aspect, size):
    assert frame_size(aspect, "720p") == size
    clips = [clip(media["small0"], trim_out_s=1.0)]
    result = export_timeline(clips, spec(tmp_path / "a.mp4", aspect=aspect))
    assert (result.width, result.height) == size
    assert size[0] % 2 == 0 and size[1] % 2 == 0
    assert_exact(result, clips)


@pytest.mark.parametrize("fit", ["crop", "pad"])
def test_crop_and_pad_both_fill_the_output_size(media, tmp_path, fit):
    clips = [clip(media["small0"], trim_out_s=1.0), clip(media["small1"], trim_out_s=1.0)]
    result = export_timeline(clips, spec(tmp_path / "f.mp4", aspect="9:16", fit=fit))
    assert (result.width, result.height) == (720, 1280)
    assert_exact(result, clips)


def test_pad_bands_hold_blurred_picture_not_black(media, tmp_path):
    clips = [clip(media["small0"], trim_out_s=1.0)]
    out = export_timeline(clips, spec(tmp_path / "pad.mp4", aspect="9:16", fit="pad")).path
    img = frame_at(out, 15)
    # A 16:9 picture fitted to 720 wide is ~405 tall, centred: bands above and below.
    fg_top = (1280 - 405) // 2
    band = np.concatenate([img[40:fg_top - 40], img[1280 - fg_top + 40:1240]])
    fg = img[fg_top + 20:1280 - fg_top - 20]
    assert band.mean() > 40, "band is black"
    assert band.std() > 10, "band is a flat colour, not picture"
    roughness = lambda a: np.abs(np.diff(a, axis=1)).mean()
    assert roughness(band) < roughness(fg) / 3, "band is not blurred"


def test_crop_fills_the_frame_with_picture(media, tmp_path):
    clips = [clip(media["small0"], trim_out_s=1.0)]
    out = export_timeline(clips, spec(tmp_path / "crop.mp4", aspect="9:16", fit="crop")).path
    img = frame_at(out, 15)
    assert img[:100].std() > 10 and img[-100:].std() > 10


@pytest.mark.parametrize("kw, message", [
    ({"trim_in_s": 1.0, "trim_out_s": 0.8},
     r"clip 1: trim_in_s \+ trim_out_s \(1\.8 s\) leaves less than 0\.5 s of a 2\.0 s clip"),
    ({"trim_in_s": 2.5}, r"clip 1: trim_in_s \+ trim_out_s \(2\.5 s\)"),
])
def test_trims_that_leave_too_little_raise_naming_clip_and_field(media, tmp_path, kw, message):
    clips = [clip(media["small0"]), clip(media["small1"], **kw)]
    with pytest.raises(ValueError, match=message):
        plan_duration(clips, FPS)
    with pytest.raises(ValueError, match=message):
        export_timeline(clips, spec(tmp_path / "bad.mp4"))
    assert list(tmp_path.iterdir()) == []


def test_crossfade_longer_than_a_neighbour_raises_naming_clip_and_field(media):
    long_fade = Transition(kind="crossfade", duration_s=1.5)
    clips = [clip(media["small0"]), clip(media["small1"], transition=long_fade),
             clip(media["small2"], trim_in_s=0.8)]  # clip 2 keeps 1.2 s
    with pytest.raises(ValueError, match=r"clip 1: transition\.duration_s \(1\.5 s\).*clip 2"):
        plan_duration(clips, FPS)


def test_crossfades_into_and_out_of_a_clip_may_not_overlap(media):
    fade = Transition(kind="crossfade", duration_s=0.9)
    clips = [clip(media["small0"], transition=fade),
             clip(media["small1"], trim_out_s=0.5, transition=fade), clip(media["small2"])]
    with pytest.raises(ValueError, match=r"clip 1: transition\.duration_s .*clip 0"):
        plan_duration(clips, FPS)


def test_empty_timeline_and_missing_file_are_refused(media, tmp_path):
    with pytest.raises(ValueError, match="at least one clip"):
        plan_duration([], FPS)
    with pytest.raises(FileNotFoundError, match="clip 1"):
        export_timeline([clip(media["small0"]), clip(tmp_path / "nope.mp4")],
                        spec(tmp_path / "x.mp4"))


def test_canceled_render_leaves_no_file_and_keeps_the_earlier_one(media, tmp_path):
    out = tmp_path / "ad.mp4"
    clips = [clip(media["small0"]), clip(media["small1"], transition=XF), clip(media["small2"])]
    export_timeline(clips[:1], spec(out))
    before = out.read_bytes()
    cancel = threading.Event()
    cancel.set()  # set before start: ffmpeg is stopped at once
    with pytest.raises(RenderCanceled):
        export_timeline(clips, spec(out), cancel=cancel)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ad.mp4"]

    fresh = tmp_path / "new.mp4"
    cancel_midway = threading.Event()
    long = [clip(media["small0"], transition=XF), clip(media["small1"])] * 6
    with pytest.raises(RenderCanceled):  # canceled at the first progress report
        export_timeline(long, spec(fresh), on_progress=lambda f: cancel_midway.set(),
                        cancel=cancel_midway)
    assert not fresh.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ad.mp4"]


def test_failed_render_keeps_the_earlier_good_file(media, tmp_path, monkeypatch):
    out = tmp_path / "ad.mp4"
    clips = [clip(media["small0"]), clip(media["small1"])]
    export_timeline(clips, spec(out))
    before = out.read_bytes()
    monkeypatch.setattr(render, "_filter_graph", lambda *a: "[0:v]no_such_filter[vout]")
    with pytest.raises(FFmpegError, match="no_such_filter"):
        export_timeline(clips, spec(out))
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ad.mp4"]


def test_progress_is_monotonic_and_reaches_one_once(media, tmp_path):
    seen: list[float] = []
    clips = [clip(media["small0"], transition=XF), clip(media["small1"]), clip(media["small2"])]
    export_timeline(clips, spec(tmp_path / "p.mp4"), on_progress=seen.append)
    assert seen and seen[-1] == 1.0 and seen.count(1.0) == 1
    assert all(0.0 <= f <= 1.0 for f in seen)
    assert all(a < b for a, b in itertools.pairwise(seen))
    copied: list[float] = []
    export_timeline([clip(media["hd0"], 1.0)], spec(tmp_path / "c.mp4"), on_progress=copied.append)
    assert copied[-1] == 1.0


def test_result_describes_the_file_and_the_command(media, tmp_path):
    result = export_timeline([clip(media["small0"])], spec(tmp_path / "r.mp4"))
    info = probe(result.path)
    assert result.path == tmp_path / "r.mp4"
    assert (result.width, result.height, result.frames) == (info.width, info.height, info.frames)
    assert result.fps == FPS and result.size_bytes == result.path.stat().st_size
    assert result.command[0] == "ffmpeg" and result.command[-1] == str(result.path)
    assert "libx264" in result.command and "+faststart" in result.command


def test_spec_refuses_unknown_fields_and_non_mp4_paths(tmp_path):
    with pytest.raises(ValueError, match="mp4"):
        spec(tmp_path / "ad.mov")
    with pytest.raises(ValueError, match="extra"):
        RenderClip(path=tmp_path / "a.mp4", duration_s=1.0, speed=2)  # type: ignore[call-arg]


def test_poster_frame_writes_a_still_of_the_video_size(media, tmp_path):
    from PIL import Image

    video = media["small0"]
    png = poster_frame(video, tmp_path / "thumbs" / "p.png", at_s=1.0)
    jpg = poster_frame(video, tmp_path / "p.jpg", at_s=99.0)  # past the end: last frame
    with Image.open(png) as a, Image.open(jpg) as b:
        assert (a.format, a.size) == ("PNG", (320, 180))
        assert (b.format, b.size) == ("JPEG", (320, 180))
    with pytest.raises(ValueError, match="at_s"):
        poster_frame(video, tmp_path / "n.png", at_s=-1)
