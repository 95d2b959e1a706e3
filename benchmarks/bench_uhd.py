"""4K benchmark: a 60 s project of imported 3840x2160 clips exported at 2160p.

Six 10 s 4K test-pattern clips (testsrc2, ultrafast, each tinted differently) are imported
into a project with `p.import_clip`, one per scene, joined by 0.5 s crossfades, and exported
at 2160p the way a user does, both ways: `p.export(resolution="2160p", smart=False)` (the
full path: one filter graph, or consecutive chunks when one graph would exceed the memory
budget of render/chunks.py) and `p.export(resolution="2160p")` (smart export, mezzanines made
from the originals, from an empty cache). Figures, measured in this run:

- peak RSS of the whole process tree (this Python process and every ffmpeg child, summed,
  sampled every 50 ms) during each export; goal < 1.5 GB; and its ratio to the peak of
  plain ffmpeg doing the same film by hand (the six clips crossfaded with chained xfade and
  encoded with the same x264 settings, without bounds);
- each export's wall time over that plain ffmpeg command's;
- the time to make the 540p proxies of the six clips (in the background, after import).

Run: `.venv/bin/python benchmarks/bench_uhd.py` (sources cached in benchmarks/.work/uhd/).
`NBVIDEO_BENCH_UHD_S=3` makes the clips 3 s long for a quick look (the goal is for 10 s).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

import nbvideo as nv
from nbvideo.media import proxy
from nbvideo.media.ffmpeg import ffmpeg_exe, probe
from nbvideo.render.export import SMART_CACHE

WORK = Path(__file__).resolve().parent / ".work" / "uhd"
N_CLIPS = 6
CLIP_S = float(os.environ.get("NBVIDEO_BENCH_UHD_S", "10"))
FPS = 24
SIZE = (3840, 2160)
XFADE_S = 0.5
GOAL_PEAK_GB = 1.5
QUIET = ["-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
# What the export engine encodes with (RenderSpec defaults), for the hand-written command.
ENCODE = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
          "-r", str(FPS), "-g", str(2 * FPS)]


def make_sources() -> list[Path]:
    """The 4K clips, made once and cached."""
    WORK.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(N_CLIPS):
        p = WORK / f"uhd{i}-{CLIP_S:g}s.mp4"
        if not (p.is_file() and probe(p, count_frames=False).frames == round(CLIP_S * FPS)):
            src = (f"testsrc2=size={SIZE[0]}x{SIZE[1]}:rate={FPS}:duration={CLIP_S},"
                   f"hue=h={60 * i}")
            subprocess.run([ffmpeg_exe(), *QUIET, "-f", "lavfi", "-i", src, "-c:v", "libx264",
                            "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(p)], check=True)
        out.append(p)
    return out


def tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of `proc` and all its descendants now."""
    total = 0
    try:
        tree = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:  # it ended between two samples
        return 0
    for p in tree:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


class PeakRSS:
    """Samples a process tree's summed RSS in a thread while the block runs."""

    def __init__(self, pid: int | None = None, every_s: float = 0.05) -> None:
        self.proc = psutil.Process(pid)
        self.every_s = every_s
        self.peak = 0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.proc))
            self._stop.wait(self.every_s)

    def __enter__(self) -> PeakRSS:
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, tree_rss(self.proc))


def hand_xfade(paths: list[Path], out: Path) -> tuple[float, int]:
    """Plain ffmpeg: the clips crossfaded by chained xfade, same encoder. (wall s, peak RSS)."""
    inputs = [a for p in paths for a in ("-i", str(p))]
    parts, prev = [], "0:v"
    for j in range(1, len(paths)):
        offset = j * (CLIP_S - XFADE_S)
        parts.append(f"[{prev}][{j}:v]xfade=transition=fade:duration={XFADE_S}:"
                     f"offset={offset}[v{j}]")
        prev = f"v{j}"
    t0 = time.perf_counter()
    child = subprocess.Popen([ffmpeg_exe(), *QUIET, *inputs, "-filter_complex", ";".join(parts),
                              "-map", f"[{prev}]", *ENCODE, str(out)])
    with PeakRSS(child.pid) as peak:
        child.wait()
    if child.returncode:
        raise RuntimeError(f"hand xfade failed ({child.returncode})")
    return time.perf_counter() - t0, peak.peak


