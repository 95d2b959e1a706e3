"""Live preview: any range of the timeline at 360p, in short pieces rendered on demand.

Why pieces: after one edit a person wants to see it now, not after a full render. The film
is cut into pieces of at most `PIECE_S` seconds, aligned to the cuts: each clip's own stretch
(not under a transition) is chunked from the clip's first frame on the film, and each
transition is a piece of its own. A piece is rendered at 360p by the export engine's filter
graph from 360p mezzanines of the editing proxies (`media/proxy.py`, `render/mezzanine.py`),
with the overlay items that draw in its window, and kept in the project's `cache/preview/`
under a key of exactly what it shows (`segments.Piece.key`: sources, trims, effects,
transition, and the overlay graph and its place in the film when one draws on it). So a
trim re-renders only the pieces of the trimmed clip near the trim and the transition after
it; the clips after it only moved on the film and keep their keys; moving a logo re-renders
the pieces under its old and its new place. Pieces are rendered in playing order, so the
first one is ready after one short encode.

Every piece uses the same encoder settings, so the pieces of a range join by stream copy
into one MP4 (`join`). The sound is mixed after the picture (`finishing.prepare(
defer_sound=True)`). A scrub strip is a small JPEG every few frames decoded from the pieces
and cached per piece, so the playhead shows a frame without any render.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import av

from nbvideo.edit.effects import lut_file
from nbvideo.edit.timeline import Entry, require_clips
from nbvideo.errors import InvalidInput, MediaMissing, render_step
from nbvideo.media import proxy
from nbvideo.media.ffmpeg import run_ffmpeg
from nbvideo.model.state import Finishing
from nbvideo.model.tracks import tracks_in_use
from nbvideo.render import engine as render
from nbvideo.render import finishing
from nbvideo.render.cache import bound_cache
from nbvideo.render.mezzanine import EncodeParams, Mezzanine, mezzanine_key, normalize
from nbvideo.render.segments import Piece, _encoded, spans_to_frames
from nbvideo.render.smart_render import _encode_piece, _fx_ids, _write_video
from nbvideo.runtime.context import Runtime

__all__ = ["PIECE_S", "PREVIEW_DIR", "PREVIEW_SHORT_SIDE", "PreviewPiece", "PreviewPlan",
           "StripFrame", "join", "plan", "preview_size", "render_pieces", "scrub_strip"]

PREVIEW_DIR = "cache/preview"  # mezzanines, pieces, strips, joined ranges; safe to delete
PREVIEW_SHORT_SIDE = 360
PIECE_S = 1.0  # longest piece (a transition longer than this is one longer piece)
PREVIEW_CRF = 26
PREVIEW_CACHE_BYTES = 1 << 30
STRIP_HEIGHT = 90
_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def preview_size(aspect: str) -> tuple[int, int]:
    """The preview's frame: short side 360 px, both sides even (16:9 -> 640x360)."""
    w, h = (int(x) for x in aspect.split(":"))
    k = PREVIEW_SHORT_SIDE / min(w, h)
    return round(w * k / 2) * 2, round(h * k / 2) * 2


@dataclass
class PreviewPiece:
    """Film frames [start, start + frames) as one small MP4 at `path` (made or not yet)."""

    index: int
    start: int
    frames: int
    fps: int
    key: str
    path: Path
    rendered: bool = False  # made by this preview (False: found in the cache)

    @property
    def start_s(self) -> float:
        return self.start / self.fps

    @property
    def end_s(self) -> float:
        return (self.start + self.frames) / self.fps


