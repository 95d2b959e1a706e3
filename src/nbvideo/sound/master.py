"""Mastering in numpy: BS.1770 loudness, true peak, a look-ahead true-peak limiter, one gain.

Why numpy and not loudnorm: landing a mix on a loudness target under a true-peak ceiling
took ffmpeg about twelve runs per export (stem measurements, a premix, loudnorm's first pass,
limit-and-measure rounds, loudnorm's linear pass, measurements of each result). Each run
decodes the whole mix again. Here the premix is read once into memory and everything after
it (measuring, limiting, the final gain, the correction rounds a limiter needs) is array
arithmetic; ffmpeg renders the premix (ducking) and encodes the result, and ebur128 stays the
independent check of what was written (`loudness.measure_loudness`).

The meter follows ITU-R BS.1770-4 (the K-weighting filters' 48 kHz coefficients, 400 ms
blocks every 100 ms, the -70 LUFS absolute and -10 LU relative gates), as ffmpeg's ebur128
does; the two agree to about 0.1 LU. True peak is read from a 4x oversampled signal
(band-limited interpolation by FFT, in overlapping chunks so memory stays small).
"""

from __future__ import annotations

import functools
import math
from typing import Literal, NamedTuple

import numpy as np

from nbvideo.media.audio_io import SAMPLE_RATE

__all__ = ["Mastered", "integrated_lufs", "limit", "master", "max_momentary_lufs", "sample_peaks",
           "true_peak_db"]

SILENCE_LUFS = -69.0
"""ebur128 reads digital silence as -70 LUFS; anything under this is treated as silence."""
LIMIT_MARGIN_DB = 0.5
"""A limited mix is held this far under the ceiling: room for a lossy encode's overshoots."""
_LOOKAHEAD_S = 0.005
"""The limiter starts turning down this long before a peak and recovers as long after it."""
_ROUNDS = 6
"""Correction rounds at most for the loudness a limiter takes away (secant steps: 2-3)."""

# ITU-R BS.1770-4, table 1 and 2: the K-weighting pre-filter (a high shelf) and the RLB
# high-pass, as biquads at 48 kHz (b0 b1 b2 / 1 a1 a2).
_SHELF = ((1.53512485958697, -2.69169618940638, 1.19839281085285),
          (1.0, -1.69065929318241, 0.73248077421585))
_HIGHPASS = ((1.0, -2.0, 1.0), (1.0, -1.99004745483398, 0.99007225036621))


