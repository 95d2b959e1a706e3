"""Smart export: copy untouched stretches of video bit for bit, re-encode only what changed.

1. Each clip is normalized once per output format into a mezzanine (`mezzanine.py`).
2. The timeline becomes a plan of pieces (`segments.py`): stretches copied from mezzanines
   between keyframes, and encoded pieces around cuts off keyframes, transitions and captions.
3. Encoded pieces are rendered in parallel by the export engine's own filter graph from the
   mezzanines, with the encoder settings of the mezzanines, and cached by a key of
   everything that decides their pixels — a re-export after one scene changed re-encodes
   only that scene's pieces.
4. The packets are written into one MP4 in order, each frame stamped with its output frame
   number, so timestamps are exact by construction; the soundtrack, encoded once for the
   whole film, is muxed next to them (no per-segment AAC priming to drift).

When a timeline cannot be done this way (an overlay over the whole film, a source ffmpeg
cannot normalize, encoders that disagree), the single-filter-graph export runs instead and
the result says why. Output goes to a temp file and is renamed on success, like `render`.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av

from nbvideo.errors import MediaMissing, render_step
from nbvideo.media.ffmpeg import FFmpegError, MediaInfo, RenderCanceled, run_ffmpeg
from nbvideo.model.state import frame_size
from nbvideo.render import engine as render
from nbvideo.render.cache import bound_cache
from nbvideo.render.chunks import (
    Span,
    graph_bytes,
    make_room,
    overlay_sources,
    plan_chunks,
    shifted_overlay,
)
from nbvideo.render.engine import RenderClip, RenderResult, RenderSpec
from nbvideo.render.mezzanine import EncodeParams, Mezzanine, normalize
from nbvideo.render.segments import Part, Piece, plan_pieces, spans_to_frames

__all__ = ["DEFAULT_CACHE_BYTES", "encode_params", "export_smart"]

DEFAULT_CACHE_BYTES = 2 << 30


class _SmartUnsupported(Exception):
    """This timeline cannot be smart-rendered; the message says why. Internal: export_smart
    catches it and runs the full path, and its message becomes the record's render.fallback."""


def encode_params(spec: RenderSpec, size: tuple[int, int]) -> EncodeParams:
    """The mezzanine and piece settings for an export spec."""
    return EncodeParams(width=size[0], height=size[1], fps=spec.fps, fit=spec.fit, crf=spec.crf,
                        preset=spec.preset, video_args=tuple(spec.video_args))


