"""Formats per platform: the optimised encode of each preset against one fixed CRF.

The 1080p master is a real nbvideo render of the demo's ad (local providers: storyboard
frames, animatics, the trailhead kit's logo and captions, crossfades), 15 s, 16:9. For each
platform preset the master is brought to the preset's frame by the export engine (crop,
scale, fps) three times with the same pixels going in:

- the reference: lossless (x264 CRF 0), what the quality is measured against;
- (a) optimised: the preset's `EncodingPlan` (High profile at its level, CRF 20 under the
  platform's ceiling, its keyframe interval), as `p.export(preset=...)` encodes;
- (b) naive: one fixed CRF 23 for every platform, no ceiling, 2 s keyframes.

Both at x264 `veryfast` (the export's speed). Printed per platform: size, video bitrate,
quality against the master (VMAF when this ffmpeg has libvmaf, else SSIM; PSNR beside it),
and the ratios (a)/(b). Video only: the soundtrack is the same AAC in both.
Also prints the ceilings the size limits give for long ads (the arithmetic, no encode).

Run: `.venv/bin/python benchmarks/bench_formats.py` (the master is cached in
benchmarks/.work/formats/).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nbvideo.media.ffmpeg import ffmpeg_exe, probe, stream_format
from nbvideo.model.presets import PRESETS
from nbvideo.render.engine import RenderClip, RenderSpec, export_timeline

WORK = Path(__file__).resolve().parent / ".work" / "formats"
DURATION_S = 15.0
NAIVE_CRF = 23
VMAF_SUBSAMPLE = 2  # every 2nd frame scored: half the time, the same mean within ~0.1


def master() -> Path:
    """The demo's ad rendered at 1080p 16:9 with local providers (cached)."""
    out = WORK / "master-1080p.mp4"
    if out.is_file():
        return out
    from nbvideo.cli import DEMO_BRIEF
    from nbvideo.project import Project
    from nbvideo.providers.local.voice import find_espeak

    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        p = Project.open(Path(d) / "ad", brief=DEMO_BRIEF, aspect="16:9",
                         duration_s=DURATION_S, resolution="1080p")
        qs = p.ask()
        p.answer(**{q.id: q.default for q in qs if q.default})
        p.finish(brand="trailhead", voice="narrator-f" if find_espeak() else None, music="bed")
        p.set_look(product="grey trail shoe with orange laces")
        p.storyboard()
        p.generate_clips().wait()
        p.set_transitions("crossfade", 0.5)
        rec = p.export("master", formats=["16:9"], resolution="1080p")[0]
        (p.path / rec.path).replace(out)
        p.close()
    return out


def has_vmaf() -> bool:
    filters = subprocess.run([ffmpeg_exe(), "-hide_banner", "-filters"], capture_output=True,
                             text=True, check=True).stdout
    return re.search(r"\blibvmaf\b", filters) is not None


def quality(dist: Path, ref: Path, vmaf: bool) -> dict[str, float]:
    """VMAF (or SSIM) and PSNR-Y of `dist` against `ref`, same size and frame count."""
    if vmaf:
        with tempfile.TemporaryDirectory() as d:
            log = Path(d) / "vmaf.json"
            subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(dist),
                            "-i", str(ref), "-lavfi",
                            f"[0:v][1:v]libvmaf=log_fmt=json:log_path={log}:n_threads=2:"
                            f"n_subsample={VMAF_SUBSAMPLE}:feature=name=psnr",
                            "-f", "null", "-"], check=True)
            pooled = json.loads(log.read_text())["pooled_metrics"]
        return {"vmaf": pooled["vmaf"]["mean"], "psnr": pooled["psnr_y"]["mean"]}
    run = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(dist), "-i", str(ref),
                          "-lavfi", "[0:v]split[a][b];[1:v]split[c][d];[a][c]ssim;[b][d]psnr",
                          "-f", "null", "-"], capture_output=True, text=True, check=True)
    ssim = float(re.findall(r"SSIM .*All:([0-9.]+)", run.stderr)[-1])
    psnr = float(re.findall(r"PSNR y:([0-9.inf]+)", run.stderr)[-1])
    return {"ssim": ssim, "psnr": psnr}


