"""Setting per-item effects (model/effects.py) on a scene (V1) or an overlay image or clip.

`set_effects` merges the changes into the item's effects, checks the whole (the pydantic
model, then what depends on the item: a LUT confined to the project and readable, a freeze
inside the clip, an overlay clip's file long enough for its speed, the cut's transitions
still shorter than the clips they join), and saves once: one history event, one undo.

Friendly forms are accepted where the model wants a dict: `ramp=[(0, 1), (0.5, 0.4),
(1, 1)]`, `freeze=(1.2, 0.8)`, `focus=(0.3, 0.5)` (every aspect) or `{"9:16": (0.3, 0.5)}`,
`ken_burns=True` (a slow push-in).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nbvideo.errors import InvalidInput, PathEscape, from_validation, quote
from nbvideo.model.effects import LOOKS, Effects
from nbvideo.model.state import ASPECTS, ClipEdit
from nbvideo.model.tracks import ClipItem, ImageItem
from nbvideo.runtime.context import Runtime

__all__ = ["FIELDS", "effects_of", "lut_file", "set_effects"]

FIELDS = tuple(Effects.model_fields)
_TIME = ("speed", "ramp", "reverse", "freeze")
_HINTS = {"look": f"one of {', '.join(LOOKS)}"}


def lut_file(rt: Runtime, fx: Effects, field: str) -> Path | None:
    """The effects' LUT file, confined to the project and checked as a 3D .cube LUT."""
    if fx.lut is None:
        return None
    from nbvideo.media.effects import check_cube
    from nbvideo.store.confine import confined_file

    try:
        rt.store.path(fx.lut)
    except PathEscape as exc:
        raise PathEscape(f"{field}: {exc}") from None
    path = confined_file(fx.lut, field=field, roots=[("the project folder", rt.store.root)])
    check_cube(path, field)
    return path


def _friendly(changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(changes)
    ramp = out.get("ramp")
    if isinstance(ramp, list | tuple):
        out["ramp"] = [{"at": k[0], "speed": k[1]} if isinstance(k, list | tuple) and len(k) == 2
                       else k for k in ramp]
    fr = out.get("freeze")
    if isinstance(fr, list | tuple) and len(fr) == 2:
        out["freeze"] = {"at_s": fr[0], "hold_s": fr[1]}
    kb = out.get("ken_burns")
    if kb is True:
        out["ken_burns"] = {}
    elif kb is False:
        out["ken_burns"] = None
    focus = out.get("focus")
    if isinstance(focus, list | tuple) and len(focus) == 2:
        focus = {a: focus for a in ASPECTS}
    if isinstance(focus, dict):
        out["focus"] = {a: ({"x": p[0], "y": p[1]} if isinstance(p, list | tuple)
                            and len(p) == 2 else p) for a, p in focus.items()}
    elif focus is None and "focus" in out:
        out["focus"] = {}
    return out


def merged(base: Effects, changes: dict[str, Any], where: str) -> Effects:
    """`base` with `changes` (friendly forms allowed), validated; errors name the field."""
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"{where}: effects: {', '.join(unknown)} is not an effect; effects "
                           f"are {', '.join(FIELDS)}")
    fields = _friendly(changes)
    if "ramp" in fields and fields["ramp"] and "speed" not in fields:
        fields["speed"] = 1.0  # a ramp replaces a constant speed set before
    if fields.get("speed", 1.0) != 1.0 and "ramp" not in fields:
        fields["ramp"] = []
    try:
        return Effects.model_validate({**base.model_dump(), **fields})
    except ValidationError as exc:
        sep = "." if exc.errors()[0]["loc"] else ": "  # "scene 2: effects.speed: ..."
        raise from_validation(exc, None, _HINTS, prefix=f"{where}: effects{sep}") from None


