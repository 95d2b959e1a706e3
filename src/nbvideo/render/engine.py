"""Export engine: clips on a timeline -> one MP4 at a chosen aspect and resolution.

Everything is counted in whole output frames, so the file has exactly the frame count that
`plan_duration` promises (a timeline widget and an SRT sidecar can trust it). Two paths:

- stream copy (concat demuxer, `-c copy`) when every clip already is what the output needs:
  as fast as a hand-written concat, no generation loss;
- otherwise ONE ffmpeg filter graph: per clip fps/trim/fit, each transition (a crossfade,
  any other xfade name, a dip or a whip: `render/transitions.py`) over the overlapping
  frames only, then one `concat` of it all, encoded once with libx264.

Output goes to a temp file beside `spec.out` and is renamed only on success, so a failed or
canceled export never leaves a half file or replaces an earlier good one.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nbvideo.errors import MediaMissing, RenderFailed
from nbvideo.media.effects import crop_filter, focus_for, picture_filters, time_filters
from nbvideo.media.ffmpeg import (
    FFmpegError,
    MediaInfo,
    RenderCanceled,
    probe,
    probe_mp4_header,
    run_ffmpeg,
)
from nbvideo.model.effects import Effects, Focus
from nbvideo.model.state import Aspect, ExportResolution, Fit, Transition, frame_size
from nbvideo.render.chunks import (
    GRAPH_BUDGET_BYTES,
    HEAVY_LOOKAHEAD,
    HEAVY_PIXELS,
    HEAVY_THREADS,
    Chunk,
    Span,
    Take,
    decoder_bounds,
    encoder_bounds,
    heavy,
    make_room,
    overlay_sources,
    plan_chunks,
    shifted_overlay,
)
from nbvideo.render.transitions import check_renderable, transition_lines

__all__ = [
    "HEAVY_LOOKAHEAD", "HEAVY_PIXELS", "HEAVY_THREADS", "FFmpegError", "RenderCanceled",
    "RenderClip", "RenderResult", "RenderSpec", "decoder_bounds", "encoder_bounds",
    "export_timeline", "heavy", "plan_duration", "poster_frame",
]

MIN_KEPT_S = 0.5
X264Preset = Literal[
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
]
# Inputs whose aspect is this close to the output's are scaled, not cropped or padded: a 1%
# stretch is invisible, a 2-pixel blurred band is not.
_ASPECT_TOLERANCE = 0.01
# moov index room reserved on the stream-copy path: ~12 bytes a frame in practice.
_MOOV_BASE, _MOOV_PER_FRAME = 16_384, 40
class RenderClip(BaseModel):
    """One clip on the timeline; `transition` leads INTO THE NEXT clip (ignored on the last)."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    duration_s: float = Field(gt=0)
    trim_in_s: float = Field(default=0.0, ge=0)
    trim_out_s: float = Field(default=0.0, ge=0)
    transition: Transition = Field(
        default_factory=lambda: Transition(kind="cut", duration_s=0.0)
    )
    effects: Effects | None = Field(default=None, description=(
        "Speed, reverse, freeze, Ken Burns, focus, look, LUT, blur, vignette (None: none)."))
    lut: Path | None = Field(default=None, description="The effects' LUT file, resolved.")


class RenderSpec(BaseModel):
    """What the export should look like and where it goes."""

    model_config = ConfigDict(extra="forbid")

    aspect: Aspect
    resolution: ExportResolution
    fit: Fit = "crop"
    fps: int = Field(default=30, ge=1, le=120)
    out: Path
    crf: int = Field(default=20, ge=0, le=51)
    preset: X264Preset = "veryfast"
    allow_copy: bool = Field(default=True, description="Stream-copy when no re-encode is needed.")
    overlay: str | None = Field(
        default=None, description="Filter graph lines from [vin] to [vout] laid over the "
        "timeline (captions, logo); forces a re-encode.")
    audio: Path | None = Field(
        default=None, description="A finished soundtrack (AAC in MP4/M4A) of the timeline's "
        "length, muxed as is.")
    video_args: list[str] = Field(
        default_factory=list, description="Extra encoder arguments, e.g. a preset's profile, "
        "level and bitrate ceiling (`EncodingPlan.video_args`).")
    gop_s: float = Field(default=2.0, gt=0, le=10, description="Keyframe interval of the "
                         "full path (a smart export's pieces use their own 0.5 s grain).")
    max_graph_bytes: int = Field(
        default=GRAPH_BUDGET_BYTES, gt=0, description="Memory one ffmpeg filter graph may "
        "hold (render/chunks.py estimates it); a bigger film is rendered in chunks, joined "
        "losslessly. Smart-export pieces are held to it too.")

    @field_validator("out")
    @classmethod
    def _mp4(cls, v: Path) -> Path:
        if v.suffix.lower() != ".mp4":
            raise ValueError(f"out must be an .mp4 path, got {v.name!r}")
        return v


