"""Mezzanine clips: each source normalized once per output format so stretches of different
clips, and segments re-encoded later, can be joined by stream copy.

A mezzanine is the clip already fitted to the output size at the output fps, encoded with
the settings every smart-export segment uses (`EncodeParams.x264_args`): no B-frames, a
closed GOP with a keyframe every `GOP_S` seconds, yuv420p and square pixels. With one set of settings x264 writes identical SPS/PPS for every file, so the bitstreams
of a mezzanine and of a segment can follow each other in one MP4 track. A stretch of a
mezzanine that starts on a keyframe decodes on its own: that is what gets copied.

Files are named by a key of everything that decides their bits (source content, size, fps,
fit, encoder settings), so they are built once and are safe to delete.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nbvideo.errors import render_step
from nbvideo.media.ffmpeg import MediaInfo, probe, probe_mp4_header, run_ffmpeg
from nbvideo.model.state import Fit

__all__ = ["GOP_S", "EncodeParams", "Mezzanine", "file_digest", "normalize"]

GOP_S = 0.5  # keyframe interval: the grain at which untouched video can be copied
_VERSION = 1  # bump when the way files are made changes, so old caches are not reused


class EncodeParams(BaseModel):
    """The output format and encoder settings shared by mezzanines and segments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    fps: int = Field(ge=1, le=120)
    fit: Fit = "crop"
    crf: int = Field(default=20, ge=0, le=51)
    preset: str = "veryfast"
    video_args: tuple[str, ...] = ()

    @property
    def gop(self) -> int:
        """Frames from one keyframe to the next."""
        return max(1, round(self.fps * GOP_S))

    def key(self) -> str:
        return hashlib.sha256(json.dumps(
            [_VERSION, self.model_dump(mode="json")], sort_keys=True).encode()).hexdigest()[:20]

    def x264_args(self) -> list[str]:
        """Encoder arguments; identical for every file that may be joined to another."""
        from nbvideo.render.engine import encoder_bounds

        g = str(self.gop)
        bounds, params = encoder_bounds((self.width, self.height))  # 4K: bounded memory
        return [
            "-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf), *self.video_args,
            *bounds, "-pix_fmt", "yuv420p", "-profile:v", "high", "-bf", "0", "-g", g,
            "-keyint_min", g, "-sc_threshold", "0", "-flags", "+cgop",
            "-x264-params", ":".join(["open-gop=0:scenecut=0", *params]), "-r", str(self.fps),
        ]


class Mezzanine(BaseModel):
    """One normalized clip in the cache: `frames` frames from frame 0 of the source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path
    key: str
    frames: int
    built: bool = Field(description="Made by this call (False: found in the cache).")
    seconds: float = Field(description="Time spent making it (0 for a cache hit).")


_digests: dict[tuple[str, int, int], str] = {}
_digest_lock = threading.Lock()


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, remembered per (path, size, mtime) for this process."""
    st = path.stat()
    memo = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _digest_lock:
        if memo in _digests:
            return _digests[memo]
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    with _digest_lock:
        _digests[memo] = h.hexdigest()
    return _digests[memo]


def inspect(path: Path) -> MediaInfo:
    return probe_mp4_header(path) or probe(path, count_frames=False)


def mezzanine_key(source: Path, frames: int, params: EncodeParams, fx: Any = None) -> str:
    body: list[Any] = [params.key(), file_digest(source), frames]
    if fx is not None:  # only then: a clip without effects keeps the key it always had
        body.append(fx.key())
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()[:24]


def normalize(source: Path, frames: int, params: EncodeParams, folder: Path,
              cancel: threading.Event | None = None, fx: Any = None) -> Mezzanine:
    """The mezzanine of the first `frames` output frames of `source`, built if missing.

    The pixels are made by the export engine's own per-clip chain (fps, clone-pad, fit), so
    a frame of the mezzanine is that frame of a full export before encoding. With effects
    (`fx`, an `engine.Fx`) it is the effected clip: its kept window as the effects play it,
    keyed by the effects too, so changing one clip's effects rebuilds only its mezzanine.
    """
    from nbvideo.render.engine import RenderSpec, _filter_graph, _Seg, decoder_bounds

    key = mezzanine_key(source, frames, params, fx)
    out = folder / f"{key}.mp4"
    if out.is_file():
        os.utime(out)  # recently used: the cache evicts least recently used first
        return Mezzanine(path=out, key=key, frames=frames, built=False, seconds=0.0)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    info = inspect(source)
    spec = RenderSpec.model_construct(fps=params.fps, fit=params.fit, overlay=None)
    graph = _filter_graph([info], [_Seg(start=0, frames=frames, xfade=0, fx=fx)], spec,  # type: ignore[arg-type]
                          (params.width, params.height))
    tmp = folder / f".{key}.{secrets.token_hex(4)}.part.mp4"
    try:
        with render_step("normalize"):
            run_ffmpeg([*decoder_bounds(info), "-i", str(source), "-filter_complex", graph,
                        "-map", "[vout]", "-an", "-sn", "-dn", *params.x264_args(),
                        "-frames:v", str(frames), "-f", "mp4", str(tmp)],
                       total_s=None, cancel=cancel)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return Mezzanine(path=out, key=key, frames=frames, built=True,
                     seconds=time.perf_counter() - started)