@dataclass
class PreviewPlan:
    """The pieces of one state of the timeline, and how to make each."""

    root: Path
    fps: int
    size: tuple[int, int]
    total: int  # frames of the whole film
    pieces: list[PreviewPiece]  # the range's pieces, in order
    prepared: finishing.Prepared
    params: EncodeParams
    _plan_pieces: list[Piece] = field(repr=False, default_factory=list)
    _graphs: list[str | None] = field(repr=False, default_factory=list)
    _mezz: list[tuple[Path, int, object, Path]] = field(repr=False, default_factory=list)
    _work: Path | None = field(repr=False, default=None)

    @property
    def start_s(self) -> float:
        return self.pieces[0].start_s if self.pieces else 0.0

    @property
    def end_s(self) -> float:
        return self.pieces[-1].end_s if self.pieces else 0.0

    @property
    def rendered(self) -> int:
        """Pieces this preview rendered (the others came from the cache)."""
        return sum(p.rendered for p in self.pieces)

    def sound(self) -> Path | None:
        """The whole film's soundtrack, mixed now if not cached (None: the film is silent)."""
        if self.prepared.sound is None:
            return self.prepared.audio
        return self.prepared.sound()[0]


def _cache(rt: Runtime) -> Path:
    return rt.store.path(PREVIEW_DIR)


def _clips(rt: Runtime, entries: list[Entry]) -> list[render.RenderClip]:
    """The timeline's clips, each read from its editing proxy where it has one (a proxy has
    the source's frames and duration, so trims and effects mean the same on it)."""
    out = []
    for e in entries:
        take = e.clip
        src = rt.store.path(take.path)  # type: ignore[union-attr, arg-type]
        if not src.is_file():
            raise MediaMissing(f"scene {e.number}: clip {take.path} is missing; "  # type: ignore[union-attr]
                               "choose another take or generate the clip again")
        shown = src
        if take is not None and take.checksum and proxy.needs_proxy(take.width, take.height):
            shown = proxy.ensure(rt.store.root, src, take.checksum, take.width,
                                 take.height) or src
        out.append(render.RenderClip(
            path=shown, duration_s=e.source_s, trim_in_s=e.trim_in_s, trim_out_s=e.trim_out_s,
            transition=e.transition, effects=e.effects if e.effects.active else None,
            lut=lut_file(rt, e.effects, f"scene {e.number}: effects.lut")))
    return out


def _cut_pieces(segs: list[render._Seg], piece_frames: int, dirty: list[tuple[int, int]]
                ) -> list[Piece]:
    """Pieces aligned to the cuts: each clip's own stretch in chunks of `piece_frames` from
    its first frame on the film, each transition whole."""
    starts, frames, xfades = [s.start for s in segs], [s.frames for s in segs], [s.xfade for s in segs]
    kinds = [s.kind for s in segs]
    pos = [0]
    for n, x in zip(frames[:-1], xfades[:-1]):
        pos.append(pos[-1] + n - x)
    cuts: list[tuple[int, int]] = []
    last = len(segs) - 1
    for i, (p, n) in enumerate(zip(pos, frames)):
        lo = p + (xfades[i - 1] if i else 0)
        hi = p + n - (xfades[i] if i < last else 0)
        cuts += [(a, min(hi, a + piece_frames)) for a in range(lo, hi, piece_frames)]
        if i < last and xfades[i]:
            cuts.append((pos[i + 1], pos[i + 1] + xfades[i]))
    return [_encoded(a, b, pos, starts, frames, xfades, kinds, dirty) for a, b in sorted(cuts)]