def _encode_piece(piece: Piece, mezz: list[Mezzanine], params: EncodeParams, overlay: str | None,
                  out: Path, cancel: threading.Event | None) -> None:
    """Render one encoded piece from the mezzanines with the shared encoder settings."""
    size = (params.width, params.height)
    files = list(dict.fromkeys(p.clip for p in piece.parts))
    index = {c: k for k, c in enumerate(files)}
    info = MediaInfo(path="", width=size[0], height=size[1], codec="h264", pix_fmt="yuv420p",
                     fps=params.fps, frames=0, duration_s=0, has_audio=False, size_bytes=0)
    spec = RenderSpec.model_construct(
        fps=params.fps, fit=params.fit,
        overlay=shifted_overlay(overlay, piece.out_start) if piece.overlay and overlay else None)
    # Seek each mezzanine to the keyframe before the first frame used, when that time is a
    # whole number of microseconds (what -ss takes): no decoding of frames thrown away.
    base = {}
    for c in files:
        k = min(p.start for p in piece.parts if p.clip == c) // params.gop * params.gop
        base[c] = k if k and (k * 1_000_000) % params.fps == 0 else 0
    segs = [render._Seg(start=p.start - base[p.clip], frames=p.frames, xfade=p.xfade,
                        kind=p.kind) for p in piece.parts]
    graph = render._filter_graph([info] * len(segs), segs, spec, size)  # type: ignore[arg-type]
    for k, p in enumerate(piece.parts):  # graph inputs are numbered per part; map to files
        graph = graph.replace(f"[{k}:v:0]", f"[in{index[p.clip]}_{k}]")
    splits = []
    for c in files:
        users = [k for k, p in enumerate(piece.parts) if p.clip == c]
        labels = "".join(f"[in{index[c]}_{k}]" for k in users)
        splits.append(f"[{index[c]}:v:0]split={len(users)}{labels}" if len(users) > 1
                      else f"[{index[c]}:v:0]null{labels}")
    dec = render.decoder_bounds(info)  # the mezzanines are at the output size
    args = [a for c in files
            for a in (*(["-ss", f"{base[c] / params.fps:.6f}"] if base[c] else []),
                      *dec, "-i", str(mezz[c].path))]
    tmp = out.with_name(f".{out.stem}.{secrets.token_hex(4)}.part.mp4")
    try:
        run_ffmpeg([*args, "-filter_complex", ";".join([*splits, graph]), "-map", "[vout]",
                    "-an", "-sn", "-dn", *params.x264_args(), "-frames:v", str(piece.frames),
                    "-f", "mp4", str(tmp)], total_s=None, cancel=cancel)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _gated(pieces: list[Piece], size: tuple[int, int], budget: int, overlays: int) -> list[Piece]:
    """The pieces with every encoded one held to the memory gate: a piece whose graph
    (`chunks.graph_bytes`, inputs at the output size: the mezzanines) would exceed `budget`
    becomes consecutive smaller pieces, cut where `plan_chunks` cuts (never inside a
    transition). Each opens on a keyframe of its own, so they join like any other piece."""
    out: list[Piece] = []
    for piece in pieces:
        if piece.kind != "encode":
            out.append(piece)
            continue
        parts = piece.parts
        plan = plan_chunks([Span(frames=p.frames, xfade=p.xfade, source=size) for p in parts],
                           size, budget=budget, overlays=overlays if piece.overlay else 0)
        if len(plan) == 1:
            out.append(piece)
            continue
        out.extend(Piece(kind="encode", out_start=piece.out_start + c.start, frames=c.frames,
                         parts=tuple(Part(clip=parts[t.clip].clip,
                                          start=parts[t.clip].start + t.skip, frames=t.frames,
                                          xfade=t.xfade, kind=parts[t.clip].kind)
                                     for t in c.takes), overlay=piece.overlay)
                   for c in plan)
    return out


def _fx_ids(segs: list[render._Seg]) -> list[int]:
    """Per clip: -1 without effects, else the index of the first clip with the same
    effects on the same window (so a take used twice with one effect is one mezzanine)."""
    out: list[int] = []
    for i, s in enumerate(segs):
        same = [j for j in range(i) if segs[j].fx is not None and s.fx is not None
                and segs[j].fx == s.fx]
        out.append(-1 if s.fx is None else same[0] if same else i)
    return out


def _write_video(sources: list[tuple[Path, int, int]], fps: int, out: Path) -> int:
    """Packets [first, first + count) of each source, in order, into one MP4 video track,
    frame n stamped n/fps. Returns the frame count. Raises _SmartUnsupported if the sources
    were encoded with different codec setup or a copy does not start on a keyframe."""
    tb = Fraction(1, fps)
    with av.open(str(sources[0][0])) as first:
        template = first.streams.video[0]
        extradata = bytes(template.codec_context.extradata or b"")
        with av.open(str(out), "w", format="mp4") as dst:
            ost = dst.add_stream_from_template(template)
            ost.time_base = tb
            n = 0
            for path, start, count in sources:
                with av.open(str(path)) as src:
                    ist = src.streams.video[0]
                    if bytes(ist.codec_context.extradata or b"") != extradata:
                        raise _SmartUnsupported(f"{path.name} was encoded with different settings")
                    for i, pkt in enumerate(p for p in src.demux(ist) if p.size):
                        if i < start:
                            continue
                        if i >= start + count:
                            break
                        if i == start and not pkt.is_keyframe:
                            raise _SmartUnsupported(f"{path.name}: frame {start} is no keyframe")
                        pkt.stream = ost
                        pkt.pts = pkt.dts = n
                        pkt.duration = 1
                        pkt.time_base = tb
                        dst.mux(pkt)
                        n += 1
    return n


