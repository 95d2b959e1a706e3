"""Small objects the Project hands out: a scene, the scene list, questions, timeline, exports.

They read live from the project's state (so they never go stale) and forward verbs to it.
Each has a plain repr and an HTML repr for notebooks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from typing_extensions import deprecated

from nbvideo import views
from nbvideo.edit import timeline as timeline_ops
from nbvideo.edit import tracks as track_ops
from nbvideo.edit.snap import SNAP_TOLERANCE_S
from nbvideo.errors import InvalidInput, PhaseNotReady
from nbvideo.generate import library as library_use
from nbvideo.media import proxy
from nbvideo.model.state import ExportRecord, Question, Scene, Take

if TYPE_CHECKING:
    from nbvideo.project import Project
    from nbvideo.render.interchange import ImportReport
    from nbvideo.runtime.jobs import Job


def proxy_status(root: Path | None, t: Take) -> str | None:
    """A clip's editing proxy as the takes table shows it: its project path once made,
    "making" while the background build runs, "on first use" when it is yet to be made
    (deleted with the cache, say); None for a source of 1080p or less (none needed)."""
    if (root is None or t.kind != "clip" or not t.ok or not t.checksum
            or not proxy.needs_proxy(t.width, t.height)):
        return None
    path = proxy.proxy_path(root, t.checksum)
    if path.is_file():
        return path.relative_to(root).as_posix()
    return "making" if proxy.building(root, t.checksum) else "on first use"


def takes_table(scenes: list[Scene], root: Path | None = None) -> pd.DataFrame:
    """Every frame and clip take of `scenes`, one row each, the chosen ones marked; with
    the project `root`, each clip's editing proxy (see `proxy_status`)."""
    rows = []
    for number, s in enumerate(scenes, 1):
        for t in (*s.frame_takes, *s.clip_takes):
            chosen = t.id in (s.frame_take_id, s.clip_take_id)
            rows.append({
                "scene": number, "scene_id": s.id, "take": t.id, "kind": t.kind,
                "chosen": chosen, "status": t.status, "provider": t.provider, "model": t.model,
                "seed": t.seed, "prompt": t.inputs.get("visual_prompt", t.inputs.get("prompt")),
                "cost_usd": t.cost_usd, "created_at": t.created_at, "path": t.path,
                "lip_sync_of": t.inputs.get("lip_sync", {}).get("from_take"),
                "size": f"{t.width}x{t.height}" if t.width and t.height else None,
                "proxy": proxy_status(root, t),
            })
    return pd.DataFrame(rows, columns=[
        "scene", "scene_id", "take", "kind", "chosen", "status", "provider", "model", "seed",
        "prompt", "cost_usd", "created_at", "path", "lip_sync_of", "size", "proxy",
    ])


class Questions(list[Question]):
    """The clarifying questions, with the answers given so far."""

    def __init__(self, questions: list[Question], answers: dict[str, str],
                 project: Project | None = None) -> None:
        super().__init__(questions)
        self.answers = answers
        """Question id -> the answer given so far (unanswered questions are absent)."""
        self._p = project

    @property
    def ids(self) -> list[str]:
        """The question ids, in order: the keyword names `p.answer(...)` takes."""
        return [q.id for q in self]

    def to_pandas(self) -> pd.DataFrame:
        """One row per question: id, prompt, kind, choices, default and the answer so far."""
        return pd.DataFrame([{
            "id": q.id, "prompt": q.prompt, "kind": q.kind, "choices": q.choices,
            "default": q.default, "answer": self.answers.get(q.id),
        } for q in self], columns=["id", "prompt", "kind", "choices", "default", "answer"])

    def _repr_html_(self) -> str:
        return views.questions_html(list(self), self.answers)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """A QuestionForm in a live notebook."""
        return views.live_bundle(self._p, "questions")


