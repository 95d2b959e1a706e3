"""A named transition as filter-graph lines: the overlap of two clips -> the frames shown.

The export engine cuts each transition's overlap out of the two clips (the last k frames of
one, the first k of the next, both yuv420p at the output size and frame rate, time base
1/fps) and hands them here; what comes back is k frames of yuv420p. The same lines make the
full export, every smart-export piece and the thumbnail strips, so all three agree.

- xfade names: one `xfade` (libavfilter/vf_xfade.c). Its progress runs from the first input
  to the second: frame 0 is clip A, frame k-1 is 1/k short of clip B. "crossfade" is xfade's
  `fade`, with the very line the engine wrote before there were other names.
- dip_black / dip_white: clip A fades to the colour over the first half, clip B fades up
  from it over the second; frame k // 2 is the pure colour. Built with xfade's `fade`
  against a colour source rather than taken from xfade's fadeblack/fadewhite: those are
  crossfades that dim early (the bundled ffmpeg's fadeblack is near black at 20-30% and
  about half clip B at the midpoint), not a dip; they stay available by their own names.
  The `fade` filter is not used because its `color=white` converts the frames to RGB.
- whip: xfade's slideleft smeared by a horizontal Gaussian blur (gblur with sigmaV=0) whose
  weight ramps from none at the ends to full at the midpoint, like a whip pan's motion blur.
"""

from __future__ import annotations

from nbvideo.errors import InvalidInput
from nbvideo.media.xfade import available_transitions
from nbvideo.model.transitions import TRANSITIONS, close_matches

__all__ = ["check_renderable", "transition_lines"]


def check_renderable(kind: str) -> None:
    """Refuse a transition the bundled ffmpeg cannot draw, naming close ones it can."""
    have = available_transitions()
    if kind not in have:
        near = close_matches(kind, have)
        raise InvalidInput(f"transition {kind!r} is not available with this ffmpeg"
                           + (f"; close: {', '.join(near)}" if near else ""))


def _xfade(a: str, b: str, out: str, name: str, frames: int, fps: int, tail: str = "") -> str:
    return (f"[{a}][{b}]xfade=transition={name}:duration={frames / fps:.6f}:offset=0"
            f"{tail}[{out}]")


def _halves(tag: str, src: str, h: int) -> tuple[list[str], str, str]:
    """Split `src` into its first `h` frames and the rest: (lines, first, rest)."""
    first, rest = f"{tag}f", f"{tag}r"
    return [f"[{src}]split=2[{tag}s0][{tag}s1]",
            f"[{tag}s0]trim=end_frame={h},setpts=PTS-STARTPTS[{first}]",
            f"[{tag}s1]trim=start_frame={h},setpts=PTS-STARTPTS[{rest}]"], first, rest


def transition_lines(kind: str, a: str, b: str, out: str, frames: int, fps: int,
                     size: tuple[int, int], tag: str) -> list[str]:
    """Lines that turn pads [a] (clip A's last `frames` frames) and [b] (clip B's first
    `frames`) into [out]: `frames` frames of yuv420p. `tag` makes the inner pads unique."""
    info = TRANSITIONS[kind]
    if info.xfade is not None:
        return [_xfade(a, b, out, info.xfade, frames, fps, ",format=yuv420p")]
    if kind in ("dip_black", "dip_white"):
        return _dip(a, b, out, frames, fps, size, tag, kind.removeprefix("dip_"))
    if kind == "whip":
        return _whip(a, b, out, frames, fps, size, tag)
    raise ValueError(f"{kind!r} is no transition with frames (a cut has none)")


def _dip(a: str, b: str, out: str, k: int, fps: int, size: tuple[int, int], tag: str,
         colour: str) -> list[str]:
    h = k // 2
    w, ht = size
    lines = [f"color=c={colour}:s={w}x{ht}:r={fps},format=yuv420p,setsar=1,"
             f"trim=end_frame={k},setpts=PTS-STARTPTS,settb=1/{fps}[{tag}c]"]
    if h == 0:  # one frame: the colour itself
        return [*lines, f"[{a}]nullsink", f"[{b}]nullsink", f"[{tag}c]null[{out}]"]
    split_c, c0, c1 = _halves(f"{tag}k", f"{tag}c", h)
    a0, b1 = f"{tag}a0", f"{tag}b1"
    return [*lines, *split_c,
            f"[{a}]trim=end_frame={h},setpts=PTS-STARTPTS[{a0}]",
            f"[{b}]trim=start_frame={h},setpts=PTS-STARTPTS[{b1}]",
            _xfade(a0, c0, f"{tag}x0", "fade", h, fps),
            _xfade(c1, b1, f"{tag}x1", "fade", k - h, fps),
            f"[{tag}x0][{tag}x1]concat=n=2:v=1:a=0,format=yuv420p,settb=1/{fps}[{out}]"]


def _whip(a: str, b: str, out: str, k: int, fps: int, size: tuple[int, int],
          tag: str) -> list[str]:
    sigma = max(1.0, size[0] / 16)
    slide = [f"[{a}][{b}]xfade=transition=slideleft:duration={k / fps:.6f}:offset=0,"
             f"split=2[{tag}sh][{tag}m0]",
             f"[{tag}m0]gblur=sigma={sigma:g}:sigmaV=0[{tag}bl]"]
    h = k // 2
    if h == 0:
        return [*slide, f"[{tag}sh]nullsink", f"[{tag}bl]format=yuv420p[{out}]"]
    split_s, s0, s1 = _halves(f"{tag}s", f"{tag}sh", h)
    split_b, b0, b1 = _halves(f"{tag}b", f"{tag}bl", h)
    return [*slide, *split_s, *split_b,
            _xfade(s0, b0, f"{tag}x0", "fade", h, fps),
            _xfade(b1, s1, f"{tag}x1", "fade", k - h, fps),
            f"[{tag}x0][{tag}x1]concat=n=2:v=1:a=0,format=yuv420p,settb=1/{fps}[{out}]"]
