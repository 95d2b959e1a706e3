"""Word timings estimated from a line's audio: they follow the audio, not a uniform grid."""

from __future__ import annotations

import numpy as np
import pytest

from nbvideo.media.word_times import estimate_words, voiced_spans

RATE = 48_000


def burst_line(spans: list[tuple[float, float]], total_s: float, dips: tuple[float, ...] = ()
               ) -> np.ndarray:
    """A tone in each (start, end) span, silence elsewhere, faint noise throughout; `dips` are
    30 ms closures inside a word (a stop consonant), which must not split it."""
    t = np.arange(round(total_s * RATE)) / RATE
    x = np.zeros_like(t)
    for s, e in spans:
        m = (t >= s) & (t < e)
        x[m] = 0.3 * np.sin(2 * np.pi * 170 * t[m]) * (1 + 0.3 * np.sin(2 * np.pi * 4 * t[m]))
    for d in dips:
        x[(t >= d) & (t < d + 0.03)] = 0
    return x + np.random.default_rng(1).normal(0, 2e-4, len(t))


def test_words_follow_the_pauses_in_the_audio() -> None:
    # Uneven: a long first word, a short pause, then two quick words and a long pause.
    truth = [("Waterproof,", 0.30, 1.10), ("toe", 1.45, 1.70), ("to", 1.78, 1.92),
             ("collar.", 2.60, 3.20)]
    x = burst_line([(s, e) for _w, s, e in truth], 3.5, dips=(0.6,))
    got = estimate_words(x, RATE, " ".join(w for w, _s, _e in truth))
    assert [w.word for w in got] == [w for w, _s, _e in truth]
    for w, (_word, s, e) in zip(got, truth, strict=True):
        assert w.start_s == pytest.approx(s, abs=0.09) and w.end_s == pytest.approx(e, abs=0.12)
    # a uniform grid over the line would put "collar." near 2.5 s; the pause moves it to 2.6
    assert got[3].start_s >= 2.5


def test_spans_bridge_closures_and_drop_clicks() -> None:
    x = burst_line([(0.2, 0.8), (1.5, 1.51)], 2.0, dips=(0.5,))
    spans = voiced_spans(x, RATE)
    assert len(spans) == 1 and spans[0][0] == pytest.approx(0.2, abs=0.04)
    assert spans[0][1] == pytest.approx(0.8, abs=0.04)


def test_silence_and_empty_text_still_give_ordered_words_inside_the_line() -> None:
    assert voiced_spans(np.zeros(RATE), RATE) == []
    got = estimate_words(np.zeros(RATE), RATE, "Shop the sale now")
    assert [w.word for w in got] == ["Shop", "the", "sale", "now"]
    assert got[0].start_s == 0 and got[-1].end_s == pytest.approx(1.0)
    assert all(a.end_s <= b.start_s + 1e-9 for a, b in zip(got, got[1:], strict=False))
    assert estimate_words(np.zeros(RATE), RATE, "   ") == []
