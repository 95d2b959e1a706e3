"""Audio marks benchmark: what the timeline pays to draw waveforms and find beats.

- waveform, cold against cached: a 60 s 48 kHz stereo WAV's envelope worked out (read,
  min/max per bucket) against the same envelope found in cache/waveforms by content hash
  (what every redraw after the first costs);
- peaks, numpy `reduceat` against a Python loop over the buckets (the naive path);
- beats of a 60 s music bed detected (`sound.beats.detect_beats`): seconds of music per
  second of work (what a music file costs once per file and film length).

Run: `.venv/bin/python benchmarks/bench_audio_marks.py`.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from nbvideo.media.audio_io import write_wav
from nbvideo.sound import waveform as wf
from nbvideo.sound.beats import detect_beats
from nbvideo.sound.music_bed import synth_bed

SECONDS = 60.0


def _best(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _naive_peaks(x: np.ndarray, buckets: int) -> np.ndarray:
    mono = x.mean(axis=1)
    edges = np.linspace(0, len(mono), buckets + 1).astype(int)
    return np.array([[mono[a:b].min(), mono[a:b].max()] for a, b in zip(edges[:-1], edges[1:])])


def main() -> dict[str, float]:
    bed = synth_bed(SECONDS, seed=3, mood="driving")
    with tempfile.TemporaryDirectory() as tmp:
        f = write_wav(Path(tmp) / "bed.wav", bed)
        cache = Path(tmp) / "cache"

        def cold() -> None:
            wf._HASHES.clear()
            for p in (cache / wf.WAVEFORM_DIR).glob("*.json"):
                p.unlink()
            wf.file_waveform(f, cache_dir=cache)

        cold_s = _best(cold)
        wf.file_waveform(f, cache_dir=cache)
        warm_s = _best(lambda: wf.file_waveform(f, cache_dir=cache), repeat=20)
    fast_s = _best(lambda: wf.peaks(bed, 256))
    naive_s = _best(lambda: _naive_peaks(bed.astype(np.float64), 256))
    t = time.perf_counter()
    got = detect_beats(bed)
    beats_s = time.perf_counter() - t
    print(f"waveform of {SECONDS:.0f} s: cold {cold_s * 1e3:.1f} ms, cached {warm_s * 1e3:.2f} ms "
          f"({cold_s / warm_s:.0f}x)")
    print(f"peaks: reduceat {fast_s * 1e3:.1f} ms, Python loop {naive_s * 1e3:.1f} ms "
          f"({naive_s / fast_s:.1f}x)")
    print(f"beats of {SECONDS:.0f} s of music: {beats_s:.2f} s ({SECONDS / beats_s:.0f}x real "
          f"time), {got.tempo_bpm} BPM, {len(got.times)} beats")
    return {"waveform_cache_speedup": cold_s / warm_s, "peaks_vs_loop": naive_s / fast_s,
            "beats_x_realtime": SECONDS / beats_s}


if __name__ == "__main__":
    main()