def encode(src: Path, name: str, preset: str, *, crf: int, args: list[str], gop_s: float,
           x264: str = "veryfast") -> tuple[Path, float]:
    p = PRESETS[preset]
    spec = RenderSpec(aspect=p.aspect, resolution=p.resolution, fps=p.fps, fit="crop",
                      out=WORK / f"{preset}-{name}.mp4", crf=crf, preset=x264,  # type: ignore[arg-type]
                      allow_copy=False, video_args=args, gop_s=gop_s)
    started = time.perf_counter()
    info = probe(src, count_frames=False)
    result = export_timeline([RenderClip(path=src, duration_s=info.duration_s)], spec)
    return result.path, time.perf_counter() - started


def main() -> dict[str, float]:
    src = master()
    info = probe(src, count_frames=False)
    vmaf = has_vmaf()
    metric = "vmaf" if vmaf else "ssim"
    print(f"1080p master: nbvideo render of the demo ad, {info.width}x{info.height}, "
          f"{info.duration_s:.1f} s, {info.size_bytes / 1e6:.1f} MB")
    print(f"quality metric: {'VMAF (libvmaf, v0.6.1 model)' if vmaf else 'SSIM'} and PSNR-Y "
          f"against the master brought losslessly to each platform's frame")
    print(f"(a) optimised per platform vs (b) fixed CRF {NAIVE_CRF}, x264 veryfast both\n")
    head = (f"{'preset':15s} {'level':>5s} {'ceiling':>8s} | {'(a) MB':>7s} {'kbps':>6s} "
            f"{metric:>6s} {'psnr':>5s} | {'(b) MB':>7s} {'kbps':>6s} {metric:>6s} {'psnr':>5s}"
            f" | {'size a/b':>8s} {'d' + metric:>7s} {'time a/b':>8s}")
    print(head)
    print("-" * len(head))
    figures: dict[str, float] = {}
    t_a = t_b = 0.0
    for name, preset in PRESETS.items():
        plan = preset.encoding(info.duration_s)
        ref, _ = encode(src, "ref", name, crf=0, args=[], gop_s=2.0, x264="ultrafast")
        a, ta = encode(src, "opt", name, crf=plan.crf, args=plan.video_args(),
                       gop_s=plan.keyint_s)
        b, tb = encode(src, "crf", name, crf=NAIVE_CRF, args=[], gop_s=2.0)
        t_a, t_b = t_a + ta, t_b + tb
        fa, fb = stream_format(a), stream_format(b)
        qa, qb = quality(a, ref, vmaf), quality(b, ref, vmaf)
        sa, sb = a.stat().st_size, b.stat().st_size
        assert fa.level == plan.level and fa.profile == "High"
        assert sa <= preset.max_upload_bytes
        print(f"{name:15s} {plan.level:>5s} {plan.maxrate_kbps:>8d} | {sa / 1e6:7.2f} "
              f"{fa.video_kbps:6.0f} {qa[metric]:6.3f} {qa['psnr']:5.1f} | {sb / 1e6:7.2f} "
              f"{fb.video_kbps:6.0f} {qb[metric]:6.3f} {qb['psnr']:5.1f} | {sa / sb:7.2f}x "
              f"{qa[metric] - qb[metric]:+7.3f} {ta / tb:7.2f}x")
        figures |= {f"formats_{name}_size_ratio": sa / sb,
                    f"formats_{name}_{metric}_opt": qa[metric],
                    f"formats_{name}_{metric}_crf{NAIVE_CRF}": qb[metric]}
        for f in (ref,):
            f.unlink(missing_ok=True)
    print(f"\nencode time, all six: (a) {t_a:.1f} s, (b) {t_b:.1f} s ({t_a / t_b:.2f}x)")
    figures["formats_time_ratio"] = t_a / t_b
    print("\nceilings the size limits give (kbit/s; the recommendation caps short ads):")
    print(f"{'preset':15s} {'limit':>9s} " + " ".join(f"{d:>7d}s" for d in (15, 90, 900, 3600)))
    for name, preset in PRESETS.items():
        cells = []
        for d in (15, 90, 900, 3600):
            try:
                cells.append(f"{preset.encoding(d).maxrate_kbps:>8d}")
            except ValueError:
                cells.append(f"{'refused':>8s}")
        print(f"{name:15s} {preset.max_upload_bytes / 1024**2:>7,.0f}MB " + " ".join(cells))
    return figures


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
