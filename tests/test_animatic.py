"""Offline animatic clips: exact frames, real H.264, camera moves that are smooth, clean cancel."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from nbvideo.media.ffmpeg import FFmpegError, probe
from nbvideo.model.state import CAMERA_MOVES
from nbvideo.providers.base import ClipRequest, FrameRequest, VideoModel
from nbvideo.providers.local import animatic
from nbvideo.providers.local.animatic import PUSH_ZOOM, LocalAnimatic
from nbvideo.providers.local.frames import draw_frame

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real storyboard frame in both orientations, and a dot on grey for motion tracking."""
    d = tmp_path_factory.mktemp("frames")
    for name, (w, h), aspect in (("land", (320, 180), "16:9"), ("port", (180, 320), "9:16")):
        req = FrameRequest(
            scene_number=3, beat="benefit", description="A hiker crosses a ridge in the rain.",
            visual_prompt="hiker on a mountain trail in the rain", shot="wide", camera="static",
            aspect=aspect, width=w, height=h, seed=5,
            palette=["#1c1a17", "#3b3329", "#6b5a43", "#a08461", "#d9c7a3"],
        )
        draw_frame(req).save(d / f"{name}.png")
    dot = Image.new("RGB", (320, 180), (40, 40, 40))
    ImageDraw.Draw(dot).ellipse((250, 39, 262, 51), fill=(255, 255, 255))
    dot.save(d / "dot.png")
    return d


def clip_req(frame: Path, **kw) -> ClipRequest:
    base = {"frame_path": frame, "prompt": "animatic", "camera": "push-in", "duration_s": 1.0,
            "fps": 30, "width": 320, "height": 180, "seed": 1}
    return ClipRequest(**(base | kw))


def render(req: ClipRequest, out: Path):
    return asyncio.run(LocalAnimatic().clip(req, out))


def decode(path: Path, fmt: str = "gray") -> list[tuple[np.ndarray, bool]]:
    with av.open(str(path)) as c:
        return [(f.to_ndarray(format=fmt).astype(np.float64), f.key_frame)
                for f in c.decode(video=0)]


def clip_frames(frame: Path, out: Path, fmt: str = "gray", **kw) -> list[np.ndarray]:
    """Render a 320x180 clip of `frame` and decode it."""
    return [f for f, _ in decode(render(clip_req(frame, **kw), out).path, fmt)]


def test_local_animatic_is_a_free_video_model():
    model = LocalAnimatic()
    assert isinstance(model, VideoModel)
    assert (model.provider, model.model) == ("local", "ffmpeg-animatic")


@pytest.mark.parametrize("camera", CAMERA_MOVES)
def test_every_move_gives_exact_frames_fps_size_and_h264(frames_dir, tmp_path, camera):
    req = clip_req(frames_dir / "land.png", camera=camera, duration_s=1.25, fps=24)
    out = tmp_path / "clip.mp4"
    result = render(req, out)
    info = probe(out)
    assert info.frames == round(1.25 * 24) == 30
    assert (info.width, info.height, info.fps) == (320, 180, 24.0)
    assert (info.codec, info.pix_fmt, info.has_audio) == ("h264", "yuv420p", False)
    assert result.duration_s == pytest.approx(30 / 24) and result.fps == 24
    assert (result.path, result.width, result.height) == (out, 320, 180)
    assert result.usage.cost_usd == 0
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_frame_count_rounds_duration_times_fps(frames_dir, tmp_path):
    info = probe(render(clip_req(frames_dir / "port.png", width=180, height=320,
                                 duration_s=1.55, fps=30), tmp_path / "c.mp4").path)
    assert (info.frames, info.width, info.height) == (round(1.55 * 30), 180, 320)


def test_frame_of_another_aspect_is_cover_cropped_to_the_clip(frames_dir, tmp_path):
    out = tmp_path / "c.mp4"
    render(clip_req(frames_dir / "land.png", width=180, height=320, camera="pan-left"), out)
    info = probe(out)
    assert (info.width, info.height, info.frames) == (180, 320, 30)