def export_smart(
    clips: list[RenderClip],
    spec: RenderSpec,
    cache_dir: Path,
    *,
    overlay_spans: list[tuple[float, float]] | None = None,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    on_progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
    on_mezzanine: Callable[[Mezzanine], None] | None = None,
    overlay_for: Callable[[float, float], str | None] | None = None,
) -> RenderResult:
    """Export like `render.export_timeline`, re-encoding only what needs new pixels.

    `overlay_spans`: the seconds of the film where `spec.overlay` draws (captions); with an
    overlay and no spans the overlay is taken to cover the whole film, and the full path runs.
    `cache_dir` holds mezzanines and encoded pieces, at most `cache_bytes` (least recently
    used evicted). `on_mezzanine` hears of each mezzanine used (built or found).
    `overlay_for(start_s, end_s)`, when given, is the part of `spec.overlay` that draws on
    that stretch of the film (the overlay items there, not the others): a piece is rendered
    and cached with it, so changing one item re-encodes only the pieces that item is on.
    """
    segs = render._plan(clips, spec.fps)
    for i, c in enumerate(clips):
        if not c.path.is_file():
            raise MediaMissing(f"clip {i}: path {c.path} does not exist")
    size = frame_size(spec.aspect, spec.resolution)
    infos = [render._inspect(c.path) for c in clips]
    if render._can_copy(infos, segs, spec, size):  # plain concat is cheaper still
        return render.export_timeline(clips, spec, on_progress=on_progress, cancel=cancel)
    try:
        return _smart(clips, segs, infos, spec, size, cache_dir, overlay_spans, cache_bytes,
                      on_progress, cancel, on_mezzanine, overlay_for)
    except _SmartUnsupported as why:
        result = render.export_timeline(clips, spec, on_progress=on_progress, cancel=cancel)
        return result.model_copy(update={"fallback": str(why)})


