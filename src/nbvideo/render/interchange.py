"""Hand-off to an editor: the timeline as OpenTimelineIO, FCP 7 XML or a CMX 3600 EDL, and
the cut an editor changed there read back as the same edits a user would make here.

Writing reads only what is on disk: nothing is generated and nothing is paid for. The tracks
are built by one function each (`TRACKS`), so a new track (overlays, sound effects) is one
more builder; `read` says which tracks it does not read rather than dropping them silently.

Timing (https://opentimelineio.readthedocs.io/en/latest/tutorials/otio-timeline-structure.html
and .../transitions.html): every time is a whole frame at the project fps. A crossfade of d
frames is an OTIO `Transition` (SMPTE_Dissolve) with in_offset = d // 2 before the cut and
out_offset = d - d // 2 after it; the clip before it stops out_offset frames early and the clip
after it starts in_offset frames late, so each clip's source_range plus the transition's
offsets is exactly its trim here, and the track lasts what the export lasts.

Media are absolute `file://` URLs (what FCP 7 XML's <pathurl> holds, and what Premiere,
Resolve and OTIO's own tools open on the same machine); each clip's metadata also keeps the
project-relative path under "nbvideo", so moving the project only needs a relink there.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from nbvideo.edit import timeline as timeline_ops
from nbvideo.edit.timeline import Entry
from nbvideo.errors import InvalidInput, NbvideoError, quote
from nbvideo.generate.lipsync import lip_synced
from nbvideo.model.effects import Effects
from nbvideo.model.state import ClipEdit, Scene
from nbvideo.model.tracks import OVERLAY_TRACKS
from nbvideo.render.finishing import (
    VOICE_LEAD_S,
    caption_cues,
    line_fits,
    line_request,
    voice_model_name,
)
from nbvideo.runtime.context import Runtime
from nbvideo.sound import sfx

META = "nbvideo"
"""The metadata key this module writes and reads on the timeline, tracks and clips."""
_ID_IN_NAME = re.compile(r"\[([A-Za-z0-9_-]{1,64})\]\s*$")
_VIDEO_ONLY = {"edl"}  # CMX 3600 holds one video track; the EDL carries the picture cut only


def _otio() -> Any:
    """opentimelineio, imported when a hand-off is made (it is not needed to open a project)."""
    import opentimelineio as otio

    return otio


@dataclass
class Context:
    """What every track builder reads: the project, its fps and the placed clips."""

    rt: Runtime
    fps: int
    entries: list[Entry]
    otio: Any

    def t(self, frames: int) -> Any:
        return self.otio.opentime.RationalTime(frames, self.fps)

    def span(self, start: int, frames: int) -> Any:
        return self.otio.opentime.TimeRange(self.t(start), self.t(frames))

    def frames(self, seconds: float) -> int:
        return round(seconds * self.fps)

    def ref(self, rel: str | None, seconds: float | None, name: str) -> Any:
        """An ExternalReference to a file of the project (absolute file URL), or a
        MissingReference naming what it would be when the file is not made yet."""
        schema = self.otio.schema
        path = self.rt.store.path(rel) if rel else None
        if path is None or not path.is_file():
            return schema.MissingReference(name=name, metadata={META: {"path": rel}})
        avail = self.span(0, self.frames(seconds)) if seconds else None
        return schema.ExternalReference(target_url=path.resolve().as_uri(),
                                        available_range=avail)


# ---------------------------------------------------------------------- the picture
def split(frames: int) -> tuple[int, int]:
    """(in_offset, out_offset) of a crossfade of `frames`: half before the cut, half after."""
    return frames // 2, frames - frames // 2


def _fade_frames(ctx: Context, e: Entry) -> int:
    return ctx.frames(e.transition.duration_s) if e.transition.kind != "cut" else 0


def _our_kind(t: Any) -> str | None:
    """The named transition a custom OTIO transition we wrote stands for, if it is ours."""
    kind = (dict(t.metadata.get(META) or {})).get("kind") if t.metadata else None
    return str(kind) if kind and kind != "crossfade" else None


def clip_name(e: Entry) -> str:
    """'02 Title [scene id]': the id survives FCP XML and EDL, which keep names, not metadata."""
    return f"{e.number:02d} {e.scene.title or e.scene.beat} [{e.scene.id}]"


def _picture_ranges(ctx: Context) -> list[tuple[int, int]]:
    """(source start, frames) of each clip on the video track, after the transitions'
    offsets are taken off its ends (see the module docstring)."""
    out = []
    es = ctx.entries
    for i, e in enumerate(es):
        before = split(_fade_frames(ctx, es[i - 1]))[0] if i else 0
        after = split(_fade_frames(ctx, e))[1] if i + 1 < len(es) else 0
        scalar = abs(time_scalar(ctx, e))
        out.append((ctx.frames(e.trim_in_s) + round(before * scalar),
                    e.frames - before - after))
    return out


def video_track(ctx: Context) -> Any:
    """V1: every scene's chosen clip trimmed as here, crossfades as SMPTE dissolves."""
    schema = ctx.otio.schema
    track = schema.Track(name="V1 scenes", kind=schema.TrackKind.Video,
                         metadata={META: {"track": "scenes"}})
    es = ctx.entries
    for i, (e, (start, frames)) in enumerate(zip(es, _picture_ranges(ctx))):
        if i:
            d = _fade_frames(ctx, es[i - 1])
            if d:
                a, b = split(d)
                kind = es[i - 1].transition.kind
                # A crossfade is the dissolve every editor has; another named transition
                # (a wipe, a dip, ...) is a custom one that keeps our name in its metadata.
                track.append(schema.Transition(
                    name=f"{kind} {d} frames",
                    transition_type=(schema.TransitionTypes.SMPTE_Dissolve
                                     if kind == "crossfade" else schema.TransitionTypes.Custom),
                    in_offset=ctx.t(a), out_offset=ctx.t(b),
                    metadata={META: {"kind": kind}}))
        clip = e.clip
        meta: dict[str, Any] = {
            "scene_id": e.scene.id, "take_id": clip.id if clip else None,
            "beat": e.scene.beat, "path": clip.path if clip else None,
            "trim_in_s": e.trim_in_s, "trim_out_s": e.trim_out_s,
            "source_s": e.source_s,
        }
        if e.effects.active:
            meta["effects"] = e.effects.model_dump(mode="json", exclude_defaults=True)
        track.append(schema.Clip(
            name=clip_name(e), media_reference=ctx.ref(clip.path if clip else None, e.source_s,
                                                       f"scene {e.scene.id} clip"),
            source_range=ctx.span(start, frames), effects=clip_effects(ctx, e),
            metadata={META: meta}))
    return track