def test_same_request_gives_identical_clip_bytes(frames_dir, tmp_path):
    req = clip_req(frames_dir / "land.png", camera="pan-right")
    a, b = render(req, tmp_path / "a.mp4").path, render(req, tmp_path / "b.mp4").path
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


def test_static_clip_holds_the_frame(frames_dir, tmp_path):
    frames = clip_frames(frames_dir / "land.png", tmp_path / "s.mp4", camera="static")
    assert np.abs(frames[0] - frames[-1]).mean() < 1.0


def test_push_in_magnifies_the_centre(frames_dir, tmp_path):
    frames = clip_frames(frames_dir / "land.png", tmp_path / "p.mp4", "rgb24", camera="push-in")
    first, last = frames[0], frames[-1]
    h, w = first.shape[:2]
    bw, bh = w / PUSH_ZOOM, h / PUSH_ZOOM
    box = ((w - bw) / 2, (h - bh) / 2, (w + bw) / 2, (h + bh) / 2)
    zoomed = np.asarray(Image.fromarray(first.astype(np.uint8)).resize(
        (w, h), Image.Resampling.BICUBIC, box=box), dtype=np.float64)
    assert np.abs(last - first).mean() > 3 * np.abs(last - zoomed).mean()


def test_pull_out_is_push_in_reversed(frames_dir, tmp_path):
    push = clip_frames(frames_dir / "land.png", tmp_path / "i.mp4", camera="push-in")
    pull = clip_frames(frames_dir / "land.png", tmp_path / "o.mp4", camera="pull-out")
    move = np.abs(push[0] - push[-1]).mean()
    assert np.abs(push[-1] - pull[0]).mean() < 0.25 * move
    assert np.abs(push[0] - pull[-1]).mean() < 0.25 * move


def best_shift(a: np.ndarray, b: np.ndarray, axis: int, limit: int) -> int:
    """Shift s (pixels) that best maps content of `a` to `b`: b[i] ~ a[i + s] along `axis`."""
    n = a.shape[axis]
    errors = {}
    for s in range(-limit, limit + 1):
        lo, hi = max(0, -s), min(n, n - s)
        ia, ib = [slice(None)] * 2, [slice(None)] * 2
        ia[axis], ib[axis] = slice(lo + s, hi + s), slice(lo, hi)
        errors[s] = np.abs(a[tuple(ia)] - b[tuple(ib)]).mean()
    return min(errors, key=errors.get)


