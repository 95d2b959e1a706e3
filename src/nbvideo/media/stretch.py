"""Slow a clip down to fill a longer scene, instead of paying for the next clip length up.

A model that makes 5 or 10 s clips charges 10 s for a 6 s scene; made at 5 s and played
1.2x slower, the clip fills the scene and no paid second is thrown away. Slowing is only
offered up to MAX_FACTOR (1.25x): beyond that motion visibly drags.

How the new frames are made (`method`):
- "interpolate": ffmpeg's `minterpolate` in motion-compensated mode (mi_mode=mci) draws
  in-between frames along the motion: smoothest, and the dearest to compute;
- "blend": `minterpolate` in blend mode mixes neighbouring frames: cheap, soft on fast motion;
- "setpts": the timestamps alone are stretched and frames repeated (`fps`): cheapest, and
  fine where little moves.
"auto" interpolates where it helps (a stretch of at least 1.1x, where repeated frames start
to judder) and is affordable (at most INTERPOLATE_BUDGET pixel-frames, about ten seconds of
720p30), else blends. Sound, where there is any, is slowed with `atempo` (pitch kept).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from nbvideo.errors import InvalidInput
from nbvideo.media.ffmpeg import probe, run_ffmpeg
from nbvideo.media.threads import encoder_threads

Method = Literal["auto", "interpolate", "blend", "setpts"]
MAX_FACTOR = 1.25
HELPS_FROM = 1.1
INTERPOLATE_BUDGET = 1280 * 720 * 30 * 10


def pick_method(factor: float, width: int, height: int, out_frames: int) -> str:
    """What "auto" uses for this stretch (see the module's docstring)."""
    if factor < HELPS_FROM:
        return "blend"
    return "interpolate" if width * height * out_frames <= INTERPOLATE_BUDGET else "blend"


def stretch_filter(factor: float, fps: float, method: str) -> str:
    """The video filter that plays a clip `factor` times slower at `fps`."""
    head = f"setpts={factor:.6f}*PTS"
    # interpolation ends on the last source frame's (stretched) time, one source frame short
    # of the end: the last frame is held for that gap (the caller stops at the frame count)
    hold = "tpad=stop_mode=clone:stop_duration=1"
    if method == "interpolate":
        return (f"{head},minterpolate=fps={fps:g}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:"
                f"vsbmc=1,{hold}")
    if method == "blend":
        return f"{head},minterpolate=fps={fps:g}:mi_mode=blend,{hold}"
    return f"{head},fps={fps:g},{hold}"


def stretch_clip(src: str | Path, dst: str | Path, seconds: float, *, fps: float | None = None,
                 method: Method = "auto") -> str:
    """Write `src` slowed to play for `seconds` into `dst`; returns the method used.

    Refused when the clip is longer than `seconds` (trim it instead) or would need more than
    MAX_FACTOR."""
    info = probe(src, count_frames=False)
    if info.duration_s <= 0:
        raise InvalidInput(f"{src} has no duration to stretch")
    factor = seconds / info.duration_s
    if factor < 1 - 1e-6 or factor > MAX_FACTOR + 1e-6:
        raise InvalidInput(f"stretching a {info.duration_s:g} s clip to {seconds:g} s is "
                           f"{factor:.2f}x; allowed: 1 to {MAX_FACTOR:g}x")
    rate = fps or info.fps or 30.0
    out_frames = round(seconds * rate)
    used = pick_method(factor, info.width, info.height, out_frames) if method == "auto" \
        else method
    if used not in ("interpolate", "blend", "setpts"):
        raise InvalidInput(f"method={used!r}; allowed: auto, interpolate, blend, setpts")
    args = ["-i", str(src), "-filter:v", stretch_filter(factor, rate, used),
            "-frames:v", str(out_frames)]
    if info.has_audio:
        args += ["-filter:a", f"atempo={1 / factor:.6f},apad=whole_dur={seconds:.6f}",
                 "-c:a", "aac"]  # (an output -t would cut the video's last frames short)
    args += ["-c:v", "libx264", *encoder_threads(), "-pix_fmt", "yuv420p", "-r", f"{rate:g}",
             "-movflags", "+faststart", str(dst)]
    run_ffmpeg(args, total_s=seconds)
    return used
