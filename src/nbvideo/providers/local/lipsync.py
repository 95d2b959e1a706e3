"""Offline lip sync: the drawn figure's mouth opens with the line's loudness, frame by frame.

Works where the face's place is known: a local animatic of a local storyboard frame that
shows a figure (frames.face_box gives the head in the frame; the animatic's camera_box moves
it as the camera moves). For any other clip it refuses and says why, rather than drawing a
mouth in the wrong place.

Each frame is decoded as yuv420p and the mouth is drawn straight into its planes (dark in Y,
a warm tint in Cb/Cr), so the rest of the picture is the source's own samples, untouched by
any colour conversion; the frames stream into the bundled ffmpeg with the line muxed as AAC.
The mouth's opening is the line's RMS over each frame's span of audio, scaled by the line's
loud frames (its 95th percentile) and gated below a whisper, so silence shows a closed mouth.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from nbvideo.errors import InvalidInput
from nbvideo.media.audio_io import read_wav
from nbvideo.media.ffmpeg import TAG_BT709, ffmpeg_exe, probe
from nbvideo.media.threads import encoder_threads
from nbvideo.providers.base import LipSyncRequest, MediaResult, Usage
from nbvideo.providers.local.animatic import (
    camera_box,
    ease,
    encode_frames,
    render_in_thread,
)

GATE = 0.08
"""Openings below this share of the line's loud level draw a closed mouth (breath, hiss)."""
MOUTH_Y = 0.70  # the mouth's centre, down the head box
MOUTH_W = 0.40  # its width, as a share of the head's
MOUTH_H = 0.22  # its height fully open, as a share of the head's
CLOSED_H = 0.035  # a closed mouth: a thin line
MOUTH_YUV = (38, 120, 150)  # dark, warm (BT.709 limited range)


def envelope(samples: np.ndarray, rate: int, n: int, fps: float) -> np.ndarray:
    """How open the mouth is in each of `n` frames (0..1), from the audio's loudness."""
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    rms = np.zeros(n)
    for i in range(n):
        a, b = int(round(i / fps * rate)), int(round((i + 1) / fps * rate))
        chunk = mono[a:b]
        rms[i] = float(np.sqrt(np.mean(chunk.astype(np.float64) ** 2))) if len(chunk) else 0.0
    loud = rms[rms > 0]
    ref = float(np.percentile(loud, 95)) if len(loud) else 0.0
    if ref <= 1e-6:
        return np.zeros(n)
    open_ = np.clip(rms / ref, 0.0, 1.0)
    open_[open_ < GATE] = 0.0
    return open_ ** 0.7


def face_at(face: tuple[float, float, float, float], camera: str, i: int, n: int,
            width: int, height: int) -> tuple[float, float, float, float]:
    """The head box in output pixels at frame i of n, following the animatic's camera."""
    bx0, by0, bx1, by1 = camera_box(camera, ease(i / (n - 1)) if n > 1 else 0.0)
    fx0, fy0, fx1, fy1 = face
    sx, sy = width / (bx1 - bx0), height / (by1 - by0)
    return ((fx0 - bx0) * sx, (fy0 - by0) * sy, (fx1 - bx0) * sx, (fy1 - by0) * sy)


def mouth_box(head: tuple[float, float, float, float], opening: float
              ) -> tuple[float, float, float, float]:
    """The mouth ellipse for a head box and an opening (0 closed .. 1 wide open)."""
    x0, y0, x1, y1 = head
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, y0 + MOUTH_Y * h
    mh = max(CLOSED_H, MOUTH_H * opening) * h
    mw = MOUTH_W * w * (0.8 + 0.2 * opening)
    return (cx - mw / 2, cy - mh / 2, cx + mw / 2, cy + mh / 2)