class SceneHandle:
    """One scene of a project, by id: read its fields, edit it, regenerate it, pick takes.

    Every field of the scene reads through the handle (`scene.title`, `scene.duration_s`,
    `scene.frame_takes`, ...), always from the project's current state.
    """

    def __init__(self, project: Project, scene_id: str) -> None:
        self._p = project
        self.id = scene_id
        """The scene's id: stable across reorders, unlike its number."""

    @property
    def _scene(self) -> Scene:
        return self._p.runtime.state.scene(self.id)

    def __getattr__(self, name: str) -> Any:
        if name in Scene.model_fields:
            return getattr(self._scene, name)
        raise AttributeError(f"scene has no attribute {name!r}")

    @property
    def number(self) -> int:
        """Its place in the storyboard, 1-based, as shown on screen."""
        return next(i for i, s in enumerate(self._p.runtime.state.scenes, 1) if s.id == self.id)

    @property
    def frame(self) -> Take | None:
        """The chosen storyboard frame take (an image), or None before the storyboard."""
        return self._scene.frame

    @property
    def clip(self) -> Take | None:
        """The chosen clip take, or None before clips are generated."""
        return self._scene.clip

    @property
    def frame_path(self) -> Path | None:
        """The chosen frame's image file, or None."""
        f = self._scene.frame
        return self._p.path / f.path if f and f.path else None

    @property
    def clip_path(self) -> Path | None:
        """The chosen clip's video file, or None."""
        c = self._scene.clip
        return self._p.path / c.path if c and c.path else None

    @property
    def clip_proxy(self) -> Path | None:
        """The chosen clip's 540p editing proxy (made now if missing), or None for a clip
        of 1080p or less. Views play it; exports never use it."""
        c = self._scene.clip
        if c is None or not c.ok or c.path is None or not c.checksum:
            return None
        return proxy.ensure(self._p.path, self._p.path / c.path, c.checksum, c.width, c.height)

    @property
    def takes(self) -> pd.DataFrame:
        """Every frame and clip take of this scene as a DataFrame, the chosen ones marked."""
        return takes_table([self._scene], self._p.path).assign(scene=self.number)

    def import_clip(self, path: str | os.PathLike[str]) -> Take:
        """Use your own video file as this scene's clip; see `p.import_clip`."""
        return self._p.import_clip(self.id, path)

    def use_asset(self, asset: Any, as_: str = "frame") -> Take:
        """An asset-library image as this scene's frame (animated by the next
        `p.generate_clips()`) or a clip as its clip (free); see `p.use_asset`."""
        return self._p.use_asset(asset, as_, scene=self.id)  # type: ignore[no-any-return]

    def edit(self, **changes: Any) -> SceneHandle:
        """Change scene fields (title, description, duration_s, ...); same as `p.edit_scene`."""
        return self._p.edit_scene(self.id, **changes)

    def present(self, *, avatar: str | None = None, voice: str | None = None,
                background: str | None = None, model: str | None = None) -> SceneHandle:
        """Make this a presenter scene (an avatar says its voice line); see `p.present`."""
        return self._p.present(self.id, avatar=avatar, voice=voice, background=background,
                               model=model)

    def regenerate(self, prompt: str | None = None, *, force: bool = False,
                   seed: int | None = None) -> Take:
        """A new frame take (optionally with a new visual prompt); old takes are kept."""
        return self._p.regenerate_frame(self.id, prompt, force=force, seed=seed)

    def regenerate_clip(self, prompt: str | None = None, *, force: bool = False,
                        seed: int | None = None) -> Job[list[Take]]:
        """A new clip take for this scene, as a Job; old takes are kept."""
        return self._p.regenerate_clip(self.id, prompt, force=force, seed=seed)

    def lip_sync(self, voice: str | os.PathLike[str] = "line", *, model: str | None = None,
                 budget_usd: float | None = None) -> Job[Take]:
        """This scene's clip saying its voice line (or a recording), as a Job; same as
        `p.lip_sync`."""
        return self._p.lip_sync(self.id, voice, model=model, budget_usd=budget_usd)

    def choose_take(self, take_id: str) -> SceneHandle:
        """Make an earlier frame or clip take the chosen one again."""
        return self._p.choose_take(self.id, take_id)

    def image(self) -> Any:
        """The chosen frame as a PIL image."""
        from nbvideo.media.ffmpeg import open_image

        if self.frame_path is None:
            raise PhaseNotReady(f"scene {self.id} has no frame yet; run p.storyboard()")
        return open_image(self.frame_path, "frame")

    def __repr__(self) -> str:
        s = self._scene
        return (f"<Scene {self.number} {s.id} {s.beat} {round(s.duration_s, 2):g}s {s.shot}/{s.camera}: "
                f"{s.description[:60]!r}>")

    def _repr_html_(self) -> str:
        return views.scene_card(self._p.path, self.number, self._scene, width=320)


