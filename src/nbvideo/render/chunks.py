"""The one memory gate of rendering: what an ffmpeg filter graph holds, and how to split a
timeline into consecutive graphs that each stay under a budget.

At 4K a frame is 12 MB (yuv420p) and one ffmpeg holding a whole film holds, for EVERY input
at once, an open decoder with its reference and thread frames plus the frames queued between
decoder and graph; then the transitions' buffers and the encoder's lookahead. Six 4K clips in
one graph peaked at 2.4 GB. Rendering the film as consecutive chunks, each its own ffmpeg
with only the clips it shows, bounds the peak by the largest chunk instead of the film.

- `graph_bytes` estimates one graph (decoders, transitions, overlay sources, encoder), with
  the same encoder and decoder settings the render passes (`encoder_bounds`,
  `decoder_bounds`, defined here so the estimate and the command cannot drift apart);
- `plan_chunks` cuts a timeline into chunks whose estimate fits the budget, on whole output
  frames, at hard cuts or in the middle of a clip, never inside a transition;
- `shifted_overlay` runs a film-time overlay graph on a piece that starts later in the film;
- `make_room` gives the Python process's free heap back before a render above 1080p, since
  the budget is for the whole process tree and a kernel can hold a quarter GB it has freed.

Every render path (full export, its chunks, smart-export pieces and mezzanines) asks here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from nbvideo.media.ffmpeg import MediaInfo
from nbvideo.media.heap import release_free_heap
from nbvideo.media.threads import encoder_threads, ffmpeg_threads

__all__ = [
    "GRAPH_BUDGET_BYTES", "HEAVY_LOOKAHEAD", "HEAVY_PIXELS", "HEAVY_THREADS", "Chunk", "Span",
    "Take", "decoder_bounds", "encoder_bounds", "frame_bytes", "graph_bytes", "heavy",
    "make_room", "overlay_sources", "plan_chunks", "shifted_overlay",
]

# Room for one filter graph (decoders + filters + encoder): with the Python process (~0.2 GB
# once `make_room` has returned its free heap) and the sampling margin, a 4K export's whole
# process tree stays under 1.5 GB.
GRAPH_BUDGET_BYTES = 1_150_000_000

# Frames above 1080p (4K is 8.3 Mpx, 12 MB a frame in yuv420p) are where memory goes: x264
# holds lookahead + thread frames of ~40 MB each (planes, half-pel planes, lowres copy) and
# each decoder thread its own frames. Measured on one 4K veryfast encode on 2 cores: default
# threads and lookahead ~0.9 GB; 2 threads and lookahead 5 ~0.5 GB, at the same speed.
HEAVY_PIXELS = 1920 * 1088
HEAVY_LOOKAHEAD = 5
HEAVY_THREADS = 4  # at most; x264's own default is 1.5 x cores, each thread ~40 MB at 4K
_HEAVY_DECODE_THREADS = 2

# The estimate's terms, in frames of the size they are held at (see graph_bytes). Fitted to
# peaks measured at 2160p from 4K sources on 2 cores (this ffmpeg, the bounds above): one
# input re-encoded 0.72 GB; two with a crossfade 1.12-1.14 GB; three, two crossfades 1.42 GB
# (estimates 0.71, 1.10, 1.46). At 1080p from 1080p sources: one input 0.34 GB, four with
# crossfades 0.59, eight 0.87 (estimates 0.30, 0.54, 0.87).
DECODER_FRAMES = 5  # per input up to 1080p: references, decoder threads, the frame queue to
#                     the graph (ffmpeg's scheduler lets each decoder run a few frames ahead)
DECODER_FRAMES_HEAVY = 10  # the same with the decoder's threads bounded above 1080p
CHAIN_FRAMES = 3  # per input: fps/tpad/fit hold a frame or two at the output size
TRANSITION_FRAMES = 9  # per transition: xfade's two inputs queued, in 4:4:4 (2x a 4:2:0 frame)
OVERLAY_FRAMES = 4  # per overlay source (movie=): decoder + scaled RGBA copy at output size
X264_FRAME_FACTOR = 3.3  # an x264 frame is ~3.3 yuv420p frames (padding, hpel, lowres)
X264_FIXED_FRAMES = 5  # references + the frame being encoded + the output picture
GRAPH_FIXED_BYTES = 60_000_000  # ffmpeg itself: code, libraries, muxer, packet queues


def heavy(size: tuple[int, int]) -> bool:
    """Whether frames of this size are above 1080p (encoded and decoded with bounds)."""
    return size[0] * size[1] > HEAVY_PIXELS


def make_room(size: tuple[int, int]) -> bool:
    """Before rendering frames of `size`: above 1080p, return the Python process's free heap
    to the system (media/heap.py), so the graphs get the memory the budget assumes. True
    when memory was released."""
    return heavy(size) and release_free_heap()


def _encoder_threads() -> int:
    """x264 threads above 1080p: a campaign worker's share (media/threads.py), at most
    HEAVY_THREADS."""
    return max(1, min(HEAVY_THREADS, ffmpeg_threads() or os.cpu_count() or 1))


def encoder_bounds(size: tuple[int, int]) -> tuple[list[str], list[str]]:
    """(ffmpeg output arguments, x264 params) that bound an encoder's memory at `size`;
    up to 1080p only a campaign worker's thread share (media/threads.py), so exports outside
    a campaign are made exactly as before. Above: few threads, a short rc lookahead, and no
    threaded lookahead (sync-lookahead=0: x264 otherwise keeps another threads + B-frames
    worth of whole frames queued for its lookahead thread)."""
    if not heavy(size):
        return encoder_threads(), []
    return (["-threads", str(_encoder_threads())],
            [f"rc-lookahead={HEAVY_LOOKAHEAD}", "sync-lookahead=0"])


def decoder_bounds(info: MediaInfo) -> list[str]:
    """ffmpeg input arguments that bound a decoder's memory for a source above 1080p."""
    return (["-threads", str(_HEAVY_DECODE_THREADS)] if heavy((info.width, info.height))
            else [])


