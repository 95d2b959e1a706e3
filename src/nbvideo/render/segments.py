"""The smart-export plan: which stretches of the output are copied from mezzanines and which
are re-encoded.

Everything is in whole output frames. A clip's "own" stretch (not under a transition and not
under an overlay) is copied from its mezzanine between keyframes; everything else — the
frames around a cut or trim that is off a keyframe, transitions (crossfades, wipes, dips, ...),
captions — falls into an encoded piece. An encoded piece is a small timeline of its own (the
clips it touches, with their trims and transitions), so the export engine's filter graph
renders it exactly as a full export would. A piece never starts or ends inside a transition.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

__all__ = ["Part", "Piece", "plan_pieces", "spans_to_frames"]


@dataclass(frozen=True)
class Part:
    """Clip `clip` from its mezzanine frame `start`, `frames` long, overlapping `xfade`
    frames with the next part through the transition `kind`."""

    clip: int
    start: int
    frames: int
    xfade: int
    kind: str = "crossfade"


@dataclass(frozen=True)
class Piece:
    """Output frames [out_start, out_start + frames): copied or encoded."""

    kind: str  # "copy" | "encode"
    out_start: int
    frames: int
    parts: tuple[Part, ...]  # copy: exactly one part, no xfade
    overlay: bool = False

    def key(self, mezz_keys: list[str], params_key: str, overlay: str | None) -> str:
        """Everything that decides this piece's pixels and bits."""
        # A crossfade's key is the one it had before there were other transitions, so a
        # cache filled then still serves it; any other transition's name joins the key.
        body = [params_key, [(mezz_keys[p.clip], p.start, p.frames, p.xfade)
                             + ((p.kind,) if p.xfade and p.kind != "crossfade" else ())
                             for p in self.parts]]
        if self.overlay:  # captions depend on the time in the film, so the offset counts too
            body += [overlay, self.out_start]
        return hashlib.sha256(json.dumps(body).encode()).hexdigest()[:24]


def spans_to_frames(spans: list[tuple[float, float]], fps: int, total: int) -> list[tuple[int, int]]:
    """Seconds where an overlay draws -> output frame ranges, one frame of margin each side
    (a cue is enabled from half a frame before its first frame)."""
    out = []
    for a, b in spans:
        lo = max(0, int(a * fps) - 1)
        hi = min(total, -int(-b * fps // 1) + 1)
        if hi > lo:
            out.append((lo, hi))
    return sorted(out)


def _subtract(lo: int, hi: int, holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    parts, cur = [], lo
    for a, b in holes:
        if b <= cur or a >= hi:
            continue
        if a > cur:
            parts.append((cur, a))
        cur = max(cur, b)
    if cur < hi:
        parts.append((cur, hi))
    return parts


def plan_pieces(starts: list[int], frames: list[int], xfades: list[int], mezz_frames: list[int],
                gop: int, dirty: list[tuple[int, int]],
                kinds: list[str] | None = None) -> list[Piece]:
    """Cover the output with copy and encode pieces, in order.

    `starts[i]`, `frames[i]`, `xfades[i]`: clip i's first kept mezzanine frame, kept length,
    and overlap with the next clip (as in the export engine's plan); `kinds[i]` the
    transition over that overlap (default: all crossfades). `dirty`: output frame
    ranges an overlay draws on. Copies start on a keyframe (a multiple of `gop`) and end on
    one or at the end of the mezzanine, and are at least one GOP long.
    """
    kinds = kinds if kinds is not None else ["crossfade"] * len(frames)
    pos = [0]
    for n, x in zip(frames[:-1], xfades[:-1]):
        pos.append(pos[-1] + n - x)
    total = pos[-1] + frames[-1]
    copies: list[Piece] = []
    for i, (p, s, n) in enumerate(zip(pos, starts, frames)):
        own_lo = p + (xfades[i - 1] if i else 0)
        own_hi = p + n - (xfades[i] if i < len(frames) - 1 else 0)
        for oa, ob in _subtract(own_lo, own_hi, dirty):
            sa, sb = s + oa - p, s + ob - p
            a = -(-sa // gop) * gop
            b = sb if sb == mezz_frames[i] else sb // gop * gop
            if b - a >= gop:
                copies.append(Piece("copy", p + a - s, b - a, (Part(i, a, b - a, 0),)))
    pieces: list[Piece] = []
    cursor = 0
    for c in [*copies, None]:
        end = c.out_start if c is not None else total
        if end > cursor:
            pieces.append(_encoded(cursor, end, pos, starts, frames, xfades, kinds, dirty))
        if c is not None:
            pieces.append(c)
            cursor = c.out_start + c.frames
    return pieces


def _encoded(o0: int, o1: int, pos: list[int], starts: list[int], frames: list[int],
             xfades: list[int], kinds: list[str], dirty: list[tuple[int, int]]) -> Piece:
    parts = []
    last = len(frames) - 1
    for i, (p, s, n) in enumerate(zip(pos, starts, frames)):
        lo, hi = max(o0, p), min(o1, p + n)
        if hi <= lo:
            continue
        into_next = i < last and hi == p + n and pos[i + 1] + xfades[i] <= o1 and xfades[i] > 0
        parts.append(Part(i, s + lo - p, hi - lo, xfades[i] if into_next else 0,
                          kinds[i] if into_next else "crossfade"))
    covered = sum(q.frames for q in parts) - sum(q.xfade for q in parts)
    if covered != o1 - o0:  # a piece boundary inside a transition: a bug in the plan
        raise AssertionError(f"encoded piece [{o0}, {o1}) covers {covered} frames")
    overlay = any(a < o1 and b > o0 for a, b in dirty)
    return Piece("encode", o0, o1 - o0, tuple(parts), overlay)