class RenderResult(BaseModel):
    """The exported file as probed from disk, plus the ffmpeg arguments that made it.

    `command` names the final path instead of the temp file it was written to; a concat
    list file it mentions was temporary.
    """

    model_config = ConfigDict(extra="forbid")

    path: Path
    width: int
    height: int
    fps: float
    frames: int
    duration_s: float
    size_bytes: int
    stream_copy: bool
    command: list[str]
    mode: Literal["copy", "full", "smart"] = Field(
        default="full", description="copy: bit-for-bit concat; full: one filter graph; "
        "smart: stretches copied from mezzanines, the rest re-encoded (smart_render).")
    fallback: str | None = Field(default=None, description="Why a smart export ran the full path.")
    chunks: int = Field(default=1, description="ffmpeg graphs the full path ran, one after "
                        "another, to stay under `RenderSpec.max_graph_bytes` (then joined).")
    segments_copied: int = 0
    segments_encoded: int = Field(default=0, description="Pieces encoded by this export.")
    segments_cached: int = Field(default=0, description="Encoded pieces found in the cache.")
    seconds_encoded: float = 0.0
    seconds_total: float = 0.0
    mezzanines_built: int = 0
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class Fx:
    """A clip's effects with the source window they act on (seconds) and the LUT file."""

    effects: Effects
    trim_in_s: float
    source_s: float
    lut: Path | None = None

    def key(self) -> list[object]:
        """What decides the effected pixels (the LUT by its content: a few kilobytes)."""
        import hashlib

        return [self.effects.model_dump(mode="json"), round(self.trim_in_s, 6),
                round(self.source_s, 6),
                hashlib.sha256(self.lut.read_bytes()).hexdigest() if self.lut else None]


@dataclass(frozen=True)
class _Seg:
    """One clip in output frames: skip `start`, keep `frames`, overlap `xfade` frames with
    the next through the transition `kind` (see model/transitions.py). A clip with effects
    (`fx`) is its effected window as the effects play it, `fx_frames` long (0: `frames`),
    of which a chunk shows `frames` from frame `start` (the whole: `start` 0)."""

    start: int
    frames: int
    xfade: int
    kind: str = "crossfade"
    fx: Fx | None = None
    fx_frames: int = 0


def _fmt(x: float) -> str:
    """Seconds for messages: 4.8 -> '4.8', 5 -> '5.0', 4.55 -> '4.55'."""
    s = f"{x:.2f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