def time_scalar(ctx: Context, e: Entry) -> float:
    """The LinearTimeWarp an editor plays a scene's clip with (see `_scalar`)."""
    return _scalar(e.effects, ctx.frames(e.kept_s), e.frames)


def _scalar(fx: Effects, source_frames: float, played_frames: int) -> float:
    """Source frames over played frames, negative when reversed. A constant speed is written
    as itself; a ramp or a freeze as the average that spends the same source frames over the
    same played frames."""
    if fx.ramp or fx.freeze is not None:
        scalar = source_frames / max(1, played_frames)
    else:
        scalar = fx.speed
    return -scalar if fx.reverse else scalar


def clip_effects(ctx: Context, e: Entry) -> list[Any]:
    """A scene's effects as OTIO effects (`_as_effects`)."""
    return _as_effects(ctx, e.effects, time_scalar(ctx, e))


def _as_effects(ctx: Context, fx: Effects, scalar: float) -> list[Any]:
    """Effects as OTIO effects: their time as a LinearTimeWarp of `scalar` (OTIO's own; the
    EDL adapter writes it as an M2 speed, the FCP 7 XML adapter drops it), every other effect
    as a named Effect holding its values: an editor lists it but does not apply it. What an
    editor will not reproduce is said once per write (`write` warns).

    OTIO's convention (opentimelineio.readthedocs.io, "Time Effects"): a LinearTimeWarp does
    not change the clip's duration on its track; its source_range starts at the first source
    frame and lasts the played duration, and the scalar says how fast the source goes by."""
    schema = ctx.otio.schema
    out: list[Any] = []
    if fx.timed:
        out.append(schema.LinearTimeWarp(name="speed", time_scalar=scalar,
                                         metadata={META: {"kind": "speed"}}))
    for name, value in fx.model_dump(mode="json", exclude_defaults=True).items():
        if name in ("speed", "reverse"):
            continue  # the time warp is these
        out.append(schema.Effect(name=name, effect_name=f"nbvideo {name}",
                                 metadata={META: {"kind": name, "value": value}}))
    return out


def _not_reproduced(ctx: Context, suffix: str) -> list[str]:
    """Per scene, the effects an editor will not play as the export does from a file of
    this suffix."""
    out = []
    for e in ctx.entries:
        fx = e.effects
        lost = []
        if suffix == "xml" and fx.timed:
            lost.append(f"speed {time_scalar(ctx, e):.3g}x (OTIO's FCP 7 XML adapter writes no "
                        "speed: an editor plays the clip's first frames at 1x)")
        elif suffix == "edl" and fx.reverse:
            lost.append("reverse (the CMX 3600 adapter cannot write a negative speed: written "
                        "forwards)")
        if fx.ramp:
            lost.append(f"speed ramp (played at its average {abs(time_scalar(ctx, e)):.3g}x)")
        if fx.freeze is not None:
            lost.append(f"freeze at {fx.freeze.at_s:g} s for {fx.freeze.hold_s:g} s (folded into "
                        f"an average speed of {abs(time_scalar(ctx, e)):.3g}x)")
        lost += [n for n in fx.model_dump(exclude_defaults=True)
                 if n not in ("speed", "reverse", "ramp", "freeze")]
        if lost:
            out.append(f"scene {e.number} ({e.scene.id}): " + ", ".join(lost))
    return out


