"""Phase 4: the timeline — clips in storyboard order, with trims and transitions.

Edits are stored per scene id, so they follow a scene when it moves. All timing is done
in whole frames at the project fps, so the exported file has exactly the length shown here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from nbvideo.errors import InvalidInput, PhaseNotReady, quote
from nbvideo.media.xfade import available_transitions
from nbvideo.model.checked import as_finite
from nbvideo.model.effects import Effects
from nbvideo.model.state import ClipEdit, Scene, Take, Transition
from nbvideo.model.transitions import canonical, unknown_message
from nbvideo.plan.scenes import resolve
from nbvideo.runtime.context import Runtime

MIN_KEPT_S = 0.5
MAX_CROSSFADE_S = 3.0
"""The longest transition of any kind (the name is older than the other transitions)."""


@dataclass(frozen=True)
class Entry:
    """One clip as placed on the timeline."""

    number: int
    scene: Scene
    clip: Take | None
    source_s: float
    trim_in_s: float
    trim_out_s: float
    transition: Transition
    start_s: float
    frames: int
    effects: Effects = field(default_factory=Effects)

    @property
    def kept_s(self) -> float:
        """Source seconds kept by the trims (the effects play them for `frames` frames)."""
        return self.source_s - self.trim_in_s - self.trim_out_s


def _edit(rt: Runtime, scene_id: str) -> ClipEdit:
    return rt.state.timeline.edits.get(scene_id) or ClipEdit()


def source_seconds(scene: Scene) -> float:
    clip = scene.clip
    if clip is not None and clip.ok and clip.duration_s:
        return clip.duration_s
    return scene.duration_s


def window(scene: Scene, ed: ClipEdit) -> tuple[float, float, float]:
    """(source, trim in, trim out) actually used. A clip longer than its scene (a model that
    only makes 5 or 10 s) keeps no more than the scene's duration: the rest is trimmed."""
    src = source_seconds(scene)
    tout = ed.trim_out_s
    if src > scene.duration_s + 1e-9:
        tout = max(tout, round(src - ed.trim_in_s - scene.duration_s, 6))
    return src, ed.trim_in_s, tout


def played_frames(ed: ClipEdit, kept_s: float, fps: int) -> int:
    """Frames a clip's kept `kept_s` source seconds play for: its effects' speed, ramp and
    freeze (model/effects.py), else the seconds at `fps`."""
    fx = ed.effects
    return fx.frames(kept_s, fps) if fx.active else round(kept_s * fps)


def entries(rt: Runtime) -> list[Entry]:
    fps = rt.state.brief.fps
    out: list[Entry] = []
    frame_cursor = 0
    scenes = rt.state.scenes
    for i, scene in enumerate(scenes):
        ed = _edit(rt, scene.id)
        src, tin, tout = window(scene, ed)
        trans = ed.transition if i < len(scenes) - 1 else Transition()
        frames = played_frames(ed, src - tin - tout, fps)
        if i > 0:
            prev = out[-1].transition
            frame_cursor -= round(prev.duration_s * fps) if prev.kind != "cut" else 0
        out.append(Entry(i + 1, scene, scene.clip, src, tin, tout, trans,
                         frame_cursor / fps, frames, ed.effects))
        frame_cursor += frames
    return out


def total_frames(rt: Runtime) -> int:
    es = entries(rt)
    if not es:
        return 0
    last = es[-1]
    return round(last.start_s * rt.state.brief.fps) + last.frames


def timeline_table(rt: Runtime) -> pd.DataFrame:
    """The cut as a table, one row per clip (TimelineView.to_pandas)."""
    rows = [{
        "scene": e.number, "id": e.scene.id, "beat": e.scene.beat,
        "clip": e.clip.id if e.clip else None, "source_s": e.source_s,
        "in_s": e.trim_in_s, "out_s": round(e.source_s - e.trim_out_s, 6),
        "kept_s": round(e.kept_s, 6), "start_s": round(e.start_s, 6),
        "end_s": round(e.start_s + e.frames / rt.state.brief.fps, 6),
        "transition": e.transition.kind if e.number < len(rt.state.scenes) else "",
        "transition_s": e.transition.duration_s,
    } for e in entries(rt)]
    return pd.DataFrame(rows, columns=[
        "scene", "id", "beat", "clip", "source_s", "in_s", "out_s", "kept_s", "start_s", "end_s",
        "transition", "transition_s",
    ])


