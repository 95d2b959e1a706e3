"""Sounds placed on the timeline's audio tracks, as stems the mix takes.

Pure functions over files (they know nothing of projects): each `Placed` sound is decoded
from its in-point, given its gain and its fades, and summed into a mono 48 kHz track of the
film's exact length at its start, to the sample. Which tracks are heard (mute, solo) is
decided by `audible`; the export turns the tracks' items into `Placed` sounds.

    stem = place_sounds([Placed("whoosh.wav", 2.0, 0.8, gain_db=-6, fade_out_s=0.2)], 30,
                        "sfx.wav")
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nbvideo.media.audio_io import SAMPLE_RATE, decode, write_wav

__all__ = ["Placed", "audible", "place_sounds", "sound_samples"]


@dataclass(frozen=True)
class Placed:
    """One sound on the film: `path` from `source_in_s`, at `start_s` for `duration_s`."""

    path: Path
    start_s: float
    duration_s: float
    source_in_s: float = 0.0
    gain_db: float = 0.0
    fade_in_s: float = 0.0
    fade_out_s: float = 0.0
    loop: bool = False

    def key(self) -> list[object]:
        """What decides its samples (for a soundtrack's cache key)."""
        st = self.path.stat()
        return [self.path.name, st.st_size, st.st_mtime_ns, self.start_s, self.duration_s,
                self.source_in_s, self.gain_db, self.fade_in_s, self.fade_out_s, self.loop]


def audible(tracks: Iterable[tuple[str, bool, bool]]) -> set[str]:
    """The audio tracks heard, from (name, mute, solo): any soloed track silences the tracks
    that are not soloed; a muted track is never heard, soloed or not."""
    rows = list(tracks)
    soloed = {n for n, _m, s in rows if s}
    return {n for n, m, _s in rows if not m and (not soloed or n in soloed)}


def sound_samples(p: Placed) -> np.ndarray:
    """The sound's mono samples as placed: gain, fades, cut (or looped) to its length."""
    n = round(p.duration_s * SAMPLE_RATE)
    raw = decode(p.path, channels=1, start_s=p.source_in_s,
                 duration_s=None if p.loop else p.duration_s)[:, 0].astype(np.float64)
    if p.loop and 0 < len(raw) < n:
        raw = np.tile(raw, -(-n // len(raw)))
    x = np.zeros(n)
    x[:min(n, len(raw))] = raw[:n]
    x *= 10 ** (p.gain_db / 20)
    fi, fo = round(p.fade_in_s * SAMPLE_RATE), round(p.fade_out_s * SAMPLE_RATE)
    if fi:
        x[:fi] *= np.linspace(0.0, 1.0, fi, endpoint=False)
    if fo:
        x[n - fo:] *= np.linspace(1.0, 0.0, fo, endpoint=True)
    return x


def place_sounds(sounds: Sequence[Placed], duration_s: float, out: str | Path, *,
                 base: str | Path | None = None, gain_db: float = 0.0) -> Path:
    """One mono track of exactly `duration_s` at 48 kHz: `base` (a stem already placed, e.g.
    the voice-over lines; looped if shorter) plus each sound at its start, times `gain_db`.
    A sound running past the end is cut there."""
    total = round(duration_s * SAMPLE_RATE)
    track = np.zeros(total)
    if base is not None:
        b = decode(base, channels=1)[:, 0].astype(np.float64)
        if 0 < len(b) < total:
            b = np.tile(b, -(-total // len(b)))
        track[:min(total, len(b))] += b[:total]
    for s in sounds:
        at = round(s.start_s * SAMPLE_RATE)
        if at >= total:
            continue
        x = sound_samples(s)[:total - at]
        track[at:at + len(x)] += x
    track *= 10 ** (gain_db / 20)
    return write_wav(out, track)
