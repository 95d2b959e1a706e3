"""Peak envelopes of sounds: what a timeline draws on an audio item.

A waveform here is the lowest and highest sample in each of a few hundred equal buckets
(the shape an editor draws), not the samples: a 30 s bed is 2.9 million samples and 256
(min, max) pairs, small enough to send to a browser with the widget's state. Envelopes are
cached on disk by the content hash of the file (plus the stretch and the bucket count), so a
file is decoded once however often the timeline is drawn, and a file changed in place is
read again.

    env = file_waveform("assets/voice/s1.wav", cache_dir=project / "cache")
    env.peaks  # (buckets, 2) float32: min, max per bucket, in [-1, 1]
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nbvideo.errors import InvalidInput
from nbvideo.media.audio_io import SAMPLE_RATE, decode, read_wav

__all__ = ["DEFAULT_BUCKETS", "MAX_BUCKETS", "WAVEFORM_DIR", "Waveform", "content_hash",
           "file_waveform", "peaks", "samples_waveform"]

DEFAULT_BUCKETS = 256
MAX_BUCKETS = 4096
WAVEFORM_DIR = "waveforms"
"""Under the cache folder given (a project's cache/waveforms; safe to delete)."""
_VERSION = 1  # bump when the envelope's meaning changes: old cache entries are then unused


@dataclass(frozen=True)
class Waveform:
    """A sound's envelope: `peaks[i]` is (min, max) of bucket i; each bucket is
    `duration_s / len(peaks)` seconds. `key` names it (content hash and stretch)."""

    key: str
    duration_s: float
    peaks: np.ndarray

    @property
    def buckets(self) -> int:
        return len(self.peaks)

    def compact(self) -> list[int]:
        """min, max, min, max, ... as integers from -127 to 127: what a widget is sent."""
        return [int(v) for v in np.round(np.clip(self.peaks, -1, 1) * 127).ravel()]


def peaks(samples: np.ndarray, buckets: int = DEFAULT_BUCKETS) -> np.ndarray:
    """(buckets, 2) float32: the min and max sample (over all channels) in each of
    `buckets` equal stretches of `samples` ((frames,) or (frames, channels)). Silence, or
    no samples at all, is zeros; a sound shorter than `buckets` samples repeats its values."""
    if not isinstance(buckets, int | np.integer) or not 1 <= buckets <= MAX_BUCKETS:
        raise InvalidInput(f"buckets must be a whole number from 1 to {MAX_BUCKETS}, "
                           f"got {buckets!r}")
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2 and x.shape[1] > 0:
        # column by column: numpy's min over a short last axis is ~50x slower than this
        lo_ch, hi_ch = x[:, 0].copy(), x[:, 0].copy()
        for c in range(1, x.shape[1]):
            np.minimum(lo_ch, x[:, c], out=lo_ch)
            np.maximum(hi_ch, x[:, c], out=hi_ch)
    elif x.ndim == 2:
        lo_ch = hi_ch = np.zeros(len(x), dtype=np.float32)
    else:
        lo_ch = hi_ch = x
    n = len(lo_ch)
    out = np.zeros((buckets, 2), dtype=np.float32)
    if n == 0:
        return out
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    starts = np.minimum(edges[:-1], n - 1)
    ends = np.maximum(edges[1:], starts + 1)
    # reduceat over the bucket starts, fixed for buckets narrower than a sample
    out[:, 0] = np.minimum.reduceat(lo_ch, starts)
    out[:, 1] = np.maximum.reduceat(hi_ch, starts)
    short = ends - starts == 1
    if short.any():
        out[short, 0] = lo_ch[starts[short]]
        out[short, 1] = hi_ch[starts[short]]
    return out


_HASHES: dict[tuple[str, int, int], str] = {}
_NO_SOUND: set[tuple[str, float]] = set()
_LOCK = threading.Lock()


def content_hash(path: Path) -> str:
    """sha256 of the file's bytes, remembered per (path, size, mtime) so a redraw does not
    read a file again; a file rewritten in place gets a new hash."""
    st = path.stat()
    memo = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _LOCK:
        got = _HASHES.get(memo)
    if got is None:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        got = h.hexdigest()
        with _LOCK:
            _HASHES[memo] = got
    return got


def _cached(cache_dir: Path | None, key: str) -> Waveform | None:
    if cache_dir is None:
        return None
    f = cache_dir / WAVEFORM_DIR / f"{key}.json"
    try:
        got = json.loads(f.read_text(encoding="utf-8"))
        arr = np.asarray(got["peaks"], dtype=np.float32).reshape(-1, 2)
        return Waveform(key, float(got["duration_s"]), arr)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or damaged: worked out again


def _keep(cache_dir: Path | None, w: Waveform) -> Waveform:
    """`w` to four decimals (what the cache holds, so a cached envelope is the same one)."""
    w = Waveform(w.key, w.duration_s, np.round(w.peaks, 4).astype(np.float32))
    if cache_dir is not None:
        folder = cache_dir / WAVEFORM_DIR
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / f".{w.key}.json.{threading.get_ident()}.part"
        part.write_text(json.dumps({"duration_s": w.duration_s,
                                    "peaks": [round(float(v), 4) for v in w.peaks.ravel()]}),
                        encoding="utf-8")
        part.replace(folder / f"{w.key}.json")
    return w


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps([_VERSION, *parts]).encode()).hexdigest()[:24]


