"""Animatic clips from one still frame: an eased camera move, encoded by the bundled ffmpeg.

Why not ffmpeg's zoompan: it rounds every crop to whole pixels, so slow moves judder. Here the
frame is staged once at the largest size the move needs and converted once to the video's
BT.709 yuv420p planes; each output frame is a float crop box of every plane resized by Pillow
(subpixel motion), and the raw yuv420p frames stream into ffmpeg's stdin so Python draws frame
i+1 while x264 encodes frame i. Resampling the three planes touches half the samples of an RGB
frame and leaves ffmpeg no colour conversion per frame. Same request, same frames, same bytes.
"""

from __future__ import annotations

import asyncio
import collections
import os
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from nbvideo.errors import MediaMissing
from nbvideo.media.ffmpeg import (
    RGB_TO_BT709,
    TAG_BT709,
    FFmpegError,
    RenderCanceled,
    ffmpeg_exe,
    open_image,
)
from nbvideo.media.threads import encoder_threads
from nbvideo.providers.base import ClipRequest, MediaResult, Usage

Box = tuple[float, float, float, float]

PUSH_ZOOM = 1.12
"""Push-in ends (pull-out starts) this much tighter than the full frame."""
DRIFT_ZOOM = 1.10
"""Pans and tilts view the frame this much enlarged, so the view has room to travel."""

# At these near-1:1 scales BILINEAR is within 45 dB of LANCZOS and ~30% cheaper than BICUBIC.
_RESAMPLE = Image.Resampling.BILINEAR

# The clips are intermediates: every finished export re-encodes them, but an export of cuts
# alone copies them as they are. Measured on a 5 s 720p push-in and pan against a lossless
# render: superfast at CRF 23 is closer to the frames (Y-PSNR 52.7-53.6 dB) than veryfast at
# CRF 20 was (51.4-52.3 dB) for ~20% less CPU per clip (frames and resampling included), in
# files ~1.5x as large; ultrafast at CRF 24 saved only ~0.25 s more per clip for files ~4x.
_X264 = ("-preset", "superfast", "-crf", "23")

T = TypeVar("T")


def ease(t: float) -> float:
    """Smoothstep: the camera starts and settles at rest, so cuts between clips feel calm."""
    t = min(1.0, max(0.0, t))
    return t * t * (3.0 - 2.0 * t)


def camera_box(camera: str, p: float) -> Box:
    """Visible part of the frame at eased progress `p`, as fractions (x0, y0, x1, y1)."""
    if camera == "static":
        return (0.0, 0.0, 1.0, 1.0)
    if camera in ("push-in", "pull-out"):
        # Interpolate the zoom in log space: equal steps of p look like equal steps of zoom.
        z = PUSH_ZOOM ** (p if camera == "push-in" else 1.0 - p)
        half = 0.5 / z
        return (0.5 - half, 0.5 - half, 0.5 + half, 0.5 + half)
    size = 1.0 / DRIFT_ZOOM
    travel = 1.0 - size
    centred = travel / 2
    if camera in ("pan-left", "pan-right"):
        x0 = travel * (p if camera == "pan-right" else 1.0 - p)
        return (x0, centred, x0 + size, centred + size)
    if camera in ("tilt-up", "tilt-down"):
        y0 = travel * (p if camera == "tilt-down" else 1.0 - p)
        return (centred, y0, centred + size, y0 + size)
    raise ValueError(f"camera: unknown move {camera!r}")


def always_visible(camera: str) -> Box:
    """The part of the frame on screen for the whole move, so captions can stay inside it.

    Every move is monotone, so the intersection of its two end boxes is the whole answer.
    """
    a, b = camera_box(camera, 0.0), camera_box(camera, 1.0)
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def _max_zoom(camera: str) -> float:
    if camera == "static":
        return 1.0
    return PUSH_ZOOM if camera in ("push-in", "pull-out") else DRIFT_ZOOM


def frame_count(req: ClipRequest) -> int:
    """Frames in the clip: round(duration_s * fps), checked so a clip is never empty."""
    n = round(req.duration_s * req.fps)
    if n < 1:
        raise ValueError(f"duration_s: {req.duration_s} s at {req.fps} fps gives no frames")
    return n


def _validate(req: ClipRequest) -> int:
    odd = [f"{name}={v}" for name, v in (("width", req.width), ("height", req.height)) if v % 2]
    if odd:
        raise ValueError(
            f"{' and '.join(odd)}: H.264 yuv420p needs an even width and height"
        )
    camera_box(req.camera, 0.0)  # unknown moves fail before any work starts
    if not Path(req.frame_path).is_file():
        raise MediaMissing(f"frame_path: no image at {req.frame_path}")
    return frame_count(req)