def plan(rt: Runtime, start_s: float = 0.0, end_s: float | None = None, *,
         piece_s: float = PIECE_S) -> PreviewPlan:
    """The pieces that show [start_s, end_s) of the film as it is now (end None: the end),
    each keyed; nothing is rendered yet (the finishing's sound is left for later)."""
    if not 0 < piece_s <= 10:
        raise InvalidInput(f"piece_s must be in (0, 10] seconds, got {piece_s!r}")
    with rt.guard:
        es = require_clips(rt)
        clips = _clips(rt, es)
        finished = rt.state.finishing != Finishing() or any(
            e.scene.kind == "presenter" for e in es) or tracks_in_use(rt.state.timeline.tracks)
        fps, aspect = rt.state.brief.fps, rt.state.brief.aspect
    size = preview_size(aspect)
    work = _cache(rt) / "work"
    work.mkdir(parents=True, exist_ok=True)
    with render_step("preview"):
        prep = (finishing.prepare(rt, es, clips, size, fps, None, work, accept=True,
                                  defer_sound=True)
                if finished else finishing.Prepared(clips=clips))
    segs = render._plan(prep.clips, fps)
    total = sum(s.frames for s in segs) - sum(s.xfade for s in segs)
    end_s = total / fps if end_s is None else end_s
    if not (0 <= start_s < end_s and start_s < total / fps):
        raise InvalidInput(f"preview range: start_s must be >= 0 and before end_s and the end of "
                           f"the film ({total / fps:g} s); got start_s={start_s!r}, end_s={end_s!r}")
    params = EncodeParams(width=size[0], height=size[1], fps=fps, fit="crop", crf=PREVIEW_CRF,
                          preset="veryfast")
    if prep.overlay and prep.overlay_spans is not None:
        dirty = spans_to_frames(prep.overlay_spans, fps, total)
    else:  # no overlay, or one on every frame (a watermark)
        dirty = [(0, total)] if prep.overlay else []
    planned = _cut_pieces(segs, max(1, round(piece_s * fps)), dirty)
    # Each clip's mezzanine holds the whole source (not just the kept part), so a trim does
    # not make it again; a clip with effects is its effected window, keyed by them.
    mezz_dir = _cache(rt) / "mezzanine" / params.key()
    mezz = []
    for c, s, fx_id in zip(prep.clips, segs, _fx_ids(segs)):
        n = s.start + s.frames if s.fx is not None else max(
            s.start + s.frames, round(c.duration_s * fps))
        fx = segs[fx_id].fx if fx_id >= 0 else None
        key = mezzanine_key(c.path.resolve(), n, params, fx)
        mezz.append((c.path.resolve(), n, fx, mezz_dir / f"{key}.mp4"))
    mkeys = [m[3].stem for m in mezz]
    lo, hi = round(start_s * fps), min(total, round(end_s * fps))
    pieces, graphs, chosen = [], [], []
    for p in planned:
        graph = ((prep.overlay_for(p.out_start / fps, (p.out_start + p.frames) / fps)
                  if prep.overlay_for is not None else prep.overlay) if p.overlay else None)
        if p.out_start + p.frames <= lo or p.out_start >= max(hi, lo + 1):
            continue
        key = p.key(mkeys, params.key(), graph)
        pieces.append(PreviewPiece(len(pieces), p.out_start, p.frames, fps, key,
                                   _cache(rt) / "pieces" / f"{key}.mp4"))
        graphs.append(graph)
        chosen.append(p)
    return PreviewPlan(root=rt.store.root, fps=fps, size=size, total=total, pieces=pieces,
                       prepared=prep, params=params, _plan_pieces=chosen, _graphs=graphs,
                       _mezz=mezz, _work=work)


def _lock(path: Path) -> threading.Lock:
    with _guard:
        return _locks.setdefault(str(path), threading.Lock())


def _mezzanine(pp: PreviewPlan, clip: int) -> Mezzanine:
    src, n, fx, path = pp._mezz[clip]
    with _lock(path):
        return normalize(src, n, pp.params, path.parent, fx=fx)


def _render_one(pp: PreviewPlan, k: int, cancel: threading.Event | None) -> PreviewPiece:
    piece, out = pp._plan_pieces[k], pp.pieces[k]
    with _lock(out.path):
        if out.path.is_file():
            os.utime(out.path)  # recently used: evicted last
            return out
        used = sorted({q.clip for q in piece.parts})
        mezz: list[Mezzanine | None] = [None] * len(pp._mezz)
        for c in used:
            mezz[c] = _mezzanine(pp, c)
        out.path.parent.mkdir(parents=True, exist_ok=True)
        _encode_piece(piece, mezz, pp.params, pp._graphs[k], out.path, cancel)  # type: ignore[arg-type]
        out.rendered = True
    return out


