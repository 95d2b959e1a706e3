"""Helpers for the finishing tests: make small clips with the bundled ffmpeg, read frames back."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from nbvideo.media.ffmpeg import ffmpeg_exe


def ffmpeg(*args: str) -> bytes:
    """Run the bundled ffmpeg; stdout bytes back, stderr in the error if it fails."""
    r = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                        *args], capture_output=True, check=False)
    if r.returncode:
        raise AssertionError(f"ffmpeg failed: {r.stderr.decode(errors='replace')[-2000:]}")
    return r.stdout


def solid_clip(path: Path, w: int, h: int, fps: int, seconds: float,
               color: str = "0x336699") -> Path:
    ffmpeg("-f", "lavfi", "-i", f"color=c={color}:s={w}x{h}:r={fps}:d={seconds}",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "12", str(path))
    return path


def raw_frames(args: list[str], w: int, h: int) -> np.ndarray:
    """Frames of an ffmpeg run (inputs + filters, no output) as uint8 (n, h, w, 3) RGB."""
    data = ffmpeg(*args, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1")
    return np.frombuffer(data, np.uint8).reshape(-1, h, w, 3)


def file_frames(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def assert_inside(mask: np.ndarray, rect) -> None:
    """Every True pixel of a (h, w) mask lies inside rect (and there is at least one)."""
    ys, xs = np.nonzero(mask)
    assert len(xs), "nothing was drawn"
    assert rect.x <= xs.min() and xs.max() < rect.right, (xs.min(), xs.max(), rect)
    assert rect.y <= ys.min() and ys.max() < rect.bottom, (ys.min(), ys.max(), rect)