def _check(rt: Runtime, candidate: dict[str, ClipEdit],
           scenes: list[Scene] | None = None) -> None:
    """Refuse edits that leave a clip too short or a transition longer than its neighbours
    (`scenes`: the order to check them in, default the storyboard's)."""
    scenes = rt.state.scenes if scenes is None else scenes
    fps = rt.state.brief.fps
    for i, scene in enumerate(scenes):
        ed = candidate.get(scene.id) or ClipEdit()
        src, tin, tout = window(scene, ed)
        kept = src - tin - tout
        if kept < MIN_KEPT_S - 1e-9:
            raise InvalidInput(
                f"scene {i + 1}: trims leave {kept:.2f} s of a {src:.2f} s clip; keep at least "
                f"{MIN_KEPT_S} s (in_s must be below out_s - {MIN_KEPT_S})"
            )
        played = played_frames(ed, kept, fps) / fps
        if ed.effects.freeze is not None and \
                ed.effects.freeze.at_s >= ed.effects.speed_frames(kept, fps) / fps - 1e-9:
            raise InvalidInput(
                f"scene {i + 1}: effects.freeze.at_s ({ed.effects.freeze.at_s:g} s) must be "
                f"inside the clip as played ({ed.effects.speed_frames(kept, fps) / fps:.2f} s)")
        if i + 1 < len(scenes) and ed.transition.kind != "cut":
            nxt = candidate.get(scenes[i + 1].id) or ClipEdit()
            nsrc, ntin, ntout = window(scenes[i + 1], nxt)
            nxt_kept = played_frames(nxt, nsrc - ntin - ntout, fps) / fps
            limit = min(played, nxt_kept)
            if ed.transition.duration_s >= limit:
                raise InvalidInput(
                    f"scene {i + 1}: {ed.transition.kind} of {ed.transition.duration_s:g} s "
                    f"must be shorter "
                    f"than both clips it joins ({limit:.2f} s)"
                )


def _apply(rt: Runtime, scene_id: str, edit: ClipEdit) -> None:
    candidate = dict(rt.state.timeline.edits)
    candidate[scene_id] = edit
    _check(rt, candidate)
    rt.state.timeline.edits = candidate
    rt.save()


def _snap(rt: Runtime, seconds: float) -> float:
    fps = rt.state.brief.fps
    return round(round(seconds * fps) / fps, 6)


def trim(rt: Runtime, ref: str | int, in_s: float | None = None,
         out_s: float | None = None) -> ClipEdit:
    """Keep [in_s, out_s) of the scene's clip (seconds from the clip's start)."""
    with rt.guard:
        scene = resolve(rt, ref)
        new = checked_trim(rt, scene, _edit(rt, scene.id), in_s, out_s)
        _apply(rt, scene.id, new)
        return new


def checked_trim(rt: Runtime, scene: Scene, ed: ClipEdit, in_s: float | None,
                 out_s: float | None) -> ClipEdit:
    """`ed` with [in_s, out_s) kept, snapped to frames; the values checked on their own
    (the timeline as a whole is checked by whoever applies it)."""
    src = source_seconds(scene)
    for name, v in (("in_s", in_s), ("out_s", out_s)):
        if v is not None and as_finite(v) is None:
            raise InvalidInput(f"{name} must be seconds (a finite number from 0 to the "
                               f"clip's {src:g} s), got {quote(v)}")
    # Far out of range stays out of range when snapped (and 1e308 * fps would overflow).
    new_in = ed.trim_in_s if in_s is None else _snap(rt, max(-1.0, min(float(in_s), src + 1)))
    new_out = ((src - ed.trim_out_s) if out_s is None
               else _snap(rt, max(-1.0, min(float(out_s), src + 1))))
    if not 0 <= new_in < src:
        raise InvalidInput(f"in_s must be from 0 to below the clip's {src:g} s, "
                           f"got {new_in if in_s is None else float(in_s):g}")
    if not 0 < new_out <= src + 1e-6:  # snapped to 6 places: a clip's own end may round up
        raise InvalidInput(f"out_s must be above 0 and at most the clip's {src:g} s, "
                           f"got {new_out if out_s is None else float(out_s):g}")
    return ed.model_copy(update={"trim_in_s": new_in,
                                 "trim_out_s": max(0.0, round(src - new_out, 6))})