def samples_waveform(samples: np.ndarray | Callable[[], np.ndarray], *, key: str,
                     cache_dir: Path | None = None, buckets: int = DEFAULT_BUCKETS,
                     rate: int = SAMPLE_RATE) -> Waveform:
    """The envelope of samples made in memory (the generated bed), cached under `key`
    (which must name everything that decides the samples); `samples` may be a function
    that makes them, called only when the cache does not hold the envelope."""
    k = _key("samples", key, buckets)
    got = _cached(cache_dir, k)
    if got is not None:
        return got
    x = np.asarray(samples() if callable(samples) else samples)
    return _keep(cache_dir, Waveform(k, round(len(x) / rate, 6), peaks(x, buckets)))


def file_waveform(path: str | Path, *, cache_dir: Path | None = None, start_s: float = 0.0,
                  duration_s: float | None = None, buckets: int = DEFAULT_BUCKETS) -> Waveform:
    """The envelope of `path` (any audio, or a video's sound) from `start_s` for
    `duration_s` (None: to its end), cached in `cache_dir` by the file's content hash.
    A stretch past the file's end is silence (a sound item longer than its file)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"waveform: no sound file at {path}")
    if start_s < 0 or (duration_s is not None and duration_s <= 0):
        raise InvalidInput(f"waveform: start_s must be >= 0 and duration_s > 0, got "
                           f"{start_s!r}, {duration_s!r}")
    k = _key("file", content_hash(path), round(start_s, 6),
             None if duration_s is None else round(duration_s, 6), buckets)
    got = _cached(cache_dir, k)
    if got is not None:
        return got
    sig = (content_hash(path), round(start_s, 6))
    with _LOCK:
        silent = sig in _NO_SOUND
    if silent:
        raise InvalidInput(f"waveform: {path.name} is not sound that can be decoded (no "
                           "audio stream)")
    x: np.ndarray
    try:
        raw, rate = read_wav(path)
        if rate != SAMPLE_RATE:
            raise ValueError("not at the working rate")
        x = raw[round(start_s * SAMPLE_RATE):]
        if duration_s is not None:
            x = x[:round(duration_s * SAMPLE_RATE)]
    except Exception:  # not a 48 kHz WAV: ffmpeg decodes it (MP3, AAC, a video's sound)
        try:
            x = decode(path, channels=1, start_s=start_s, duration_s=duration_s)
        except Exception as exc:
            with _LOCK:  # asked again on every redraw: a silent clip is decoded once
                _NO_SOUND.add(sig)
            raise InvalidInput(f"waveform: {path.name} is not sound that can be decoded "
                               f"({type(exc).__name__})") from None
    seconds = duration_s if duration_s is not None else len(x) / SAMPLE_RATE
    total = round(seconds * SAMPLE_RATE)
    if len(x) < total:  # the stretch runs past the file: silence there, drawn flat
        pad = np.zeros((total - len(x), *x.shape[1:]), dtype=np.float32)
        x = np.concatenate([x, pad]) if len(x) else pad
    return _keep(cache_dir, Waveform(k, round(seconds, 6), peaks(x, buckets)))