# ---------------------------------------------------------------------- sound
def clip_sound_track(ctx: Context) -> Any | None:
    """The clips' own sound where the export uses it (presenter scenes and lip syncs), in
    step with their pictures: the same media and source ranges, gaps elsewhere."""
    schema = ctx.otio.schema
    used = [e.clip is not None and e.clip.ok
            and (e.scene.kind == "presenter" or lip_synced(e.clip)) for e in ctx.entries]
    if not any(used):
        return None
    track = schema.Track(name="A1 clip sound", kind=schema.TrackKind.Audio,
                         metadata={META: {"track": "clip_sound"}})
    for e, (start, frames), own in zip(ctx.entries, _picture_ranges(ctx), used):
        if not own:
            track.append(schema.Gap(source_range=ctx.span(0, frames)))
            continue
        track.append(schema.Clip(
            name=f"{clip_name(e)} sound",
            media_reference=ctx.ref(e.clip.path, e.source_s, f"scene {e.scene.id} clip"),
            source_range=ctx.span(start, frames),
            metadata={META: {"scene_id": e.scene.id, "path": e.clip.path}}))
    return track


def _voice_lines(ctx: Context) -> list[tuple[Entry, int, int, str | None, float]]:
    """(entry, start frame, frames, WAV path or None, tempo) of each voice-over line, placed
    where the export places it: VOICE_LEAD_S into its scene, as long as it is spoken."""
    rt = ctx.rt
    if not rt.state.finishing.voice:
        return []
    named = voice_model_name(rt)
    fits = line_fits(rt, ctx.entries)
    out = []
    for e in ctx.entries:
        if not e.scene.voice_line.strip() or e.scene.kind == "presenter" or lip_synced(e.clip):
            continue
        fit = fits[e.scene.id]
        wav = line_request(rt, e.scene, *named)[2]
        rel = rt.store.relative(wav) if wav.is_file() else None
        start = ctx.frames(e.start_s + VOICE_LEAD_S)
        out.append((e, start, max(1, ctx.frames(fit.voice_s / fit.tempo)), rel, fit.tempo))
    return out


def voice_track(ctx: Context) -> Any | None:
    """The voice-over: one clip per scene's line at its time (a line not spoken yet, before
    the first export, is offline media named after its scene, its text in metadata)."""
    schema = ctx.otio.schema
    lines = _voice_lines(ctx)
    if not lines:
        return None
    track = schema.Track(name="A2 voice-over", kind=schema.TrackKind.Audio,
                         metadata={META: {"track": "voice"}})
    cursor = 0
    for i, (e, start, frames, rel, tempo) in enumerate(lines):
        nxt = lines[i + 1][1] if i + 1 < len(lines) else None
        if nxt is not None:
            frames = max(1, min(frames, nxt - start))  # one line at a time, as it is mixed
        if start > cursor:
            track.append(schema.Gap(source_range=ctx.span(0, start - cursor)))
        track.append(schema.Clip(
            name=f"voice {e.number:02d} [{e.scene.id}]",
            media_reference=ctx.ref(rel, None, f"voice line of scene {e.scene.id}"),
            source_range=ctx.span(0, frames),
            metadata={META: {"scene_id": e.scene.id, "text": e.scene.voice_line,
                             "path": rel, "tempo": tempo}}))
        cursor = max(cursor, start) + frames
    return track


def _music_file(ctx: Context, total_frames: int) -> str | None:
    rt = ctx.rt
    music = rt.state.finishing.music
    if music == "none":
        return None
    if music != "bed":
        return music
    exact = rt.store.path(f"assets/music/bed-{rt.state.seed}-{total_frames / ctx.fps:.3f}.wav")
    if exact.is_file():
        return rt.store.relative(exact)
    made = sorted(rt.store.path("assets/music").glob(f"bed-{rt.state.seed}-*.wav"))
    return rt.store.relative(made[-1]) if made else f"assets/music/bed-{rt.state.seed}.wav"


