"""Snapping times on the timeline: to cuts, other items' edges, the music's beats and the
voice-over's words. Pure maths over a list of points; `render.audio_marks` gathers them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from nbvideo.errors import InvalidInput

__all__ = ["SNAP_KINDS", "SNAP_TOLERANCE_S", "SnapPoint", "nearest", "snap_move", "snap_time"]

SnapKind = Literal["cut", "edge", "beat", "word"]
SNAP_KINDS: tuple[str, ...] = ("cut", "edge", "beat", "word")
SNAP_TOLERANCE_S = 0.1
"""How close a time must be to a point to stick to it, by default (3 frames at 30 fps)."""


@dataclass(frozen=True)
class SnapPoint:
    """A time a dragged edge sticks to: `kind` (cut, edge, beat, word) and what it is
    (`label`: the item id of an edge, the word, the beat's number, the cut's scene)."""

    t_s: float
    kind: SnapKind
    label: str = ""


def check_tolerance(tolerance_s: object) -> float:
    """A snap tolerance in seconds: a finite number from 0 to 5."""
    if isinstance(tolerance_s, bool) or not isinstance(tolerance_s, int | float) \
            or not 0 <= float(tolerance_s) <= 5:
        raise InvalidInput(f"tolerance_s must be seconds from 0 to 5, got {tolerance_s!r}")
    return float(tolerance_s)


def nearest(points: Iterable[SnapPoint], t: float, tolerance_s: float = SNAP_TOLERANCE_S
            ) -> SnapPoint | None:
    """The point nearest `t` within `tolerance_s` (on a tie, the earlier point in the kind
    order cut, edge, beat, word: a cut is where an editor most often means), else None."""
    best: tuple[float, int, SnapPoint] | None = None
    for p in points:
        d = abs(p.t_s - t)
        if d <= tolerance_s + 1e-9:
            rank = (d, SNAP_KINDS.index(p.kind))
            if best is None or rank < best[:2]:
                best = (rank[0], rank[1], p)
    return best[2] if best else None


def snap_time(points: Sequence[SnapPoint], t: float,
              tolerance_s: float = SNAP_TOLERANCE_S) -> float:
    """`t` moved onto the nearest point within `tolerance_s`, else `t` as it is."""
    p = nearest(points, t, tolerance_s)
    return t if p is None else p.t_s


def snap_move(points: Sequence[SnapPoint], start_s: float, length_s: float,
              tolerance_s: float = SNAP_TOLERANCE_S) -> float:
    """The start of an item of `length_s` moved to `start_s`, snapped so that its start or
    its end (whichever is nearer a point) lands on one; never before 0."""
    a = nearest(points, start_s, tolerance_s)
    b = nearest(points, start_s + length_s, tolerance_s)
    da = abs(a.t_s - start_s) if a else float("inf")
    db = abs(b.t_s - (start_s + length_s)) if b else float("inf")
    if a is None and b is None:
        return start_s
    got = a.t_s if da <= db and a is not None else b.t_s - length_s  # type: ignore[union-attr]
    return max(0.0, got)
