"""Loudness with the bundled ffmpeg: measure (ebur128, loudnorm's statistics) and normalise.

Platforms normalise what they play (YouTube, TikTok, Instagram around -14 LUFS integrated;
Apple -16), so an ad mixed louder is turned down and one mixed quieter sounds weak next to
the rest. `measure_loudness` is the independent check (ebur128, with true peak), used by the
tests and the export checks; `loudnorm_stats` is loudnorm's first pass; `normalize` runs the
passes that land a file on a target under a true-peak ceiling. Measurements parse ffmpeg's
info-level log, the only place either filter reports.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import threading
from pathlib import Path
from typing import Any, Literal, NamedTuple

from nbvideo.media.audio_io import SAMPLE_RATE
from nbvideo.media.ffmpeg import FFmpegError, ffmpeg_exe, run_ffmpeg

__all__ = ["Loudness", "LoudnormStats", "Normalized", "loudnorm_stats", "measure_loudness",
           "normalize"]

LIMIT_MARGIN_DB = 0.5
"""A limited file is held this far under the ceiling: room for the final gain and for the
small overshoots of a lossy encode."""
_LIMIT_PASSES = 4
_ENCODE_PASSES = 3
_SILENCE_LUFS = -69.0
"""ebur128 reads digital silence as -70 LUFS."""


class Loudness(NamedTuple):
    """EBU R128 figures of a file. Silence measures -70 LUFS and a -inf peak."""

    integrated_lufs: float
    true_peak_dbtp: float
    lra: float


class LoudnormStats(NamedTuple):
    """A first-pass measurement, in the names loudnorm's second pass takes (measured_*)."""

    input_i: float
    input_tp: float  # true peak, dBTP (from ebur128; see loudnorm_stats)
    input_lra: float
    input_thresh: float
    target_offset: float