def effects_of(rt: Runtime, target: Any) -> tuple[str, Any]:
    """("scene", Scene) or ("item", item) for a scene ref (number, id, handle) or an overlay
    item (id or model)."""
    from nbvideo.edit.tracks import find
    from nbvideo.plan.scenes import resolve

    ref = getattr(target, "id", target)
    if isinstance(ref, str) and ref.startswith("i") and any(
            ref in t.items for t in rt.state.timeline.tracks.values()):
        _name, item = find(rt, ref)
        if not isinstance(item, ImageItem | ClipItem):
            raise InvalidInput(f"{ref}: a {item.kind} item has no effects; effects go on "
                               "scenes, image items and clip items")
        return "item", item
    if isinstance(ref, bool) or not isinstance(ref, int | str):
        raise InvalidInput(f"target: {quote(ref)} is neither a scene (number or id) nor an "
                           "overlay item id")
    return "scene", resolve(rt, ref)


def set_effects(rt: Runtime, target: Any, changes: dict[str, Any],
                reset: bool = False) -> Effects:
    """Merge `changes` into the effects of a scene or an overlay image/clip item (from no
    effects when `reset`), check and save: one undo."""
    from nbvideo.edit import timeline
    from nbvideo.edit import tracks as track_ops

    with rt.guard:
        kind, obj = effects_of(rt, target)
        fps = rt.state.brief.fps
        if kind == "scene":
            ed = rt.state.timeline.edits.get(obj.id) or ClipEdit()
            where = f"scene {rt.state.scenes.index(obj) + 1}"
            fx = merged(Effects() if reset else ed.effects, changes, where)
            lut_file(rt, fx, f"{where}: effects.lut")
            timeline._apply(rt, obj.id, ed.model_copy(update={"effects": fx}))
            return fx
        where = f"item {obj.id}"
        fx = merged(Effects() if reset else obj.effects, changes, where)
        if fx.focus:
            raise InvalidInput(f"{where}: effects.focus: a focus point is for scenes, where an export "
                               "crops to its aspect; an overlay item is never cropped")
        if isinstance(obj, ImageItem):
            timed = [f for f in _TIME if getattr(fx, f) != getattr(Effects(), f)]
            if timed:
                raise InvalidInput(f"{where}: effects.{timed[0]}: an image has no time to change; "
                                   "speed, ramp, reverse and freeze are for clips and scenes")
        lut_file(rt, fx, f"{where}: effects.lut")
        update: dict[str, Any] = {"effects": fx.model_dump()}
        if isinstance(obj, ClipItem):
            # The item keeps the stretch of its file it played; its length on the film follows.
            window = obj.effects.source_for(obj.duration_s, fps)
            dur = fx.frames(window, fps) / fps
            if fx.freeze is not None and \
                    fx.freeze.at_s >= fx.speed_frames(window, fps) / fps - 1e-9:
                raise InvalidInput(f"{where}: effects.freeze.at_s ({fx.freeze.at_s:g} s) must be inside "
                                   f"the clip as played ({fx.speed_frames(window, fps) / fps:.2f}"
                                   " s)")
            update["duration_s"] = round(dur, 6)
        return track_ops._replace(rt, obj.id, update, "effects").effects


def effects_table(rt: Runtime) -> list[dict[str, Any]]:
    """Rows of every scene and item with effects: where, and the effects that are set."""
    rows = []
    base = Effects().model_dump()
    for n, s in enumerate(rt.state.scenes, 1):
        ed = rt.state.timeline.edits.get(s.id)
        if ed is not None and ed.effects.active:
            rows.append({"target": f"scene {n}", "id": s.id,
                         **{k: v for k, v in ed.effects.model_dump().items() if v != base[k]}})
    for t in rt.state.timeline.tracks.values():
        for it in t.items.values():
            fx = getattr(it, "effects", None)
            if fx is not None and fx.active:
                rows.append({"target": f"{it.kind} item", "id": it.id,
                             **{k: v for k, v in fx.model_dump().items() if v != base[k]}})
    return rows
