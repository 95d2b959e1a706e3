"""A kernel stand-in for process tests: open a project, start its clips, then either die
without cleanup once every prediction is submitted (`die`) or wait on the job until a
SIGINT arrives, as a Ctrl-C in a terminal or "interrupt kernel" would (`wait`)."""

from __future__ import annotations

import os
import sys
import threading
import time

import nbvideo as nv


def announce_when_submitted(p: nv.Project, then_die: bool) -> None:
    n = len(p.scenes)
    deadline = time.monotonic() + 60
    while (p.costs["status"] == "submitted").sum() < n and time.monotonic() < deadline:
        time.sleep(0.05)
    print("submitted", flush=True)
    if then_die:
        os._exit(1)  # no cleanup, no cancel: like a crashed kernel


def main(project: str, mode: str) -> None:
    p = nv.Project.open(project)
    job = p.generate_clips()
    # The main thread is already blocked in wait() when the test hears "submitted".
    threading.Thread(target=announce_when_submitted, args=(p, mode == "die"), daemon=True).start()
    job.wait()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