def _run(args: list[str], what: str) -> str:
    """Run ffmpeg to a null output and return its info-level log (where the figures are)."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", *args,
           "-f", "null", "-"]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    log = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise FFmpegError(proc.returncode, [f"{what} failed", *log.strip().splitlines()[-5:]],
                          cmd[1:])
    return log


_SUMMARY = re.compile(
    r"Integrated loudness:\s*I:\s*(?P<i>-?[\d.]+|-inf)\s*LUFS.*?"
    r"Loudness range:\s*LRA:\s*(?P<lra>-?[\d.]+)\s*LU"
    r"(?:.*?True peak:\s*Peak:\s*(?P<tp>-?[\d.]+|-inf)\s*dBFS)?", re.DOTALL)


def _summary(log: str, path: str | Path) -> Loudness:
    found = list(_SUMMARY.finditer(log))
    if not found:
        raise FFmpegError(0, [f"no EBU R128 summary for {path} (does it hold audio?)"], [])
    m = found[-1]
    return Loudness(float(m["i"]), float(m["tp"] or "nan"), float(m["lra"]))


def measure_loudness(path: str | Path, *, audio_filter: str | None = None,
                     true_peak: bool = True) -> Loudness:
    """(integrated LUFS, true peak dBTP, loudness range LU) of the first audio stream.

    Measured by ffmpeg's ebur128 filter; `true_peak` (4x oversampled) costs a little more,
    and without it the peak is nan. `audio_filter` is applied first, e.g. "atrim=2:4" to
    measure a stretch.

    >>> i, tp, lra = measure_loudness("ad.mp4")  # doctest: +SKIP
    """
    meter = f"ebur128=peak={'true' if true_peak else 'none'}:framelog=quiet"
    chain = ",".join(f for f in (audio_filter, meter) if f)
    log = _run(["-i", str(path), "-map", "0:a:0", "-filter:a", chain], f"measuring {path}")
    return _summary(log, path)


def _last_json(log: str) -> dict[str, Any]:
    start = log.rfind("{")
    end = log.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in ffmpeg's log")
    return dict(json.loads(log[start:end + 1]))


_PROBE = ":measured_I={i}:measured_TP=-60:measured_LRA=1:measured_thresh=-60:linear=true"
"""Placeholder figures that put loudnorm in its linear mode with no gain, for measuring."""


def loudnorm_stats(path: str | Path, *, target_lufs: float, true_peak_db: float,
                   lra: float) -> LoudnormStats:
    """loudnorm's measurement of `path` (print_format=json), for its linear second pass.

    One decode feeds ebur128 (true peak on) and then loudnorm. loudnorm runs in its linear
    mode with placeholder figures and no gain: it measures its input all the same (and its
    integrated reading then agrees with ebur128 to 0.05 LU, where the dynamic mode's read
    0.3 LU low on speech with pauses), ten times faster than the dynamic mode. But in the
    linear mode its input_tp is a sample peak, so the true peak is ebur128's (4x
    oversampled), which is what the linear-mode test in the second pass must see.
    """
    flt = (f"ebur128=peak=true:framelog=quiet,loudnorm=I={target_lufs:g}:TP={true_peak_db:g}"
           f":LRA={lra:g}{_PROBE.format(i=f'{target_lufs:g}')}:print_format=json")
    log = _run(["-i", str(path), "-map", "0:a:0", "-filter:a", flt], f"measuring {path}")
    reading = _summary(log, path)
    try:
        data = _last_json(log)
        i, lra_in, thresh, offset = (float(data[k]) for k in (
            "input_i", "input_lra", "input_thresh", "target_offset"))
    except (ValueError, KeyError) as exc:
        raise FFmpegError(0, [f"loudnorm gave no statistics for {path}: {exc}"], []) from None
    if not abs(i - reading.integrated_lufs) <= 0.1:  # ebur128 is the reference (0.1 LU steps)
        i = reading.integrated_lufs
    return LoudnormStats(i, reading.true_peak_dbtp, lra_in, thresh, offset)


def finite(x: float, floor: float = -99.0) -> float:
    """`x`, or `floor` for -inf/nan (loudnorm's options reject infinities)."""
    return x if math.isfinite(x) else floor


def _num(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


class Normalized(NamedTuple):
    loudness: Loudness  # ebur128 on the written file
    mode: Literal["linear", "dynamic", "none"]  # loudnorm's: one gain, compressed, or silence
    limited: bool  # whether the input needed true-peak limiting first


class _Staged(NamedTuple):
    path: Path
    lufs: float  # ebur128 integrated loudness of `path`
    true_peak: float  # its true peak, dBTP
    limited: bool


def _limit(src: Path, out: Path, gain_db: float, ceiling_db: float,
           cancel: threading.Event | None) -> None:
    """`src` raised by `gain_db`, then limited to `ceiling_db` true peak: alimiter runs at 4x
    the sample rate, so peaks between samples are caught too; latency=true keeps it in sync."""
    chain = (f"volume={_num(gain_db)}dB,aresample={4 * SAMPLE_RATE},"
             f"alimiter=limit={10 ** (ceiling_db / 20):.6f}:attack=2:release=60:level=false"
             f":latency=true,aresample={SAMPLE_RATE}")
    run_ffmpeg(["-i", str(src), "-filter:a", chain, "-c:a", "pcm_f32le", "-f", "wav", str(out)],
               total_s=None, cancel=cancel)


def _stage(src: Path, stats: LoudnormStats, target_lufs: float, ceiling_db: float,
           cancel: threading.Event | None) -> _Staged:
    """`src` as it is if its peaks stay under the ceiling at the target loudness; else raised
    to the target and limited. Limiting takes a little loudness away, so the gain is corrected
    from a fresh reading until the limited file is within 0.15 LU of the target; the final
    linear gain is then small and still clears loudnorm's test for its linear mode."""
    gain = target_lufs - stats.input_i
    if stats.input_i <= _SILENCE_LUFS or stats.input_tp + gain <= ceiling_db:
        return _Staged(src, stats.input_i, stats.input_tp, False)
    staged = src.with_name(src.stem + "-limited.wav")
    slope, last = 1.0, None  # loudness gained per dB of gain; limiting makes it less than 1
    for _ in range(_LIMIT_PASSES):
        _limit(src, staged, gain, ceiling_db, cancel)
        reading = measure_loudness(staged)
        short = target_lufs - reading.integrated_lufs
        if abs(short) <= 0.15:
            break
        if last is not None and gain != last[0]:  # secant step: converges in 2-3 passes
            slope = min(1.0, max(0.2, (reading.integrated_lufs - last[1]) / (gain - last[0])))
        last = (gain, reading.integrated_lufs)
        gain += short / slope
    return _Staged(staged, reading.integrated_lufs, reading.true_peak_dbtp, True)


def normalize(src: str | Path, out: str | Path, *, target_lufs: float, true_peak_db: float,
              encode: list[str], cancel: threading.Event | None = None) -> Normalized:
    """Write `src` to `out` (ffmpeg output args `encode`) at `target_lufs`, true peak under
    `true_peak_db`, and measure the result with ebur128. Scratch files go next to `src`.

    The all-ffmpeg path (loudnorm): `mix` now masters in numpy (`sound.master`) in far
    fewer ffmpeg runs; this stays as the reference `benchmarks/bench_mastering.py` measures
    that against, and for callers that only have files.

    Passes: loudnorm measures `src` (print_format=json, see `loudnorm_stats`); if its peaks
    would pass the ceiling at the target, it is raised there and true-peak limited (and
    measured again); loudnorm then applies the measured values with linear=true, i.e. one
    gain for the whole file, so it lands on the target and the dynamics are not pumped. A
    lossy encode can overshoot the ceiling on sharp transients (AAC: ~0.5 dB on clicks);
    then the limiter's margin grows by the overshoot and the passes after the measurement
    run again, at most twice.
    """
    src, out = Path(src), Path(out)
    stats = loudnorm_stats(src, target_lufs=target_lufs, true_peak_db=true_peak_db, lra=50)
    part = out.with_name(out.name + ".part")
    margin = LIMIT_MARGIN_DB
    try:
        for attempt in range(_ENCODE_PASSES):
            staged = _stage(src, stats, target_lufs, true_peak_db - margin, cancel)
            if staged.lufs <= _SILENCE_LUFS:
                mode: Literal["linear", "dynamic", "none"] = "none"  # nothing to scale
                chain = "anull"
            else:
                # loudnorm's own test for its linear mode (af_loudnorm.c; LRA=50 always passes)
                fits = staged.true_peak + target_lufs - staged.lufs <= true_peak_db
                mode = "linear" if fits else "dynamic"
                chain = (f"loudnorm=I={_num(target_lufs)}:TP={_num(true_peak_db)}:LRA=50"
                         f":measured_I={_num(staged.lufs)}"
                         f":measured_TP={_num(finite(staged.true_peak))}"
                         f":measured_LRA={_num(finite(stats.input_lra, 0.0))}"
                         f":measured_thresh={_num(finite(stats.input_thresh))}"
                         f":offset={_num(finite(stats.target_offset, 0.0))}:linear=true,"
                         f"aresample={SAMPLE_RATE}")
            run_ffmpeg(["-i", str(staged.path), "-filter:a", chain, "-ac", "2",
                        "-ar", str(SAMPLE_RATE), *encode, str(part)], total_s=None,
                       cancel=cancel)
            got = measure_loudness(part)
            over = got.true_peak_dbtp - true_peak_db
            if mode == "none" or not over > 0 or attempt == _ENCODE_PASSES - 1:
                break
            margin += over + 0.1
        part.replace(out)
    finally:
        part.unlink(missing_ok=True)
    return Normalized(got, mode, staged.limited)
