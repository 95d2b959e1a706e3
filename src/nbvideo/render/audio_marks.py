"""What the timeline shows of the sound: each audio item's waveform, the music's beats,
the voice-over's words, and the points a drag snaps to.

Reads only what is on disk or can be made in memory: nothing is spoken or paid for. A voice
line appears once the export (or a lip sync) has spoken it; the generated bed's envelope is
synthesized in memory (the export writes the same samples), and every envelope is cached
under the project's cache/waveforms by its content (sound/waveform.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbvideo.edit.snap import SnapPoint
from nbvideo.edit.timeline import Entry, entries
from nbvideo.model.tracks import AudioItem, ClipItem
from nbvideo.render.finishing import (
    VOICE_LEAD_S,
    line_fits,
    line_request,
    voice_model_name,
    word_rows,
)
from nbvideo.render.music_grid import music_beats
from nbvideo.runtime.context import Runtime
from nbvideo.sound.waveform import DEFAULT_BUCKETS, Waveform, file_waveform, samples_waveform

__all__ = ["WAVEFORM_COLUMNS", "film_s", "snap_points", "voice_lines", "waveform_rows"]

WAVEFORM_COLUMNS = ["source", "track", "id", "start_s", "end_s", "path", "buckets", "peaks"]


def film_s(rt: Runtime) -> float:
    from nbvideo.edit.timeline import total_frames

    return total_frames(rt) / rt.state.brief.fps


def _cache(rt: Runtime) -> Path:
    return rt.store.path("cache")


def voice_lines(rt: Runtime, es: list[Entry] | None = None) -> list[dict[str, Any]]:
    """Each voice line already spoken: scene, number, its WAV, and where it plays on the
    film (start after the scene's lead-in; its length at the tempo `voice_fit` plays it)."""
    f = rt.state.finishing
    if not f.voice:
        return []
    from nbvideo.media.audio_io import wav_duration

    es = entries(rt) if es is None else es
    named = voice_model_name(rt)
    fits = line_fits(rt, es)
    out = []
    for e in es:
        if not e.scene.voice_line.strip():
            continue
        wav = line_request(rt, e.scene, *named)[2]
        if not wav.is_file():
            continue
        tempo = fits[e.scene.id].tempo if e.scene.id in fits else 1.0
        start = round(e.start_s + VOICE_LEAD_S, 6)
        out.append({"scene": e.scene.id, "number": e.number, "path": wav, "start_s": start,
                    "end_s": round(start + wav_duration(wav) / tempo, 6)})
    return out


def _row(source: str, track: str, id_: str, start: float, end: float, path: str | None,
         w: Waveform) -> dict[str, Any]:
    return {"source": source, "track": track, "id": id_, "start_s": round(start, 6),
            "end_s": round(end, 6), "path": path, "buckets": w.buckets, "peaks": w.peaks}


def waveform_rows(rt: Runtime, buckets: int = DEFAULT_BUCKETS, *,
                  scene_clips: bool = True) -> list[dict[str, Any]]:
    """One row per audio thing on the film with its envelope (`peaks`, (buckets, 2) min
    and max): every audio item ("item"; a built-in effect is made on first use), each
    spoken voice line ("voice_line"), the music ("music": the bed or the file, from 0 for
    the film), overlay clips playing their sound and scene clips with sound ("clip_sound")."""
    from nbvideo.sound.sfx import effect_files

    cache = _cache(rt)
    total = film_s(rt)
    rows: list[dict[str, Any]] = []
    for name, track in rt.state.timeline.tracks.items():
        for it in sorted(track.items.values(), key=lambda i: (i.start_s, i.id)):
            if isinstance(it, AudioItem):
                path = (rt.store.path(it.path) if it.path
                        else effect_files(rt, [it.effect or ""])[it.effect or ""])
                if not path.is_file():
                    continue
                w = file_waveform(path, cache_dir=cache, start_s=it.source_in_s,
                                  duration_s=it.duration_s, buckets=buckets)
                rows.append(_row("item", name, it.id, it.start_s, it.end_s,
                                 rt.store.relative(path), w))
            elif isinstance(it, ClipItem) and it.sound and rt.store.path(it.path).is_file():
                try:
                    w = file_waveform(rt.store.path(it.path), cache_dir=cache,
                                      start_s=it.source_in_s, duration_s=it.duration_s,
                                      buckets=buckets)
                except Exception:  # a clip without sound has no waveform to draw
                    continue
                rows.append(_row("clip_sound", "clips", it.id, it.start_s, it.end_s, it.path, w))
    es = entries(rt)
    for line in voice_lines(rt, es):
        w = file_waveform(line["path"], cache_dir=cache, buckets=buckets)
        rows.append(_row("voice_line", "voice", line["scene"], line["start_s"], line["end_s"],
                         rt.store.relative(line["path"]), w))
    music = rt.state.finishing.music
    if music == "bed" and total > 0:
        from nbvideo.sound.music_bed import synth_bed

        seed = rt.state.seed
        w = samples_waveform(lambda: synth_bed(total, seed=seed),
                             key=f"bed-{seed}-upbeat-{total:.3f}", cache_dir=cache,
                             buckets=buckets)
        rows.append(_row("music", "music", "music", 0.0, total, None, w))
    elif music not in ("bed", "none") and rt.store.path(music).is_file() and total > 0:
        w = file_waveform(rt.store.path(music), cache_dir=cache, duration_s=total,
                          buckets=buckets)
        rows.append(_row("music", "music", "music", 0.0, total, music, w))
    if scene_clips:
        for e in es:
            clip = e.clip
            if clip is None or clip.path is None or not rt.store.path(clip.path).is_file():
                continue
            try:
                w = file_waveform(rt.store.path(clip.path), cache_dir=cache,
                                  start_s=e.trim_in_s, duration_s=e.kept_s, buckets=buckets)
            except Exception:  # a clip without sound: nothing to draw
                continue
            rows.append(_row("clip_sound", "clips", e.scene.id, e.start_s,
                             e.start_s + e.frames / rt.state.brief.fps, clip.path, w))
    return rows


def snap_points(rt: Runtime) -> list[SnapPoint]:
    """Every point a drag snaps to, in time order: the cuts (the film's start, each scene's
    start, its end), the items' edges (labelled with the item id), the music's beats and
    the start and end of each spoken word."""
    es = entries(rt)
    total = round(film_s(rt), 6)
    pts = [SnapPoint(0.0, "cut", "start"), SnapPoint(total, "cut", "end")]
    pts += [SnapPoint(round(e.start_s, 6), "cut", e.scene.id) for e in es[1:]]
    for track in rt.state.timeline.tracks.values():
        for it in track.items.values():
            pts += [SnapPoint(round(it.start_s, 6), "edge", it.id),
                    SnapPoint(round(it.end_s, 6), "edge", it.id)]
    beats = music_beats(rt, total).times
    pts += [SnapPoint(round(float(t), 6), "beat", str(i + 1)) for i, t in enumerate(beats)]
    for row in word_rows(rt, es):
        for key in ("film_start_s", "film_end_s"):
            if row[key] <= total:
                pts.append(SnapPoint(round(float(row[key]), 6), "word", row["word"]))
    return sorted(pts, key=lambda p: (p.t_s, p.kind, p.label))
