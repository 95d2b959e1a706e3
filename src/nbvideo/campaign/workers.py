"""How the LocalCluster a campaign starts is sized for the machine it finds.

Two variants each encoding with a thread per core on two cores fight for the same cores, and
Dask then costs more than it gives (issue 22 measured 1.07x inline's wall on a quiet 2-core
machine). So the runner splits the cores it may use (media/threads.py: affinity and a
container's CPU quota, not the host's count) between its workers: one single-threaded worker
per core, never more workers than variants to run, nor than memory holds, and each worker's
ffmpeg and local clip renders take only its share of the cores. A campaign with fewer
variants than cores gives each worker the cores left over, so a lone variant still encodes on
every core. Each worker runs one variant at a time (one Dask thread): a worker with spare
cores gives them to its ffmpeg, which does a variant's heavy work, rather than to a second
variant that would share the process's GIL. The plan is printed once as the run starts
(above the progress bar), titles the live status table, and is logged.
"""

from __future__ import annotations

from typing import Literal

import psutil
from pydantic import BaseModel, ConfigDict, Field

from nbvideo.errors import InvalidInput
from nbvideo.media.threads import ENV as FFMPEG_THREADS_ENV
from nbvideo.media.threads import available_cores

__all__ = ["WORKER_MEMORY_BYTES", "WorkerPlan", "worker_plan"]

# What one worker may need at its peak: the Python process with nbvideo (~0.3 GB) and the
# largest render it starts (render/chunks.py bounds a 4K export's process tree to 1.5 GB).
WORKER_MEMORY_BYTES = 1_800_000_000


class WorkerPlan(BaseModel):
    """The LocalCluster for one run: `workers` processes of `threads_per_worker` threads,
    each ffmpeg encoder and filter graph of theirs on `ffmpeg_threads` threads, `renders`
    local clips rendered at once per worker."""

    model_config = ConfigDict(frozen=True)

    cores: int = Field(ge=1, description="Cores this process may use.")
    workers: int = Field(ge=1)
    threads_per_worker: int = Field(1, ge=1)
    ffmpeg_threads: int = Field(ge=1)
    renders: int = Field(ge=1)
    limited_by: Literal["cores", "variants", "memory", "asked"] = Field(
        "cores", description="What set the worker count.")

    def env(self) -> dict[str, str]:
        """The environment each worker process starts with. Its projects' own progress bars
        (clips, export) would only reach the Jupyter server's terminal: the campaign's bar in
        the notebook is the one to watch."""
        return {"NBVIDEO_LOCAL_RENDERS": str(self.renders),
                FFMPEG_THREADS_ENV: str(self.ffmpeg_threads), "TQDM_DISABLE": "1"}

    def describe(self) -> str:
        """One line a user reads: what was chosen and why."""
        w = f"{self.workers} worker{'s' if self.workers != 1 else ''}"
        t = f"{self.ffmpeg_threads} ffmpeg thread{'s' if self.ffmpeg_threads != 1 else ''}"
        why = {"cores": "one per core", "variants": "one per variant",
               "memory": "as many as memory holds", "asked": "as asked"}[self.limited_by]
        return (f"LocalCluster of {w} × {self.threads_per_worker} thread, {t} each "
                f"({why}; {self.cores} core{'s' if self.cores != 1 else ''} found)")


def worker_plan(variants: int, workers: int | None = None, *, cores: int | None = None,
                memory_bytes: int | None = None) -> WorkerPlan:
    """The LocalCluster for `variants` variants: one worker per core (or `workers`), fewer
    when there are fewer variants or too little memory; the cores shared out between them."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise InvalidInput(f"workers must be a whole number of worker processes, 1 or more; "
                           f"got {workers!r}")
    cores = cores if cores is not None else available_cores()
    memory = memory_bytes if memory_bytes is not None else psutil.virtual_memory().available
    fits = max(1, memory // WORKER_MEMORY_BYTES)
    choices: list[tuple[int, Literal["cores", "variants", "memory", "asked"]]] = [
        (workers, "asked") if workers is not None else (cores, "cores"),
        (max(1, variants), "variants"), (fits, "memory")]
    n, why = min(choices, key=lambda c: c[0])  # the first of equals: cores, then variants
    share = max(1, cores // n)
    return WorkerPlan(cores=cores, workers=n, ffmpeg_threads=share, renders=share,
                      limited_by=why)