def _stereo(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[:, None] if x.ndim == 1 else x


def _fast_size(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n: sizes numpy's FFT handles fastest."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            size = p35 << max(0, (-(-n // p35) - 1).bit_length())
            best = min(best, size)
            p35 *= 3
        p5 *= 5
    return best


@functools.lru_cache(maxsize=8)
def _k_response(size: int) -> np.ndarray:
    """The K-weighting filters' frequency response on an rfft grid of `size` points."""
    z = np.exp(-1j * np.linspace(0.0, math.pi, size // 2 + 1))
    h = np.ones_like(z)
    for b, a in (_SHELF, _HIGHPASS):
        h *= (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    h.flags.writeable = False
    return h


def _k_power(x: np.ndarray) -> np.ndarray:
    """Per sample, the K-weighted signal squared and summed over channels (BS.1770 weighs
    left, right and a mono channel alike). The filters run by FFT over a padded length: their
    response has died out long before the padding wraps round, so this equals the causal
    filters' output."""
    x = _stereo(x)
    n = len(x)
    size = _fast_size(n + 8192)  # the filters' response is under 1e-9 after ~4200 samples
    h = _k_response(size)
    power = np.zeros(n)
    for c in range(x.shape[1]):
        power += np.fft.irfft(np.fft.rfft(x[:, c], size) * h, size)[:n] ** 2
    return power


def _block_energy(power: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mean K-weighted power of each 400 ms block, every 100 ms (BS.1770's gating blocks;
    its momentary loudness), from `_k_power`."""
    block, step = round(0.4 * rate), round(0.1 * rate)
    if len(power) < block:
        return np.zeros(0)
    starts = np.arange(0, len(power) - block + 1, step)
    sums = np.concatenate([[0.0], np.cumsum(power)])
    return (sums[starts + block] - sums[starts]) / block


def _gated(energy: np.ndarray) -> float:
    """Integrated loudness from block energies: the -70 LUFS and -10 LU gates."""
    if not len(energy):
        return -70.0
    loud = -0.691 + 10 * np.log10(np.maximum(energy, 1e-20))
    kept = energy[loud > -70.0]
    if not len(kept):
        return -70.0
    gate = -0.691 + 10 * math.log10(kept.mean()) - 10.0
    kept = energy[(loud > -70.0) & (loud > gate)]
    return float(-0.691 + 10 * math.log10(kept.mean())) if len(kept) else -70.0


def max_momentary_lufs(x: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """The loudest 400 ms of `x` (BS.1770 momentary loudness), padded with silence to one
    block if shorter: how loud a short sound reads next to speech."""
    x = _stereo(x)
    block = round(0.4 * rate)
    if len(x) < block:
        x = np.concatenate([x, np.zeros((block - len(x), x.shape[1]))])
    top = float(_block_energy(_k_power(x), rate).max())
    return -0.691 + 10 * math.log10(top) if top > 1e-20 else -70.0


def integrated_lufs(x: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """Integrated loudness (LUFS) of float samples (frames,) or (frames, channels) at 48 kHz.
    Every channel weighs 1 (left, right, or a mono one); a signal shorter than one 400 ms
    block, or silent, reads -70."""
    if rate != SAMPLE_RATE:
        raise ValueError(f"integrated_lufs measures {SAMPLE_RATE} Hz audio, got {rate} Hz")
    return _gated(_block_energy(_k_power(x), rate))


_EDGE = 512
_CHUNK = (1 << 16) - 2 * _EDGE  # chunk plus edges: a power of two for the FFT


def _channel_max(a: np.ndarray) -> np.ndarray:
    """max(|a|) across the channels of (frames, channels), without numpy's slow strided
    reduction over a short last axis."""
    out = np.abs(a[:, 0])
    for c in range(1, a.shape[1]):
        np.maximum(out, np.abs(a[:, c]), out=out)
    return out


def sample_peaks(x: np.ndarray) -> np.ndarray:
    """For each sample, the highest true (4x oversampled) peak of any channel within one
    sample of it: what a limiter must keep under the ceiling there. Chunked FFT
    interpolation with overlapping edges, so a long film never holds its 4x copy at once."""
    x = _stereo(x)
    n = len(x)
    out = np.zeros(n)
    padded = np.concatenate([np.zeros((_EDGE, x.shape[1])), x, np.zeros((_EDGE, x.shape[1]))])
    for start in range(0, n, _CHUNK):
        seg = padded[start:start + _CHUNK + 2 * _EDGE]
        m = len(seg)
        spec = np.fft.rfft(seg, axis=0)
        up = np.zeros((2 * m + 1, seg.shape[1]), dtype=complex)  # 4m // 2 + 1 bins
        up[:len(spec)] = spec
        if m % 2 == 0:
            up[m // 2] *= 0.5  # split the Nyquist bin between its two images
        fine = _channel_max(np.fft.irfft(up, 4 * m, axis=0))
        keep = min(_CHUNK, n - start)
        four = fine[4 * _EDGE:4 * (_EDGE + keep)]
        out[start:start + keep] = 4 * np.maximum(np.maximum(four[0::4], four[1::4]),
                                                 np.maximum(four[2::4], four[3::4]))
    held = np.maximum(out, _channel_max(x))
    held[1:] = np.maximum(held[1:], held[:-1])  # the stretch to the previous sample
    return held


def true_peak_db(x: np.ndarray) -> float:
    """True peak in dBTP (4x oversampled); -inf for silence."""
    peak = float(sample_peaks(x).max()) if len(x) else 0.0
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def _forward_min(t: np.ndarray, width: int) -> np.ndarray:
    """m[k] = min(t[k:k + width]) for every k, in O(n) (van Herk / Gil-Werman)."""
    n = len(t)
    total = -(-(n + width) // width) * width
    blocks = np.concatenate([t, np.ones(total - n)]).reshape(-1, width)
    prefix = np.minimum.accumulate(blocks, axis=1).ravel()
    suffix = np.minimum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    return np.minimum(suffix[:n], prefix[width - 1:width - 1 + n])


def _limiter_gain(peaks: np.ndarray, ceiling: float) -> np.ndarray:
    """The look-ahead limiter's gain per sample for these `sample_peaks` (see `limit`)."""
    need = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
    if need.min() >= 1.0:
        return np.ones(len(peaks))
    width = max(1, round(_LOOKAHEAD_S * SAMPLE_RATE))
    floor = _forward_min(need, width)
    sums = np.concatenate([[0.0], np.cumsum(np.concatenate([np.ones(width - 1), floor]))])
    return (sums[width:] - sums[:-width]) / width


def _trimmed(out: np.ndarray, ceiling: float) -> np.ndarray:
    over = float(sample_peaks(out).max()) / ceiling
    return out / over if over > 1.0 else out


def limit(x: np.ndarray, ceiling_db: float) -> np.ndarray:
    """`x` with its true peaks held under `ceiling_db` by a look-ahead limiter (both channels
    turned down together, so the image does not move; no latency, so nothing shifts).

    The gain each sample needs is min(1, ceiling / peak); its minimum over the next
    `_LOOKAHEAD_S`, averaged over the last `_LOOKAHEAD_S`, is a smooth gain that is never
    above what any sample needs (each average only takes minima over windows that include
    that sample). Interpolation can still lift a peak a hair between samples after the gain
    has changed; a final trim takes that off."""
    x = _stereo(x)
    ceiling = 10 ** (ceiling_db / 20)
    return _trimmed(x * _limiter_gain(sample_peaks(x), ceiling)[:, None], ceiling)


class Mastered(NamedTuple):
    samples: np.ndarray  # (frames, channels) float64
    lufs: float  # integrated loudness of `samples` (this module's meter)
    mode: Literal["linear", "none"]  # one gain (after any limiting), or silence left alone
    limited: bool
    gain_db: float


def master(x: np.ndarray, *, target_lufs: float, true_peak_db: float,
           margin_db: float = LIMIT_MARGIN_DB) -> Mastered:
    """`x` brought to `target_lufs` with its true peaks under `true_peak_db`.

    One gain when the peaks allow it (what loudnorm's linear mode does). Otherwise the gain
    that reaches the target, then the limiter at `margin_db` under the ceiling; limiting
    takes some loudness away, so the gain is corrected (secant steps) until the result is
    within 0.1 LU of the target. Silence is returned as it is.

    Why the rounds are cheap: a gain scales the true peaks by the same factor, so `x`'s
    peaks are found once; and the limiter's gain moves over milliseconds, slowly next to the
    400 ms blocks, so the limited signal's K-weighted power is read as x's times the gain
    squared (the result is checked by ebur128 on the written file in any case)."""
    x = _stereo(x)
    power = _k_power(x)
    lufs = _gated(_block_energy(power))
    if lufs <= SILENCE_LUFS:
        return Mastered(x.copy(), lufs, "none", False, 0.0)
    gain = target_lufs - lufs
    ceiling = 10 ** ((true_peak_db - margin_db) / 20)
    peaks = sample_peaks(x)
    if float(peaks.max()) * 10 ** (gain / 20) <= ceiling:
        out = x * 10 ** (gain / 20)
        return Mastered(out, lufs + gain, "linear", False, gain)
    slope, last = 1.0, None  # loudness gained per dB of gain; limiting makes it less than 1
    for _ in range(_ROUNDS):
        g = 10 ** (gain / 20) * _limiter_gain(peaks * 10 ** (gain / 20), ceiling)
        got = _gated(_block_energy(power * g * g))
        short = target_lufs - got
        if abs(short) <= 0.1:
            break
        if last is not None and gain != last[0]:
            slope = min(1.0, max(0.2, (got - last[1]) / (gain - last[0])))
        last = (gain, got)
        gain += short / slope
    out = _trimmed(x * g[:, None], ceiling)
    return Mastered(out, got, "linear", True, gain)