def music_track(ctx: Context) -> Any | None:
    """The music under the whole cut (the generated bed or the user's file)."""
    schema = ctx.otio.schema
    total = timeline_ops.total_frames(ctx.rt)
    rel = _music_file(ctx, total)
    if rel is None or not total:
        return None
    track = schema.Track(name="A3 music", kind=schema.TrackKind.Audio,
                         metadata={META: {"track": "music"}})
    track.append(schema.Clip(name="music", media_reference=ctx.ref(rel, None, "music"),
                             source_range=ctx.span(0, total),
                             metadata={META: {"path": rel,
                                              "setting": ctx.rt.state.finishing.music}}))
    return track


# ---------------------------------------------------------------------- track items
def item_tracks(ctx: Context) -> list[Any]:
    """The items of the timeline's own tracks (V2..V9 overlays; voice, music, sfx and clips
    sounds added with p.timeline.add_*), one OTIO track per track, with gaps between items.
    Items that overlap on one of our tracks go on extra OTIO tracks ("V2 items lane 2"): an
    OTIO track plays one item at a time. Overlays come in drawing order (V2 under V3), after
    V1. Each clip keeps the item's fields (position, size, opacity, blend, keyframes,
    effects) in its metadata; a text item is a GeneratorReference holding its text and style."""
    schema = ctx.otio.schema
    tracks = ctx.rt.state.timeline.tracks
    out = []
    for name in sorted(tracks, key=lambda n: (n not in OVERLAY_TRACKS, n)):
        t = tracks[name]
        lanes: list[list[Any]] = []
        for item in sorted(t.items.values(), key=lambda i: (i.start_s, i.id)):
            lane = next((ln for ln in lanes if ln[-1].end_s <= item.start_s + 1e-9), None)
            if lane is None:
                lane = []
                lanes.append(lane)
            lane.append(item)
        for k, lane in enumerate(lanes, 1):
            track = schema.Track(
                name=f"{name} items" if k == 1 else f"{name} items lane {k}",
                kind=schema.TrackKind.Video if t.kind == "overlay" else schema.TrackKind.Audio,
                metadata={META: {"track": name, "lane": k, "mute": t.mute, "solo": t.solo,
                                 "gain_db": t.gain_db}})
            at = 0
            for item in lane:
                start, length = ctx.frames(item.start_s), ctx.frames(item.duration_s)
                if start > at:
                    track.append(schema.Gap(source_range=ctx.span(0, start - at)))
                track.append(_item_clip(ctx, item, length))
                at = start + length
            out.append(track)
    return out


def _item_clip(ctx: Context, item: Any, length: int) -> Any:
    """One track item as an OTIO clip `length` frames long."""
    schema = ctx.otio.schema
    fx = getattr(item, "effects", None)
    scalar = 1.0
    if fx is not None and fx.timed:
        hold = fx.freeze.hold_s if fx.freeze is not None else 0.0
        source_s = max(0.0, length / ctx.fps - hold) / fx.speed_s(1.0)
        scalar = _scalar(fx, source_s * ctx.fps, length)
    start = 0
    if item.kind == "text":
        ref = schema.GeneratorReference(
            name="text", generator_kind="nbvideo.text", available_range=ctx.span(0, length),
            parameters={"text": item.text, "font": item.font or "", "color": item.color or "",
                        "size": item.size})
    else:
        rel = item.path if item.path is not None else sfx.effect_path(ctx.rt, item.effect)
        start = ctx.frames(getattr(item, "source_in_s", 0.0))
        # The media lasts at least what the item plays of it (a still, as long as it shows);
        # FCP XML needs a length for every file.
        used = math.ceil(length * abs(scalar))
        ref = ctx.ref(rel, (start + used) / ctx.fps, f"{item.kind} {rel}")
    effects = _as_effects(ctx, fx, scalar) if fx is not None and fx.active else []
    return schema.Clip(name=f"{item.kind} [{item.id}]", media_reference=ref,
                       source_range=ctx.span(start, length), effects=effects,
                       metadata={META: {"item": item.model_dump(mode="json")}})


TrackBuilder = Callable[[Context], Any]
TRACKS: tuple[TrackBuilder, ...] = (video_track, item_tracks, clip_sound_track, voice_track,
                                    music_track)
"""Built in this order (video first: adapters and NLEs take the first video track as the
cut); a builder returns None when its track would be empty, or a list of tracks."""


