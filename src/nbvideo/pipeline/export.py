"""Phase 5: export the timeline to MP4s, one per requested aspect, in one call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from slugify import slugify
from tqdm.auto import tqdm

from nbvideo.errors import InvalidInput
from nbvideo.pipeline import render
from nbvideo.pipeline.runtime import Runtime
from nbvideo.pipeline.timeline import require_clips
from nbvideo.state import ASPECTS, RESOLUTIONS, ExportRecord

FITS = ("crop", "pad")


def export_path(name: str, aspect: str, resolution: str) -> str:
    slug = slugify(name, max_length=60)
    if not slug:
        raise InvalidInput(f"export name {name!r} has no usable characters; use letters or digits")
    return f"exports/{slug}-{aspect.replace(':', 'x')}-{resolution}.mp4"


def validate(formats: Sequence[str], resolution: str, fit: str) -> list[str]:
    if isinstance(formats, str):
        formats = [formats]
    bad = [f for f in formats if f not in ASPECTS]
    if not formats or bad:
        raise InvalidInput(
            f"formats: {', '.join(map(repr, bad)) or 'none given'} not allowed; "
            f"choose from {', '.join(ASPECTS)}"
        )
    if resolution not in RESOLUTIONS:
        raise InvalidInput(f"resolution must be one of {', '.join(RESOLUTIONS)}, got {resolution!r}")
    if fit not in FITS:
        raise InvalidInput(f"fit must be 'crop' (fill the frame) or 'pad' (blurred bars), got {fit!r}")
    return list(dict.fromkeys(formats))


def export(rt: Runtime, name: str, formats: Sequence[str], resolution: str, fit: str,
           cancel: threading.Event | None = None,
           on_progress: Callable[[float], None] | None = None) -> list[ExportRecord]:
    """Render one file per aspect; `on_progress` gets the fraction done over all of them."""
    formats = validate(formats, resolution, fit)
    rels = [export_path(name, a, resolution) for a in formats]
    with rt.guard:
        es = require_clips(rt)
        fps = rt.state.brief.fps
        clips = [
            render.RenderClip(path=rt.store.path(e.clip.path), duration_s=e.source_s,  # type: ignore[union-attr, arg-type]
                              trim_in_s=e.trim_in_s, trim_out_s=e.trim_out_s,
                              transition=e.transition)
            for e in es
        ]
    records: list[ExportRecord] = []
    for index, (aspect, rel) in enumerate(zip(formats, rels)):
        out = rt.store.path(rel)
        out.parent.mkdir(parents=True, exist_ok=True)
        spec = render.RenderSpec(aspect=aspect, resolution=resolution, fit=fit, fps=fps, out=out)
        _frames, seconds = render.plan_duration(clips, fps)
        bar = tqdm(total=round(seconds, 2), desc=f"export {aspect}", unit="s", leave=False, mininterval=0.5,
                   bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s")

        def progress(frac: float, bar: tqdm = bar, index: int = index) -> None:
            bar.n = round(min(1.0, frac) * bar.total, 2)
            bar.refresh()
            if on_progress is not None:
                on_progress((index + min(1.0, frac)) / len(formats))

        started = time.perf_counter()
        try:
            result = render.export_timeline(clips, spec, on_progress=progress, cancel=cancel)
        except BaseException as exc:
            rt.log(phase="export", provider="local", model="ffmpeg", status="failed",
                   latency_s=time.perf_counter() - started, note=f"{rel}: {exc}"[:200])
            raise
        finally:
            bar.close()
        latency = time.perf_counter() - started
        poster = out.with_suffix(".jpg")
        render.poster_frame(out, poster, at_s=min(1.0, result.duration_s / 2))
        record = ExportRecord(
            path=rel, aspect=aspect, resolution=resolution, fit=fit, width=result.width,  # type: ignore[arg-type]
            height=result.height, duration_s=result.duration_s, frames=result.frames,
            fps=result.fps, size_bytes=result.size_bytes, stream_copy=result.stream_copy,
        )
        rt.log(phase="export", provider="local", model="ffmpeg", units=seconds, unit="second",
               latency_s=latency, note=f"{rel} ({'stream copy' if result.stream_copy else 'encode'})")
        with rt.guard:
            rt.state.exports = [r for r in rt.state.exports if r.path != rel] + [record]
            rt.save()
        records.append(record)
    return records