def _plan(clips: list[RenderClip], fps: int) -> list[_Seg]:
    """Validate the timeline and turn it into whole frames. Errors name clip index and field."""
    if not clips:
        raise ValueError("a timeline needs at least one clip")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    kept: list[int] = []
    for i, c in enumerate(clips):
        cut = c.trim_in_s + c.trim_out_s
        if c.duration_s - cut < MIN_KEPT_S or round((c.duration_s - cut) * fps) < 1:
            raise ValueError(
                f"clip {i}: trim_in_s + trim_out_s ({_fmt(cut)} s) leaves less than "
                f"{MIN_KEPT_S} s of a {_fmt(c.duration_s)} s clip"
            )
        fx = c.effects
        kept.append(fx.frames(c.duration_s - cut, fps) if fx is not None and fx.active
                    else round((c.duration_s - cut) * fps))
    overlaps = [0] * len(clips)
    for i, c in enumerate(clips[:-1]):
        if c.transition.kind == "cut":
            continue
        d = c.transition.duration_s
        k = round(d * fps)
        if k >= kept[i] or k >= kept[i + 1]:
            raise ValueError(
                f"clip {i}: transition.duration_s ({_fmt(d)} s) must be shorter than the kept "
                f"length of clip {i} ({_fmt(kept[i] / fps)} s) and of clip {i + 1} "
                f"({_fmt(kept[i + 1] / fps)} s)"
            )
        if i > 0 and overlaps[i - 1] + k > kept[i]:
            raise ValueError(
                f"clip {i}: transition.duration_s ({_fmt(d)} s) plus the transition from clip "
                f"{i - 1} ({_fmt(overlaps[i - 1] / fps)} s) exceed the kept length of clip {i} "
                f"({_fmt(kept[i] / fps)} s)"
            )
        check_renderable(c.transition.kind)
        overlaps[i] = k
    return [
        _Seg(start=0 if _fx(c) else round(c.trim_in_s * fps), frames=n, xfade=x,
             kind=c.transition.kind if x else "cut", fx=_fx(c))
        for c, n, x in zip(clips, kept, overlaps)
    ]


def _fx(c: RenderClip) -> Fx | None:
    if c.effects is None or not c.effects.active:
        return None
    return Fx(c.effects, c.trim_in_s, c.duration_s - c.trim_in_s - c.trim_out_s, c.lut)


def plan_duration(clips: list[RenderClip], fps: int) -> tuple[int, float]:
    """Frames and seconds the exported timeline will have (validates the timeline too)."""
    segs = _plan(clips, fps)
    frames = sum(s.frames for s in segs) - sum(s.xfade for s in segs)
    return frames, frames / fps


def _can_copy(infos: list[MediaInfo], segs: list[_Seg], spec: RenderSpec,
              size: tuple[int, int]) -> bool:
    """True when concatenating the files bit for bit gives exactly the planned output."""
    if not spec.allow_copy or spec.overlay:
        return False
    first = infos[0].extradata_sha1
    for info, seg in zip(infos, segs):
        if (
            seg.start or seg.xfade or seg.fx is not None
            or info.frames != seg.frames  # header count is exact for MP4 (stts)
            or info.codec != "h264" or info.pix_fmt != "yuv420p"
            or (info.width, info.height) != size
            or abs(info.fps - spec.fps) > 1e-3 or abs(info.sar - 1.0) > 1e-3
            or info.extradata_sha1 is None or info.extradata_sha1 != first
        ):
            return False
    return True