class SceneList(list[SceneHandle]):
    """The storyboard in order (0-based like any list; scene numbers on screen are 1-based)."""

    def __init__(self, project: Project, items: list[SceneHandle]) -> None:
        super().__init__(items)
        self._p = project

    def to_pandas(self) -> pd.DataFrame:
        """One row per scene: number, id, beat, title, shot, camera, length, text, takes."""
        st = self._p.runtime.state
        return pd.DataFrame([{
            "scene": i, "id": s.id, "beat": s.beat, "title": s.title, "shot": s.shot,
            "camera": s.camera, "duration_s": s.duration_s, "on_screen_text": s.on_screen_text,
            "description": s.description, "frame": s.frame_take_id, "clip": s.clip_take_id,
        } for i, s in enumerate(st.scenes, 1)])

    @deprecated("SceneList.frame() is deprecated; use SceneList.to_pandas() "
                "(\"frame\" means a storyboard image)")
    def frame(self) -> pd.DataFrame:
        """Deprecated alias of `to_pandas()`; removed in the next release."""
        return self.to_pandas()

    def _repr_html_(self) -> str:
        st = self._p.runtime.state
        return views.storyboard_html(self._p.path, st.storyboard_title or st.name, st.scenes,
                                     st.brief.duration_s)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """A StoryboardBoard in a live notebook."""
        return views.live_bundle(self._p, "board")


def _detached(model: Any) -> Any:
    """A copy of a state model for the caller: changing it does not change the project
    behind its back (unsaved, without history)."""
    return model.model_copy(deep=True)