def stage_frame(frame_path: Path, width: int, height: int, camera: str) -> Image.Image:
    """Load the frame once, cover-cropped to the output aspect, ready for per-frame crops.

    The stage keeps the source's own pixels unless they are far more than the move needs;
    then one LANCZOS downscale (to 1.2x what the move needs) keeps every per-frame resize
    cheap. Either way a pan of a frame drawn at the clip's size never runs at exactly 1:1,
    where every pixel would share one subpixel phase and the picture would pulse between
    sharp and soft as the phase cycles.
    """
    with open_image(frame_path, "frame") as im:
        src = im.convert("RGB")
    sw, sh = src.size
    target = width / height
    if sw / sh > target:  # source wider than output: trim the sides
        cw, ch = sh * target, float(sh)
    else:
        cw, ch = float(sw), sw / target
    box = ((sw - cw) / 2, (sh - ch) / 2, (sw + cw) / 2, (sh + ch) / 2)
    if camera == "static":
        return src.resize((width, height), Image.Resampling.LANCZOS, box=box)
    need = _max_zoom(camera)
    if cw > width * need * 1.3:
        size = (_even(width * need * 1.2), _even(height * need * 1.2))
        return src.resize(size, Image.Resampling.LANCZOS, box=box)
    whole = tuple(map(round, box))
    if box == whole and (whole[2] - whole[0]) % 2 == 0 and (whole[3] - whole[1]) % 2 == 0:
        return src.crop(whole)  # type: ignore[arg-type]
    return src.resize((_even(cw), _even(ch)), Image.Resampling.LANCZOS, box=box)


def _even(x: float) -> int:
    """Nearest even size, at least 2: the stage is split into 4:2:0 planes."""
    return max(2, round(x / 2) * 2)


