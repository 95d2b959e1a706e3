"""Where a project keeps its posts' numbers: publish/metrics.jsonl, one snapshot a line.

Each fetch of a post's metrics (model/metrics.PostMetrics) is appended, never rewritten, so
the file is the history of every post's numbers and `nv.performance(root, refresh=False)`
reads the last one offline. A line is written whole under a lock (a notebook and a cron job
may fetch at once) and fsynced; a line that cannot be read (a crash mid-write, a hand edit)
is skipped with a warning, never a reason to lose the others. Only numbers and ids are kept:
no token, no request, no vendor text.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import filelock
from pydantic import ValidationError

from nbvideo.model.metrics import PostMetrics

__all__ = ["FILE", "MetricsStore"]

FILE = Path("publish") / "metrics.jsonl"


class MetricsStore:
    """The metrics snapshots of the project at `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / FILE

    def _lock(self) -> filelock.BaseFileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return filelock.FileLock(str(self.path.with_suffix(".lock")), is_singleton=False,
                                 thread_local=False)

    def append(self, snapshots: list[PostMetrics]) -> None:
        """Add these snapshots at the end, each line whole."""
        if not snapshots:
            return
        data = "".join(s.model_dump_json() + "\n" for s in snapshots).encode()
        with self._lock():
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)

    def all(self) -> list[PostMetrics]:
        """Every snapshot, in the order fetched."""
        if not self.path.is_file():
            return []
        out, bad = [], 0
        for line in self.path.read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                out.append(PostMetrics.model_validate_json(line))
            except ValidationError:
                bad += 1
        if bad:
            warnings.warn(f"{self.path}: {bad} line(s) could not be read as metrics and were "
                          "skipped", stacklevel=2)
        return out

    def latest(self) -> dict[str, PostMetrics]:
        """The newest snapshot of each post, by post id."""
        last: dict[str, PostMetrics] = {}
        for s in self.all():
            if s.post not in last or s.fetched_at >= last[s.post].fetched_at:
                last[s.post] = s
        return last
