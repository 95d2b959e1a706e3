"""When each word of a spoken line is said: from a provider's character alignment, or
estimated from the audio itself.

Estimating: the line's loudness envelope (RMS in 25 ms windows every 10 ms) is thresholded
between its noise floor and its peaks into voiced spans, with short dips (stop consonants)
bridged and blips dropped. The words are laid along the voiced time in proportion to their
length in letters, so a word never starts in a pause, and each clear pause is matched to the
word boundary nearest to it (a comma or full stop is where a voice breathes), so the times
follow the audio's own rhythm rather than a uniform grid. Words are the text's
whitespace-separated tokens, punctuation kept, as captions show them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nbvideo.model.speech import WordTiming

__all__ = ["estimate_words", "voiced_spans", "words_from_alignment"]

_HOP_S = 0.010
_WIN_S = 0.025
_BRIDGE_S = 0.08  # dips shorter than this are inside a word (a stop consonant), not a pause
_MIN_SPAN_S = 0.03  # louder blips shorter than this are clicks, not speech


def words_from_alignment(characters: Sequence[str], starts: Sequence[float],
                         ends: Sequence[float], duration_s: float | None = None
                         ) -> list[WordTiming]:
    """Group a character alignment (ElevenLabs' `characters`, `character_start_times_seconds`,
    `character_end_times_seconds`) into words split at whitespace: each word from its first
    character's start to its last character's end, clipped to `duration_s` when given."""
    if not (len(characters) == len(starts) == len(ends)):
        raise ValueError(f"alignment lists differ in length: {len(characters)} characters, "
                         f"{len(starts)} starts, {len(ends)} ends")
    out: list[WordTiming] = []
    word: list[str] = []
    first = last = 0.0
    top = float("inf") if duration_s is None else duration_s

    def flush() -> None:
        if word:
            s, e = min(max(first, 0.0), top), min(max(last, 0.0), top)
            out.append(WordTiming(word="".join(word), start_s=round(s, 4),
                                  end_s=round(max(e, s), 4)))
            word.clear()

    for ch, s, e in zip(characters, starts, ends, strict=True):
        if not ch or ch.isspace():
            flush()
            continue
        if not word:
            first, last = float(s), float(e)
        else:
            last = max(last, float(e))
        word.append(ch)
    flush()
    return out


def voiced_spans(samples: np.ndarray, rate: int) -> list[tuple[float, float]]:
    """(start_s, end_s) of the stretches where the line is voiced, from its loudness."""
    mono = np.asarray(samples, dtype=np.float64)
    if mono.ndim == 2:
        mono = mono.mean(axis=1)
    hop, win = max(1, round(rate * _HOP_S)), max(1, round(rate * _WIN_S))
    n = max(0, 1 + (len(mono) - win) // hop) if len(mono) >= win else 0
    if n == 0:
        return []
    power = np.convolve(mono**2, np.ones(win) / win, mode="valid")[::hop][:n]
    db = 10 * np.log10(np.maximum(power, 1e-12))
    floor, peak = np.percentile(db, 10), np.percentile(db, 95)
    if peak < -60:  # silence throughout
        return []
    threshold = max(floor + 0.3 * (peak - floor), peak - 35.0)
    voiced = np.flatnonzero(db > threshold)
    bridge = round(_BRIDGE_S / _HOP_S)
    spans: list[list[int]] = []  # [first frame, frame after the last]
    for i in voiced:
        if spans and i - spans[-1][1] <= bridge:
            spans[-1][1] = int(i) + 1
        else:
            spans.append([int(i), int(i) + 1])
    total = len(mono) / rate
    out = []
    for a, b in spans:
        start, end = a * hop / rate, min(total, (b - 1) * hop / rate + win / rate)
        if end - start - _WIN_S >= _MIN_SPAN_S:  # net of the window's smear
            out.append((round(start, 4), round(end, 4)))
    return out


def _weight(word: str) -> float:
    letters = sum(ch.isalnum() for ch in word)
    return float(max(letters, 1)) + 1.0  # +1: every word has an onset, however short


def estimate_words(samples: np.ndarray, rate: int, text: str) -> list[WordTiming]:
    """Word timings of `text` as spoken in `samples`, found from the audio (see above).

    Every word falls inside the audio and in order; with no voiced audio at all the words
    share the whole line in proportion to their length."""
    words = text.split()
    if not words:
        return []
    total = len(samples) / rate if rate else 0.0
    spans = voiced_spans(samples, rate) or [(0.0, total)]
    lengths = [e - s for s, e in spans]
    voiced = float(sum(lengths))
    cum = np.concatenate([[0.0], np.cumsum(lengths)])  # voiced time at each span's start
    weights = np.array([_weight(w) for w in words])
    bounds = np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum() * voiced

    # Match pauses (span gaps) to word boundaries: nearest first, one to one, in order.
    anchors: dict[int, int] = {}  # boundary index (1..len-1) -> gap index (1..spans-1)
    pairs = sorted(
        (abs(bounds[i] - cum[k]), i, k)
        for i in range(1, len(words)) for k in range(1, len(spans))
        if abs(bounds[i] - cum[k]) <= 0.5 * min(bounds[i] - bounds[i - 1],
                                                bounds[i + 1] - bounds[i]) + 0.05 * voiced)
    for _d, i, k in pairs:
        if i in anchors or k in anchors.values():
            continue
        if all((i < j) == (k < g) for j, g in anchors.items()):
            anchors[i] = k

    # Between anchors, spread the words in proportion to their weights over the voiced time.
    pos = bounds.copy()
    fixed = sorted([(0, 0.0), *((i, float(cum[k])) for i, k in anchors.items()),
                    (len(words), voiced)])
    for (i0, v0), (i1, v1) in zip(fixed, fixed[1:], strict=False):
        w = weights[i0:i1]
        pos[i0:i1 + 1] = v0 + np.concatenate([[0.0], np.cumsum(w)]) / w.sum() * (v1 - v0)

    def real(v: float, side: str) -> float:
        """Voiced time `v` on the clock; at a span edge, a start takes the later span."""
        k = int(np.searchsorted(cum, v, side="right" if side == "start" else "left")) - 1
        k = min(max(k, 0), len(spans) - 1)
        return spans[k][0] + min(v - cum[k], lengths[k])

    out = []
    for n, word in enumerate(words):
        s = real(float(pos[n]), "start")
        e = max(real(float(pos[n + 1]), "end"), s)
        out.append(WordTiming(word=word, start_s=round(min(s, total), 4),
                              end_s=round(min(e, total), 4)))
    return out
