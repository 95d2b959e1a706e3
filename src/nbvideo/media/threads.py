"""How many cores this process may use, and how many threads each ffmpeg it starts may take.

A notebook or script owns the machine: ffmpeg picks its own thread counts (x264 takes 1.5 x
the cores). A campaign worker owns a share of it: several workers each running an x264 with a
thread per core would fight over the same cores, so the campaign runner sets
NBVIDEO_FFMPEG_THREADS in each worker's environment (campaign/workers.py `worker_plan`) and
every encoder nbvideo starts (clip renders, exports, their chunks and mezzanines) takes that
many threads. One place reads it, so no encoder can be left out of a worker's share.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV", "available_cores", "encoder_threads", "ffmpeg_threads", "filter_threads"]

ENV = "NBVIDEO_FFMPEG_THREADS"
CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity and, in a container, the cgroup's
    CPU quota (a pod limited to 2 CPUs on a 64-core node has 2), never fewer than 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cores, quota) if quota else cores)


def _cgroup_quota() -> int | None:
    """cgroup v2's cpu.max ("200000 100000" = 2 CPUs, "max 100000" = no limit), rounded up."""
    try:
        text = Path(CGROUP_CPU_MAX).read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return None
    if len(text) != 2 or text[0] == "max":
        return None
    try:
        quota, period = int(text[0]), int(text[1])
    except ValueError:
        return None
    return max(1, -(-quota // period)) if quota > 0 and period > 0 else None


def ffmpeg_threads() -> int | None:
    """The thread count each ffmpeg encoder may take (NBVIDEO_FFMPEG_THREADS, a positive
    integer), or None: ffmpeg's own choice."""
    n = os.environ.get(ENV, "").strip()
    return int(n) if n.isdigit() and int(n) > 0 else None


def encoder_threads() -> list[str]:
    """ffmpeg output arguments for an encoder's thread count: the worker's share when one is
    set, else nothing (ffmpeg's own choice)."""
    n = ffmpeg_threads()
    return [] if n is None else ["-threads", str(n)]


def filter_threads() -> list[str]:
    """ffmpeg global arguments for its filter graphs' threads (scaling, overlays, fades): the
    worker's share when one is set, else nothing (one per core)."""
    n = ffmpeg_threads()
    return [] if n is None else ["-filter_threads", str(n), "-filter_complex_threads", str(n)]
