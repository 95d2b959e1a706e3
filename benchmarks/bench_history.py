"""What history costs a save of a big project (100 scenes x 10 takes), and how long undo
and restore take there. Printed as ratios to the bare save measured in the same run.

Goal: recording a change adds little to a save (ratio near 1; the project's save goal is
< 0.1 s), because takes that are finished are not re-read and the diff skips them.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench_state import best, big_state

from nbvideo.edit import versions
from nbvideo.providers import provider_set
from nbvideo.runtime.context import Runtime
from nbvideo.store.folder import ProjectStore
from nbvideo.store.ledger import Ledger


def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        store = ProjectStore(Path(d))
        store.acquire()
        state = big_state()
        store.save(state)
        rt = Runtime(state=state, store=store, ledger=Ledger(store.ledger_path),
                     providers=provider_set("local"))
        bare_s = best(lambda: store.save(rt.state))
        counter = iter(range(10_000))

        def edit_and_save() -> None:
            rt.state.scenes[next(counter) % 100].title = f"title {next(counter)}"
            rt.save()

        recorded_s = best(edit_and_save)
        rt.history.mark("snapshot", summary="bench", snapshot="bench")  # type: ignore[union-attr]
        for _ in range(20):
            edit_and_save()
        undo_s = best(lambda: versions.undo(rt), repeat=5)
        t = time.perf_counter()
        versions.restore(rt, "bench")
        restore_s = time.perf_counter() - t
        events = len(versions.events(rt))
        store.release()
    print(f"history on a 100 scenes x 10 takes project ({events} events)")
    print(f"  save with history {recorded_s * 1000:7.1f} ms  bare save {bare_s * 1000:7.1f} ms  "
          f"ratio {recorded_s / bare_s:.2f}x (goal: save < 100 ms)")
    print(f"  undo {undo_s * 1000:7.1f} ms   restore across 25 events {restore_s * 1000:7.1f} ms")
    return {"history_save_s": recorded_s, "history_save_ratio": recorded_s / bare_s,
            "history_undo_s": undo_s, "history_restore_s": restore_s}


if __name__ == "__main__":
    main()
