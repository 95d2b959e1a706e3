"""Thumbnail candidates benchmark: what `p.thumbnails()` pays to look at a film.

- sampling: every frame the candidates need (4 a second, 320 px wide) in one ffmpeg pass
  (`deliver.thumbnails.sample_frames`) against the naive path, one ffmpeg seek and decode
  per frame at full size, scaled down afterwards;
- the whole pick (sample, drop transitions and fades, score, match a product photo, choose
  6): seconds of film per second of work.

Run: `.venv/bin/python benchmarks/bench_thumbnails.py`.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from nbvideo.deliver import thumbnails as thumbs
from nbvideo.media.ffmpeg import run_ffmpeg

SECONDS = 30.0
NAIVE_EVERY = 4


def _film(out: Path) -> Path:
    run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={SECONDS}",
                "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(out)],
               total_s=None)
    return out


def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        video = _film(Path(tmp) / "film.mp4")
        t = time.perf_counter()
        times, frames, _fps = thumbs.sample_frames(video)
        one_pass = time.perf_counter() - t
        some = times[::NAIVE_EVERY]  # timed on a quarter of the frames, scaled to all
        t = time.perf_counter()
        naive = [np.asarray(thumbs.grab_frame(video, float(s)).resize(
            (frames.shape[2], frames.shape[1]))) for s in some]
        per_frame = (time.perf_counter() - t) * len(times) / len(some)
        assert len(naive) == len(some)
        photo = thumbs.grab_frame(video, 10.0).crop((600, 300, 1300, 800))
        t = time.perf_counter()
        found = thumbs.candidates_from(video, "film.mp4", n=6, product=photo)
        pick = time.perf_counter() - t
    print(f"sampling {len(times)} frames of {SECONDS:.0f} s at 1080p: one pass "
          f"{one_pass:.2f} s, a seek per frame {per_frame:.2f} s (from every {NAIVE_EVERY}th; "
          f"{per_frame / one_pass:.1f}x)")
    print(f"candidates with a product photo: {pick:.2f} s ({SECONDS / pick:.1f}x real time), "
          f"{len(found)} picked")
    return {"thumbs_one_pass_vs_seeks": per_frame / one_pass,
            "thumbs_x_realtime": SECONDS / pick}


if __name__ == "__main__":
    main()