def _smart(clips: list[RenderClip], segs: list[render._Seg], infos: list[MediaInfo],
           spec: RenderSpec,
           size: tuple[int, int], cache_dir: Path, overlay_spans: list[tuple[float, float]] | None,
           cache_bytes: int, on_progress: Callable[[float], None] | None,
           cancel: threading.Event | None,
           on_mezzanine: Callable[[Mezzanine], None] | None,
           overlay_for: Callable[[float, float], str | None] | None = None) -> RenderResult:
    fps = spec.fps
    total = sum(s.frames for s in segs) - sum(s.xfade for s in segs)
    if spec.overlay and overlay_spans is None:
        raise _SmartUnsupported("the overlay covers the whole film (e.g. a logo watermark)")
    if spec.audio is not None and not spec.audio.is_file():
        raise MediaMissing(f"audio: {spec.audio} does not exist")
    params = encode_params(spec, size)
    mezz_frames = [s.start + s.frames for s in segs]
    dirty = spans_to_frames(overlay_spans or [], fps, total) if spec.overlay else []
    pieces = plan_pieces([s.start for s in segs], [s.frames for s in segs],
                         [s.xfade for s in segs], mezz_frames, params.gop, dirty,
                         [s.kind for s in segs])
    if not any(p.kind == "copy" for p in pieces):
        raise _SmartUnsupported("no stretch of the timeline is long enough to copy")
    # The graphs running at once share the memory budget: as many workers as mezzanine
    # builds (one source, one encoder: the smallest graph there is) fit in it, so above
    # 1080p one ffmpeg at a time (a 4K encode already uses every core and holds ~0.7 GB).
    # Each encoded piece is then held to its share of the budget.
    one = max(graph_bytes([(i.width, i.height)], size) for i in infos)
    workers = 1 if render.heavy(size) else max(1, min(4, os.cpu_count() or 1,
                                                      spec.max_graph_bytes // one))
    pieces = _gated(pieces, size, spec.max_graph_bytes // workers, overlay_sources(spec.overlay))
    make_room(size)
    mezz_dir, seg_dir = cache_dir / "mezzanine" / params.key(), cache_dir / "segments"
    seg_dir.mkdir(parents=True, exist_ok=True)
    on_progress = render._monotonic(on_progress)
    encode_frames = sum(p.frames for p in pieces if p.kind == "encode")
    mezz_cost = sum(mezz_frames)  # a rough common unit of work for the progress fraction
    work_total = max(1, mezz_cost + encode_frames)
    done = 0
    lock = threading.Lock()

    def advance(units: int) -> None:
        nonlocal done
        with lock:
            done += units
            frac = 0.95 * done / work_total
        if on_progress is not None:
            on_progress(frac)

    # A take used twice at the same length is one mezzanine, made once.
    # (A clip with effects is its own mezzanine: its effected window, keyed by its effects.)
    jobs = [(clips[i].path.resolve(), mezz_frames[i], n) for i, n in enumerate(_fx_ids(segs))]
    wanted = list(dict.fromkeys(jobs))

    def make_mezz(job: tuple[Path, int, int]) -> Mezzanine:
        try:
            m = normalize(job[0], job[1], params, mezz_dir, cancel, segs[job[2]].fx
                          if job[2] >= 0 else None)
        except FFmpegError as e:
            raise _SmartUnsupported(f"{job[0].name} could not be normalized: {e}") from e
        advance(job[1] * sum(1 for j in jobs if j == job))
        return m

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        made = dict(zip(wanted, pool.map(make_mezz, wanted)))
    if on_mezzanine is not None:
        for m in made.values():
            on_mezzanine(m)
    mezz = [made[j] for j in jobs]
    keys = [m.key for m in mezz]
    paths: dict[int, Path] = {}
    todo = []
    graphs: dict[int, str | None] = {}
    for n, p in enumerate(pieces):
        if p.kind != "encode":
            continue
        graphs[n] = (overlay_for(p.out_start / fps, (p.out_start + p.frames) / fps)
                     if overlay_for is not None and p.overlay else spec.overlay)
        path = seg_dir / f"{p.key(keys, params.key(), graphs[n])}.mp4"
        paths[n] = path
        if path.is_file():
            os.utime(path)
            advance(p.frames)
        else:
            todo.append(n)

    def make_piece(n: int) -> None:
        if cancel is not None and cancel.is_set():
            raise RenderCanceled("render canceled")
        try:
            _encode_piece(pieces[n], mezz, params, graphs[n], paths[n], cancel)
        except FFmpegError as e:
            raise _SmartUnsupported(f"a piece at frame {pieces[n].out_start} could not be "
                                   f"encoded: {e}") from e
        advance(pieces[n].frames)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(make_piece, todo))
    sources = [(paths[n], 0, p.frames) if p.kind == "encode"
               else (mezz[p.parts[0].clip].path, p.parts[0].start, p.frames)
               for n, p in enumerate(pieces)]
    tmp = render._temp_beside(spec.out, ".part")
    try:
        with tempfile.TemporaryDirectory(prefix="nbvideo-smart-") as work:
            video = Path(work) / "video.mp4"
            try:
                written = _write_video(sources, fps, video)
            except av.FFmpegError as exc:  # a cached piece or mezzanine is damaged
                raise _SmartUnsupported(f"the pieces could not be joined: {exc}") from exc
            if written != total:
                raise _SmartUnsupported(f"the pieces hold {written} frames; planned {total}")
            audio = (["-i", str(spec.audio), "-map", "1:a:0"] if spec.audio is not None
                     else [])
            with render_step("mux"):
                run_ffmpeg(["-i", str(video), *audio, "-map", "0:v:0", "-c", "copy",
                            "-movflags", "+faststart", "-f", "mp4", str(tmp)],
                           total_s=None, cancel=cancel)
        info = render._inspect(tmp)
        if info.frames != total or (info.width, info.height) != size:
            raise _SmartUnsupported(f"smart export produced {info.frames} frames at "
                                   f"{info.width}x{info.height}; planned {total} at {size}")
        os.replace(tmp, spec.out)
    finally:
        tmp.unlink(missing_ok=True)
    bound_cache(cache_dir, cache_bytes, keep={*paths.values(), *(m.path for m in mezz)})
    if on_progress is not None:
        on_progress(1.0)
    encoded = [p for n, p in enumerate(pieces) if p.kind == "encode" and n in todo]
    return RenderResult(
        path=spec.out, width=info.width, height=info.height, fps=info.fps, frames=info.frames,
        duration_s=info.duration_s, size_bytes=info.size_bytes, stream_copy=False,
        command=[], mode="smart",
        segments_copied=sum(p.kind == "copy" for p in pieces),
        segments_encoded=len(encoded),
        segments_cached=sum(p.kind == "encode" for p in pieces) - len(encoded),
        seconds_encoded=round(sum(p.frames for p in encoded) / fps, 3),
        seconds_total=round(total / fps, 3),
        mezzanines_built=sum(m.built for m in made.values()),
        elapsed_s=round(time.perf_counter() - started, 3),
    )