def stage_planes(stage: Image.Image) -> tuple[Image.Image, Image.Image, Image.Image]:
    """The stage as BT.709 limited-range Y, Cb, Cr planes ("L" images; chroma at half size).

    ffmpeg converts it once, with the filter that converted every RGB frame before frames
    were resampled in YUV, so the colours are the ones an RGB frame would get."""
    w, h = stage.size
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-i", "-",
           "-vf", RGB_TO_BT709, "-f", "rawvideo", "-"]  # fmt: skip
    proc = subprocess.run(cmd, input=stage.tobytes(), capture_output=True)
    ys, cs = w * h, (w // 2) * (h // 2)
    if proc.returncode != 0 or len(proc.stdout) != ys + 2 * cs:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise FFmpegError(proc.returncode, lines[-20:] or ["short yuv420p output"], cmd,
                          step="animatic")
    b = proc.stdout
    return (Image.frombytes("L", (w, h), b[:ys]),
            Image.frombytes("L", (w // 2, h // 2), b[ys:ys + cs]),
            Image.frombytes("L", (w // 2, h // 2), b[ys + cs:]))


def iter_frames(stage: Image.Image, camera: str, n: int, width: int, height: int):
    """Yield the n output frames as raw yuv420p bytes (a static shot repeats one frame)."""
    if camera == "static" and stage.size != (width, height):
        stage = stage.resize((width, height), _RESAMPLE)
    planes = stage_planes(stage)
    if camera == "static":
        still = b"".join(p.tobytes() for p in planes)
        for _ in range(n):
            yield still
        return
    sw, sh = stage.size
    sizes = ((width, height), (width // 2, height // 2), (width // 2, height // 2))
    for i in range(n):
        fx0, fy0, fx1, fy1 = camera_box(camera, ease(i / (n - 1)) if n > 1 else 0.0)
        box = (max(0.0, fx0 * sw), max(0.0, fy0 * sh), min(sw, fx1 * sw), min(sh, fy1 * sh))
        # Chroma planes are half size: the same box in their pixels is half the numbers.
        yield b"".join(
            p.resize(size, _RESAMPLE, box=box if k == 0 else tuple(v / 2 for v in box)).tobytes()
            for k, (p, size) in enumerate(zip(planes, sizes))
        )


def _ffmpeg_cmd(width: int, height: int, fps: int, dest: Path) -> list[str]:
    return [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats", "-y",
        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-r", str(fps),
        "-i", "-",
        "-an", "-vf", TAG_BT709,  # the frames already are BT.709 (stage_planes)
        "-c:v", "libx264", *_X264, "-g", str(fps),
        *encoder_threads(),
        "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4", str(dest),
    ]  # fmt: skip


def _grow_pipe(fd: int) -> None:
    """Bigger pipe buffer: fewer wake-ups per 1.4 MB frame (Linux only, best effort)."""
    try:
        import fcntl

        fcntl.fcntl(fd, 1031, 1 << 20)  # F_SETPIPE_SZ
    except (ImportError, OSError):
        pass


def _kill_on(stop: threading.Event, proc: subprocess.Popen) -> None:
    """Watchdog: a cancel kills ffmpeg even while the writer is blocked on a full pipe."""
    while proc.poll() is None:
        if stop.wait(0.1):
            proc.kill()
            return


def encode_frames(cmd: list[str], frames: Iterable[bytes], tmp: Path, out: Path,
                  stop: threading.Event | None, *, step: str, what: str) -> None:
    """Pipe raw frames into ffmpeg (`cmd` writes `tmp`), then rename `tmp` to `out`.

    Every local renderer encodes through here. Setting `stop` kills ffmpeg (a watchdog does it
    even while a write blocks on a full pipe) and raises RenderCanceled naming `what`; a
    failing ffmpeg raises FFmpegError with the tail of its stderr, named by `step`. Either
    way no partial file is left behind.
    """
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stderr is not None
    _grow_pipe(proc.stdin.fileno())
    tail: collections.deque[bytes] = collections.deque(maxlen=40)
    errs = proc.stderr
    drain = threading.Thread(target=lambda: tail.extend(errs), daemon=True)  # never let it fill
    drain.start()
    if stop is not None:
        threading.Thread(target=_kill_on, args=(stop, proc), daemon=True).start()
    ok = False
    try:
        try:
            for frame in frames:
                if stop is not None and stop.is_set():
                    break
                proc.stdin.write(frame)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg died or was killed; the checks below say which
        if stop is not None and stop.is_set():
            raise RenderCanceled(f"{what} canceled; ffmpeg was stopped")
        rc = proc.wait()
        if rc != 0:
            drain.join(timeout=5)
            lines = b"".join(tail).decode(errors="replace").strip().splitlines()
            raise FFmpegError(rc, lines[-20:], cmd, step=step)
        os.replace(tmp, out)
        ok = True
    finally:
        if not ok:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            tmp.unlink(missing_ok=True)
        drain.join(timeout=5)  # ffmpeg has exited, so its stderr reaches EOF promptly
        for pipe in (proc.stdin, errs):
            try:
                pipe.close()
            except OSError:  # stdin may still hold unflushed bytes for a dead ffmpeg
                pass


def render_clip(req: ClipRequest, out: Path, stop: threading.Event | None = None) -> MediaResult:
    """Blocking render of one clip to `out`, atomically.

    Setting `stop` kills ffmpeg and raises RenderCanceled; no partial file is left behind.
    """
    n = _validate(req)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.part")
    stage = stage_frame(req.frame_path, req.width, req.height, req.camera)
    cmd = _ffmpeg_cmd(req.width, req.height, req.fps, tmp)
    encode_frames(cmd, iter_frames(stage, req.camera, n, req.width, req.height), tmp, out,
                  stop, step="animatic", what=f"clip {out.name}")
    return MediaResult(
        path=out, width=req.width, height=req.height, duration_s=n / req.fps, fps=float(req.fps),
        usage=Usage(units=n / req.fps, unit="second"),
    )


class LocalAnimatic:
    """VideoModel: offline animatic clips with camera moves, free and deterministic."""

    provider = "local"
    model = "ffmpeg-animatic"

    async def clip(self, req: ClipRequest, out: Path) -> MediaResult:
        """Render in a worker thread; on cancel, stop ffmpeg and delete the partial file first."""
        _validate(req)
        return await render_in_thread(render_clip, req, Path(out), out=Path(out))


async def render_in_thread(render: Callable[..., T], *args: Any, out: Path) -> T:
    """Run a blocking ffmpeg render in a worker thread; `render` takes a stop event after
    `args`. On cancel: stop it, wait for the thread to clean up (however often we are
    canceled meanwhile), so no temp file outlives the cancellation, and if it finished in
    the same instant, delete `out` to honour the cancel. Every local renderer answers
    cancellation through here."""
    stop = threading.Event()
    work = asyncio.ensure_future(asyncio.to_thread(render, *args, stop))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        stop.set()
        while not work.done():
            try:
                await asyncio.wait({work})
            except asyncio.CancelledError:
                continue
        if not work.cancelled() and work.exception() is None:
            out.unlink(missing_ok=True)
        raise