class TimelineView:
    """The timeline as a table: order, clip, in/out points, start/end and transitions."""

    def __init__(self, project: Project) -> None:
        self._p = project

    def to_pandas(self) -> pd.DataFrame:
        """One row per clip: scene, clip take, source length, in/out, start/end, transition."""
        return timeline_ops.timeline_table(self._p.runtime)

    @deprecated("TimelineView.frame() is deprecated; use TimelineView.to_pandas() "
                "(\"frame\" means a storyboard image)")
    def frame(self) -> pd.DataFrame:
        """Deprecated alias of `to_pandas()`; removed in the next release."""
        return self.to_pandas()

    @property
    def duration_s(self) -> float:
        """The cut's length in seconds, after trims and transitions (each overlaps its clips)."""
        return timeline_ops.total_frames(self._p.runtime) / self._p.runtime.state.brief.fps

    def to_otio(self, path: str | os.PathLike[str]) -> Path:
        """Hand the cut to an editor: write it to `path` in the format its suffix names, through
        OpenTimelineIO's adapter for it, and return the absolute path written.

        - ``.otio``: every track. V1 holds each scene's chosen clip (source_range = its trim,
          less the halves of the crossfades either side) with crossfades as SMPTE_Dissolve
          transitions; audio tracks hold the clips' own sound where the export uses it
          (presenters, lip syncs), the voice-over lines at their times and the music; the
          overlay tracks (V2..V9) and sound items on tracks of their own; the
          sequence has a marker per scene (title and beat) and per caption, and the
          captions as cues in the timeline's metadata. Rate: the project's fps.
        - ``.xml``: Final Cut Pro 7 XML (otio-fcp-adapter), which Premiere Pro and DaVinci
          Resolve import: the same tracks and markers.
        - ``.edl``: CMX 3600 (otio-cmx3600-adapter): the picture cut only (one video track,
          with its dissolves). An EDL carries no audio tracks, markers or captions.

        A scene's speed (and reverse) is a LinearTimeWarp; a ramp or freeze its average
        speed; other effects named effects with their values. It warns, per scene, about the
        effects an editor will not reproduce (the FCP XML adapter writes no speed, the EDL
        adapter no reverse).

        A relative `path` is from the current folder. Media are absolute ``file://`` URLs, so
        an editor on this machine opens them where they are; a voice line or music bed not made yet (before the first export) is
        offline media named after its scene. Nothing is generated or paid for.
        Example: ``p.timeline.to_otio("exports/cut.xml")``
        """
        from nbvideo.render import interchange

        return interchange.write(self._p.runtime, path)

    def from_otio(self, path: str | os.PathLike[str]) -> ImportReport:
        """Read back a cut changed in an editor (.otio, FCP 7 .xml or .edl): the order, trims
        and transitions of its first video track are applied to the project in one step (one
        undo), checked as `p.trim`, `p.set_transition` and `p.reorder` check them. Returns a
        report: what was applied, and what could not be mapped (a clip that matches no
        scene, a scene missing from the file (kept; delete it with `p.delete_scene`), an
        effect, a transition other than a dissolve, gaps, the tracks it does not read).
        Clips are matched by scene id (kept in their names as ``[id]``) or their media file.
        An unreadable file or a value the timeline refuses raises and changes nothing.
        """
        from nbvideo.render import interchange

        return interchange.read(self._p.runtime, path)

    def __iter__(self) -> Iterator[timeline_ops.Entry]:
        return iter(timeline_ops.entries(self._p.runtime))

    def __len__(self) -> int:
        return len(self._p.runtime.state.scenes)

    def __repr__(self) -> str:
        items = self.items
        extra = (f"\n{len(items)} track item(s):\n"
                 f"{items[['track', 'id', 'kind', 'start_s', 'end_s', 'source']].to_string()}"
                 if len(items) else "")
        return (f"<Timeline {len(self)} clips, {self.duration_s:.2f}s>\n"
                f"{self.to_pandas().to_string()}{extra}")

    def _repr_html_(self) -> str:
        return (f"<div style='font:13px system-ui'><b>Timeline</b> — {len(self)} clips, "
                f"{self.duration_s:.2f}s</div>" + self.to_pandas().to_html(index=False))

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """A Timeline widget in a live notebook."""
        return views.live_bundle(self._p, "timeline")

    # ------------------------------------------------------------------ live preview
    def preview(self, start_s: float = 0.0, end_s: float | None = None, *,
                on_piece: Callable[[Any], None] | None = None) -> LivePreview:
        """Play [start_s, end_s) of the film as it is now (end None: to the end) at 360p,
        from the editing proxies: rendered in pieces of at most a second, each kept in
        cache/preview/ by exactly what it shows, so after an edit only the pieces it touched
        render again. Returns the range as one MP4 (its soundtrack included) that plays in
        the notebook; `.pieces` lists the pieces and `.rendered` how many were made now.
        `on_piece(piece)` hears of each piece in playing order as soon as it is on disk
        (`piece.path`, `.start_s`, `.end_s`, `.frames`, `.rendered`): a player starts on the
        first while the others render. Example: ``p.trim(2, out_s=3.5); p.timeline.preview(2, 8)``"""
        from nbvideo.render import live_preview

        pp = live_preview.plan(self._p.runtime, _seconds("start_s", start_s),
                               None if end_s is None else _seconds("end_s", end_s))
        for piece in live_preview.render_pieces(pp):
            if on_piece is not None:
                on_piece(piece)
        path = live_preview.join(pp)
        return LivePreview(path, pp.start_s, pp.end_s, pp.pieces, pp.size, pp.sound())

    def scrub_strip(self, every: int = 4, height: int = 90) -> ScrubStrip:
        """Small JPEGs of the film as it is now, one every `every` frames (at the start of
        each preview piece, then every `every` frames), `height` px tall: what a view shows
        under the playhead while scrubbing, with no render. Made from the preview's pieces
        (rendered if missing) and cached per piece."""
        from nbvideo.render import live_preview

        pp = live_preview.plan(self._p.runtime)
        frames = live_preview.scrub_strip(pp, every, height)
        return ScrubStrip([(f.t_s, f.path) for f in frames], pp.fps)

    # ------------------------------------------------------------------ tracks
    # V1 is the scenes (trim and transitions: p.trim, p.set_transition). Overlays go on V2..V9
    # (a higher number draws on top), sounds on "voice", "music", "sfx" and "clips". Each
    # change is checked whole, saved, and one step for p.undo().

    @property
    def tracks(self) -> pd.DataFrame:
        """One row per track, V1 (the scenes) first: kind, items, span, mute, solo, gain."""
        return track_ops.tracks_table(self._p.runtime)

    @property
    def items(self) -> pd.DataFrame:
        """One row per overlay and sound item: track, id, kind, times, look or level."""
        return track_ops.items_table(self._p.runtime)

    def item(self, item_id: str) -> Any:
        """The item with this id (ImageItem, ClipItem, TextItem or AudioItem): a copy; change
        it with `set`, `move`, `trim` or `keyframe`, which save it."""
        return _detached(track_ops.find(self._p.runtime, item_id)[1])

    def add(self, track: str, item: Any = None, **fields: Any) -> Any:
        """Put an item on a track: `item` a dict or an item model, or its fields as keywords.
        ``p.timeline.add("V2", kind="image", path="assets/logo.png", start_s=1, x=0.9, y=0.1,
        anchor="top-right", width=0.15)``. Returns the item (its `.id` addresses it)."""
        given = (item.model_dump() if hasattr(item, "model_dump") else dict(item or {}))
        fields = {**given, **fields}
        if library_use.is_ref(fields.get("path")):  # an asset: copied in, recorded, then used
            use = {"image": "image", "clip": "clip"}.get(str(fields.get("kind")), "audio")
            with library_use.brought_in(self._p.runtime, fields["path"], use,
                                        f"timeline: {track}: path") as rel:
                return _detached(track_ops.add(self._p.runtime, track, {**fields, "path": rel}))
        return _detached(track_ops.add(self._p.runtime, track, fields))

    def add_image(self, path: Any, start_s: float = 0.0, duration_s: float | None = None, *,
                  track: str = "V2", **fields: Any) -> Any:
        """An image from the project folder (logo, product shot, sticker) over the film from
        `start_s` for `duration_s` (default: to the end). Keywords: x, y, anchor, width,
        height, scale, rotation, opacity, blend. `path` may be an asset-library asset (an
        Asset or "asset:<id>"): it is copied into the project first."""
        return self.add(track, kind="image", path=path, start_s=start_s, duration_s=duration_s,
                        **fields)

    def add_clip(self, path: Any, start_s: float = 0.0, duration_s: float | None = None, *,
                 source_in_s: float = 0.0, track: str = "V2", **fields: Any) -> Any:
        """A video from the project folder (b-roll, a screen recording) played from
        `source_in_s`; `sound=True` plays its sound on the "clips" audio track. `path` may
        be an asset-library asset (an Asset or "asset:<id>"): it is copied in first."""
        return self.add(track, kind="clip", path=path, start_s=start_s, duration_s=duration_s,
                        source_in_s=source_in_s, **fields)

    def add_text(self, text: str, start_s: float = 0.0, duration_s: float | None = None, *,
                 track: str = "V2", animation: Any = None, **fields: Any) -> Any:
        """Text in the brand kit's caption font and colour unless `font`, `color` are given;
        `size` is a fraction of the frame height, `box` a '#rrggbb' box behind it.
        `animation`: "pop", "slide", "typewriter" or "words" (their defaults), or a dict
        with kind, in_s, out_s, direction (see `animate`); one undo step with the item."""
        if animation is not None:
            fields["animation"] = animation
        return self.add(track, kind="text", text=text, start_s=start_s, duration_s=duration_s,
                        **fields)

    def add_audio(self, path: Any = None, start_s: float = 0.0,
                  duration_s: float | None = None, *, effect: str | None = None,
                  track: str = "sfx", **fields: Any) -> Any:
        """A sound file from the project (or a built-in sound effect by `effect` name) on an
        audio track ("voice", "music", "sfx", "clips"). Keywords: source_in_s, gain_db,
        fade_in_s, fade_out_s, mute. `path` may be an asset (a voice line, music)."""
        return self.add(track, kind="audio", path=path, effect=effect, start_s=start_s,
                        duration_s=duration_s, **fields)

    def move(self, item_id: str, start_s: float | None = None, track: str | None = None, *,
             snap: bool = False, tolerance_s: float = SNAP_TOLERANCE_S) -> Any:
        """Move an item to start at `start_s` on the film and/or onto another track.
        `snap=True`: its start or its end, whichever is nearer, sticks to the nearest of
        `snap_points()` within `tolerance_s` (the other items' edges, cuts, beats, words)."""
        if snap and start_s is not None:
            from nbvideo.edit.snap import check_tolerance, snap_move

            tol = check_tolerance(tolerance_s)
            item = track_ops.find(self._p.runtime, item_id)[1]
            start_s = snap_move(self._others(item_id), track_ops._seconds("start_s", start_s),
                                item.duration_s, tol)
        return _detached(track_ops.move(self._p.runtime, item_id, start_s, track))

    def trim(self, item_id: str, start_s: float | None = None, end_s: float | None = None, *,
             snap: bool = False, tolerance_s: float = SNAP_TOLERANCE_S) -> Any:
        """Give an item a new start and/or end on the film; its content stays in place (a
        clip's or sound's later start skips more of its file). `snap=True`: each edge given
        sticks to the nearest of `snap_points()` within `tolerance_s`."""
        if snap:
            from nbvideo.edit.snap import check_tolerance, snap_time

            tol = check_tolerance(tolerance_s)
            track_ops.find(self._p.runtime, item_id)
            pts = self._others(item_id)
            if start_s is not None:
                start_s = snap_time(pts, track_ops._seconds("start_s", start_s), tol)
            if end_s is not None:
                end_s = snap_time(pts, track_ops._seconds("end_s", end_s), tol)
        return _detached(track_ops.trim(self._p.runtime, item_id, start_s, end_s))

    def _others(self, item_id: str) -> list[Any]:
        """The snap points less the item's own edges (it cannot snap to itself)."""
        from nbvideo.render.audio_marks import snap_points

        return [p for p in snap_points(self._p.runtime)
                if not (p.kind == "edge" and p.label == item_id)]

    # ------------------------------------------------------------------ sound marks
    def snap_points(self) -> pd.DataFrame:
        """One row per point a drag or `move(..., snap=True)` snaps to, in time order:
        t_s, kind (cut, edge, beat, word) and label (the scene of a cut, the item of an
        edge, the beat's number, the word). Words appear once the lines are spoken."""
        from nbvideo.render.audio_marks import snap_points

        return pd.DataFrame([{"t_s": p.t_s, "kind": p.kind, "label": p.label}
                             for p in snap_points(self._p.runtime)],
                            columns=["t_s", "kind", "label"])

    @property
    def beats(self) -> list[float]:
        """The music's beat times on the film, in seconds: the generated bed's exactly (its
        tempo is known), a music file's as detected (none if it has no clear pulse, or no
        music). The export's music stops on one of them (docs/finishing.md)."""
        from nbvideo.render.audio_marks import film_s
        from nbvideo.render.music_grid import music_beats

        rt = self._p.runtime
        return [float(t) for t in music_beats(rt, film_s(rt)).times]

    @property
    def tempo_bpm(self) -> float | None:
        """The music's tempo in beats per minute (None: no music or no pulse found)."""
        from nbvideo.render.audio_marks import film_s
        from nbvideo.render.music_grid import music_beats

        rt = self._p.runtime
        return music_beats(rt, film_s(rt)).tempo_bpm

    def waveforms(self, buckets: int = 256) -> pd.DataFrame:
        """One row per sound on the film with its peak envelope: source (item, voice_line,
        music, clip_sound), track, id, start_s, end_s, path, buckets and peaks (a numpy
        array of (min, max) per bucket, in [-1, 1]). Cached in cache/waveforms by content;
        speaks nothing (voice lines show once spoken)."""
        from nbvideo.render.audio_marks import WAVEFORM_COLUMNS, waveform_rows

        return pd.DataFrame(waveform_rows(self._p.runtime, buckets), columns=WAVEFORM_COLUMNS)

    def set(self, item_id: str, **fields: Any) -> Any:
        """Change an item's fields: ``p.timeline.set(logo.id, opacity=0.6, blend="screen")``."""
        return _detached(track_ops.set_item(self._p.runtime, item_id, fields))

    def remove(self, item_id: str) -> Any:
        """Take an item off the timeline (returns it; p.undo() puts it back)."""
        return _detached(track_ops.remove(self._p.runtime, item_id))

    def keyframe(self, item_id: str, prop: str, t_s: float, value: float | None,
                 easing: str = "linear") -> Any:
        """`prop` (x, y, scale, rotation, opacity) is `value` at `t_s` seconds into the item,
        easing (linear, ease-in, ease-out, ease-in-out, hold) toward the next keyframe;
        value=None removes the keyframe at `t_s`."""
        return _detached(track_ops.keyframe(self._p.runtime, item_id, prop, t_s, value, easing))

    def animate(self, item_id: str, kind: str | None, *, in_s: float | None = None,
                out_s: float = 0.0, direction: str = "left") -> Any:
        """Animate a text item: "pop" (grows in from 30% past full size and settles, fading
        in), "slide" (comes in from `direction`, 15% of the frame away, fading in),
        "typewriter" (a character at a time) or "words" (a word at a time), over `in_s`
        seconds from the item's start (default: pop 0.4, slide 0.5, typewriter 0.06 a
        character, words 0.3 a word, cut to fit); `out_s` > 0 takes it out over its last
        seconds. Pop and slide are written as the item's keyframes (replacing those of the
        properties they animate), so `items` and `keyframe` show and change them; None
        takes the animation and its keyframes off. One undo step."""
        return _detached(track_ops.animate(self._p.runtime, item_id, kind, in_s, out_s,
                                           direction))

    # ------------------------------------------------------------------ effects
    def effects(self, target: Any, *, reset: bool = False, **changes: Any) -> Any:
        """The effects of a scene (number, id or handle) or an overlay image/clip item (id
        or item); with keywords, change them (merged into what is set; `reset=True` starts
        from none) and save, one step for p.undo(). Returns the effects (model/effects.py).

        ``p.timeline.effects(2, speed=2)``; ``p.timeline.effects(3, ramp=[(0, 1), (0.5,
        0.4), (1, 1)])``; ``freeze=(1.0, 0.5)`` (at_s, hold_s); ``reverse=True``;
        ``ken_burns=dict(start_zoom=1, end_zoom=1.3, end_x=0.4)``; ``focus={"9:16": (0.3,
        0.5)}``; ``look="warm"`` (nv.looks()); ``lut="looks/film.cube"``; ``blur=4``;
        ``vignette=0.5``. Speed, ramp and freeze change the scene's length on the film (an
        overlay clip's too: it plays the same stretch of its file)."""
        from nbvideo.edit import effects as fx_ops

        if not changes and not reset:
            kind, obj = fx_ops.effects_of(self._p.runtime, target)
            if kind == "item":
                return _detached(obj.effects)
            ed = self._p.runtime.state.timeline.edits.get(obj.id)
            return _detached(ed.effects) if ed is not None else fx_ops.Effects()
        return _detached(fx_ops.set_effects(self._p.runtime, target, changes, reset))

    @property
    def effects_table(self) -> pd.DataFrame:
        """One row per scene or item with effects: where, and each effect that is set."""
        from nbvideo.edit import effects as fx_ops

        return pd.DataFrame(fx_ops.effects_table(self._p.runtime))

    def track(self, name: str, **fields: Any) -> Any:
        """Set a track's mute, solo (audio) or gain_db (audio): ``p.timeline.track("music",
        gain_db=-6)``, ``p.timeline.track("voice", solo=True)``."""
        return _detached(track_ops.set_track(self._p.runtime, name, **fields))


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InvalidInput(f"preview range: {name} must be a number of seconds, got {value!r}")
    return float(value)