# ---------------------------------------------------------------------- markers
def _markers(ctx: Context, stack: Any) -> list[dict[str, Any]]:
    """Scene markers (title and beat) and caption markers on the sequence; the captions are
    also kept in the timeline's metadata as cues (frames at the project fps)."""
    schema = ctx.otio.schema
    for e in ctx.entries:
        stack.markers.append(schema.Marker(
            name=f"{e.number:02d} {e.scene.title or e.scene.beat} ({e.scene.beat})",
            marked_range=ctx.span(ctx.frames(e.start_s), e.frames),
            color=schema.MarkerColor.BLUE,
            metadata={META: {"kind": "scene", "scene_id": e.scene.id, "beat": e.scene.beat}}))
    f = ctx.rt.state.finishing
    if not (f.captions and f.voice):
        return []
    lines = _voice_lines(ctx)
    cues = caption_cues(ctx.entries, {e.scene.id: n / ctx.fps for e, _s, n, _r, _t in lines},
                        {e.scene.id: e.frames / ctx.fps for e in ctx.entries}, ctx.fps)
    for c in cues:
        stack.markers.append(schema.Marker(
            name=c.text, marked_range=ctx.span(c.start_frame, c.end_frame - c.start_frame),
            color=schema.MarkerColor.YELLOW, metadata={META: {"kind": "caption"}}))
    return [{"start_frame": c.start_frame, "end_frame": c.end_frame, "text": c.text}
            for c in cues]


def build(rt: Runtime) -> Any:
    """The project's timeline as an `opentimelineio.schema.Timeline` at the project fps."""
    return _build(rt)[0]


def _build(rt: Runtime) -> tuple[Any, Context]:
    otio = _otio()
    with rt.guard:
        ctx = Context(rt, rt.state.brief.fps, timeline_ops.require_clips(rt), otio)
        tl = otio.schema.Timeline(name=rt.state.storyboard_title or rt.state.name,
                                  global_start_time=ctx.t(0))
        for builder in TRACKS:
            built = builder(ctx)
            for track in built if isinstance(built, list) else [built]:
                if track is not None:
                    tl.tracks.append(track)
        captions = _markers(ctx, tl.tracks)
        tl.metadata[META] = {"project": rt.state.name, "fps": ctx.fps,
                             "aspect": rt.state.brief.aspect, "captions": captions}
    return tl, ctx


def write(rt: Runtime, path: str | Path) -> Path:
    """Write the timeline to `path`; the adapter is OTIO's for the suffix (.otio, .xml for
    FCP 7 XML, .edl for CMX 3600: picture only)."""
    otio = _otio()
    out = Path(path).expanduser().resolve()
    suffix = out.suffix.lower().lstrip(".")
    adapter = _adapter_for(otio, out)
    if adapter != "otio_json":
        _timecode_rate(otio, rt.state.brief.fps, out)
    tl, ctx = _build(rt)
    lost = _not_reproduced(ctx, suffix)
    if lost:
        kept = (" (the .otio keeps each as a named effect with its values)"
                if adapter == "otio_json" else "")
        warnings.warn(f"{out.name}: an editor will not reproduce these effects{kept}: "
                      + "; ".join(lost), stacklevel=3)
    if suffix in _VIDEO_ONLY:
        for track in [t for t in tl.tracks if t.kind != otio.schema.TrackKind.Video]:
            tl.tracks.remove(track)
        tl.tracks.markers.clear()
        for clip in tl.tracks[0].find_clips():
            for fx in clip.effects:
                if isinstance(fx, otio.schema.LinearTimeWarp):
                    fx.time_scalar = abs(fx.time_scalar)
    if not out.parent.is_dir():
        raise InvalidInput(f"path: the folder {out.parent} does not exist")
    part = out.with_name(out.name + ".part")
    otio.adapters.write_to_file(tl, str(part), adapter_name=adapter)
    part.replace(out)
    return out


def _timecode_rate(otio: Any, fps: int, path: Path) -> None:
    """FCP XML and EDL write SMPTE timecode, which exists at 24, 25, 30, 48, 50 and 60 fps
    (and the NTSC rates) only: refuse another rate rather than write a cut that drifts."""
    if not _is_timecode_rate(otio, fps):
        ok = [r for r in range(12, 61) if _is_timecode_rate(otio, r)]
        raise InvalidInput(
            f"path: {path.suffix} files count frames in SMPTE timecode, which has no "
            f"{fps} fps; the project's fps must be one of {', '.join(map(str, ok))} for "
            f"this format (write .otio, which keeps {fps} fps, or open the project with "
            "fps=24, 25 or 30)") from None


def _is_timecode_rate(otio: Any, fps: int) -> bool:
    try:
        otio.opentime.to_timecode(otio.opentime.RationalTime(0, fps), fps)
    except ValueError:
        return False
    return True


def _adapter_for(otio: Any, path: Path) -> str:
    try:
        return otio.adapters.from_filepath(str(path)).name
    except otio.exceptions.OTIOError:
        known = sorted({f".{s}" for name in otio.adapters.available_adapter_names()
                        for s in otio.adapters.from_name(name).suffixes})
        raise InvalidInput(f"path: no timeline format for the suffix {quote(path.suffix)}; "
                           f"use one of {', '.join(known)}") from None


