"""The offline demo end to end (5+ scenes, 30 s, 720p) from a fresh folder; goal under 60 s.

Runs the real CLI in a subprocess, then once more on the same folder to show what a re-run of
an unchanged project costs (cache hits only; exports are rendered again).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_demo(directory: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nbvideo.cli", "demo", str(directory)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        first = run_demo(Path(d))
        rerun = run_demo(Path(d))
    print("offline demo (30 s, 720p, 16:9 crop + 9:16 pad exports)")
    print(f"  fresh   {first:6.1f} s  (goal < 60 s on 2 cores)")
    print(f"  re-run  {rerun:6.1f} s  ({rerun / first:.2f}x of fresh: cached takes, exports again)")
    return {"demo_s": first, "demo_rerun_s": rerun}


if __name__ == "__main__":
    main()
