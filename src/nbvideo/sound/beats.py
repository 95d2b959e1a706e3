"""Where the music's beats fall: the generated bed's exactly, a music file's by detection.

Detection, in numpy (librosa would do it too, but pulls numba, scipy and soundfile into a
notebook install for one function):

1. an onset envelope: the spectral flux of the mono sound (log-compressed magnitudes of a
   short-time Fourier transform, 10 ms hop; the sum of each bin's rise), so drums, plucks
   and chord changes stand out whatever their pitch;
2. the tempo: the envelope's autocorrelation over the lags of 60-200 BPM, weighted by a
   broad prior around 120 BPM (a listener taps that octave of a groove: without the prior a
   beat at half or double speed scores as well);
3. the grid: the period refined to a fraction of a hop and the phase chosen together, as the
   comb of beats that collects the most onset strength over the whole piece. One grid for
   the piece: ads' music keeps its tempo, and a fixed grid never wanders off the beat.

`Beats.confidence` is how much more onset strength sits on the beats than between them
(0: none; music with no pulse gets no beats at all below MIN_CONFIDENCE).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from nbvideo.errors import InvalidInput
from nbvideo.media.audio_io import SAMPLE_RATE
from nbvideo.sound.music_bed import Mood, bed_beats, bed_tempo

__all__ = ["HOP_S", "MAX_BPM", "MIN_BPM", "MIN_CONFIDENCE", "Beats", "bed_grid",
           "detect_beats", "onset_envelope", "tempo_of"]

HOP_S = 0.01
MIN_BPM, MAX_BPM = 60.0, 200.0
PRIOR_BPM = 120.0
MIN_CONFIDENCE = 0.15
"""Below this a piece has no pulse worth snapping to: `detect_beats` returns no beats."""
_WIN = 2048
_BASS_HZ = 160.0
_BASS_PULSE = 2.0
"""The bass has a pulse on a grid when its beats carry this many times its mean onset."""
_LEAD_S = 0.01
"""How far the envelope's peak comes before a hit (a window centred just before the hit
already holds its rise); measured on click trains, checked in tests/test_beats.py."""


@dataclass(frozen=True)
class Beats:
    """Beat times (seconds from the music's start), its tempo, and where they came from."""

    times: np.ndarray
    tempo_bpm: float | None
    source: Literal["bed", "detected", "none"]
    confidence: float = 1.0

    @property
    def period_s(self) -> float | None:
        return 60.0 / self.tempo_bpm if self.tempo_bpm else None


def _mono(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float32)
    return x.mean(axis=1) if x.ndim == 2 else x


def onset_envelope(samples: np.ndarray, rate: int = SAMPLE_RATE, *,
                   max_hz: float | None = None) -> np.ndarray:
    """Onset strength every HOP_S seconds (value i: a window centred on i * HOP_S): the
    summed rise of the log spectrum (up to `max_hz` when given), normalised to a peak of 1
    (all zeros for silence)."""
    x = np.concatenate([np.zeros(_WIN // 2, dtype=np.float32), _mono(samples)])
    hop = round(HOP_S * rate)
    bins = None if max_hz is None else max(2, int(max_hz * _WIN / rate) + 1)
    if len(x) < _WIN:
        return np.zeros(max(1, len(x) // hop), dtype=np.float32)
    frames = 1 + (len(x) - _WIN) // hop
    idx = np.arange(_WIN)[None, :] + hop * np.arange(frames)[:, None]
    win = np.hanning(_WIN).astype(np.float32)
    out = np.empty(frames, dtype=np.float32)
    prev: np.ndarray | None = None
    for a in range(0, frames, 512):  # in blocks: a minute at once would be ~400 MB of FFT
        mag = np.abs(np.fft.rfft(x[idx[a:a + 512]] * win, axis=1))[:, :bins]
        logm = np.log1p(1000.0 * mag).astype(np.float32)
        step = np.diff(logm, axis=0, prepend=logm[:1] if prev is None else prev[None, :])
        out[a:a + len(logm)] = np.maximum(step, 0.0).sum(axis=1)
        prev = logm[-1]
    out[0] = 0.0
    top = float(out.max())
    return out / top if top > 0 else out


def tempo_of(env: np.ndarray) -> float | None:
    """The envelope's tempo in BPM from its autocorrelation (MIN_BPM-MAX_BPM, weighted
    toward PRIOR_BPM); None when there is no periodicity at all."""
    e = env.astype(np.float64) - float(env.mean())
    n = len(e)
    lo, hi = int(60 / MAX_BPM / HOP_S), int(np.ceil(60 / MIN_BPM / HOP_S))
    if n < 2 * hi or not np.any(e):
        return None
    f = np.fft.rfft(e, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[:n]
    ac /= ac[0]
    lags = np.arange(lo, hi + 1)
    bpm = 60.0 / (lags * HOP_S)
    prior = np.exp(-0.5 * (np.log2(bpm / PRIOR_BPM) / 0.7) ** 2)
    score = ac[lags] * prior
    best = int(np.argmax(score))
    if score[best] <= 0:
        return None
    # sub-lag peak by a parabola through the neighbours
    lag = float(lags[best])
    if 0 < best < len(lags) - 1:
        a, b, c = score[best - 1], score[best], score[best + 1]
        den = a - 2 * b + c
        if den < 0:
            lag += 0.5 * (a - c) / den
    return 60.0 / (lag * HOP_S)


def _comb(env: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """(phases, mean onset strength on the beats of each phase) for a period of `p` hops."""
    n = len(env)
    phases = np.arange(0.0, p, 0.25)
    at = phases[:, None] + p * np.arange(int(n / p) + 1)[None, :]
    ok = at <= n - 1
    vals = np.interp(np.where(ok, at, 0.0), np.arange(n, dtype=np.float64), env) * ok
    return phases, vals.sum(axis=1) / np.maximum(ok.sum(axis=1), 1)


def _grid(env: np.ndarray, bpm: float, low: np.ndarray) -> tuple[float, float, float]:
    """(period in hops, phase in hops, confidence): the comb of beats near `bpm` that
    collects the most onset strength. The phase is then the bass's when the bass has a
    pulse on that grid: a groove's offbeat hats are as regular as its kicks (and sharper),
    and the kick is the beat."""
    centre = 60.0 / bpm / HOP_S
    best = (centre, 0.0, -1.0)
    for p in centre * np.linspace(0.97, 1.03, 121):
        phases, sums = _comb(env, float(p))
        i = int(np.argmax(sums))
        if sums[i] > best[2]:
            best = (float(p), float(phases[i]), float(sums[i]))
    period, phase, strength = best
    phases, lows = _comb(low, period)
    if float(low.mean()) > 0 and float(lows.max()) > _BASS_PULSE * float(low.mean()):
        phase = float(phases[int(np.argmax(lows))])
    mean = float(env.mean()) or 1e-9
    return period, phase, max(0.0, strength / mean - 1.0) / 4.0


def detect_beats(samples: np.ndarray, rate: int = SAMPLE_RATE) -> Beats:
    """The beats of a piece of music (samples (frames,) or (frames, channels))."""
    if rate <= 0:
        raise InvalidInput(f"rate must be a positive sample rate, got {rate!r}")
    env = onset_envelope(samples, rate)
    bpm = tempo_of(env)
    if bpm is None:
        return Beats(np.zeros(0), None, "none", 0.0)
    period, phase, conf = _grid(env, bpm, onset_envelope(samples, rate, max_hz=_BASS_HZ))
    if conf < MIN_CONFIDENCE:
        return Beats(np.zeros(0), None, "none", round(conf, 3))
    duration = len(_mono(samples)) / rate
    times = (phase + period * np.arange(int((len(env) - phase) / period) + 2)) * HOP_S
    times = times + _LEAD_S
    times = times[(times >= 0) & (times <= duration + 1e-9)]
    return Beats(np.round(times, 4), round(60.0 / (period * HOP_S), 2), "detected",
                 round(min(conf, 1.0), 3))


def bed_grid(duration_s: float, *, seed: int = 0, mood: Mood = "upbeat",
             tempo_bpm: float | None = None) -> Beats:
    """The generated bed's beats: its tempo is known, so nothing is detected."""
    bpm = bed_tempo(seed=seed, mood=mood, tempo_bpm=tempo_bpm)
    return Beats(bed_beats(duration_s, seed=seed, mood=mood, tempo_bpm=tempo_bpm), bpm, "bed")