def render_pieces(pp: PreviewPlan, *, workers: int | None = None,
                  cancel: threading.Event | None = None) -> Iterator[PreviewPiece]:
    """Render the plan's missing pieces, yielding every piece in playing order as soon as
    it and all before it are on disk (the first after one short encode)."""
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers, thread_name_prefix="nbvideo-preview") as pool:
        futures: list[Future[PreviewPiece]] = [
            pool.submit(_render_one, pp, k, cancel) for k in range(len(pp.pieces))]
        try:
            for f in futures:
                yield f.result()
        finally:
            for f in futures:
                f.cancel()
    bound_cache(pp.root / PREVIEW_DIR, PREVIEW_CACHE_BYTES, keep={p.path for p in pp.pieces})


def join(pp: PreviewPlan, *, sound: bool = True) -> Path:
    """The range's pieces (rendered if missing) stream-copied into one MP4, with the
    soundtrack of the same stretch when `sound` and the film has one. Cached by the pieces'
    keys: asking again for an unchanged range copies nothing."""
    for _ in render_pieces(pp):
        pass
    track = pp.sound() if sound else None
    what = [[p.key for p in pp.pieces], str(track.name) if track else None]
    key = hashlib.sha256(json.dumps(what).encode()).hexdigest()[:24]
    out = pp.root / PREVIEW_DIR / "ranges" / f"{key}.mp4"
    if out.is_file():
        os.utime(out)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{key}.{secrets.token_hex(4)}.part.mp4")
    try:
        with tempfile.TemporaryDirectory(prefix="nbvideo-preview-") as work:
            video = Path(work) / "video.mp4"
            _write_video([(p.path, 0, p.frames) for p in pp.pieces], pp.fps, video)
            span = pp.end_s - pp.start_s
            audio = (["-ss", f"{pp.start_s:.6f}", "-t", f"{span:.6f}", "-i", str(track),
                      "-map", "1:a:0", "-c:a", "aac", "-b:a", "128k"] if track else [])
            run_ffmpeg(["-i", str(video), *audio, "-map", "0:v:0", "-c:v", "copy",
                        "-movflags", "+faststart", "-f", "mp4", str(tmp)], total_s=None)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


@dataclass(frozen=True)
class StripFrame:
    """One scrub-strip image: the film frame `frame` (at `t_s`) as a small JPEG."""

    frame: int
    t_s: float
    path: Path


def _piece_strip(piece: PreviewPiece, every: int, height: int) -> list[StripFrame]:
    """JPEGs of frames 0, every, 2*every, ... of one piece, decoded once and kept beside
    the pieces under the piece's key."""
    folder = piece.path.parent.parent / "strips" / f"{piece.key}-e{every}-h{height}"
    want = list(range(0, piece.frames, every))
    paths = [folder / f"{k:05d}.jpg" for k in want]
    with _lock(folder):
        if not all(p.is_file() for p in paths):
            folder.mkdir(parents=True, exist_ok=True)
            with av.open(str(piece.path)) as c:
                for n, frame in enumerate(c.decode(video=0)):
                    if n % every or n >= piece.frames:
                        continue
                    img = frame.to_image()
                    w = max(2, round(img.width * height / img.height))
                    dest = folder / f"{n:05d}.jpg"
                    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(3)}")
                    img.resize((w, height)).save(tmp, "JPEG", quality=72)
                    os.replace(tmp, dest)
    return [StripFrame(piece.start + k, (piece.start + k) / piece.fps, p)
            for k, p in zip(want, paths)]


def scrub_strip(pp: PreviewPlan, every: int = 4, height: int = STRIP_HEIGHT,
                cancel: threading.Event | None = None) -> list[StripFrame]:
    """A JPEG every `every` frames of each piece of the plan (pieces rendered if missing;
    images cached per piece, so an edit re-decodes only the pieces it touched)."""
    for name, value, lo, hi in (("every", every, 1, 120), ("height", height, 16, 360)):
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise InvalidInput(f"scrub strip: {name} must be a whole number from {lo} to {hi}, "
                               f"got {value!r}")
    out: list[StripFrame] = []
    for piece in render_pieces(pp, cancel=cancel):
        out += _piece_strip(piece, every, height)
    return out

