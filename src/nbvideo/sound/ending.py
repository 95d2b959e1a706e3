"""Where the music stops: on a beat, after the last word, never past the film's end.

An ad whose music fades on the film's last frame ends wherever the fade happens to be:
often halfway through a beat, sometimes under the last word. The rule here:

- with a voice-over, the music stops on the first beat at least `tail_s` after the last
  spoken word ends, fading out over the `fade_s` before that beat (shortened so the fade
  starts no earlier than the last word's end, but never under `min_fade_s`);
- without one, on the last beat at or before the film's end;
- never past the film's end: when no beat falls between the last word (plus its tail) and
  the end, the last beat after the word itself is taken; when there is none either, or the
  music has no beats (`sound.beats` found no pulse), the fade ends with the film as before.

The music is silent from `end_s` on; the voice is never touched, so no word is cut.

    e = music_ending(30.0, beats=[0.0, 0.6, ...], last_word_s=27.1)
    e.end_s, e.fade_s  # 27.6, 0.5: the first beat 0.5 s after the last word
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nbvideo.errors import InvalidInput

__all__ = ["FADE_S", "MIN_FADE_S", "TAIL_S", "Ending", "music_ending"]

TAIL_S = 0.5
"""The music plays on at least this long after the last word (a breath, not a cut-off)."""
FADE_S = 1.5
"""The longest fade-out (the mix's fade_out_s default)."""
MIN_FADE_S = 0.25
"""The shortest: under a quarter second a fade sounds like a cut."""


@dataclass(frozen=True)
class Ending:
    """The music's fade-out ends at `end_s` (silence after), over `fade_s` seconds;
    `on_beat`: `end_s` is a beat of the music; `why` says which rule chose it."""

    end_s: float
    fade_s: float
    on_beat: bool
    why: str

    @property
    def fade_start_s(self) -> float:
        return round(self.end_s - self.fade_s, 6)


def music_ending(film_s: float, beats: Sequence[float] | np.ndarray,
                 last_word_s: float | None = None, *, tail_s: float = TAIL_S,
                 fade_s: float = FADE_S, min_fade_s: float = MIN_FADE_S) -> Ending:
    """The ending for a film of `film_s` seconds with music beats at `beats` (seconds on
    the film) and the last spoken word ending at `last_word_s` (None: no voice-over)."""
    if not film_s > 0:
        raise InvalidInput(f"ending: film_s must be > 0, got {film_s!r}")
    if not (fade_s >= 0 and tail_s >= 0 and 0 <= min_fade_s):
        raise InvalidInput(f"ending: fade_s, tail_s and min_fade_s must be >= 0, got "
                           f"{fade_s!r}, {tail_s!r}, {min_fade_s!r}")
    b = np.sort(np.asarray(beats, dtype=np.float64))
    b = b[(b > 0) & (b <= film_s + 1e-6)]
    film = Ending(round(film_s, 6), round(min(fade_s, film_s), 6), False,
                  "fades with the film's end (no beat to end on)")
    if not len(b):
        return film
    if last_word_s is None:
        end = float(b[-1])
        return Ending(round(end, 6), round(min(fade_s, end), 6), True,
                      "the last beat before the film's end (no voice-over)")
    after = b[b >= last_word_s + tail_s - 1e-6]
    why = f"the first beat {tail_s:g} s or more after the last word"
    if not len(after):
        after = b[b >= last_word_s + min_fade_s - 1e-6]
        why = "the last beat after the last word (no room for the full tail before the end)"
    if not len(after):
        return film
    end = float(after[0]) if why.startswith("the first") else float(after[-1])
    fade = min(fade_s, max(min_fade_s, end - last_word_s), end)
    return Ending(round(end, 6), round(fade, 6), True, why)