@pytest.mark.parametrize(("camera", "axis", "sign"), [
    ("pan-right", 1, 1), ("pan-left", 1, -1), ("tilt-down", 0, 1), ("tilt-up", 0, -1),
])
def test_pans_and_tilts_travel_a_tenth_of_the_frame_the_right_way(frames_dir, tmp_path, camera,
                                                                   axis, sign):
    frames = clip_frames(frames_dir / "land.png", tmp_path / "c.mp4", camera=camera)
    first, last = frames[0], frames[-1]
    size = first.shape[axis]
    # Panning right reveals what was right of frame: content moves left, last[i] ~ first[i + s].
    shift = best_shift(first, last, axis, limit=size // 5)
    assert shift == pytest.approx(sign * 0.1 * size, abs=2)


def dot_track(path: Path) -> np.ndarray:
    """Intensity-weighted centroid of the bright dot per decoded frame (subpixel)."""
    out = []
    for g, _ in decode(path):
        wgt = np.clip(g - 45, 0, None)
        ys, xs = np.indices(g.shape)
        out.append(((wgt * xs).sum() / wgt.sum(), (wgt * ys).sum() / wgt.sum()))
    return np.array(out)


@pytest.mark.parametrize("camera", ["push-in", "pan-left", "tilt-down"])
def test_motion_moves_in_subpixel_steps_without_zoompan_jitter(frames_dir, tmp_path, camera):
    """zoompan rounds its crop to whole pixels: a tracked point then stalls and jumps a pixel.

    Here the dot must move every frame, and its speed may only change gradually.
    """
    req = clip_req(frames_dir / "dot.png", camera=camera, duration_s=2.0)
    track = dot_track(render(req, tmp_path / "d.mp4").path)
    axis = 1 if camera.startswith("tilt") else 0
    v = np.abs(np.diff(track[:, axis]))
    mid = v[len(v) // 4: 3 * len(v) // 4]  # the middle of the move, away from the eased ends
    speed = np.median(mid)
    assert speed > 0.1
    assert mid.min() > 0.5 * speed
    assert np.abs(np.diff(mid)).max() < 0.5 * speed


@pytest.mark.parametrize("camera", ["push-in", "pull-out", "pan-right", "tilt-up"])
def test_per_frame_change_has_no_spikes_or_freezes_mid_move(frames_dir, tmp_path, camera):
    frames = decode(render(clip_req(frames_dir / "land.png", camera=camera, duration_s=2.0),
                           tmp_path / "m.mp4").path)
    diffs = np.array([np.abs(a - b).mean() for (a, _), (b, _) in itertools.pairwise(frames)])
    into_key = np.array([key for _, key in frames[1:]])
    n = len(diffs)
    # A keyframe re-quantizes texture; that step is the codec, not the motion.
    mid = diffs[n // 4: 3 * n // 4][~into_key[n // 4: 3 * n // 4]]
    ratio_max, ratio_min = mid.max() / np.median(mid), mid.min() / np.median(mid)
    assert ratio_max < 2.0 and ratio_min > 0.4, (ratio_max, ratio_min)


@pytest.mark.parametrize(("size", "field"), [((321, 180), "width"), ((320, 181), "height")])
def test_odd_size_is_refused_naming_the_field(frames_dir, tmp_path, size, field):
    req = clip_req(frames_dir / "land.png", width=size[0], height=size[1])
    with pytest.raises(ValueError, match=field):
        render(req, tmp_path / "odd.mp4")
    assert list(tmp_path.iterdir()) == []


def test_missing_frame_is_refused_naming_the_field(tmp_path):
    with pytest.raises(FileNotFoundError, match="frame_path"):
        render(clip_req(tmp_path / "nope.png"), tmp_path / "c.mp4")


def test_ffmpeg_failure_is_reported_with_its_error_and_leaves_no_file(frames_dir, tmp_path,
                                                                    monkeypatch):
    real = animatic._ffmpeg_cmd
    monkeypatch.setattr(animatic, "_ffmpeg_cmd",
                        lambda *a: [*real(*a)[:-3], "-crf", "not-a-number", *real(*a)[-3:]])
    with pytest.raises(FFmpegError) as err:
        render(clip_req(frames_dir / "land.png"), tmp_path / "c.mp4")
    assert err.value.returncode != 0 and err.value.stderr_tail
    assert list(tmp_path.iterdir()) == []


def test_canceling_a_clip_kills_the_render_and_leaves_no_file(frames_dir, tmp_path):
    out_dir = tmp_path / "clips"
    out_dir.mkdir()
    out = out_dir / "long.mp4"
    req = clip_req(frames_dir / "land.png", camera="pan-left", duration_s=600.0)
    saw_partial = []

    async def go() -> None:
        task = asyncio.ensure_future(LocalAnimatic().clip(req, out))
        while not list(out_dir.iterdir()):  # wait until ffmpeg is writing its temp file
            assert not task.done()
            await asyncio.sleep(0.01)
        saw_partial.extend(p.name for p in out_dir.iterdir())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert saw_partial and not (out_dir / saw_partial[0]).exists()
    assert list(out_dir.iterdir()) == []
