"""A poster frame and a short looping preview (GIF or animated WebP) for each export.

Why both: the poster is what a client sees before pressing play (and what a widget shows);
the preview is what travels in an email, a chat or a slide, where an MP4 does not autoplay.
Kept small (320 px wide, at most 3 s, 12 fps) so it stays in the hundreds of kilobytes.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from nbvideo.media.ffmpeg import probe, run_ffmpeg
from nbvideo.render.engine import poster_frame

__all__ = ["poster_and_preview"]

MAX_PREVIEW_S = 3.0


def poster_and_preview(video_path: Path, at_s: float, out_dir: Path, *,
                       fmt: Literal["gif", "webp"] = "gif", start_s: float = 0.0,
                       seconds: float = MAX_PREVIEW_S, width: int = 320, fps: int = 12,
                       stem: str | None = None) -> tuple[Path, Path]:
    """Write `<stem>.jpg` (the frame at `at_s`) and `<stem>-preview.gif|webp` (from `start_s`,
    at most `seconds` long) into `out_dir`; return their paths.

    GIF goes through palettegen/paletteuse (one palette per preview, Bayer dither), which
    keeps gradients from banding into blotches at 256 colours.
    """
    video_path, out_dir = Path(video_path), Path(out_dir)
    if fmt not in ("gif", "webp"):
        raise ValueError(f"fmt must be 'gif' or 'webp', got {fmt!r}")
    if not 0 < seconds <= MAX_PREVIEW_S:
        raise ValueError(f"seconds must be in (0, {MAX_PREVIEW_S:g}], got {seconds}")
    if width < 16 or width % 2:
        raise ValueError(f"width must be an even number of pixels >= 16, got {width}")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or video_path.stem
    poster = poster_frame(video_path, out_dir / f"{stem}.jpg", at_s=at_s)
    info = probe(video_path, count_frames=False)
    start = min(max(0.0, start_s), max(0.0, info.duration_s - 1 / max(info.fps, 1)))
    length = min(seconds, info.duration_s - start) if info.duration_s else seconds
    out = out_dir / f"{stem}-preview.{fmt}"
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.{fmt}")
    scale = f"fps={fps},scale={width}:-2:flags=lanczos"
    if fmt == "gif":
        graph = (f"[0:v]{scale},split[a][b];[a]palettegen=max_colors=128:stats_mode=diff[p];"
                 f"[b][p]paletteuse=dither=bayer:bayer_scale=3:diff_mode=rectangle[out]")
        codec = ["-loop", "0", "-f", "gif"]
    else:
        graph = f"[0:v]{scale}[out]"
        codec = ["-c:v", "libwebp_anim", "-lossless", "0", "-q:v", "70", "-loop", "0",
                 "-f", "webp"]
    try:
        run_ffmpeg(["-ss", f"{start:.6f}", "-t", f"{length:.6f}", "-i", str(video_path),
                    "-filter_complex", graph, "-map", "[out]", "-an", *codec, str(tmp)],
                   total_s=None)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return poster, out
