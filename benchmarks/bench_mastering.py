"""Mastering benchmark: ffmpeg runs and wall time to master a 30 s soundtrack, before and after.

The soundtrack is the demo's kind: a 30 s music bed under a voice track (espeak-ng lines
when it is installed, else speech-like bursts with sharp onsets), to -14 LUFS and -1 dBTP,
as a WAV master and its 192 kb/s AAC encode (what `render.finishing` caches per export).

- before: the path mix() took until numpy mastering replaced it, rebuilt here from the
  library functions it used (each stem measured by ebur128, the premix, `loudness.normalize`
  with loudnorm's measurement, its limit-and-measure rounds and its linear pass, the
  measurement of the master; then the encode and its measurement). `loudness.normalize` is
  kept for this comparison.
- after: `mix()` (one premix run, numpy mastering, the master written and checked by
  ebur128) and the same encode.
ffmpeg runs are counted at the process level (every subprocess of the bundled ffmpeg).
Recorded before the change on the demo export (finishing on, cold): 12 runs in mastering.

Run: `.venv/bin/python benchmarks/bench_mastering.py`.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nbvideo.media.audio_io import SAMPLE_RATE, write_wav
from nbvideo.media.ffmpeg import ffmpeg_exe, run_ffmpeg
from nbvideo.sound.loudness import measure_loudness, normalize
from nbvideo.sound.mix import (
    VOICE_REF_LUFS,
    MixSettings,
    _encode_args,
    _fmt,
    encode_master,
    mix,
    music_bed,
    place_voice,
    premix_graph,
)

SECONDS = 30.0
LINES = ["Mud. Rain. Another weekend.", "Meet the Ridgeline.",
         "Waterproof from toe to collar.", "Grip that bites on wet rock.",
         "Built for the long way round.", "Ridgeline. Go further."]


class FFmpegCount:
    """Counts processes started from the bundled ffmpeg binary while it is active."""

    def __init__(self) -> None:
        self.runs = 0
        self._exe = ffmpeg_exe()
        self._orig = subprocess.Popen.__init__

    def __enter__(self) -> FFmpegCount:
        orig, me = self._orig, self

        def counting(popen: Any, args: Any, *a: Any, **k: Any) -> None:
            if isinstance(args, (list, tuple)) and args and str(args[0]) == me._exe:
                me.runs += 1
            orig(popen, args, *a, **k)

        subprocess.Popen.__init__ = counting  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.Popen.__init__ = self._orig  # type: ignore[method-assign]


def voice_track(work: Path) -> tuple[Path, str]:
    from nbvideo.providers.base import SpeechRequest
    from nbvideo.providers.local.voice import EspeakVoice, find_espeak

    lines: list[tuple[float, str | Path]] = []
    if find_espeak():
        for i, text in enumerate(LINES):
            got = asyncio.run(EspeakVoice().speak(SpeechRequest(text=text), work / f"l{i}.wav"))
            lines.append((0.5 + 4.8 * i, got.path))
        kind = "espeak-ng lines"
    else:
        rng = np.random.default_rng(3)
        t = np.arange(int(2.4 * SAMPLE_RATE)) / SAMPLE_RATE
        for i in range(len(LINES)):
            syllables = (np.sin(2 * np.pi * 4 * t) > 0) * np.exp(-(t % 0.25) / 0.08)
            burst = 0.3 * rng.standard_normal(len(t)) * syllables
            lines.append((0.5 + 4.8 * i, write_wav(work / f"l{i}.wav", burst)))
        kind = "speech-like bursts (no espeak-ng)"
    return place_voice(lines, SECONDS, work / "voice.wav"), kind


def before(voice: Path, music: Path, out: Path, aac: Path) -> None:
    """The pre-numpy path: stems measured by ebur128, premix, loudnorm's normalize, encode."""
    s = MixSettings()
    chain = f"aresample={SAMPLE_RATE},aformat=channel_layouts=stereo,atrim=0:{_fmt(SECONDS)}"
    gains = []
    for path, level in ((voice, VOICE_REF_LUFS), (music, VOICE_REF_LUFS + s.music_db)):
        lufs = measure_loudness(path, audio_filter=chain, true_peak=False).integrated_lufs
        gains.append(level - lufs)
    graph = premix_graph(SECONDS, voice="0:a:0", music="1:a:0", settings=s,
                         voice_gain_db=gains[0], music_gain_db=gains[1])
    premix = out.with_name("premix.wav")
    run_ffmpeg(["-i", str(voice), "-stream_loop", "-1", "-i", str(music), "-filter_complex",
                graph, "-map", "[premix]", "-t", _fmt(SECONDS), "-c:a", "pcm_f32le", "-f", "wav",
                str(premix)], total_s=None)
    normalize(premix, out, target_lufs=s.target_lufs, true_peak_db=s.true_peak_db,
              encode=_encode_args(out, s.audio_kbps))
    encode_master(out, aac, audio_kbps=192, true_peak_db=s.true_peak_db)


def after(voice: Path, music: Path, out: Path, aac: Path) -> None:
    mix(out, SECONDS, voice=voice, music=music)
    encode_master(out, aac, audio_kbps=192, true_peak_db=-1.0)


def measured(fn: Callable[..., None], *args: Path) -> tuple[int, float]:
    with FFmpegCount() as count:
        started = time.perf_counter()
        fn(*args)
        return count.runs, time.perf_counter() - started


def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-mastering-") as tmp:
        work = Path(tmp)
        voice, kind = voice_track(work)
        music = music_bed(work / "bed.wav", SECONDS, seed=7)
        results = {}
        for name, fn in (("before", before), ("after", after)):
            folder = work / name
            folder.mkdir()
            master, aac = folder / "master.wav", folder / "master.m4a"
            runs, wall = measured(fn, voice, music, master, aac)
            results[name] = (runs, wall, measure_loudness(aac))
    print(f"{SECONDS:g} s soundtrack: music bed under {kind}, to -14 LUFS / -1 dBTP, "
          "WAV master + 192 kb/s AAC")
    for name, (runs, wall, loud) in results.items():
        print(f"  {name:6s}  ffmpeg runs {runs:3d}  wall {wall:5.2f} s  "
              f"AAC {loud.integrated_lufs:.1f} LUFS, {loud.true_peak_dbtp:.1f} dBTP")
    (b_runs, b_wall, _), (a_runs, a_wall, _) = results["before"], results["after"]
    print(f"  after / before: {a_runs}/{b_runs} ffmpeg runs, {a_wall / b_wall:.2f}x wall")
    return {"master_ffmpeg_runs_before": float(b_runs), "master_ffmpeg_runs_after": float(a_runs),
            "master_wall_before_s": b_wall, "master_wall_after_s": a_wall,
            "master_after_over_before_wall": a_wall / b_wall}


if __name__ == "__main__":
    main()
