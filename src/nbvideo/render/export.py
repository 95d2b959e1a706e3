"""Phase 5: export the timeline to MP4s, one per requested aspect, in one call."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from slugify import slugify
from tqdm.auto import tqdm

from nbvideo.edit.captions import write_srt, write_text, write_vtt
from nbvideo.edit.effects import lut_file
from nbvideo.edit.timeline import require_clips
from nbvideo.errors import InvalidInput, quote, render_step
from nbvideo.generate import clips as clips_phase
from nbvideo.generate import lipsync
from nbvideo.model.encoding import EncodingPlan
from nbvideo.model.presets import Preset, enforce, get_presets
from nbvideo.model.state import (
    ASPECTS,
    EXPORT_RESOLUTIONS,
    ExportRecord,
    Finishing,
    RenderStats,
    frame_size,
)
from nbvideo.model.tracks import tracks_in_use
from nbvideo.plan import storyboard
from nbvideo.render import engine as render
from nbvideo.render import finishing, smart_render
from nbvideo.render.mezzanine import GOP_S, Mezzanine
from nbvideo.render.preview import poster_and_preview
from nbvideo.render.sources import upscale_warning
from nbvideo.runtime.context import Runtime
from nbvideo.runtime.jobs import run_sync

FITS = ("crop", "pad")
SMART_CACHE = "cache/smart"  # mezzanines and encoded pieces; safe to delete


def export_path(name: str, aspect: str, resolution: str) -> str:
    slug = slugify(name, max_length=60)
    if not slug:
        raise InvalidInput(f"export name {quote(name)} has no usable characters; use letters or digits")
    return f"exports/{slug}-{aspect.replace(':', 'x')}-{resolution}.mp4"


def validate(formats: Sequence[str], resolution: str, fit: str) -> list[str]:
    if isinstance(formats, str):
        formats = [formats]
    bad = [f for f in formats if f not in ASPECTS]
    if not formats or bad:
        raise InvalidInput(
            f"formats: {', '.join(map(quote, bad)) or 'none given'} not allowed; "
            f"choose from {', '.join(ASPECTS)}"
        )
    if resolution not in EXPORT_RESOLUTIONS:
        raise InvalidInput(f"resolution must be one of {', '.join(EXPORT_RESOLUTIONS)}, "
                           f"got {quote(resolution)}")
    if fit not in FITS:
        raise InvalidInput(f"fit must be 'crop' (fill the frame) or 'pad' (blurred bars), got {quote(fit)}")
    return list(dict.fromkeys(formats))


def refresh_marks(rt: Runtime) -> bool:
    """Bring the local frames and animatics up to date with the marks the finishing calls
    for (see `storyboard.frame_marks`), free: `p.finish(...)` set after the clips were made
    still exports clean frames and one logo. Paid takes are never made again here. Returns
    whether any frame or clip was made again."""
    if not rt.store.writable:
        return False
    redrawn = run_sync(storyboard.refresh_marks(rt))
    with rt.guard:
        remarked = [s for s in rt.state.scenes if clips_phase.remarked_clip(rt, s)]
        chains = {s.id: [lipsync.lip_sync_source(s, s.clip).model]  # type: ignore[union-attr]
                  for s in remarked}
        # An offline lip sync of a remarked animatic is made again on the new one (free).
        resync = {s.id: dict(s.clip.inputs["lip_sync"]) for s in remarked  # type: ignore[union-attr]
                  if lipsync.lip_synced(s.clip)}
    if chains:
        clips_phase.start_clip_job(rt, chains, name="clips for the new frame marks").wait()
    for sid, about in resync.items():
        audio = about.pop("audio")
        for k in ("from_take", "from_sha256", "audio_sha256"):
            about.pop(k, None)
        run_sync(lipsync.make_lip_sync(rt, sid, audio, about, "local-lipsync"))
    return bool(redrawn or chains)


@dataclass
class _Target:
    aspect: str
    resolution: str
    fps: int
    rel: str
    preset: Preset | None = None
    encoding: EncodingPlan | None = None  # a preset's profile, level and ceiling (_plan)


def targets(rt: Runtime, name: str, formats: Sequence[str], resolution: str, fit: str,
            presets: str | Sequence[str] | None) -> list[_Target]:
    """What to render: one file per aspect, or per platform preset (its size, fps, rules)."""
    if presets:
        return [_Target(p.aspect, p.resolution, p.fps, export_path(name, p.name, p.resolution),
                        p) for p in get_presets(presets)]
    fps = rt.state.brief.fps
    return [_Target(a, resolution, fps, export_path(name, a, resolution))
            for a in validate(formats, resolution, fit)]


def export(rt: Runtime, name: str, formats: Sequence[str], resolution: str, fit: str,
           cancel: threading.Event | None = None,
           on_progress: Callable[[float], None] | None = None,
           presets: str | Sequence[str] | None = None,
           accept: bool | Sequence[str] = (), smart: bool = True) -> list[ExportRecord]:
    """Render one file per aspect (or preset); `on_progress` gets the fraction done over all.

    `smart` re-encodes only what changed since the last export (see `smart_render`), falling
    back to one filter graph where it cannot; False always runs the full filter graph.

    The project's finishing (brand, voice, music, captions) is prepared and every output is
    checked against its preset first: an error, or a warning not in `accept`, stops the
    export before anything is encoded."""
    if fit not in FITS:
        raise InvalidInput(f"fit must be 'crop' (fill the frame) or 'pad' (blurred bars), got {quote(fit)}")
    outs = targets(rt, name, formats, resolution, fit, presets)
    with rt.acting("export", name):  # a viewer's action in a workspace; audited when done
        records = _export(rt, outs, fit, cancel, on_progress, accept, smart)
        for record in records:
            rt.audit("export", detail=record.path)
    return records


def _export(rt: Runtime, outs: list[_Target], fit: str, cancel: threading.Event | None,
            on_progress: Callable[[float], None] | None, accept: bool | Sequence[str],
            smart: bool) -> list[ExportRecord]:
    with tempfile.TemporaryDirectory(prefix="nbvideo-export-") as work:
        with render_step("finishing"):
            plans = _plan(rt, outs, accept, Path(work), fit)
        # Checked first: an export refused by its preset makes nothing. Then the local frames
        # and animatics take the finishing's marks, and the outputs are planned on them.
        if refresh_marks(rt):
            with render_step("finishing"):
                plans = _plan(rt, outs, accept, Path(work), fit)
        return [_render_one(rt, t, prep, fit, warned, index, len(outs), cancel, on_progress, smart)
                for index, (t, prep, warned) in enumerate(plans)]


def _plan(rt: Runtime, outs: list[_Target], accept: bool | Sequence[str], work: Path,
          fit: str = "crop") -> list[tuple[_Target, finishing.Prepared, list[str]]]:
    """Every output prepared (finishing) and checked against its preset, before any encode."""
    with rt.guard:
        es = require_clips(rt)
        clips = [
            render.RenderClip(path=rt.store.path(e.clip.path), duration_s=e.source_s,  # type: ignore[union-attr, arg-type]
                              trim_in_s=e.trim_in_s, trim_out_s=e.trim_out_s,
                              transition=e.transition,
                              effects=e.effects if e.effects.active else None,
                              lut=lut_file(rt, e.effects, f"scene {e.number}: effects.lut"))
            for e in es
        ]
        # a presenter's line is the scene's own sound: mixed in even with no finishing set
        finished = rt.state.finishing != Finishing() or any(
            e.scene.kind == "presenter" for e in es) or tracks_in_use(rt.state.timeline.tracks)
        sources = [(e.number, e.scene.id, c.path) for e, c in zip(es, clips)]
    plans = []
    for t in outs:
        size = frame_size(t.aspect, t.resolution)
        # the originals, never a proxy: the export is made from the clips' own pixels
        low = upscale_warning(sources, size, fit, t.resolution,
                              t.preset.name if t.preset else f"export {t.resolution}")
        if low is not None:
            enforce([low], accept)  # stops before any finishing work unless accepted
        prep = (finishing.prepare(rt, es, clips, size, t.fps, t.preset, work, accept)
                if finished or t.preset else finishing.Prepared(clips=clips))
        warned = [*([low] if low is not None else []), *prep.warnings]
        plans.append((t, prep, [str(v) for v in enforce(warned, accept)]))
        if t.preset is not None:  # refused here (too long for the size limit), before encoding
            _frames, seconds = render.plan_duration(prep.clips, t.fps)
            t.encoding = t.preset.encoding(seconds)
    return plans


def _render_one(rt: Runtime, t: _Target, prep: finishing.Prepared, fit: str, warned: list[str],
                index: int, count: int, cancel: threading.Event | None,
                on_progress: Callable[[float], None] | None, smart: bool) -> ExportRecord:
    out = rt.store.path(t.rel)
    out.parent.mkdir(parents=True, exist_ok=True)
    plan = t.encoding
    # A preset export is always encoded with its plan: a stream copy would keep whatever
    # level and bitrate the clips have.
    spec = render.RenderSpec(aspect=t.aspect, resolution=t.resolution, fit=fit, fps=t.fps,
                             out=out, overlay=prep.overlay, audio=prep.audio,
                             video_args=plan.video_args() if plan else [],
                             **({"crf": plan.crf} if plan else {}),
                             gop_s=plan.keyint_s if plan else 2.0, allow_copy=plan is None)
    _frames, seconds = render.plan_duration(prep.clips, t.fps)
    label = t.preset.name if t.preset else t.aspect
    bar = tqdm(total=round(seconds, 2), desc=f"export {label}", unit="s", leave=False,
               mininterval=0.5, bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s")

    def progress(frac: float) -> None:
        bar.n = round(min(1.0, frac) * bar.total, 2)
        bar.refresh()
        if on_progress is not None:
            on_progress((index + min(1.0, frac)) / count)

    started = time.perf_counter()
    try:
        with render_step(f"export {label}"):
            if smart:
                result = smart_render.export_smart(
                    prep.clips, spec, rt.store.path(SMART_CACHE),
                    overlay_spans=prep.overlay_spans, on_progress=progress, cancel=cancel,
                    on_mezzanine=lambda m: _log_mezzanine(rt, m), overlay_for=prep.overlay_for)
            else:
                result = render.export_timeline(prep.clips, spec, on_progress=progress,
                                                cancel=cancel)
    except BaseException as exc:
        rt.log(phase="export", provider="local", model="ffmpeg", status="failed",
               latency_s=time.perf_counter() - started, note=f"{t.rel}: {exc}"[:200])
        raise
    finally:
        bar.close()
    latency = time.perf_counter() - started
    with render_step(f"poster {label}"):
        sidecars = list(poster_and_preview(out, min(1.0, result.duration_s / 2), out.parent))
    if prep.cues:
        sidecars += [write_srt(prep.cues, out.with_suffix(".srt")),
                     write_vtt(prep.cues, out.with_suffix(".vtt"))]
    if prep.ass:
        sidecars.append(write_text(out.with_suffix(".ass"), prep.ass))
    record = ExportRecord(
        path=t.rel, aspect=t.aspect, resolution=t.resolution, fit=fit,  # type: ignore[arg-type]
        width=result.width, height=result.height, duration_s=result.duration_s,
        frames=result.frames, fps=result.fps, size_bytes=result.size_bytes,
        stream_copy=result.stream_copy, preset=t.preset.name if t.preset else None,
        audio=prep.audio is not None, loudness_lufs=prep.audio_lufs,
        sidecars=[rt.store.relative(p) for p in sidecars], warnings=warned,
        render=RenderStats(**result.model_dump(include=set(RenderStats.model_fields))),
        # the keyframe interval as made: smart export's pieces use their 0.5 s grain
        encoding=plan.model_copy(update={"keyint_s": GOP_S}) if plan and result.mode == "smart"
        else plan,
    )
    how = {"copy": "stream copy", "full": "encode",
           "smart": f"smart: {result.segments_copied} copied, {result.segments_encoded} encoded, "
                    f"{result.seconds_encoded:g} of {result.seconds_total:g} s encoded"}[result.mode]
    if result.fallback:
        how += f"; smart export not possible: {result.fallback}"
    if plan is not None:
        how += f"; H.264 High@{plan.level}, <= {plan.maxrate_kbps} kbit/s"
    rt.log(phase="export", provider="local", model="ffmpeg", units=seconds, unit="second",
           latency_s=latency, note=f"{t.rel} ({how})"[:200])
    with rt.guard:
        record.assets = rt.state.assets_used()  # the library assets in what was rendered
        rt.state.exports = [r for r in rt.state.exports if r.path != t.rel] + [record]
        rt.save()
    return record


def _log_mezzanine(rt: Runtime, m: Mezzanine) -> None:
    """A clip normalized for an output format: a ledger row at cost 0 with the time it took
    (built once; later exports log nothing for it)."""
    if m.built:
        rt.log(phase="export", provider="local", model="ffmpeg", latency_s=round(m.seconds, 3),
               key=m.key, note=f"mezzanine {m.path.name} ({m.frames} frames)")
