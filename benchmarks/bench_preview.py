"""Live preview benchmark: time to the first preview frame after one edit, against a naive
full re-render.

Timeline: the 30 s offline demo's scenes (V1, crossfades), a logo image on V2 for 3 s and
the music bed (3 tracks), 16:9. The preview is warmed once (every piece rendered, as after
the first play); then, for each edit:

- one trim (scene 3's out point 0.4 s earlier), previewing from just before the crossfade
  it moved (a piece the trim changed);
- one logo move (V2 item from 6 s to 18 s), previewing from its new place;

the wall time from after the edit call to the first piece of the range on disk (plan,
finishing without the mix, that piece's encode) against the naive path measured in the same
run: the whole film re-rendered at 360p from the same clips with the same overlay, one
filter graph (what a player without pieces waits for). Each figure is the best of a few
rounds, the edit undone between rounds and the touched pieces deleted so they render again.
Also printed: how many of the range's pieces each edit re-rendered.

Run: `.venv/bin/python benchmarks/bench_preview.py` (the project is kept in
benchmarks/.work/preview/).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from PIL import Image

import nbvideo as nv
from nbvideo.cli import DEMO_BRIEF
from nbvideo.media.ffmpeg import run_ffmpeg
from nbvideo.render import engine
from nbvideo.render import live_preview as lp

WORK = Path(__file__).resolve().parent / ".work" / "preview"
ROUNDS = 3


def project() -> tuple[nv.Project, str]:
    """The demo project up to its clips, a logo on V2 and the music bed (made once)."""
    p = nv.Project.open(WORK / "trail-shoe", brief=DEMO_BRIEF, aspect="16:9", duration_s=30,
                        resolution="720p")
    if not p.scenes or any(s.clip is None for s in p.scenes):
        qs = p.ask()
        p.answer(**{q.id: q.default for q in qs if q.default})
        p.storyboard()
        p.generate_clips().wait()
        p.set_transitions("crossfade", 0.5)
    if p.state.finishing.music != "bed":
        p.finish(music="bed")
    items = p.timeline.items
    if not len(items[items["track"] == "V2"]):
        (p.path / "assets").mkdir(exist_ok=True)
        Image.new("RGBA", (96, 48), (230, 40, 40, 255)).save(p.path / "assets" / "logo.png")
        p.timeline.add_image("assets/logo.png", 6.0, 3.0, x=0.95, y=0.05, anchor="top-right",
                             width=0.15)
    items = p.timeline.items
    return p, str(items[items["track"] == "V2"].iloc[0]["id"])


def naive(p: nv.Project) -> float:
    """The whole film at 360p, one filter graph, from the proxies/clips (what the preview
    reads) with the preview's overlay: seconds until the file is written."""
    started = time.perf_counter()
    pp = lp.plan(p.runtime)
    clips = pp.prepared.clips
    segs = engine._plan(clips, pp.fps)
    infos = [engine._inspect(c.path) for c in clips]
    spec = engine.RenderSpec.model_construct(fps=pp.fps, fit="crop", overlay=pp.prepared.overlay)
    graph = engine._filter_graph(infos, segs, spec, pp.size)
    out = WORK / "naive.mp4"
    args = [a for c in clips for a in ("-i", str(c.path))]
    run_ffmpeg([*args, "-filter_complex", graph, "-map", "[vout]", "-an",
                *pp.params.x264_args(), "-frames:v", str(pp.total), "-f", "mp4", "-y", str(out)],
               total_s=None)
    return time.perf_counter() - started


def first_frame(p: nv.Project, start_s: float) -> tuple[float, int, int]:
    """(seconds to the first piece of [start_s, end) on disk, pieces re-rendered, pieces in
    the range), counted from now; the rest of the range is rendered too."""
    started = time.perf_counter()
    pp = lp.plan(p.runtime, start_s)
    first = None
    for piece in lp.render_pieces(pp):
        if first is None:
            first = time.perf_counter() - started
            assert piece.rendered, "the range should start on a piece the edit changed"
    return first or 0.0, pp.rendered, len(pp.pieces)


def edited(p: nv.Project, edit, start_of) -> tuple[float, int, int]:  # type: ignore[no-untyped-def]
    """Best of ROUNDS: apply the edit, time the first frame, undo it, delete the pieces it
    made (so the next round renders them again)."""
    best = (float("inf"), 0, 0)
    for _ in range(ROUNDS):
        before = set((p.path / lp.PREVIEW_DIR / "pieces").glob("*.mp4"))
        edit()
        got = first_frame(p, start_of())
        best = min(best, got)
        p.undo()
        for f in set((p.path / lp.PREVIEW_DIR / "pieces").glob("*.mp4")) - before:
            os.unlink(f)
    return best


def main() -> dict[str, float]:
    p, logo = project()
    for _ in lp.render_pieces(lp.plan(p.runtime)):  # warm: the film played once
        pass
    table = p.timeline.to_pandas()
    row = table.iloc[2]
    new_out = float(row["out_s"]) - 0.4
    t_naive = min(naive(p) for _ in range(ROUNDS))
    trim = edited(p, lambda: p.trim(3, out_s=new_out),
                  lambda: float(p.timeline.to_pandas().iloc[2]["end_s"]) - 0.6)
    move = edited(p, lambda: p.timeline.move(logo, start_s=18.0), lambda: 18.0)
    p.close()
    print(f"30 s, 3-track timeline (V1 scenes, V2 logo, music bed), preview at 360p on "
          f"{os.cpu_count()} cores; naive: full 360p re-render {t_naive:.2f} s")
    print(f"{'edit':12s} {'first frame s':>14s} {'vs naive':>9s} {'re-rendered':>12s}")
    for name, (t, n, of) in (("trim", trim), ("logo move", move)):
        print(f"{name:12s} {t:14.2f} {t / t_naive:8.2f}x {n:>5d} of {of:<4d}")
    return {"preview_naive_s": round(t_naive, 3),
            "preview_trim_first_s": round(trim[0], 3),
            "preview_trim_ratio": round(trim[0] / t_naive, 3),
            "preview_trim_pieces": trim[1],
            "preview_logo_first_s": round(move[0], 3),
            "preview_logo_ratio": round(move[0] / t_naive, 3),
            "preview_logo_pieces": move[1]}


if __name__ == "__main__":
    main()