def frame_bytes(size: tuple[int, int]) -> int:
    """One yuv420p 8-bit frame."""
    return size[0] * size[1] * 3 // 2


def _encoder_bytes(out: tuple[int, int]) -> int:
    """x264 at `out` with the settings `encoder_bounds` gives it."""
    if heavy(out):
        held = HEAVY_LOOKAHEAD + _encoder_threads() + X264_FIXED_FRAMES
    else:  # x264's defaults: rc-lookahead 10 at veryfast, threads 1.5 x cores, sync lookahead
        threads = ffmpeg_threads() or max(1, round(1.5 * (os.cpu_count() or 1)))
        held = 10 + 2 * threads + X264_FIXED_FRAMES
    return int(held * X264_FRAME_FACTOR * frame_bytes(out))


def graph_bytes(inputs: Sequence[tuple[int, int]], out: tuple[int, int], *,
                transitions: int = 0, overlays: int = 0, encoder: bool = True) -> int:
    """Estimated bytes one ffmpeg holds rendering `inputs` (each decoded at its (w, h)) into
    frames of size `out` with `transitions` transitions and `overlays` overlay sources,
    encoded with x264 at `out` (`encoder=False`: raw output, no encoder)."""
    total = GRAPH_FIXED_BYTES
    for size in inputs:
        frames = DECODER_FRAMES_HEAVY if heavy(size) else DECODER_FRAMES
        total += frames * frame_bytes(size) + CHAIN_FRAMES * frame_bytes(out)
    total += transitions * TRANSITION_FRAMES * 2 * frame_bytes(out)
    total += overlays * OVERLAY_FRAMES * out[0] * out[1] * 4
    if encoder:
        total += _encoder_bytes(out)
    return total


@dataclass(frozen=True)
class Span:
    """One clip of a timeline as the planner sees it: `frames` output frames, the last
    `xfade` of them under a transition into the next clip, decoded at `source` (w, h)."""

    frames: int
    xfade: int
    source: tuple[int, int]


