"""Timeline: clips as blocks on a time ruler — reorder, trim, transitions, text, music, export.

Each clip is a child part (times as JSON, its frame as a poster, its low-res preview sent
when the player needs it). Tracks are listed in the `tracks` trait and drawn by one renderer
per kind in timeline.js: the clips; the overlay and audio tracks (items as blocks, dragged to
move and by their edges to trim, snapping to cuts and other items' edges; mute and solo per
track); the text track (each scene's on-screen text, editable in
place, and the caption cues timed as the export burns them); the music track (the export's
music, a file chosen in the browser or the generated bed).
"""

from __future__ import annotations

import html
import threading
import time
from pathlib import Path
from typing import Any

import ipywidgets
import numpy as np
import pandas as pd
import traitlets as t

from nbvideo.errors import InvalidInput, NbvideoError
from nbvideo.model.state import ASPECTS, EXPORT_RESOLUTIONS
from nbvideo.project import (
    AUDIO_SUFFIXES,
    FITS,
    MAX_CROSSFADE_S,
    MIN_KEPT_S,
    transition_choices,
    transition_strip,
)
from nbvideo.widgets import media
from nbvideo.widgets.base import THROTTLE_S, Later, Part, ProjectView, WithBuffers, action, esm

VIDEO_TRACK: dict[str, Any] = {"id": "video", "kind": "clips", "label": "Video"}
WAVE_BUCKETS = 200
"""Buckets per waveform sent to the browser: ~1 KB of JSON per sound, drawn as an SVG."""


def _empty_waves() -> pd.DataFrame:
    return pd.DataFrame(columns=["source", "track", "id", "start_s", "end_s", "path", "buckets",
                                 "peaks"])
UPLOAD_LIMIT = 9 * 1024 * 1024
"""Largest music file sent over the widget: Jupyter's websocket drops a message over 10 MiB
(tornado's default), so a larger file is refused in the browser and set from a cell."""


class TimelineClip(Part):
    """One clip on the timeline."""

    clip = t.Dict(help="number, title, take_id (None: no clip yet), source_s, in_s, out_s, "
                  "kept_s, start_s, end_s, transition {kind, duration_s} into the next clip "
                  "(None on the last).").tag(sync=True)
    poster = t.Bytes(b"", help="JPEG of the scene's frame, shown on the block.").tag(sync=True)
    preview = t.Bytes(b"", help="<=480p MP4 of the clip for the player; empty until asked.").tag(
        sync=True)

    def __init__(self, **kwargs: Any) -> None:
        self.poster_of: str | None = kwargs.pop("poster_of", None)
        self.preview_of: str | None = None
        super().__init__(**kwargs)