class LivePreview:
    """A range of the timeline at 360p, ready to play: `path` (one MP4 with its sound),
    `start_s`/`end_s` on the film (whole pieces: the start may be a little before the one
    asked for), `pieces` (each with `rendered`: made by this call), `rendered`, and
    `sound`, the whole film's soundtrack (None when the film is silent)."""

    def __init__(self, path: Path, start_s: float, end_s: float, pieces: list[Any],
                 size: tuple[int, int], sound: Path | None = None) -> None:
        self.path, self.start_s, self.end_s, self.pieces, self.size = (
            path, start_s, end_s, pieces, size)
        self.sound = sound  # the whole film's soundtrack (None: silent), for a player

    @property
    def rendered(self) -> int:
        """How many pieces this call rendered (the rest came from the cache)."""
        return sum(p.rendered for p in self.pieces)

    def __repr__(self) -> str:
        return (f"<LivePreview {self.start_s:.2f}-{self.end_s:.2f} s, {len(self.pieces)} "
                f"piece(s), {self.rendered} rendered now: {self.path}>")

    def _repr_html_(self) -> str:
        import base64

        data = base64.b64encode(self.path.read_bytes()).decode()
        w, h = self.size
        return (f"<video controls width='{w}' height='{h}' src='data:video/mp4;base64,{data}'>"
                f"</video><div style='font:12px system-ui'>{self.start_s:.2f}–{self.end_s:.2f} s"
                f" · {len(self.pieces)} pieces, {self.rendered} rendered now</div>")


