"""Smart export benchmark: re-encode only what changed, against full re-encodes.

Timeline: 10 x 5 s 720p clips joined by 0.5 s crossfades (as bench_export). Cases, each a
ratio of wall times measured in this run (best of N, interleaved):

- smart export with the clips' mezzanines made (they are made once per clip and format) and
  no encoded piece cached, vs the hand-written ffmpeg xfade re-encode — goal <= 0.3x;
  the one-off normalizing of the ten clips is reported beside it;
- re-export after one scene of ten got a new take (its mezzanine, the two crossfades around
  it), vs a full export of the same timeline — goal <= 0.15x; also with the new take
  normalized beforehand (as when a clip is normalized on arrival);
- the same edit exported in three aspects, vs three full exports.

Run: `.venv/bin/python benchmarks/bench_smart_export.py` (inputs cached in benchmarks/.work/).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from bench_export import CLIP_S, ENCODE, FPS, QUIET, SIZE, XFADE_S, best_of, hand_xfade, make_clips

from nbvideo.media.ffmpeg import ffmpeg_exe, probe
from nbvideo.model.state import Transition, frame_size
from nbvideo.render.engine import RenderClip, RenderResult, RenderSpec, export_timeline
from nbvideo.render.mezzanine import normalize
from nbvideo.render.smart_render import encode_params, export_smart

WORK = Path(__file__).resolve().parent / ".work" / "smart"
GOAL_SMART, GOAL_EDIT = 0.3, 0.15
ASPECTS = ("16:9", "9:16", "1:1")
EDITED = 4  # the scene that gets a new take


def _take(k: int) -> Path:
    """A new take for the edited scene (round k gets its own, so nothing is cached)."""
    WORK.mkdir(parents=True, exist_ok=True)
    p = WORK / f"take{k:02d}.mp4"
    if not p.is_file():
        src = (f"testsrc2=size={SIZE[0]}x{SIZE[1]}:rate={FPS}:duration={CLIP_S},"
               f"hue=h={17 + 7 * k},vflip")
        subprocess.run([ffmpeg_exe(), *QUIET, "-f", "lavfi", "-i", src, *ENCODE, str(p)],
                       check=True)
    return p


def _spec(aspect: str, name: str) -> RenderSpec:
    return RenderSpec(aspect=aspect, resolution="720p", fit="crop", fps=FPS,  # type: ignore[arg-type]
                      out=WORK / f"{name}-{aspect.replace(':', 'x')}.mp4")


def main(repeats: int = 2) -> dict[str, object]:
    paths = make_clips()
    xf = Transition(kind="crossfade", duration_s=XFADE_S)
    clips = [RenderClip(path=p, duration_s=CLIP_S, transition=xf) for p in paths]
    cache = WORK / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    WORK.mkdir(parents=True, exist_ok=True)
    # One-off: the ten clips normalized for 16:9 (timed once; it is a cached step).
    first = export_smart(clips, _spec("16:9", "smart"), cache)
    mezz_s = first.elapsed_s

    cold: list[object] = []

    def smart_cold_segments() -> None:
        shutil.rmtree(cache / "segments", ignore_errors=True)
        cold.append(export_smart(clips, _spec("16:9", "smart"), cache))

    (t_smart, _), (t_hand, _) = best_of(
        [smart_cold_segments, lambda: hand_xfade(paths, WORK / "hand_fade.mp4")], repeats)
    check = cold[-1]
    assert isinstance(check, RenderResult)
    full_check = export_timeline(clips, _spec("16:9", "full"))
    assert check.frames == full_check.frames == probe(WORK / "hand_fade.mp4").frames

    for a in ASPECTS[1:]:  # warm the other formats: the unedited film was exported before
        export_smart(clips, _spec(a, "smart"), cache)
    rounds = iter(range(1000))
    last: dict[str, object] = {}

    def edited() -> list[RenderClip]:
        k = next(rounds)
        out = list(clips)
        out[EDITED] = out[EDITED].model_copy(update={"path": _take(k)})
        return out

    for k in range(4 * repeats + 2):
        _take(k)  # made up front, outside the timings

    def smart_edit(aspects: tuple[str, ...], normalized: bool = False) -> None:
        timeline = edited()
        if normalized:  # outside the timing: as if normalized when the take arrived
            nonlocal pre_s
            t0 = time.perf_counter()
            for a in aspects:
                params = encode_params(_spec(a, "edit"), frame_size(a, "720p"))  # type: ignore[arg-type]
                normalize(timeline[EDITED].path, round(CLIP_S * FPS), params,
                          cache / "mezzanine" / params.key())
            pre_s += time.perf_counter() - t0
        for a in aspects:
            r = export_smart(timeline, _spec(a, "edit"), cache)
            last[a] = r

    def full(aspects: tuple[str, ...]) -> None:
        for a in aspects:
            export_timeline(clips, _spec(a, "full"))

    pre_s = 0.0

    def timed_without_normalizing() -> None:
        nonlocal pre_s
        pre_s = 0.0
        t0 = time.perf_counter()
        smart_edit(("16:9",), normalized=True)
        excl.append(time.perf_counter() - t0 - pre_s)

    excl: list[float] = []
    (t_edit, _), (t_full, _), _ = best_of(
        [lambda: smart_edit(("16:9",)), lambda: full(("16:9",)), timed_without_normalizing],
        repeats)
    t_edit_pre = min(excl)
    one = last["16:9"]
    (t_edit3, _), (t_full3, _) = best_of(
        [lambda: smart_edit(ASPECTS), lambda: full(ASPECTS)], repeats)
    results: dict[str, object] = {
        "smart_s": round(t_smart, 3), "hand_xfade_s": round(t_hand, 3),
        "smart_over_hand_xfade": round(t_smart / t_hand, 3),
        "smart_over_full": round(t_smart / t_full, 3),
        "normalize_10_clips_s": round(mezz_s, 3),
        "normalize_over_hand_xfade": round(mezz_s / t_hand, 3),
        "edit_s": round(t_edit, 3), "full_s": round(t_full, 3),
        "edit_over_full": round(t_edit / t_full, 3),
        "edit_normalized_s": round(t_edit_pre, 3),
        "edit_normalized_over_full": round(t_edit_pre / t_full, 3),
        "edit3_s": round(t_edit3, 3), "full3_s": round(t_full3, 3),
        "edit3_over_full3": round(t_edit3 / t_full3, 3),
        "smart_copied": check.segments_copied, "smart_encoded_s": check.seconds_encoded,
        "edit_encoded": getattr(one, "segments_encoded", None),
        "edit_encoded_s": getattr(one, "seconds_encoded", None),
    }
    print(f"smart export: 10 x {CLIP_S} s {SIZE[0]}x{SIZE[1]} {FPS} fps, {XFADE_S} s crossfades, "
          f"best of {repeats}")
    print(f"  smart (mezzanines made)   {t_smart:7.2f} s vs hand xfade {t_hand:7.2f} s = "
          f"{t_smart / t_hand:.2f}x (goal <= {GOAL_SMART}); {check.segments_copied} copied, "
          f"{check.seconds_encoded:g} of {check.seconds_total:g} s encoded")
    print(f"  smart vs our full export  {t_smart / t_full:.2f}x")
    print(f"  one-off normalizing       {mezz_s:7.2f} s = {mezz_s / t_hand:.2f}x the hand xfade")
    print(f"  re-export, 1 scene edited {t_edit:7.2f} s vs full export {t_full:7.2f} s = "
          f"{t_edit / t_full:.2f}x (goal <= {GOAL_EDIT})")
    print(f"  same, take normalized on arrival {t_edit_pre:7.2f} s = {t_edit_pre / t_full:.2f}x")
    print(f"  3 aspects, 1 scene edited {t_edit3:7.2f} s vs 3 full exports {t_full3:7.2f} s = "
          f"{t_edit3 / t_full3:.2f}x")
    return results


if __name__ == "__main__":
    main()