@dataclass(frozen=True)
class Take:
    """A clip's share of a chunk: frames [skip, skip + frames) of clip `clip`'s own output
    frames, and the transition into the next take (`xfade` frames; 0 if the next clip is
    not in this chunk or cut to)."""

    clip: int
    skip: int
    frames: int
    xfade: int


@dataclass(frozen=True)
class Chunk:
    """Output frames [start, start + frames) of the film, rendered from `takes`."""

    start: int
    frames: int
    takes: tuple[Take, ...]
    bytes: int  # graph_bytes of this chunk


def _positions(spans: Sequence[Span]) -> list[int]:
    pos, at = [], 0
    for s in spans:
        pos.append(at)
        at += s.frames - s.xfade
    return pos


def _takes(spans: Sequence[Span], pos: list[int], a: int, b: int) -> tuple[Take, ...]:
    """The clips shown in output frames [a, b) and which of their frames."""
    takes = []
    for i, (s, p) in enumerate(zip(spans, pos)):
        lo, hi = max(a, p), min(b, p + s.frames)
        if hi <= lo:
            continue
        # the transition into clip i + 1 is kept whole when this chunk holds it
        x = s.xfade if hi == p + s.frames else 0
        takes.append(Take(clip=i, skip=lo - p, frames=hi - lo, xfade=x))
    return tuple(takes)


def plan_chunks(spans: Sequence[Span], out: tuple[int, int], *, budget: int = GRAPH_BUDGET_BYTES,
                overlays: int = 0, encoder: bool = True) -> list[Chunk]:
    """Consecutive chunks covering the whole timeline, each as long as its estimated graph
    (`graph_bytes`) allows within `budget`. Cuts fall on whole output frames at a hard cut
    or inside a clip, never inside a transition (a transition's frames are in one chunk,
    with both its clips). A chunk never holds less than what one cut point to the next
    needs, so when even that exceeds the budget the chunk is made anyway (as small as it
    can be): a single clip cannot be split into smaller graphs. One chunk when it all fits.
    """
    if not spans:
        raise ValueError("plan_chunks needs at least one clip")
    pos = _positions(spans)
    total = pos[-1] + spans[-1].frames
    # Inside a transition (strictly between its first and last frame) no cut is allowed.
    inside = set()
    for s, nxt in zip(spans, pos[1:]):
        inside.update(range(nxt + 1, nxt + s.xfade))

    def cost(takes: tuple[Take, ...]) -> int:
        return graph_bytes([spans[t.clip].source for t in takes], out,
                           transitions=sum(1 for t in takes if t.xfade), overlays=overlays,
                           encoder=encoder)

    # Where the set of clips a chunk shows can change: a clip's first frame, and the end.
    marks = sorted({*pos[1:], total})
    chunks: list[Chunk] = []
    a = 0
    while a < total:
        first = a + 1
        while first in inside:
            first += 1
        # The longest chunk showing the same clips as the shortest one from `a`...
        lo = min(m for m in marks if m >= first)
        best = lo
        # ...and any longer one that still fits.
        for m in (m for m in marks if m > lo):
            if cost(_takes(spans, pos, a, m)) > budget:
                break
            best = m
        takes = _takes(spans, pos, a, best)
        chunks.append(Chunk(start=a, frames=best - a, takes=takes, bytes=cost(takes)))
        a = best
    return chunks


def overlay_sources(overlay: str | None) -> int:
    """How many files an overlay graph reads itself (`movie=`: logo, overlay items)."""
    return overlay.count("movie=") if overlay else 0


def shifted_overlay(overlay: str, offset: int) -> str:
    """The overlay graph ([vin] -> [vout], drawing at film times) run on a piece of the film
    that starts `offset` frames in (time base 1/fps): its clock is moved so `t` is film time,
    then moved back so the piece starts at 0."""
    if offset == 0:
        return overlay
    body = overlay.replace("[vin]", "[smart_vin]").replace("[vout]", "[smart_vout]")
    return (f"[vin]setpts=PTS+{offset}[smart_vin];{body};"
            f"[smart_vout]setpts=PTS-STARTPTS[vout]")
