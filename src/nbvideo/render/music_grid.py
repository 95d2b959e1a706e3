"""The beats of the project's music on the film: the generated bed's exactly, a music
file's detected (sound/beats.py) once per file and film length, then remembered."""

from __future__ import annotations

import threading

import numpy as np

from nbvideo.runtime.context import Runtime
from nbvideo.sound.beats import Beats, bed_grid, detect_beats

__all__ = ["music_beats"]

_MEMO: dict[tuple[str, float], Beats] = {}
_LOCK = threading.Lock()


def music_beats(rt: Runtime, total_s: float) -> Beats:
    """Beat times (seconds on the film, 0 to `total_s`) of the music the export plays:
    none without music or for a file with no pulse; a file shorter than the film loops, as
    the mix loops it, so its beats repeat with it."""
    music = rt.state.finishing.music
    if music == "none" or total_s <= 0:
        return Beats(np.zeros(0), None, "none", 0.0)
    if music == "bed":
        return bed_grid(total_s, seed=rt.state.seed)
    from nbvideo.media.audio_io import SAMPLE_RATE, decode
    from nbvideo.sound.waveform import content_hash

    path = rt.store.path(music)
    if not path.is_file():
        return Beats(np.zeros(0), None, "none", 0.0)
    memo = (content_hash(path), round(total_s, 3))
    with _LOCK:
        got = _MEMO.get(memo)
    if got is not None:
        return got
    try:
        x = decode(path, channels=1)[:, 0]
    except Exception:  # unreadable music is the export's error to report, not the grid's
        return Beats(np.zeros(0), None, "none", 0.0)
    length = len(x) / SAMPLE_RATE
    got = detect_beats(x)
    if len(got.times) and 0 < length < total_s:  # looped: the file's beats, file after file
        reps = int(np.ceil(total_s / length))
        times = (got.times[None, :] + length * np.arange(reps)[:, None]).ravel()
        got = Beats(np.round(times[times <= total_s + 1e-9], 4), got.tempo_bpm, got.source,
                    got.confidence)
    else:
        got = Beats(got.times[got.times <= total_s + 1e-9], got.tempo_bpm, got.source,
                    got.confidence)
    with _LOCK:
        _MEMO[memo] = got
    return got
