"""The offline demo end to end (5+ scenes, 30 s, 720p) from a fresh folder; goal under 60 s.

Runs the real CLI in a subprocess, then once more on the same folder to show what a re-run of
an unchanged project costs (cache hits only; exports are rendered again). Besides wall time it
prints the CPU seconds (user + system) of the demo's whole process tree: on a busy machine
wall time says little, and CPU seconds over the cores is the wall time a quiet one would see.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _children_cpu_s() -> float:
    """CPU seconds of every waited-for child so far (they include their own children)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_demo(directory: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `nbvideo demo` run."""
    cpu0, started = _children_cpu_s(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "nbvideo.cli", "demo", str(directory)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started, _children_cpu_s() - cpu0


def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        first, first_cpu = run_demo(Path(d))
        rerun, rerun_cpu = run_demo(Path(d))
    print("offline demo (30 s, 720p, 16:9 crop + 9:16 pad exports)")
    print(f"  fresh   {first:6.1f} s wall  {first_cpu:6.1f} s CPU  (goal < 60 s wall on 2 cores)")
    print(f"  re-run  {rerun:6.1f} s wall  {rerun_cpu:6.1f} s CPU  "
          f"({rerun / first:.2f}x of fresh: cached takes, exports again)")
    return {"demo_s": first, "demo_cpu_s": first_cpu, "demo_rerun_s": rerun,
            "demo_rerun_cpu_s": rerun_cpu}


if __name__ == "__main__":
    main()
