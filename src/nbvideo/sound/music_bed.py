"""An offline music bed: a soft chord pad over a simple beat, synthesized with numpy.

Why synthesize: the Binder demo has no keys and ships no music, yet an ad without sound feels
broken, and a bundled track would need a licence. A bed here is deterministic for a seed
(same seed, same bytes), so a re-run or a test sees the same file. The seed picks the key,
the chord progression and the tempo within the mood's range; the mood picks the groove.

Speed: a progression repeats every four bars, so each distinct chord and the one-bar drum
pattern are synthesized once and overlap-added into place; a 60 s bed takes well under a second.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import numpy as np

from nbvideo.errors import InvalidInput
from nbvideo.media.audio_io import SAMPLE_RATE, write_wav

Mood = Literal["calm", "upbeat", "driving"]

TEMPO_BPM: dict[str, tuple[int, int]] = {"calm": (70, 86), "upbeat": (96, 112),
                                         "driving": (116, 128)}
"""Tempo range per mood; the seed picks within it unless `tempo_bpm` is given."""

_PROGRESSIONS = (  # (semitones above the key, minor?) per bar
    ((0, False), (7, False), (9, True), (5, False)),   # I  V  vi IV
    ((9, True), (5, False), (0, False), (7, False)),   # vi IV I  V
    ((0, False), (9, True), (5, False), (7, False)),   # I  vi IV V
    ((5, False), (0, False), (7, False), (9, True)),   # IV I  V  vi
)
_KEYS = (48, 50, 51, 53, 55, 57)  # MIDI roots C3 D3 Eb3 F3 G3 A3
PEAK = 10 ** (-3 / 20)
"""The bed peaks at -3 dBFS; the mix sets its final level."""

__all__ = ["TEMPO_BPM", "Mood", "bed_beats", "bed_tempo", "music_bed", "synth_bed"]


def _hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _chord_notes(key: int, offset: int, minor: bool) -> list[int]:
    """Triad folded into one octave above the key (smooth voice leading), plus a bass root."""
    root = key + offset
    tones = [root, root + (3 if minor else 4), root + 7]
    pad = sorted(key + (t - key) % 12 for t in tones)
    return [root - 12 - (12 if offset >= 7 else 0), *pad]


def _pad_segment(notes: list[int], length: int, attack: int, rng: np.random.Generator,
                 bright: float) -> np.ndarray:
    """One chord, stereo: each note three soft harmonics, the channels detuned apart.

    The phase is kept in float64 (cycles, wrapped to [0, 1)) and only the sines run in
    float32, where numpy vectorizes them: four times faster, still -120 dB phase noise.
    """
    n = np.arange(length)
    out = np.zeros((length, 2), dtype=np.float32)
    for i, note in enumerate(notes):
        gain = 0.55 if i == 0 else 0.3  # the bass note carries the chord
        start = rng.uniform(0.0, 1.0, size=2)
        for ch, cents in enumerate((-6.0, 6.0)):
            f = _hz(note) * 2 ** (cents / 1200) / SAMPLE_RATE
            b = (2 * math.pi * np.mod(n * f + start[ch], 1.0)).astype(np.float32)
            s, c = np.sin(b), np.cos(b)
            h2 = 2 * s * c  # sin 2b and sin 3b from sin b and cos b: no more sines
            h3 = s * (3 - 4 * s * s)
            out[:, ch] += gain * (s + bright * (h2 / 2 ** 1.6 + h3 / 3 ** 1.6))
    env = np.ones(length, dtype=np.float32)
    env[:attack] = np.sin(np.linspace(0, math.pi / 2, attack)) ** 2
    env[-attack:] *= np.cos(np.linspace(0, math.pi / 2, attack)) ** 2
    return out * env[:, None]


def _drum_bar(bar: int, beat: int, mood: str, rng: np.random.Generator) -> np.ndarray:
    """One bar of drums, stereo: kick, offbeat hats, and a clap on 2 and 4 when driving."""
    out = np.zeros((bar, 2))

    def hit(at: int, sound: np.ndarray, pan: float) -> None:
        end = min(bar, at + len(sound))
        out[at:end, 0] += sound[: end - at] * (1 - pan)
        out[at:end, 1] += sound[: end - at] * (1 + pan)

    t = np.arange(int(0.35 * SAMPLE_RATE)) / SAMPLE_RATE
    sweep = 45 + 75 * np.exp(-t / 0.03)  # pitch falls from 120 Hz to 45 Hz
    kick = np.sin(2 * math.pi * np.cumsum(sweep) / SAMPLE_RATE) * np.exp(-t / 0.11)
    noise = rng.standard_normal(int(0.12 * SAMPLE_RATE))
    hat = np.diff(noise, prepend=0.0) * np.exp(-np.arange(len(noise)) / (0.025 * SAMPLE_RATE))
    clap = noise * np.exp(-np.arange(len(noise)) / (0.05 * SAMPLE_RATE))
    kicks = (0,) if mood == "calm" else (0, 2)
    for b in kicks:
        hit(b * beat, 0.9 * kick, 0.0)
    if mood != "calm":
        for b in range(4):
            hit(b * beat + beat // 2, 0.08 * hat, 0.25)
    if mood == "driving":
        for b in (1, 3):
            hit(b * beat, 0.12 * clap, -0.1)
            hit(b * beat + beat // 2 + beat // 4, 0.04 * hat, 0.3)
    return out


def bed_tempo(*, seed: int = 0, mood: Mood = "upbeat", tempo_bpm: float | None = None) -> float:
    """The tempo (beats per minute) `synth_bed` plays for these settings: known exactly, so
    the beats of the generated bed are never guessed (`sound.beats` detects a file's)."""
    if mood not in TEMPO_BPM:
        raise InvalidInput(f"mood {mood!r} is not known; moods: {', '.join(TEMPO_BPM)}")
    if tempo_bpm:
        bpm = float(tempo_bpm)
    else:  # the bed's first draw from its generator is its tempo
        lo, hi = TEMPO_BPM[mood]
        bpm = float(np.random.default_rng(seed).integers(lo, hi + 1))
    if not 40 <= bpm <= 200:
        raise InvalidInput(f"tempo_bpm must be within 40-200, got {bpm:g}")
    return bpm


def bed_beats(duration_s: float, *, seed: int = 0, mood: Mood = "upbeat",
              tempo_bpm: float | None = None) -> np.ndarray:
    """The bed's beat times in seconds, from 0 up to `duration_s`: where its drum pattern
    hits (each beat is a whole number of samples, as `synth_bed` places them)."""
    beat = round(SAMPLE_RATE * 60 / bed_tempo(seed=seed, mood=mood, tempo_bpm=tempo_bpm))
    total = round(duration_s * SAMPLE_RATE)
    return np.arange(0, total + 1, beat, dtype=np.int64) / SAMPLE_RATE


def synth_bed(duration_s: float, *, seed: int = 0, mood: Mood = "upbeat",
              tempo_bpm: float | None = None) -> np.ndarray:
    """The bed as float samples (frames, 2) at 48 kHz, peaking at -3 dBFS."""
    if not duration_s > 0:
        raise InvalidInput(f"duration_s must be > 0, got {duration_s}")
    if mood not in TEMPO_BPM:
        raise InvalidInput(f"mood {mood!r} is not known; moods: {', '.join(TEMPO_BPM)}")
    rng = np.random.default_rng(seed)
    lo, hi = TEMPO_BPM[mood]
    bpm = float(tempo_bpm) if tempo_bpm else float(rng.integers(lo, hi + 1))
    if not 40 <= bpm <= 200:
        raise InvalidInput(f"tempo_bpm must be within 40-200, got {bpm:g}")
    key = _KEYS[int(rng.integers(len(_KEYS)))]
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    bright = float(rng.uniform(0.5, 0.9))
    beat = round(SAMPLE_RATE * 60 / bpm)
    bars_per_chord = 2 if mood == "calm" else 1
    chord_len = 4 * beat * bars_per_chord
    overlap = int(0.25 * SAMPLE_RATE)
    total = round(duration_s * SAMPLE_RATE)
    out = np.zeros((total + chord_len + overlap, 2))
    segments = [_pad_segment(_chord_notes(key, off, minor), chord_len + overlap, overlap, rng,
                             bright) for off, minor in progression]
    drums = _drum_bar(4 * beat, beat, mood, rng)
    for i, start in enumerate(range(0, total, chord_len)):
        out[start:start + chord_len + overlap] += segments[i % len(segments)]
    for start in range(0, total, 4 * beat):
        out[start:start + 4 * beat] += drums
    out = out[:total]
    swell = 1.0 + 0.08 * np.sin(2 * math.pi * 0.125 * np.arange(total) / SAMPLE_RATE)
    out *= swell[:, None]
    click = min(total // 2, int(0.01 * SAMPLE_RATE))  # no click at either end
    if click:
        ramp = np.linspace(0.0, 1.0, click)
        out[:click] *= ramp[:, None]
        out[total - click:] *= ramp[::-1, None]
    peak = float(np.max(np.abs(out))) or 1.0
    return (out * (PEAK / peak)).astype(np.float32)


def music_bed(out: str | Path, duration_s: float, *, seed: int = 0, mood: Mood = "upbeat",
              tempo_bpm: float | None = None) -> Path:
    """Write a music bed of `duration_s` to `out` (48 kHz stereo 16-bit WAV); returns `out`.

    Same (duration, seed, mood, tempo), same bytes. Fades, ducking and loudness are the
    mix's job (`nbvideo.sound.mix.mix`), so the bed starts and ends at full level.

    >>> music_bed("bed.wav", 30, seed=7, mood="upbeat")  # doctest: +SKIP
    """
    return write_wav(out, synth_bed(duration_s, seed=seed, mood=mood, tempo_bpm=tempo_bpm))
