"""Storyboard widget with 30 scenes: bytes sent at first display (goal <= 2 MB) and after one
regenerate (goal: that card's bytes only), counted on a recording comm as the kernel would send.

Run alone with `python benchmarks/bench_widgets.py`; main() returns the figures for run.py.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import comm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nbvideo as nv
from tests.wire import Wire


def main() -> dict[str, float]:
    wire = Wire()
    create_comm, comm.create_comm = comm.create_comm, wire.create_comm
    try:
        return _measure(wire)
    finally:
        comm.create_comm = create_comm  # later benches in the same run get real comms back


def _measure(wire: Wire) -> dict[str, float]:
    from nbvideo.widgets import StoryboardBoard

    with tempfile.TemporaryDirectory() as tmp:
        p = nv.Project.open(Path(tmp) / "bench", brief="30 scene ad for a waterproof trail shoe",
                            duration_s=90, fps=12)
        p.storyboard()
        while len(p.scenes) < 30:
            n = len(p.scenes) + 1
            p.add_scene(description=f"Scene {n}: a hiker on wet rock",
                        visual_prompt=f"hiker on wet rock, rain, angle {n * 7} degrees")
        p.storyboard()
        mark = wire.mark()
        board = StoryboardBoard(p)
        first = wire.bytes_since(mark)
        thumbs = sum(len(c.thumb) for c in board.cards)
        card = board.cards[17]
        mark = wire.mark()
        board._handle_custom_msg({"kind": "regenerate", "id": 1, "scene": card.key}, [])
        board.settle()
        after = wire.since(mark)
        regen = sum(m.size for m in after)
        others = {m.comm_id for m in after} - {card.comm.comm_id, board.comm.comm_id}
        p.close()
    print(f"first display: {first / 1e6:.3f} MB (goal <= 2 MB; thumbnails {thumbs / 1e6:.3f} MB)")
    print(f"after one regenerate: {regen} bytes, new thumbnail {len(card.thumb)} bytes, "
          f"other cards touched: {len(others)}")
    return {"board30_first_MB": first / 1e6, "board30_regen_bytes": float(regen),
            "board30_other_cards": float(len(others))}


if __name__ == "__main__":
    main()