class Timeline(ProjectView):
    """The project's timeline as an editor. Every action is one Project method."""

    _esm = esm("preview.js", "timeline.js")
    clips = t.List(t.Instance(TimelineClip), help="Clips in timeline order.").tag(
        sync=True, **ipywidgets.widget_serialization)
    tracks = t.List(t.Dict(), help="Tracks under the ruler, top to bottom: {id, kind, label} "
                    "and what the kind needs: items {track, audio, mute, solo, snaps (times a "
                    "drag sticks to: cuts, edges, beats, words), items [{id, kind, start_s, "
                    "end_s, label, wave?}], lines? (voice: [{scene, start_s, end_s, wave}])}; "
                    "text {cues [{start_s, end_s, text}], captions "
                    "(why there are none, or ''), burned}; music {music {source, name, path, "
                    "duration_s, loops}, accept, max_bytes, beats, wave?}. A wave is min, max "
                    "per bucket as integers from -127 to 127.").tag(sync=True)
    info = t.Dict(help="total_s, fps, aspect, resolution, min_kept_s, max_crossfade_s, the "
                  "transitions the picker offers [{name, family, description}] and the "
                  "export choices: aspects, resolutions, fits.").tag(sync=True)
    export = t.Dict(help="The export panel: state (idle/running/done/failed/canceled), progress "
                    "0..1, message, files [{path, aspect, resolution, fit, width, height, "
                    "duration_s, size_bytes}].").tag(sync=True)

    def __init__(self, project: Any, **kwargs: Any) -> None:
        self._clips: dict[str, TimelineClip] = {}
        self._cancel_export: threading.Event | None = None
        super().__init__(project, **kwargs)

    # ------------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        st = self.project.state
        root = self.project.path
        entries = list(self.project.timeline)
        last = len(entries)
        order = []
        for e in entries:
            fields = {
                "number": e.number, "title": e.scene.title or e.scene.beat,
                "take_id": e.clip.id if e.clip is not None and e.clip.ok else None,
                "source_s": round(e.source_s, 6), "in_s": round(e.trim_in_s, 6),
                "out_s": round(e.source_s - e.trim_out_s, 6), "kept_s": round(e.kept_s, 6),
                "start_s": round(e.start_s, 6), "end_s": round(e.start_s + e.frames / st.brief.fps, 6),
                "text": e.scene.on_screen_text,
                "transition": None if e.number == last else {
                    "kind": e.transition.kind, "duration_s": e.transition.duration_s},
            }
            part = self._clips.get(e.scene.id)
            if part is None:
                part = TimelineClip(key=e.scene.id, clip=fields, poster_of=e.scene.frame_take_id,
                                    poster=media.thumbnail(root, e.scene.frame))
                self._clips[e.scene.id] = part
            else:
                changes: dict[str, Any] = {"clip": fields}
                if part.poster_of != e.scene.frame_take_id:
                    changes["poster"] = media.thumbnail(root, e.scene.frame)
                    part.poster_of = e.scene.frame_take_id
                if part.preview_of is not None and part.preview_of != fields["take_id"]:
                    changes["preview"] = b""  # another take now: the player asks again
                    part.preview_of = None
                part.update(**changes)
            order.append(part)
        for sid in set(self._clips) - {e.scene.id for e in entries}:
            self._clips.pop(sid).close()
        export = dict(self.export) if self.trait_has_value("export") else {
            "state": "idle", "progress": 0.0, "message": ""}
        export["files"] = [r.model_dump(mode="json", include={
            "path", "aspect", "resolution", "fit", "width", "height", "duration_s", "size_bytes"})
            for r in st.exports]
        self._marks = self._read_marks()
        return {
            "clips": order, "tracks": [VIDEO_TRACK, *self._item_tracks(), self._text_track(),
                                       self._music_track()],
            "export": export,
            "info": {"total_s": round(self.project.timeline.duration_s, 6), "fps": st.brief.fps,
                     "aspect": st.brief.aspect, "resolution": st.brief.resolution,
                     "min_kept_s": MIN_KEPT_S, "max_crossfade_s": MAX_CROSSFADE_S,
                     "transitions": transition_choices(),
                     "aspects": list(ASPECTS), "resolutions": list(EXPORT_RESOLUTIONS),
                     "fits": list(FITS)},
        }

    def _item_tracks(self) -> list[dict[str, Any]]:
        """The overlay tracks (V2.., top one first, as drawn) and the audio tracks, each with
        its items as blocks and the times a dragged edge snaps to: the cuts and the other
        items' edges (in the order the export stacks them)."""
        rows = self.project.timeline.items
        tracks = self.project.timeline.tracks
        snaps = sorted({float(t) for t in self._marks["snaps"]["t_s"]})
        waves = self._marks["waves"]
        out = []
        overlays = [r for r in tracks.itertuples() if r.kind == "overlay"][::-1]
        for r in [*overlays, *(r for r in tracks.itertuples()
                               if r.kind not in ("overlay", "scenes"))]:
            mine = rows[rows["track"] == r.track]
            out.append({
                "id": f"track-{r.track}", "kind": "items", "label": r.track, "track": r.track,
                "audio": r.kind != "overlay", "mute": bool(r.mute), "solo": bool(r.solo),
                "snaps": snaps,
                "items": [{"id": i.id, "kind": i.kind, "start_s": float(i.start_s),
                           "end_s": float(i.end_s),
                           "label": str(i.source).rsplit("/", 1)[-1][:40],
                           **({"wave": waves[("item", i.id)]} if ("item", i.id) in waves
                              else {})}
                          for i in mine.itertuples()],
                **({"lines": self._lines(waves, "voice_line", "Voice line")}
                   if r.track == "voice" else
                   {"lines": self._lines(waves, "clip_sound", "Scene clip sound")}
                   if r.track == "clips" else {})})
        return out

    def _lines(self, waves: dict[tuple[str, str], list[int]], source: str,
               label: str) -> list[dict[str, Any]]:
        """What a track plays that is not an item, each with its waveform: the spoken voice
        lines on the voice track, the scene clips' own sound on the clips track. They move
        with their scene, so they are drawn under the items and not dragged."""
        w = self._marks["table"]
        scenes = {s.id for s in self.project.state.scenes}
        return [{"scene": r.id, "label": label, "start_s": float(r.start_s),
                 "end_s": float(r.end_s), "wave": waves[(source, r.id)]}
                for r in w[w["source"] == source].itertuples() if r.id in scenes]

    def _read_marks(self) -> dict[str, Any]:
        """The sound's marks for one drawing: waveforms (compact: min, max per bucket as
        integers -127..127), snap points, beats. A file that cannot be read draws no
        waveform rather than no timeline."""
        tl = self.project.timeline
        try:
            table = tl.waveforms(WAVE_BUCKETS)
        except NbvideoError:
            table = _empty_waves()
        waves = {(r.source, r.id): [int(v) for v in np.round(np.clip(r.peaks, -1, 1) * 127)
                                    .ravel()] for r in table.itertuples()}
        try:
            snaps, beats = tl.snap_points(), [round(b, 4) for b in tl.beats]
        except NbvideoError:  # (words need the voice model named; a missing key must not
            # stop the timeline drawing) the cuts and the items' edges, as before beats
            rows = tl.items
            cuts = [0.0, *(e.start_s for e in tl), tl.duration_s]
            edges = [*rows["start_s"], *rows["end_s"]] if len(rows) else []
            snaps = pd.DataFrame({"t_s": [round(float(x), 6) for x in (*cuts, *edges)]})
            beats = []
        return {"table": table, "waves": waves, "snaps": snaps, "beats": beats}

    def _text_track(self) -> dict[str, Any]:
        f = self.project.state.finishing
        cues = [{"start_s": round(c.start_s, 6), "end_s": round(c.end_s, 6), "text": c.text}
                for c in self.project.caption_cues()]
        why = ("" if f.captions and f.voice else "captions are off" if not f.captions
               else "no voice-over: captions follow the spoken lines; set one with "
                    "p.finish(voice=...)")
        return {"id": "text", "kind": "text", "label": "Text", "cues": cues, "captions": why,
                "burned": f.scene_text}

    def _music_track(self) -> dict[str, Any]:
        return {"id": "music", "kind": "music", "label": "Music",
                "music": self.project.music.model_dump(mode="json"),
                "accept": list(AUDIO_SUFFIXES), "max_bytes": UPLOAD_LIMIT,
                "beats": self._marks["beats"],
                **({"wave": self._marks["waves"][("music", "music")]}
                   if ("music", "music") in self._marks["waves"] else {})}

    def _parts(self) -> list[TimelineClip]:  # type: ignore[override]
        return list(self._clips.values())

    def static_html(self) -> str:
        """The timeline table, then the music and the captions as the export has them."""
        m = self.project.music
        music = m.name + (f" ({m.duration_s:g} s{', looped' if m.loops else ''})"
                          if m.source == "file" and m.duration_s else "")
        cues = "".join(f"<li>{c.start_s:.2f}–{c.end_s:.2f} s: {html.escape(c.text)}</li>"
                       for c in self.project.caption_cues())
        return (self.project.timeline._repr_html_()
                + f"<div style='font:13px system-ui;margin-top:4px'><b>Music</b>: "
                  f"{html.escape(music)}</div>"
                + (f"<div style='font:13px system-ui'><b>Captions</b><ol>{cues}</ol></div>"
                   if cues else ""))

    # ------------------------------------------------------------------ actions
    @action("trim")
    def _trim(self, scene: str, in_s: Any = None, out_s: Any = None) -> None:
        self.project.trim(scene, in_s=in_s, out_s=out_s)

    @action("set_transition")
    def _set_transition(self, scene: str, transition: str = "cut", duration_s: Any = 0.0) -> None:
        self.project.set_transition(scene, transition, duration_s)

    @action("transition_strip")
    def _transition_strip(self, name: str) -> Later:
        """The PNG strip of one transition (five frames across it), as `nv.transitions()`
        shows it; made once per machine and cached, so only the first ask renders."""

        def work() -> WithBuffers:
            path = transition_strip(name)
            return WithBuffers({"name": name}, [path.read_bytes()])

        return Later(work)

    @action("move")
    def _move(self, scene: str, to: int) -> None:
        self.project.move_scene(scene, to)

    @action("reorder")
    def _reorder(self, order: list[str]) -> None:
        self.project.reorder(order)

    @action("item_move")
    def _item_move(self, item_id: str, start_s: Any = None, track: Any = None) -> None:
        """An overlay or audio item dragged to another start (and/or track)."""
        self.project.timeline.move(item_id, start_s=start_s, track=track)

    @action("item_trim")
    def _item_trim(self, item_id: str, start_s: Any = None, end_s: Any = None) -> None:
        """An item's edge dragged: a new start or end on the film."""
        self.project.timeline.trim(item_id, start_s=start_s, end_s=end_s)

    @action("track_set")
    def _track_set(self, track: str, mute: Any = None, solo: Any = None) -> None:
        """A track's mute or solo toggled."""
        fields = {k: v for k, v in (("mute", mute), ("solo", solo)) if v is not None}
        self.project.timeline.track(track, **fields)

    @action("edit_text")
    def _edit_text(self, scene: str, text: str) -> None:
        """A scene's on-screen text, edited on the text track."""
        self.project.edit_scene(scene, on_screen_text=text)

    @action("music")
    def _music(self, source: str) -> None:
        """Back to the generated bed, or no music."""
        if source not in ("bed", "none"):
            raise InvalidInput(f"music: choose 'bed' or 'none' here (a file comes as "
                               f"'music_file'), got {source!r}")
        self.project.finish(music=source)

    @action("music_file", buffers=True)
    def _music_file(self, filename: str, buffers: list[bytes]) -> Later:
        """A music file chosen in the browser: its bytes are checked (decoded) on a worker
        thread, stored in the project and set as the music; a file that is not audio is
        refused and the music stays what it was."""
        if len(buffers) != 1:
            raise InvalidInput(f"music_file: expected the file's bytes as one buffer, got "
                               f"{len(buffers)}")
        data = buffers[0]

        def work() -> dict[str, Any]:
            self.project.set_music_file(data, filename)
            return {"name": self.project.music.name}

        return Later(work)

    @action("preview")
    def _preview(self, scene: str) -> Later:
        """The clip's low-res preview for the player, made once per clip."""
        part = self._clips.get(scene)
        if part is None:
            raise InvalidInput(f"no scene {scene!r} on this timeline")

        def work() -> None:
            clip = self.project.scene(scene).clip
            data = media.preview(self.project.path, clip)
            if not data:
                raise InvalidInput(f"scene {self.project.scene(scene).number} has no clip yet")
            with self._lock:
                part.preview_of = clip.id if clip is not None else None
                part.preview = data

        return Later(work)

    @action("preview_range")
    def _preview_range(self, start_s: float = 0.0, end_s: float | None = None,
                       token: str = "") -> Later:
        """The live preview of [start_s, end_s) (end None: to the end) at 360p: each piece is
        pushed to the player as a `preview_piece` message (its MP4 bytes, film times) as soon
        as it is on disk, in playing order, so play starts on the first; then the film's
        soundtrack as `preview_sound`. The reply sums up the range. `token` names the
        request in those messages (a newer request's pieces replace an older one's)."""

        def push(piece: Any) -> None:
            self._push({"kind": "preview_piece", "token": token, "index": piece.index,
                        "start_s": round(piece.start_s, 6), "end_s": round(piece.end_s, 6),
                        "frames": piece.frames, "rendered": piece.rendered},
                       [piece.path.read_bytes()])

        def work() -> dict[str, Any]:
            shown = self.project.timeline.preview(start_s, end_s, on_piece=push)
            if shown.sound is not None:
                self._push({"kind": "preview_sound", "token": token},
                           [shown.sound.read_bytes()])
            return {"token": token, "start_s": round(shown.start_s, 6),
                    "end_s": round(shown.end_s, 6), "pieces": len(shown.pieces),
                    "rendered": shown.rendered, "sound": shown.sound is not None}

        return Later(work)

    @action("scrub_strip")
    def _scrub_strip(self, every: int = 4, height: int = 90) -> Later:
        """The scrub strip: a small JPEG every `every` frames of the film as it is now, with
        its time on the film; the player shows the one under the playhead while scrubbing,
        with no render. Made from the preview pieces (rendered only if missing)."""

        def work() -> WithBuffers:
            strip = self.project.timeline.scrub_strip(every=every, height=height)
            return WithBuffers({"times": [round(t, 6) for t, _ in strip], "fps": strip.fps},
                               [path.read_bytes() for _, path in strip])

        return Later(work)

    def _push(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        """A message to the browser that is not a reply (a preview piece as it arrives)."""
        with self._lock:
            if self.comm is not None:
                self.send(content, buffers)

    @action("export")
    def _export(self, formats: list[str], name: str = "ad", resolution: str | None = None,
                fit: str = "crop") -> Later:
        """Run Project.export on a worker thread, with progress on the panel."""
        if self.export.get("state") == "running":
            raise InvalidInput("an export is already running; cancel it or wait")
        cancel = self._cancel_export = threading.Event()
        self._set_export(state="running", progress=0.0, message="")
        last = [0.0]

        def progress(frac: float) -> None:
            now = time.monotonic()
            if now - last[0] >= THROTTLE_S or frac >= 1.0:
                last[0] = now
                self._set_export(progress=round(frac, 3))

        def work() -> list[str]:
            try:
                files = self.project.export(name, formats, resolution=resolution, fit=fit,
                                            on_progress=progress, cancel=cancel)
            except BaseException as exc:
                canceled = cancel.is_set()
                self._set_export(state="canceled" if canceled else "failed",
                                 message="export canceled" if canceled else str(exc)[:300])
                raise
            self._set_export(state="done", progress=1.0, message=f"{len(files)} file(s)")
            return [r.path for r in files]

        return Later(work)

    @action("cancel_export")
    def _cancel(self) -> None:
        if self._cancel_export is None or self.export.get("state") != "running":
            raise InvalidInput("no export is running")
        self._cancel_export.set()

    @action("download")
    def _download(self, path: str) -> WithBuffers:
        """An exported file's bytes, only when asked (they can be megabytes)."""
        if path not in {r.path for r in self.project.exports}:
            raise InvalidInput(f"{path!r} is not one of this project's exports")
        data = Path(self.project.path, path).read_bytes()
        return WithBuffers({"path": path, "size_bytes": len(data)}, [data])

    def _set_export(self, **changes: Any) -> None:
        with self._lock:
            self.export = {**self.export, **changes}