class ScrubStrip(list[tuple[float, Path]]):
    """(seconds on the film, JPEG path) pairs in film order: the scrub strip."""

    def __init__(self, frames: list[tuple[float, Path]], fps: int) -> None:
        super().__init__(frames)
        self.fps = fps

    def at(self, t_s: float) -> Path:
        """The image shown with the playhead at `t_s`: the last one at or before it."""
        best = self[0][1]  # never empty: a timeline has at least one piece
        for when, path in self:
            if when > t_s + 1e-9:
                break
            best = path
        return best

    def _repr_html_(self) -> str:
        import base64

        imgs = "".join(
            f"<img title='{t:.2f} s' style='height:45px' src='data:image/jpeg;base64,"
            f"{base64.b64encode(p.read_bytes()).decode()}'>" for t, p in self[:: max(1, len(self) // 40)])
        return f"<div style='display:flex;overflow-x:auto'>{imgs}</div>"


class Exports(list[ExportRecord]):
    """Exported files; shows each as a playable video in a notebook."""

    def __init__(self, root: Path, records: list[ExportRecord]) -> None:
        super().__init__(records)
        self.root = root
        """The project folder the export paths are relative to."""

    @property
    def paths(self) -> list[Path]:
        """Each export's file, as an absolute path."""
        return [self.root / r.path for r in self]

    def to_pandas(self) -> pd.DataFrame:
        """One row per export: path, aspect, size, length, fit, preset, checks and more."""
        return pd.DataFrame([r.model_dump() for r in self])

    @deprecated("Exports.frame() is deprecated; use Exports.to_pandas() "
                "(\"frame\" means a storyboard image)")
    def frame(self) -> pd.DataFrame:
        """Deprecated alias of `to_pandas()`; removed in the next release."""
        return self.to_pandas()

    def __repr__(self) -> str:
        def enc(r: ExportRecord) -> str:  # a preset's choice (model/encoding.py)
            e = r.encoding
            return f", H.264 High@{e.level} <= {e.maxrate_kbps} kbit/s" if e else ""

        return "\n".join(f"{self.root / r.path} ({r.width}x{r.height}, {r.duration_s:.2f}s"
                         f"{enc(r)})" for r in self) or "<no exports>"

    def _repr_html_(self) -> str:
        if not self:
            return "<code>no exports yet</code>"
        return "<div>" + "".join(views.export_html(self.root, r) for r in self) + "</div>"