# ---------------------------------------------------------------------- reading back
class ImportReport(BaseModel):
    """What `p.timeline.from_otio` applied and what it could not map back to the project."""

    model_config = ConfigDict(extra="forbid")

    path: str
    applied: list[str] = Field(default_factory=list, description="Edits made, one a line.")
    unmapped: list[str] = Field(default_factory=list,
                                description="What the file has that was not applied, and why.")

    @property
    def changed(self) -> bool:
        return bool(self.applied)

    def to_pandas(self) -> pd.DataFrame:
        return pd.DataFrame([{"status": "applied", "what": a} for a in self.applied]
                            + [{"status": "unmapped", "what": u} for u in self.unmapped],
                            columns=["status", "what"])

    def __repr__(self) -> str:
        rows = [f"  applied: {a}" for a in self.applied] + [f"  unmapped: {u}"
                                                             for u in self.unmapped]
        return "\n".join([f"<OTIO import of {self.path}: {len(self.applied)} applied, "
                          f"{len(self.unmapped)} unmapped>", *rows])

    __str__ = __repr__


def load(path: str | Path) -> Any:
    """Read a timeline file through OTIO's adapter for its suffix; anything unreadable is an
    InvalidInput naming the file."""
    otio = _otio()
    src = Path(path).expanduser()
    if not src.is_file():
        raise InvalidInput(f"path: {src} is not a file")
    adapter = _adapter_for(otio, src)
    try:
        got = otio.adapters.read_from_file(str(src), adapter_name=adapter)
    except Exception as exc:  # each adapter has its own errors (JSON, XML, EDL parse ...)
        raise InvalidInput(f"{src.name} is not a timeline the {adapter} reader can read: "
                           f"{type(exc).__name__}: {str(exc)[:300]}") from None
    if isinstance(got, otio.schema.SerializableCollection):
        got = next((t for t in got.find_children(descended_from_type=otio.schema.Timeline)),
                   None) if hasattr(got, "find_children") else None
    if not isinstance(got, otio.schema.Timeline):
        raise InvalidInput(f"{src.name} holds no timeline ({type(got).__name__})")
    return got


def _scene_of(item: Any, root: Path, scenes: dict[str, Scene]) -> tuple[Scene | None, str]:
    """The scene a clip in the file stands for: by our metadata, the [id] in its name, or
    its media file (the chosen clip, or another take of a scene). `note`: why not chosen."""
    meta = item.metadata.get(META) if hasattr(item.metadata, "get") else None
    sid = meta.get("scene_id") if hasattr(meta, "get") else None
    if sid in scenes:
        return scenes[sid], ""
    m = _ID_IN_NAME.search(item.name or "")
    if m and m.group(1) in scenes:
        return scenes[m.group(1)], ""
    url = getattr(item.media_reference, "target_url", None)
    if url:
        p = urlparse(url)
        local = Path(unquote(p.path)) if p.scheme in ("file", "") else None
        if local is not None:
            local = local if local.is_absolute() else root / local
            for s in scenes.values():
                if s.clip is not None and s.clip.path and \
                        (root / s.clip.path).resolve() == local.resolve():
                    return s, ""
            for s in scenes.values():
                for t in s.clip_takes:
                    if t.path and (root / t.path).resolve() == local.resolve():
                        return None, (f"its media is take {t.id} of scene {s.id}, not the "
                                      f"chosen clip; choose it with p.choose_take({s.id!r}, "
                                      f"{t.id!r}) and import again")
    return None, "no scene of the project has this clip (matched by id, name or media)"


@dataclass
class _Placed:
    scene: Scene
    name: str
    start: int  # trim in, frames at the project fps (media start taken off)
    frames: int  # frames of the clip kept, transitions' offsets included
    scalar: float = 1.0  # the source frames one played frame takes (a LinearTimeWarp's)
    ours: float = 1.0  # what the project plays it at (time_scalar), as written


def _video(otio: Any, tl: Any, report: ImportReport) -> Any:
    videos = [t for t in tl.tracks if t.kind == otio.schema.TrackKind.Video]
    if not videos:
        raise InvalidInput(f"{report.path} has no video track; nothing to read the cut from")
    for t in videos[1:]:
        report.unmapped.append(f"video track {t.name or '(unnamed)'}: not read (only the first "
                               "video track, the scenes, is read; overlay items are edited here "
                               "with p.timeline.move/trim/set)")
    for t in tl.tracks:
        if t.kind != otio.schema.TrackKind.Video:
            report.unmapped.append(
                f"audio track {t.name or '(unnamed)'}: not read (voice-over, music and clip "
                "sound follow the picture and p.finish settings; sound items are edited here "
                "with p.timeline.move/trim/set)")
    return videos[0]