def _transition(rt: Runtime, kind: str, duration_s: float) -> Transition:
    """A checked transition: an unknown name is refused with close matches among those the
    bundled ffmpeg can render ('fade' is stored as 'crossfade'); NaN, infinity and text as
    duration_s are refused, naming the range."""
    have = available_transitions()
    name = canonical(kind) if isinstance(kind, str) else None
    if name is None or name not in have:
        raise InvalidInput(unknown_message(kind, have))
    if name == "cut":
        duration_s = 0.0
    elif not (0 < (as_finite(duration_s) or 0) <= MAX_CROSSFADE_S + 1
              and 0 < _snap(rt, float(duration_s)) <= MAX_CROSSFADE_S):
        raise InvalidInput(
            f"duration_s of a {name} must be from one frame to {MAX_CROSSFADE_S:g} s, "
            f"got {quote(duration_s)}"
        )
    return Transition(kind=name, duration_s=_snap(rt, float(duration_s)))


def checked_transition(rt: Runtime, kind: str, duration_s: float) -> Transition:
    """A transition checked as `set_transition` checks it (same errors), snapped to frames."""
    return _transition(rt, kind, duration_s)


def apply_cut(rt: Runtime, order: list[str], edits: dict[str, ClipEdit]) -> None:
    """Set the scene order and these scenes' edits in one step (one save, one undo), checked
    as a whole first: a timeline that `_check` refuses changes nothing. `order` names every
    scene once (what `p.reorder` asks); edits of scenes not in `edits` stay as they are."""
    with rt.guard:
        by_id = {s.id: s for s in rt.state.scenes}
        if sorted(order) != sorted(by_id):
            raise InvalidInput(f"order must name every scene exactly once ({len(by_id)} "
                               f"scenes: {', '.join(by_id)})")
        candidate = {**rt.state.timeline.edits, **edits}
        scenes = [by_id[sid] for sid in order]
        _check(rt, candidate, scenes)
        rt.state.scenes = scenes
        rt.state.timeline.edits = candidate
        rt.save()


def set_transition(rt: Runtime, ref: str | int, kind: str = "cut",
                   duration_s: float = 0.0) -> ClipEdit:
    """Set how the scene hands over to the next one: a cut, or a named transition (a
    crossfade, a wipe, a dip, a whip, ...: nv.transitions()) of duration_s."""
    with rt.guard:
        scene = resolve(rt, ref)
        if rt.state.scenes[-1].id == scene.id:
            raise InvalidInput("the last scene has no next scene to transition into")
        trans = _transition(rt, kind, duration_s)
        new = _edit(rt, scene.id).model_copy(update={"transition": trans})
        _apply(rt, scene.id, new)
        return new


def set_all_transitions(rt: Runtime, kind: str, duration_s: float = 0.0) -> None:
    """The same transition at every cut, checked as a whole: all of them or none."""
    with rt.guard:
        trans = _transition(rt, kind, duration_s)
        candidate = dict(rt.state.timeline.edits)
        for scene in rt.state.scenes[:-1]:
            candidate[scene.id] = _edit(rt, scene.id).model_copy(update={"transition": trans})
        _check(rt, candidate)
        rt.state.timeline.edits = candidate
        rt.save()


def require_clips(rt: Runtime) -> list[Entry]:
    es = entries(rt)
    if not es:
        raise PhaseNotReady("the storyboard has no scenes yet; run p.storyboard()")
    missing = [str(e.number) for e in es if e.clip is None or not e.clip.ok]
    if missing:
        raise PhaseNotReady(
            f"scene(s) {', '.join(missing)} have no clip yet; run p.generate_clips() first"
        )
    _check(rt, rt.state.timeline.edits)
    return es