def build_project(root: Path, sources: list[Path]) -> nv.Project:
    """Six 10 s scenes, each with its imported 4K clip, 0.5 s crossfades between them."""
    shutil.rmtree(root, ignore_errors=True)
    p = nv.Project.open(root, brief=f"{N_CLIPS * CLIP_S:g}s ad for a waterproof trail shoe",
                        aspect="16:9", duration_s=max(5.0, N_CLIPS * CLIP_S),
                        resolution="1080p", fps=FPS)
    p.storyboard()
    while len(p.scenes) > N_CLIPS:
        p.delete_scene(len(p.scenes))
    while len(p.scenes) < N_CLIPS:
        p.add_scene()
    for i, src in enumerate(sources, 1):
        p.edit_scene(i, duration_s=CLIP_S)
        p.import_clip(i, src)
    p.set_transitions("crossfade", XFADE_S)
    return p


def _time(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    r = fn()
    return time.perf_counter() - t0, r


def main() -> dict[str, object]:
    sources = make_sources()
    p = build_project(WORK / "project", sources)
    try:
        t0 = time.perf_counter()
        for s in p.scenes:  # the background proxies started by the imports
            c = s.clip
            assert c is not None and c.checksum
            proxy.ensure(p.path, p.path / c.path, c.checksum, c.width, c.height)
        proxies_s = time.perf_counter() - t0
        base = tree_rss(psutil.Process())
        # The full path first (one filter graph, chunked above the memory budget), then the
        # smart path from fresh mezzanines, each with its own peak.
        with PeakRSS() as full_peak:
            full_s, full_recs = _time(lambda: p.export("uhd_full", resolution="2160p",
                                                       smart=False))
        shutil.rmtree(p.path / SMART_CACHE, ignore_errors=True)
        with PeakRSS() as smart_peak:
            smart_s, smart_recs = _time(lambda: p.export("uhd", resolution="2160p"))
        full, smart = full_recs[0], smart_recs[0]  # type: ignore[index]
        hand_s, hand_peak = hand_xfade(sources, WORK / "hand.mp4")
    finally:
        p.close()
    results: dict[str, object] = {"uhd_proxies_s": round(proxies_s, 3),
                                  "uhd_python_rss_before_gb": round(base / 1e9, 3),
                                  "uhd_hand_xfade_s": round(hand_s, 3),
                                  "uhd_hand_peak_rss_gb": round(hand_peak / 1e9, 3)}
    print(f"4K export: {N_CLIPS} x {CLIP_S:g} s {SIZE[0]}x{SIZE[1]} {FPS} fps imported clips, "
          f"{XFADE_S} s crossfades -> 2160p (Python alone before the exports "
          f"{base / 1e9:.2f} GB; plain ffmpeg xfade {hand_s:.1f} s, peak RSS "
          f"{hand_peak / 1e9:.2f} GB)")
    for name, rec, secs, peak in (("full", full, full_s, full_peak.peak),
                                  ("smart", smart, smart_s, smart_peak.peak)):
        results |= {f"uhd_{name}_export_s": round(secs, 3),
                    f"uhd_{name}_over_hand": round(secs / hand_s, 3),
                    f"uhd_{name}_peak_rss_gb": round(peak / 1e9, 3),
                    f"uhd_{name}_peak_over_hand": round(peak / hand_peak, 3)}
        mode = rec.render.mode if rec.render else "?"
        print(f"  {name:5} path ({mode}, {rec.width}x{rec.height} {rec.frames} frames "
              f"{rec.duration_s:.2f} s): peak RSS, Python + ffmpeg children "
              f"{peak / 1e9:5.2f} GB (goal < {GOAL_PEAK_GB}) = {peak / hand_peak:.2f}x plain "
              f"ffmpeg's; {secs:6.1f} s = {secs / hand_s:.2f}x plain ffmpeg's time")
    print(f"  six 540p proxies (background, after import)  {proxies_s:6.1f} s")
    return results


if __name__ == "__main__":
    main()
