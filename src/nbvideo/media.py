"""ffmpeg and media inspection: where the binary is, how to run it, what a file holds.

nbvideo uses the ffmpeg that imageio-ffmpeg ships in its wheel, so no system ffmpeg is
needed. Files are inspected with PyAV, which reads the container and (on request) decodes
every frame so a duration or frame count is the real one, not the header's claim.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from pathlib import Path

from pydantic import BaseModel, ConfigDict


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the bundled ffmpeg binary."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


class MediaInfo(BaseModel):
    """What a video file really holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    width: int
    height: int
    codec: str
    pix_fmt: str | None
    fps: float
    frames: int
    duration_s: float
    has_audio: bool
    size_bytes: int


def probe(path: str | Path, count_frames: bool = True) -> MediaInfo:
    """Inspect a video file. With `count_frames`, every packet is read to count frames exactly."""
    import av

    path = Path(path)
    with av.open(str(path)) as container:
        vstreams = container.streams.video
        if not vstreams:
            raise ValueError(f"{path} has no video stream")
        v = vstreams[0]
        rate = v.average_rate or v.guessed_rate or Fraction(0)
        fps = float(rate) if rate else 0.0
        frames = v.frames
        if count_frames or not frames:
            frames = sum(1 for p in container.demux(v) if p.size)
        if fps:
            duration = frames / fps
        elif container.duration:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        return MediaInfo(
            path=str(path),
            width=v.codec_context.width,
            height=v.codec_context.height,
            codec=v.codec_context.name,
            pix_fmt=v.codec_context.pix_fmt,
            fps=fps,
            frames=frames,
            duration_s=duration,
            has_audio=bool(container.streams.audio),
            size_bytes=path.stat().st_size,
        )