def _draw(planes: list[np.ndarray], box: tuple[float, float, float, float]) -> None:
    """Paint the mouth ellipse into the Y, Cb, Cr planes (chroma at half size), in place."""
    for k, plane in enumerate(planes):
        scale = 1 if k == 0 else 2
        img = Image.fromarray(plane)
        ImageDraw.Draw(img).ellipse(tuple(v / scale for v in box), fill=MOUTH_YUV[k])
        plane[:] = np.asarray(img)


def _frames(path: Path):
    """(width, height, fps, yuv420p frames as [Y, U, V] uint8 arrays) of a clip."""
    container = av.open(str(path))
    stream = container.streams.video[0]

    def gen():
        try:
            for frame in container.decode(stream):
                if frame.format.name != "yuv420p":
                    frame = frame.reformat(format="yuv420p")
                yield [np.array(p, copy=True) for p in (
                    np.frombuffer(frame.planes[k], np.uint8).reshape(-1, frame.planes[k].line_size)
                    [:, :(frame.width if k == 0 else frame.width // 2)]
                    [:(frame.height if k == 0 else frame.height // 2)] for k in range(3))]
        finally:
            container.close()

    return gen()


def _synced(req: LipSyncRequest, opening: np.ndarray, n: int, w: int, h: int
            ) -> Iterator[bytes]:
    """The clip's first `n` frames (yuv420p), each with the mouth drawn open as far as the
    line is loud at that frame."""
    for i, planes in enumerate(_frames(req.video_path)):
        if i >= n:
            break
        head = face_at(req.face_box, req.camera, i, n, w, h)
        _draw(planes, mouth_box(head, float(opening[i])))
        yield b"".join(p.tobytes() for p in planes)


def render_lipsync(req: LipSyncRequest, out: Path, stop: threading.Event | None = None
                   ) -> MediaResult:
    """Blocking: the clip with its mouth moving to the line and the line muxed, atomically."""
    if req.face_box is None:
        raise InvalidInput("lip sync: no face position is known for this clip, so the offline "
                           "lip sync cannot place a mouth; it works on local animatics of a "
                           "drawn figure. Use a lip-sync model that finds the face itself: "
                           "model='lipsync-2' (Replicate)")
    info = probe(req.video_path)
    w, h, fps, n = info.width, info.height, info.fps, info.frames
    if w % 2 or h % 2 or n < 1:
        raise InvalidInput(f"lip sync: {req.video_path.name} is {w}x{h} with {n} frames; an "
                           "even size and at least one frame are needed")
    samples, rate = read_wav(req.audio_path)
    opening = envelope(samples, rate, n, fps)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.part")
    seconds = n / fps
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats", "-y",
           "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-r", f"{fps:g}",
           "-i", "-", "-i", str(req.audio_path),
           "-map", "0:v:0", "-map", "1:a:0", "-vf", TAG_BT709, "-af", "apad",
           "-t", f"{seconds:.6f}", "-c:v", "libx264", "-preset", "superfast", "-crf", "20",
           "-g", str(max(1, round(fps))), *encoder_threads(), "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-ac", "1",
           "-movflags", "+faststart", "-f", "mp4", str(tmp)]  # fmt: skip
    encode_frames(cmd, _synced(req, opening, n, w, h), tmp, out, stop, step="lip sync",
                  what=f"lip sync {out.name}")
    return MediaResult(path=out, width=w, height=h, duration_s=seconds, fps=fps,
                       usage=Usage(units=seconds, unit="second"))


class LocalLipSync:
    """LipSyncModel: offline, free, deterministic; local animatics of a drawn figure only."""

    provider = "local"
    model = "local-lipsync"

    def key_inputs(self, req: LipSyncRequest) -> dict[str, object]:
        """What decides the output besides the two files (their checksums are added)."""
        return {"face_box": [round(v, 6) for v in req.face_box] if req.face_box else None,
                "camera": req.camera}

    async def lip_sync(self, req: LipSyncRequest, out: Path) -> MediaResult:
        """Render in a worker thread; on cancel, stop ffmpeg and leave no partial file."""
        return await render_in_thread(render_lipsync, req, Path(out), out=Path(out))
