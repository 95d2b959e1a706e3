"""Effects benchmark: an export of scenes with several per-item effects through our engine,
against a hand-written single ffmpeg graph of the same effects (goal <= 1.2x).

Four 5 s 720p clips from bench_export, each trimmed 0.5 s at both ends, cut together:
1. speed 2x and a warm look;
2. a speed ramp 1x -> 0.4x -> 1x and a vignette;
3. reversed, mono, blurred;
4. a freeze of 0.5 s at 1 s and Ken Burns (zoom 1 -> 1.3).

The hand-written graph is what a person who knows ffmpeg would type for the same cut:
trim, setpts (the ramp as the same integral, the freeze as frames stamped later), fps, the same filters for
the looks, concat, one libx264 encode at the same settings. Both outputs are checked to have
the same frame count. Ratios are of wall times measured in this run (best of N, interleaved),
with CPU times beside them.

Run: `.venv/bin/python benchmarks/bench_effects.py` (inputs cached in benchmarks/.work/).
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

from bench_export import CLIP_S, ENCODE, FPS, QUIET, best_of, make_clips

from nbvideo.media.ffmpeg import ffmpeg_exe, probe
from nbvideo.model.effects import Effects
from nbvideo.render.engine import RenderClip, RenderSpec, export_timeline

WORK = Path(__file__).resolve().parent / ".work" / "effects"
GOAL = 1.2
TRIM = 0.5
KEPT = CLIP_S - 2 * TRIM

EFFECTS = [
    Effects(speed=2, look="warm"),
    Effects(ramp=[{"at": 0, "speed": 1}, {"at": 0.5, "speed": 0.4}, {"at": 1, "speed": 1}],
            vignette=0.5),
    Effects(reverse=True, look="mono", blur=6),
    Effects(freeze={"at_s": 1.0, "hold_s": 0.5},
            ken_burns={"start_zoom": 1.0, "end_zoom": 1.3}),
]


def ours(paths: list[Path], out: Path) -> int:
    clips = [RenderClip(path=p, duration_s=CLIP_S, trim_in_s=TRIM, trim_out_s=TRIM, effects=fx)
             for p, fx in zip(paths, EFFECTS)]
    spec = RenderSpec(aspect="16:9", resolution="720p", fps=FPS, out=out, preset="veryfast")
    return export_timeline(clips, spec).frames


def _ramp_expr() -> str:
    """Played time of source time T for 1 -> 0.4 -> 1 over KEPT seconds, by hand."""
    h = KEPT / 2
    k = (0.4 - 1) / h
    first = f"(1/{k})*log(1+{k}*T)"
    t_mid = math.log(0.4) / k
    second = f"({t_mid}+(1/{-k})*log(1+{-k / 0.4}*(T-{h})))"
    return f"if(lt(T,{h}),{first},{second})"


def hand(paths: list[Path], out: Path) -> None:
    """The same four effected scenes in one hand-written graph."""
    n = [EFFECTS[i].frames(KEPT, FPS) for i in range(4)]
    pre = f"trim=start={TRIM}:duration={KEPT},setpts=PTS-STARTPTS"
    ramp = _ramp_expr()
    held = round(1.0 * FPS)
    graph = [
        f"[0:v]{pre},setpts=PTS/2,fps={FPS},colorbalance=rs=0.08:gs=0.02:bs=-0.08:rm=0.06:"
        f"gm=0.01:bm=-0.06:rh=0.04:bh=-0.04,trim=end_frame={n[0]}[a]",
        f"[1:v]{pre},setpts='({ramp})/TB',fps={FPS},tpad=stop_mode=clone:stop=-1,"
        f"trim=end_frame={n[1]},vignette=angle={0.5 * math.pi / 2:.4f}[b]",
        f"[2:v]{pre},reverse,hue=s=0,gblur=sigma={6 * 720 / 1080:.3f}[c]",
        f"[3:v]{pre},settb=1/{FPS},setpts='if(gt(N,{held}),N+{round(0.5 * FPS)},N)',fps={FPS},"
        f"zoompan=z='1+0.3*on/{n[3] - 1}':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=1:"
        f"s=1280x720:fps={FPS}[d]",
        "[a][b][c][d]concat=n=4:v=1:a=0[v]",
    ]
    inputs = [a for p in paths for a in ("-i", str(p))]
    subprocess.run([ffmpeg_exe(), *QUIET, *inputs, "-filter_complex", ";".join(graph),
                    "-map", "[v]", *ENCODE, str(out)], check=True)


def main(repeats: int = 3) -> dict[str, object]:
    paths = make_clips()[:4]
    WORK.mkdir(parents=True, exist_ok=True)
    a, b = WORK / "ours.mp4", WORK / "hand.mp4"
    (t_ours, c_ours), (t_hand, c_hand) = best_of([lambda: ours(paths, a),
                                                  lambda: hand(paths, b)], repeats)
    fa, fb = probe(a).frames, probe(b).frames
    want = sum(fx.frames(KEPT, FPS) for fx in EFFECTS)
    ratio = t_ours / t_hand
    print(f"effects export: 4 x {KEPT:g} s kept of {CLIP_S:g} s 720p clips, 8 effects, "
          f"best of {repeats}")
    print(f"ours {t_ours:.3f} s (CPU {c_ours:.2f}), hand-written graph {t_hand:.3f} s "
          f"(CPU {c_hand:.2f}): ratio {ratio:.2f} (goal <= {GOAL}) "
          f"{'yes' if ratio <= GOAL else 'NO'}; CPU ratio {c_ours / c_hand:.2f}")
    print(f"frames: ours {fa}, hand {fb}, planned {want}")
    return {"effects_vs_hand": round(ratio, 3), "effects_frames_exact": fa == want}


if __name__ == "__main__":
    main()