def _fit_chain(i: int, info: MediaInfo, size: tuple[int, int], fit: Fit,
               focus: Focus | None = None) -> tuple[str, list[str]]:
    """Filters that bring clip i to the output size: (inline chain, extra graph lines). A
    crop centres on `focus` (the effects' point for this aspect), else the middle."""
    w, h = size
    if (info.width, info.height) == size:
        return "", []
    same_aspect = abs(info.width * h / (info.height * w) - 1) < _ASPECT_TOLERANCE
    if same_aspect:
        return f",scale={w}:{h}", []
    if fit == "crop":
        return "," + crop_filter(size, focus), []
    # Blurred pad: blur a quarter-size cover of the frame (cheap), upscale it, and lay the
    # whole frame, scaled to fit, on top in the middle. The cover is cut from the frame before
    # it is scaled down: scaling the whole frame first cost a third more for the same blur.
    bw, bh = max(2, w // 8 * 2), max(2, h // 8 * 2)
    r = max(2, min(bw, bh) // 16)
    lines = [
        f"[p{i}]split=2[bg{i}][fg{i}]",
        (f"[bg{i}]crop=w='min(iw,ih*{bw}/{bh})':h='min(ih,iw*{bh}/{bw})',scale={bw}:{bh},"
         f"boxblur=luma_radius={r}:luma_power=2,scale={w}:{h}:flags=bilinear[bgb{i}]"),
        f"[fg{i}]scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2[fgs{i}]",
        f"[bgb{i}][fgs{i}]overlay=x=(W-w)/2:y=(H-h)/2[o{i}]",
    ]
    return f"[p{i}]", lines


def _filter_graph(infos: list[MediaInfo], segs: list[_Seg], spec: RenderSpec,
                  size: tuple[int, int]) -> str:
    """One graph for the whole export; its output pad is [vout]."""
    fps = spec.fps
    lines: list[str] = []
    for i, (info, seg) in enumerate(zip(infos, segs)):
        # tpad clones the last frame if a source is a frame or two short of its stated
        # duration, so trim always yields exactly seg.frames frames.
        tail = "format=yuv420p,setsar=1"
        fx = seg.fx
        if fx is None:
            first, count = seg.start, seg.frames
        else:  # the kept source window; the effects make `full` frames of it
            first, count = round(fx.trim_in_s * fps), max(1, round(fx.source_s * fps))
            full = seg.fx_frames or seg.frames
            window = ([] if (seg.start, seg.frames) == (0, full) else  # a chunk's share
                      [f"trim=start_frame={seg.start}:end_frame={seg.start + seg.frames}",
                       "setpts=PTS-STARTPTS"])
            tail = ",".join([*time_filters(fx.effects, fx.source_s, fps),
                             *picture_filters(fx.effects, size, fps, full, fx.lut), tail,
                             *window])
        head = (
            f"[{i}:v:0]fps={fps},tpad=stop_mode=clone:stop=-1,"
            f"trim=start_frame={first}:end_frame={first + count},"
            f"setpts=PTS-STARTPTS,settb=1/{fps}"
        )
        fit, extra = _fit_chain(i, info, size, spec.fit,
                                focus_for(fx.effects, size) if fx is not None else None)
        if extra:  # pad: head ends in [p{i}], the overlay result [o{i}] gets the tail
            lines.append(head + fit)
            lines.extend(extra)
            lines.append(f"[o{i}]{tail}[c{i}]")
        else:
            lines.append(f"{head}{fit},{tail}[c{i}]")
    # xfade works in 4:4:4 only: fed whole clips it made ffmpeg convert every frame of the film
    # to yuv444p and back. So each transition sees just its overlap (the last k frames of one
    # clip, the first k of the next), and one concat joins those blends with the untouched
    # yuv420p middles of the clips.
    pieces: list[str] = []
    for i, seg in enumerate(segs):
        head = segs[i - 1].xfade if i else 0
        parts = [(name, a, b) for name, a, b in (
            (f"h{i}", 0, head), (f"m{i}", head, seg.frames - seg.xfade),
            (f"t{i}", seg.frames - seg.xfade, seg.frames)) if b > a]
        if len(parts) == 1:
            lines.append(f"[c{i}]null[{parts[0][0]}]")
        else:
            lines.append(f"[c{i}]split={len(parts)}" + "".join(f"[s{name}]" for name, _, _ in parts))
            lines.extend(f"[s{name}]trim=start_frame={a}:end_frame={b},setpts=PTS-STARTPTS"
                         f"[{name}]" for name, a, b in parts)
        if head:
            lines.extend(transition_lines(segs[i - 1].kind, f"t{i - 1}", f"h{i}", f"x{i}",
                                          head, fps, size, f"tr{i}"))
            pieces.append(f"x{i}")
        if seg.frames - seg.xfade > head:
            pieces.append(f"m{i}")
    if len(pieces) == 1:
        cur = pieces[0]
    else:
        lines.append("".join(f"[{p}]" for p in pieces)
                     + f"concat=n={len(pieces)}:v=1:a=0,settb=1/{fps}[film]")
        cur = "film"
    if spec.overlay:
        lines.append(f"[{cur}]null[vin]")
        lines.append(spec.overlay)
    else:
        lines.append(f"[{cur}]null[vout]")
    return ";".join(lines)


def _spans(infos: list[MediaInfo], segs: list[_Seg]) -> list[Span]:
    """The timeline as the memory gate sees it: each clip's output frames and source size."""
    return [Span(frames=s.frames, xfade=s.xfade, source=(i.width, i.height))
            for i, s in zip(infos, segs)]


def _graph_inputs(clips: list[RenderClip], infos: list[MediaInfo]) -> list[str]:
    return [a for c, info in zip(clips, infos)
            for a in (*decoder_bounds(info), "-i", str(c.path))]


def _encoder_args(spec: RenderSpec, size: tuple[int, int]) -> list[str]:
    """The video encoder of a full export and of each of its chunks (they must agree to be
    joined by stream copy). Above 1080p `encoder_bounds` bounds x264's memory: few threads,
    a short rc lookahead, sync-lookahead=0."""
    bounds, params = encoder_bounds(size)
    return ["-c:v", "libx264", "-preset", spec.preset, "-crf", str(spec.crf),
            *bounds, *(["-x264-params", ":".join(params)] if params else []),
            *spec.video_args,
            "-pix_fmt", "yuv420p", "-r", str(spec.fps),
            "-g", str(max(1, round(spec.gop_s * spec.fps)))]


def _colour_tags(first: Path) -> str:
    """A setparams filter giving frames the colour tags of the first chunk's stream. x264
    writes the tags of its first frame into the stream header (SPS), so a chunk that starts on
    an untagged camera file and one that starts on a bt709 animatic would have headers that
    cannot be joined by stream copy; every later chunk is tagged as the first one is (which is
    what the one-graph render would say). Tags only: no pixel is converted."""
    import av

    with av.open(str(first)) as c:
        cc = c.streams.video[0].codec_context
        return (f"setparams=color_primaries={int(cc.color_primaries)}:color_trc="
                f"{int(cc.color_trc)}:colorspace={int(cc.colorspace)}:range={int(cc.color_range)}")


def _chunk_seg(seg: _Seg, take: Take) -> _Seg:
    """A clip's share of a chunk as a segment of the chunk's own timeline."""
    kind = seg.kind if take.xfade else "cut"
    if seg.fx is not None:  # the effects play the whole window; the chunk trims after them
        return _Seg(start=take.skip, frames=take.frames, xfade=take.xfade, kind=kind,
                    fx=seg.fx, fx_frames=seg.fx_frames or seg.frames)
    return _Seg(start=seg.start + take.skip, frames=take.frames, xfade=take.xfade, kind=kind)


def _render_chunks(clips: list[RenderClip], infos: list[MediaInfo], segs: list[_Seg],
                   chunks: list[Chunk], spec: RenderSpec, size: tuple[int, int], work: Path,
                   on_progress: Callable[[float], None] | None,
                   cancel: threading.Event | None) -> list[Path]:
    """Each chunk its own ffmpeg, one after another (the point is one graph's memory at a
    time), with the overlay moved to the chunk's place in the film. Checks that every chunk
    has its frames and that all were encoded alike (so they join by stream copy)."""
    total = sum(c.frames for c in chunks)
    parts: list[Path] = []
    done = 0
    for n, chunk in enumerate(chunks):
        csegs = [_chunk_seg(segs[t.clip], t) for t in chunk.takes]
        cinfos = [infos[t.clip] for t in chunk.takes]
        cspec = spec.model_copy(update={"overlay": shifted_overlay(spec.overlay, chunk.start)
                                        if spec.overlay else None})
        out = work / f"chunk{n:03d}.mp4"

        def progress(frac: float, base: int = done, n_frames: int = chunk.frames) -> None:
            if on_progress is not None:
                on_progress((base + frac * n_frames) / total)

        graph, pad = _filter_graph(cinfos, csegs, cspec, size), "[vout]"
        if parts:  # tagged as chunk 0 is (see _colour_tags)
            graph, pad = f"{graph};[vout]{_colour_tags(parts[0])}[vtag]", "[vtag]"
        run_ffmpeg([*_graph_inputs([clips[t.clip] for t in chunk.takes], cinfos),
                    "-filter_complex", graph,
                    "-map", pad, "-an", "-sn", "-dn", *_encoder_args(spec, size),
                    "-f", "mp4", str(out)],
                   total_s=chunk.frames / spec.fps, on_progress=progress, cancel=cancel)
        info = _inspect(out)
        if info.frames != chunk.frames:
            raise RenderFailed(f"chunk {n} of the export (frames {chunk.start} to "
                               f"{chunk.start + chunk.frames}) has {info.frames} frames; "
                               f"planned {chunk.frames}")
        if parts and info.extradata_sha1 != _inspect(parts[0]).extradata_sha1:
            raise RenderFailed(f"chunk {n} of the export was encoded with other settings "
                               "than chunk 0, so the chunks cannot be joined")
        parts.append(out)
        done += chunk.frames
    return parts


def _monotonic(cb: Callable[[float], None] | None) -> Callable[[float], None] | None:
    """Forward only increases, so a retried ffmpeg run cannot move a progress bar back."""
    if cb is None:
        return None
    best = -1.0

    def forward(frac: float) -> None:
        nonlocal best
        if frac > best:
            best = frac
            cb(frac)

    return forward


def _inspect(path: Path) -> MediaInfo:
    """Header facts of a clip: the fast MP4 reader when it can, PyAV otherwise."""
    return probe_mp4_header(path) or probe(path, count_frames=False)


def _concat_list(paths: list[Path], folder: Path) -> Path:
    """A concat-demuxer list file; quotes escaped the way the demuxer expects."""
    lst = folder / "list.txt"
    body = "".join(
        "file '" + str(p.resolve()).replace("'", "'\\''") + "'\n" for p in paths
    )
    lst.write_text(body, encoding="utf-8")
    return lst


def _temp_beside(out: Path, suffix: str) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.with_name(f".{out.name}.{secrets.token_hex(4)}{suffix}")


def export_timeline(
    clips: list[RenderClip],
    spec: RenderSpec,
    *,
    on_progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> RenderResult:
    """Render the timeline to `spec.out`; the clips' own audio is dropped and `spec.audio`,
    when given, is muxed in as the soundtrack.

    Raises ValueError for an invalid timeline, FileNotFoundError for a missing clip,
    RenderCanceled if `cancel` is set, FFmpegError if ffmpeg fails. In every failure case
    `spec.out` is left as it was.
    """
    started = time.perf_counter()
    segs = _plan(clips, spec.fps)
    on_progress = _monotonic(on_progress)
    total_frames = sum(s.frames for s in segs) - sum(s.xfade for s in segs)
    for i, c in enumerate(clips):
        if not c.path.is_file():
            raise MediaMissing(f"clip {i}: path {c.path} does not exist")
    size = frame_size(spec.aspect, spec.resolution)
    infos = [_inspect(c.path) for c in clips]
    copy = _can_copy(infos, segs, spec, size)
    # The memory gate: one graph when the film fits the budget, else consecutive chunks.
    chunks = [] if copy else plan_chunks(_spans(infos, segs), size, budget=spec.max_graph_bytes,
                                         overlays=overlay_sources(spec.overlay))
    if not copy:
        make_room(size)
    tmp = _temp_beside(spec.out, ".part")
    total_s = total_frames / spec.fps
    if spec.audio is not None and not spec.audio.is_file():
        raise MediaMissing(f"audio: {spec.audio} does not exist")
    audio_in = ["-i", str(spec.audio)] if spec.audio is not None else []

    def audio_map(index: int) -> list[str]:
        return ["-map", f"{index}:a:0"] if spec.audio is not None else ["-an"]
    try:
        with tempfile.TemporaryDirectory(prefix="nbvideo-render-") as work:
            if copy:
                lst = _concat_list([c.path for c in clips], Path(work))
                head = ["-f", "concat", "-safe", "0", "-i", str(lst), *audio_in,
                        "-map", "0:v:0", *audio_map(1), "-sn", "-dn", "-c", "copy"]
                # Reserving room for the index up front gives a fast-start file without
                # faststart's second pass over the whole file (the copy path's main cost).
                args = [*head, "-moov_size", str(_MOOV_BASE + _MOOV_PER_FRAME * total_frames),
                        "-f", "mp4"]
                try:
                    run_ffmpeg([*args, str(tmp)], total_s=total_s,
                               on_progress=on_progress, cancel=cancel)
                except FFmpegError as e:
                    if not any("reserved_moov_size" in line for line in e.stderr_tail):
                        raise
                    args = [*head, "-movflags", "+faststart", "-f", "mp4"]
                    run_ffmpeg([*args, str(tmp)], total_s=total_s,
                               on_progress=on_progress, cancel=cancel)
            elif len(chunks) == 1:
                args = [*_graph_inputs(clips, infos), *audio_in,
                        "-filter_complex", _filter_graph(infos, segs, spec, size),
                        "-map", "[vout]", *audio_map(len(clips)), "-sn", "-dn",
                        *_encoder_args(spec, size), "-c:a", "copy",
                        "-movflags", "+faststart", "-f", "mp4"]
                run_ffmpeg([*args, str(tmp)], total_s=total_s,
                           on_progress=on_progress, cancel=cancel)
            else:
                parts = _render_chunks(clips, infos, segs, chunks, spec, size, Path(work),
                                       on_progress, cancel)
                # The chunks' streams follow each other as they are: same encoder, same
                # settings, each opening on a keyframe; the soundtrack goes in here.
                lst = _concat_list(parts, Path(work))
                args = ["-f", "concat", "-safe", "0", "-i", str(lst), *audio_in,
                        "-map", "0:v:0", *audio_map(1), "-sn", "-dn", "-c", "copy",
                        "-movflags", "+faststart", "-f", "mp4"]
                run_ffmpeg([*args, str(tmp)], total_s=None, cancel=cancel)
        info = _inspect(tmp)
        if abs(info.frames - total_frames) > 1 or (info.width, info.height) != size:
            raise RenderFailed(
                f"export produced {info.frames} frames at {info.width}x{info.height}; "
                f"planned {total_frames} at {size[0]}x{size[1]}"
            )
        os.replace(tmp, spec.out)
    finally:
        tmp.unlink(missing_ok=True)
    return RenderResult(
        path=spec.out, width=info.width, height=info.height, fps=info.fps,
        frames=info.frames, duration_s=info.duration_s, size_bytes=info.size_bytes,
        stream_copy=copy, command=["ffmpeg", *args, str(spec.out)],
        mode="copy" if copy else "full", chunks=1 if copy else len(chunks), segments_copied=len(clips) if copy else 0,
        segments_encoded=0 if copy else 1, seconds_encoded=0.0 if copy else round(total_s, 3),
        seconds_total=round(total_s, 3), elapsed_s=round(time.perf_counter() - started, 3),
    )


_STILL_CODECS = {".png": ["-c:v", "png"],
                 ".jpg": ["-vf", "scale=out_range=full", "-c:v", "mjpeg", "-q:v", "3"],
                 ".jpeg": ["-vf", "scale=out_range=full", "-c:v", "mjpeg", "-q:v", "3"]}


def poster_frame(video: Path, out_png: Path, at_s: float) -> Path:
    """Write the frame at `at_s` (clamped to the last frame) as a still, atomically.

    PNG by default; a .jpg/.jpeg name gives a JPEG (smaller thumbnails for widgets).
    """
    video, out_png = Path(video), Path(out_png)
    if at_s < 0:
        raise ValueError(f"at_s must be >= 0, got {at_s}")
    codec = _STILL_CODECS.get(out_png.suffix.lower())
    if codec is None:
        raise ValueError(f"poster must be .png or .jpg, got {out_png.name!r}")
    info = _inspect(video)
    last = max(0.0, info.duration_s - 1 / info.fps) if info.fps else info.duration_s
    at = min(at_s, last)
    tmp = _temp_beside(out_png, ".part")
    try:
        run_ffmpeg(
            ["-ss", f"{at:.6f}", "-i", str(video), "-map", "0:v:0", "-frames:v", "1",
             *codec, "-update", "1", "-f", "image2", str(tmp)],
            total_s=None,
        )
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise FFmpegError(0, [f"no frame decoded at {at:.3f} s of {video}"], [])
        os.replace(tmp, out_png)
    finally:
        tmp.unlink(missing_ok=True)
    return out_png