def read(rt: Runtime, path: str | Path) -> ImportReport:
    """Apply the order, trims and transitions of the file's first video track to the
    project, in one checked step (one undo); say what could not be mapped."""
    otio = _otio()
    tl = load(path)
    report = ImportReport(path=str(path))
    track = _video(otio, tl, report)
    with rt.guard:
        fps = rt.state.brief.fps
        root = rt.store.root
        scenes = {s.id: s for s in rt.state.scenes}
        number = {s.id: i for i, s in enumerate(rt.state.scenes, 1)}

        def frames(t: Any) -> int:
            return round(t.rescaled_to(fps).value)

        ctx = Context(rt, fps, timeline_ops.entries(rt), otio)
        here = {e.scene.id: e for e in ctx.entries}
        placed: list[_Placed | None] = []  # None: an item that breaks adjacency
        fades: dict[int, tuple[Any, int, int]] = {}  # index in placed of the clip before
        pending: Any = None
        seen: set[str] = set()
        for item in list(track):
            if isinstance(item, otio.schema.Transition):
                pending = item
                continue
            prev_fade, pending = pending, None
            if prev_fade is not None and not isinstance(item, otio.schema.Clip):
                report.unmapped.append(f"transition {prev_fade.name!r}: it does not join two "
                                       "clips")
                prev_fade = None
            if isinstance(item, otio.schema.Gap):
                report.unmapped.append(
                    f"gap of {frames(item.duration())} frames at "
                    f"{frames(track.range_of_child(item).start_time)}: the project's cut has "
                    "no gaps; the clips either side of it are joined")
                continue
            if not isinstance(item, otio.schema.Clip):
                report.unmapped.append(f"{item.schema_name()} {item.name!r}: not read (only "
                                       "clips and transitions are)")
                placed.append(None)
                continue
            scene, why = _scene_of(item, root, scenes)
            if scene is not None and scene.id in seen:
                scene, why = None, f"scene {scene.id} is already on the track once"
            if scene is None:
                report.unmapped.append(f"clip {item.name!r}: {why}")
                placed.append(None)
                continue
            seen.add(scene.id)
            entry = here[scene.id]
            ours = time_scalar(ctx, entry)
            warps = [fx.time_scalar for fx in item.effects
                     if isinstance(fx, otio.schema.LinearTimeWarp)]
            for fx in item.effects:
                if isinstance(fx, otio.schema.LinearTimeWarp) or _our_effect(fx, entry):
                    continue  # a speed (below), or written by us from the project's effects
                report.unmapped.append(f"effect {fx.effect_name or fx.schema_name()!r} on "
                                       f"{item.name!r}: effects are not applied here")
            scalar = math.prod(warps) if warps else ours
            if not warps and entry.effects.timed:
                report.unmapped.append(
                    f"{item.name!r}: the file gives it no speed (an FCP 7 XML or EDL may carry "
                    f"none); read at the project's {abs(ours):g}x"
                    f"{', backwards' if ours < 0 else ''}")
            if not math.isclose(abs(scalar), abs(ours), rel_tol=1e-6):
                report.unmapped.append(
                    f"speed {scalar:g}x on {item.name!r} (the project plays it at {ours:g}x): "
                    "not applied; the clip is read at the project's speed (set a speed with "
                    "p.timeline.effects)")
                scalar = ours
            elif (scalar < 0) != (ours < 0):
                report.unmapped.append(
                    f"{item.name!r} plays {'backwards' if scalar < 0 else 'forwards'} in the file: "
                    "not applied (set reverse with p.timeline.effects)")
            sr = item.source_range or item.available_range()
            media_start = 0
            ref = item.media_reference
            avail = getattr(ref, "available_range", None)
            if avail is not None:
                media_start = frames(avail.start_time)
            placed.append(_Placed(scene, item.name, frames(sr.start_time) - media_start,
                                  frames(sr.duration), abs(scalar) or 1.0, ours))
            if prev_fade is not None:
                fades[len(placed) - 2] = (prev_fade, frames(prev_fade.in_offset),
                                          frames(prev_fade.out_offset))

        if pending is not None:
            report.unmapped.append(f"transition {pending.name!r}: it does not join two clips")
        # Transitions' offsets belong to the clips either side (module docstring).
        for i, (fade, a, b) in fades.items():
            before, after = placed[i] if i >= 0 else None, placed[i + 1]
            if before is None or after is None:
                report.unmapped.append(f"transition {fade.name or fade.transition_type!r}: one "
                                       "of the clips it joins is not mapped")
                continue
            before.frames += b
            after.start -= round(a * after.scalar)  # source frames the transition's half took
            after.frames += a

        edits: dict[str, ClipEdit] = {}
        current = rt.state.timeline.edits
        for p in (x for x in placed if x is not None):
            ed = current.get(p.scene.id) or ClipEdit()
            e = here[p.scene.id]
            if (e.effects.timed and math.isclose(p.scalar, abs(p.ours), rel_tol=1e-6)
                    and (p.start, p.frames) == (ctx.frames(e.trim_in_s), e.frames)):
                edits[p.scene.id] = ed  # as written: the played frames round; keep the trim
                continue
            try:
                new = timeline_ops.checked_trim(rt, p.scene, ed, p.start / fps,
                                                (p.start + round(p.frames * p.scalar)) / fps)
            except NbvideoError as exc:
                raise InvalidInput(f"clip {p.name!r} (scene {number[p.scene.id]}): {exc}") \
                    from None
            if _kept(p.scene, new) == _kept(p.scene, ed):
                new = ed  # the same frames (a long clip's forced trim spelled out): no change
            else:
                old_out = timeline_ops.source_seconds(p.scene) - ed.trim_out_s
                report.applied.append(
                    f"scene {number[p.scene.id]} ({p.scene.id}): trim {ed.trim_in_s:g}-"
                    f"{old_out:g} s -> {new.trim_in_s:g}-"
                    f"{timeline_ops.source_seconds(p.scene) - new.trim_out_s:g} s")
            edits[p.scene.id] = new

        # Order: the file's, with scenes it does not have kept where they are.
        in_file = [p.scene.id for p in placed if p is not None]
        missing = [s.id for s in rt.state.scenes if s.id not in seen]
        for sid in missing:
            report.unmapped.append(
                f"scene {number[sid]} ({sid}) is not in the file: kept (remove it here with "
                f"p.delete_scene({sid!r}) if it should go)")
        slots = iter(in_file)
        order = [s.id if s.id in missing else next(slots) for s in rt.state.scenes]
        if order != [s.id for s in rt.state.scenes]:
            report.applied.append("order: " + ", ".join(order))

        # Transitions: set for each pair of clips the file has side by side that also meet
        # here; a cut where the file has none.
        nxt = {order[k]: order[k + 1] for k in range(len(order) - 1)}
        for i in range(len(placed) - 1):
            a_, b_ = placed[i], placed[i + 1]
            if a_ is None or b_ is None or nxt.get(a_.scene.id) != b_.scene.id:
                continue
            fade = fades.get(i)
            ed = edits[a_.scene.id]
            if fade is None:
                want = timeline_ops.checked_transition(rt, "cut", 0.0)
            elif (fade[0].transition_type != otio.schema.TransitionTypes.SMPTE_Dissolve
                  and not _our_kind(fade[0])):
                report.unmapped.append(
                    f"transition {fade[0].transition_type!r} between {a_.name!r} and "
                    f"{b_.name!r}: only dissolves (crossfades) and cuts are supported; the cut "
                    "keeps its transition")
                continue
            else:
                try:
                    want = timeline_ops.checked_transition(rt, _our_kind(fade[0]) or "crossfade",
                                                           (fade[1] + fade[2]) / fps)
                except NbvideoError as exc:
                    raise InvalidInput(f"transition after {a_.name!r}: {exc}") from None
            if want != ed.transition:
                report.applied.append(
                    f"scene {number[a_.scene.id]} ({a_.scene.id}) -> next: "
                    f"{_says(ed.transition)} -> {_says(want)}")
                edits[a_.scene.id] = ed.model_copy(update={"transition": want})
        changed = {k: v for k, v in edits.items() if current.get(k, ClipEdit()) != v}
        if not changed and order == [s.id for s in rt.state.scenes]:
            return report
        rec = rt.history
        label = (rec.labelled("import", summary=f"timeline from {Path(path).name}"[:120])
                 if rec else nullcontext())
        with label:
            timeline_ops.apply_cut(rt, order, changed)
    return report


def _our_effect(fx: Any, e: Entry) -> bool:
    """Whether `fx` is a named effect `clip_effects` wrote with the scene's current value."""
    mine = _plain(fx.metadata.get(META)) if fx.metadata else None
    if not isinstance(mine, dict):
        return False
    now = e.effects.model_dump(mode="json", exclude_defaults=True)
    return mine.get("kind") in now and now[mine["kind"]] == mine.get("value")


def _plain(v: Any) -> Any:
    """OTIO's metadata containers (AnyDictionary, AnyVector) as plain dicts and lists."""
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    if hasattr(v, "keys"):
        return {str(k): _plain(v[k]) for k in v.keys()}
    return [_plain(x) for x in v]


def _kept(scene: Scene, ed: ClipEdit) -> tuple[float, float]:
    _src, tin, tout = timeline_ops.window(scene, ed)
    return round(tin, 6), round(tout, 6)


def _says(t: Any) -> str:
    return "cut" if t.kind == "cut" else f"{t.kind} {t.duration_s:g} s"
