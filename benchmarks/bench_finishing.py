"""Finishing benchmark on the 30 s offline demo: what a deliverable costs over a plain render.

Three figures, all from one run on one machine (ratios, never thresholds in tests):
- full / plain: a full-featured export (espeak-ng voice-over and captions, the music bed ducked
  under the voice, the brand's logo and end card) to 3 presets in one call, against a plain
  export of the same timeline to the same 3 presets (no finishing);
- one call / separate: the same full export as 3 calls of one preset each.
Every full run starts cold (no voice lines, soundtracks or end cards on disk), as a first
export does. The presets are TikTok, YouTube Shorts and the web MP4 at the demo's 720p
(TikTok and Shorts differ in audio bitrate, so they share one voice+music mix).

Run: `.venv/bin/python benchmarks/bench_finishing.py` (the demo's clips are cached in
benchmarks/.work/finishing/).
"""

from __future__ import annotations

import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import nbvideo as nv
from nbvideo.cli import DEMO_BRIEF
from nbvideo.model.presets import Preset, get_preset
from nbvideo.providers.local.voice import find_espeak

WORK = Path(__file__).resolve().parent / ".work" / "finishing"
CACHES = ("assets/voice", "assets/soundtracks", "assets/endcards", "assets/music")


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished children (ffmpeg runs)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), _cpu()
    fn()
    return time.perf_counter() - wall, _cpu() - cpu


def presets() -> list[Preset]:
    """TikTok and Shorts re-targeted to the demo's 720p, and the web MP4 (720p already)."""
    out = [get_preset(n).model_copy(update={"resolution": "720p"})
           for n in ("tiktok", "shorts")]
    return [*out, get_preset("web")]


def demo_project() -> nv.Project:
    """The `nbvideo demo` project up to its clips, made once and reused."""
    p = nv.Project.open(WORK / "trail-shoe", brief=DEMO_BRIEF, aspect="16:9", duration_s=30,
                        resolution="720p")
    if not p.scenes or any(s.clip is None for s in p.scenes):
        qs = p.ask()
        p.answer(**{**{q.id: q.default for q in qs if q.default},
                    **{k: v for k, v in {"audience": "weekend hikers", "tone": "gritty"}.items()
                       if k in qs.ids}})
        p.storyboard()
        p.generate_clips().wait()
        p.set_transitions("crossfade", 0.5)
    return p


def cold(p: nv.Project) -> None:
    for rel in CACHES:
        shutil.rmtree(p.path / rel, ignore_errors=True)


def main() -> dict[str, float]:
    voice = "narrator-f" if find_espeak() else None
    p = demo_project()
    ps = presets()
    names = ", ".join(x.name for x in ps)

    def plain() -> None:
        p.finish(brand=None, voice=None, music="none", captions=False)
        silent = [x.model_copy(update={"audio": "optional"}) for x in ps]  # a plain render
        p.export("plain", preset=silent, accept=True)

    def full_setup() -> None:
        cold(p)
        p.finish(brand="trailhead", voice=voice, music="bed", captions=True)

    def one_call() -> None:
        p.export("full", preset=ps)

    def separate() -> None:
        for x in ps:
            p.export("sep", preset=x)

    plain_w, plain_c = timed(plain)
    full_setup()
    one_w, one_c = timed(one_call)
    full_setup()
    sep_w, sep_c = timed(separate)
    p.close()
    print(f"30 s offline demo, presets {names}; voice: {voice or 'none (no espeak-ng)'}")
    print(f"  plain export, 3 presets, one call   wall {plain_w:6.1f} s  cpu {plain_c:6.1f} s")
    print(f"  full export, 3 presets, one call    wall {one_w:6.1f} s  cpu {one_c:6.1f} s")
    print(f"  full export, 3 separate calls       wall {sep_w:6.1f} s  cpu {sep_c:6.1f} s")
    print(f"  full / plain         {one_c / plain_c:5.2f}x cpu  ({one_w / plain_w:.2f}x wall)")
    print(f"  one call / separate  {one_c / sep_c:5.2f}x cpu  ({one_w / sep_w:.2f}x wall)")
    return {"finish_plain_cpu_s": plain_c, "finish_full_cpu_s": one_c,
            "finish_separate_cpu_s": sep_c, "finish_full_over_plain": one_c / plain_c,
            "finish_one_call_over_separate": one_c / sep_c}


if __name__ == "__main__":
    main()
