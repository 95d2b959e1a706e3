"""Editing the timeline's tracks: overlay and audio items added, moved, trimmed, changed,
keyframed and removed, and tracks muted, soloed and turned up or down.

Every change is built on a copy, checked whole (the pydantic models in model/tracks.py, the
files it names confined to the project and decoded, times snapped to whole frames), and only
then becomes the state and is saved through `Runtime.save`, so it is one history event that
`p.undo()` takes back. A refused change names the field and what is allowed, and changes
nothing.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from nbvideo.edit import text_animation as ta
from nbvideo.errors import InvalidInput, PathEscape, from_validation, quote
from nbvideo.model.checked import as_finite
from nbvideo.model.tracks import (
    ANCHORS,
    AUDIO_TRACKS,
    BLEND_MODES,
    BOUNDS,
    EASINGS,
    KEYFRAMED,
    OVERLAY_TRACKS,
    AudioItem,
    ClipItem,
    ImageItem,
    Keyframe,
    TextItem,
    Track,
)
from nbvideo.runtime.context import Runtime

__all__ = ["add", "animate", "find", "items_table", "keyframe", "media_missing", "move", "new_id",
           "remove", "set_item", "set_track", "tracks_table", "trim"]

_HINTS = {"blend": f"one of {', '.join(BLEND_MODES)}", "anchor": f"one of {', '.join(ANCHORS)}",
          "easing": f"one of {', '.join(EASINGS)}", "id": "'i' and 8 hex digits",
          "effect": "a sound effect name: lowercase letters, digits, '-' or '_'",
          "color": "'#rrggbb'", "box": "'#rrggbb'",
          "kind": "one of pop, slide, typewriter, words",
          "direction": "one of left, right, up, down"}
ROOTS = "the project folder"


def new_id() -> str:
    return "i" + secrets.token_hex(4)


def film_seconds(rt: Runtime) -> float:
    from nbvideo.edit.timeline import total_frames

    return total_frames(rt) / rt.state.brief.fps


def _snap(rt: Runtime, seconds: float) -> float:
    fps = rt.state.brief.fps
    return round(round(seconds * fps) / fps, 6)


def _seconds(name: str, value: Any, *, positive: bool = False) -> float:
    v = as_finite(value)
    if v is None or v < 0 or (positive and v <= 0):
        raise InvalidInput(f"{name} must be seconds (a finite number {'above' if positive else 'from'}"
                           f" 0), got {quote(value)}")
    return v


def find(rt: Runtime, item_id: str) -> tuple[str, Any]:
    """(track name, item) of an item id; the error lists the ids there are."""
    for name, track in rt.state.timeline.tracks.items():
        if isinstance(item_id, str) and item_id in track.items:
            return name, track.items[item_id]
    have = [i for t in rt.state.timeline.tracks.values() for i in t.items]
    raise InvalidInput(f"item_id: no timeline item {quote(item_id)}; items are "
                       f"{', '.join(have) if have else 'none yet (p.timeline.add(...))'}")


def _track_name(name: Any) -> str:
    allowed = (*OVERLAY_TRACKS, *AUDIO_TRACKS)
    if name not in allowed:
        raise InvalidInput(f"track: {quote(name)} is not a track; use {', '.join(OVERLAY_TRACKS)} "
                           f"for overlays or {', '.join(AUDIO_TRACKS)} for sound "
                           "(V1 is the scenes: p.trim / p.set_transition)")
    return str(name)


def _confined(rt: Runtime, rel: str, field: str, kind: str) -> Path:
    """The item's file: inside the project (symlinks followed), there, and of its kind."""
    from nbvideo.store.confine import confined_file

    try:
        rt.store.path(rel)
    except PathEscape as exc:
        raise PathEscape(f"{field}: {exc}") from None
    roots = [(ROOTS, rt.store.root)]
    if kind in ("image", "audio"):
        return confined_file(rel, field=field, roots=roots, kind=kind)  # type: ignore[arg-type]
    return confined_file(rel, field=field, roots=roots, kind="any")


_STILLS = {"png", "mjpeg", "webp", "bmp", "gif", "tiff"}


def media_seconds(path: Path, field: str, video: bool) -> float:
    """How long a clip or a sound file plays (refused if it is not one)."""
    import av

    try:
        with av.open(str(path)) as c:
            streams = c.streams.video if video else c.streams.audio
            if not streams:
                raise InvalidInput(f"{field} {path.name!r} has no "
                                   f"{'video' if video else 'audio'} stream")
            s = streams[0]
            seconds = (c.duration / 1_000_000 if c.duration else
                       float(s.duration * s.time_base) if s.duration else 0.0)
            if video and (seconds <= 0 or s.codec_context.name in _STILLS or s.frames == 1):
                raise InvalidInput(f"{field} {path.name!r} is not a video file (a still image? "
                                   "use add_image)")
            return seconds
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{field} {path.name!r} is not a "
                           f"{'video' if video else 'sound'} file that can be read "
                           f"({type(exc).__name__})") from None


def _checked(rt: Runtime, item: Any, where: str) -> Any:
    """Files the item names checked, times snapped, source lengths respected."""
    fps_snap = {k: _snap(rt, getattr(item, k)) for k in ("start_s", "duration_s")}
    if fps_snap["duration_s"] <= 0:
        raise InvalidInput(f"{where}: duration_s must be at least one frame "
                           f"(1/{rt.state.brief.fps} s)")
    upd: dict[str, Any] = dict(fps_snap)
    if getattr(item, "keyframes", None):
        upd["keyframes"] = {p: [{**k.model_dump(), "t_s": _snap(rt, k.t_s)} for k in kfs]
                            for p, kfs in item.keyframes.items()}
    if isinstance(item, ImageItem):
        _confined(rt, item.path, f"{where}: path", "image")
    elif isinstance(item, ClipItem | AudioItem) and item.path is not None:
        video = isinstance(item, ClipItem)
        f = _confined(rt, item.path, f"{where}: path", "any" if video else "audio")
        length = media_seconds(f, f"{where}: path", video)
        if length and item.source_in_s >= length:
            raise InvalidInput(f"{where}: source_in_s ({item.source_in_s:g} s) must be inside "
                               f"the file's {length:g} s")
        # (with effects, the file's stretch it plays: duration_s at its speed, less a freeze)
        used = (item.effects.source_for(upd["duration_s"], rt.state.brief.fps)
                if video and item.effects.timed else upd["duration_s"])
        if length and item.source_in_s + used > length + 1e-3 and video:
            raise InvalidInput(f"{where}: duration_s ({upd['duration_s']:g} s) from source_in_s "
                               f"{item.source_in_s:g} s runs past the clip's end "
                               f"({length:g} s); at most {length - item.source_in_s:.3f} s"
                               + (" of the file at its effects' speed" if used !=
                                  upd["duration_s"] else ""))
    elif isinstance(item, TextItem) and item.font is not None:
        from nbvideo.store.brands import BUNDLED_FONTS

        if item.font.lower() not in BUNDLED_FONTS:
            _confined(rt, item.font, f"{where}: font", "font")
    return _validated({**item.model_dump(), **upd}, where)


def _commit(rt: Runtime, tracks: dict[str, Track]) -> None:
    """Make `tracks` the timeline's (checked whole by the model) and save: one history event."""
    try:
        rt.state.timeline.tracks = tracks
    except ValidationError as exc:
        raise from_validation(exc, "timeline", _HINTS) from None
    rt.save()


def _copy(rt: Runtime) -> dict[str, Track]:
    return {k: t.model_copy(update={"items": dict(t.items)})
            for k, t in rt.state.timeline.tracks.items()}


_KINDS = {"image": ImageItem, "clip": ClipItem, "text": TextItem, "audio": AudioItem}


def _validated(fields: dict[str, Any], where: str) -> Any:
    cls = _KINDS.get(fields.get("kind"))  # type: ignore[arg-type]
    if cls is None:
        raise InvalidInput(f"{where}: kind: {quote(fields.get('kind'))} is not an item kind; use "
                           "image, clip or text (overlay tracks) or audio (sound tracks)")
    try:
        return cls.model_validate(fields)
    except ValidationError as exc:
        raise from_validation(exc, where, _HINTS) from None


def add(rt: Runtime, track: str, fields: dict[str, Any]) -> Any:
    """Put a new item on `track` ("V2".."V9" for an image, clip or text; "voice", "music",
    "sfx", "clips" for a sound). `fields` are the item's (model/tracks.py); a missing
    `duration_s` is the rest of the film (image, text), or the file's length from
    `source_in_s` (clip, sound), within the film."""
    name = _track_name(track)
    fields = dict(fields)
    with rt.guard:
        fields.setdefault("id", new_id())
        if fields["id"] in {i for t in rt.state.timeline.tracks.values() for i in t.items}:
            raise InvalidInput(f"id: {quote(fields['id'])} is already on the timeline")
        if "kind" not in fields:
            fields["kind"] = "audio" if name in AUDIO_TRACKS else (
                "text" if "text" in fields else "image")
        start = _snap(rt, _seconds("start_s", fields.get("start_s", 0.0)))
        fields["start_s"] = start
        if fields.get("duration_s") is None:
            fields["duration_s"] = _default_length(rt, fields, start)
        where = f"add {fields['kind']}"
        anim = ta.spec(fields.pop("animation", None), where)
        item = _checked(rt, _validated(fields, where), where)
        if anim[0] is not None:
            fps = rt.state.brief.fps
            item = _validated({**item.model_dump(), **ta.animated(
                item, ta.checked(item, *anim, fps, where), fps)}, where)
        tracks = _copy(rt)
        if name not in tracks:
            tracks[name] = Track(kind="overlay" if name in OVERLAY_TRACKS else name)  # type: ignore[arg-type]
        tracks[name] = tracks[name].model_copy(update={"items": {**tracks[name].items,
                                                               item.id: item}})
        _commit(rt, tracks)
        return item


def _default_length(rt: Runtime, fields: dict[str, Any], start: float) -> float:
    film = film_seconds(rt)
    rest = film - start
    kind, path = fields.get("kind"), fields.get("path")
    if kind in ("clip", "audio") and isinstance(path, str):
        f = _confined(rt, path, f"add {kind}: path", "any" if kind == "clip" else "audio")
        length = media_seconds(f, f"add {kind}: path", kind == "clip")
        src = as_finite(fields.get("source_in_s", 0.0)) or 0.0
        own = max(0.0, length - src)
        rest = min(own, rest) if rest > 0 else own
        rest = (rest * rt.state.brief.fps // 1) / rt.state.brief.fps  # never past the file
    if kind == "audio" and fields.get("effect") and not path:
        rest = min(rest, 1.0) if rest > 0 else 1.0  # an effect is a short sound
    if rest <= 0:
        raise InvalidInput(f"start_s ({start:g} s) is at or past the end of the film "
                           f"({film:g} s); give duration_s to place it there anyway")
    return rest


_LOOK = ("duration_s", "x", "y", "scale", "opacity")
"""What a text animation's keyframes are written around: changing one writes them again."""


def _built(rt: Runtime, item: Any, update: dict[str, Any], where: str) -> Any:
    """The item with `update`, checked; a text animation given in it (or kept, when its
    length or look changed) is written into its keyframes again."""
    update = dict(update)
    fps = rt.state.brief.fps
    if "animation" in update:
        anim: Any = ta.spec(update.pop("animation"), where)
    elif (isinstance(item, TextItem) and item.animation is not None
          and "keyframes" not in update
          and any(k in update and update[k] != getattr(item, k) for k in _LOOK)):
        anim = "refit"
    else:
        return _checked(rt, _validated({**item.model_dump(), **update}, where), where)
    before = getattr(item, "animation", None)
    bare: dict[str, Any] = {}
    if isinstance(item, TextItem):  # without the animation and the keyframes it wrote
        mine = ta.owned(before)
        bare = {"animation": None, "keyframes": {
            p: [k.model_dump() for k in ks] for p, ks in item.keyframes.items() if p not in mine}}
    new = _checked(rt, _validated({**item.model_dump(), **update, **bare}, where), where)
    a = (ta.refit(before, new.duration_s, fps) if anim == "refit"
         else ta.checked(new, *anim, fps, where))
    if a is None and before is None:
        return new
    return _validated({**new.model_dump(), **ta.animated(new, a, fps, before)}, where)


def _replace(rt: Runtime, item_id: str, update: dict[str, Any], verb: str,
             to_track: str | None = None) -> Any:
    name, item = find(rt, item_id)
    where = f"{verb} {item_id}"
    new = _built(rt, item, update, where)
    tracks = _copy(rt)
    dest = name if to_track is None else _track_name(to_track)
    del tracks[name].items[item_id]
    tracks[name] = tracks[name].model_copy(update={"items": tracks[name].items})
    if dest not in tracks:
        tracks[dest] = Track(kind="overlay" if dest in OVERLAY_TRACKS else dest)  # type: ignore[arg-type]
    if (dest in AUDIO_TRACKS) != (new.kind == "audio"):
        raise InvalidInput(f"track: a {new.kind} item cannot go on {dest}; "
                           + ("sounds go on " + ", ".join(AUDIO_TRACKS) if new.kind == "audio"
                              else "overlays go on " + ", ".join(OVERLAY_TRACKS)))
    tracks[dest] = tracks[dest].model_copy(update={"items": {**tracks[dest].items, new.id: new}})
    _commit(rt, tracks)
    return new


def move(rt: Runtime, item_id: str, start_s: float | None = None,
         track: str | None = None) -> Any:
    """Move an item to another start on the film and/or another track of its kind."""
    with rt.guard:
        update = {} if start_s is None else {"start_s": _snap(rt, _seconds("start_s", start_s))}
        return _replace(rt, item_id, update, "move", track)


def trim(rt: Runtime, item_id: str, start_s: float | None = None,
         end_s: float | None = None) -> Any:
    """New film start and/or end for an item. The content stays where it was on the film:
    moving a clip's or a sound's start later skips that much more of its file (source_in_s),
    as an editor's trim does; keyframes keep their times from the item's start."""
    with rt.guard:
        _name, item = find(rt, item_id)
        new_start = item.start_s if start_s is None else _snap(rt, _seconds("start_s", start_s))
        new_end = item.end_s if end_s is None else _snap(rt, _seconds("end_s", end_s))
        if new_end <= new_start:
            raise InvalidInput(f"trim {item_id}: end_s ({new_end:g} s) must be after start_s "
                               f"({new_start:g} s)")
        update: dict[str, Any] = {"start_s": new_start, "duration_s": round(new_end - new_start, 6)}
        if isinstance(item, ClipItem | AudioItem) and item.path is not None:
            src = round(item.source_in_s + new_start - item.start_s, 6)
            if src < -1e-9:
                raise InvalidInput(f"trim {item_id}: start_s {new_start:g} s is before the "
                                   f"start of its file ({item.start_s - item.source_in_s:g} s "
                                   "on the film)")
            update["source_in_s"] = max(0.0, src)
        return _replace(rt, item_id, update, "trim")


def set_item(rt: Runtime, item_id: str, fields: dict[str, Any]) -> Any:
    """Change an item's fields (x, y, width, opacity, blend, text, gain_db, fade_in_s, ...)."""
    with rt.guard:
        bad = {"id", "kind"} & set(fields)
        if bad:
            raise InvalidInput(f"{', '.join(sorted(bad))}: an item's id and kind cannot change; "
                               "remove it and add a new one")
        if "start_s" in fields:
            fields = {**fields, "start_s": _snap(rt, _seconds("start_s", fields["start_s"]))}
        return _replace(rt, item_id, fields, "set")


def remove(rt: Runtime, item_id: str) -> Any:
    """Take an item off the timeline (p.undo() puts it back)."""
    with rt.guard:
        name, item = find(rt, item_id)
        tracks = _copy(rt)
        del tracks[name].items[item_id]
        tracks[name] = tracks[name].model_copy(update={"items": tracks[name].items})
        _commit(rt, tracks)
        return item


def keyframe(rt: Runtime, item_id: str, prop: str, t_s: float, value: float | None,
             easing: str = "linear") -> Any:
    """Set the value of `prop` (x, y, scale, rotation, opacity) at `t_s` seconds into the
    item, easing from there to the next keyframe; `value=None` removes the keyframe there."""
    with rt.guard:
        _name, item = find(rt, item_id)
        if item.kind == "audio":
            raise InvalidInput(f"keyframe {item_id}: sounds have no keyframes (use gain_db, "
                               "fade_in_s, fade_out_s)")
        if prop not in KEYFRAMED:
            raise InvalidInput(f"prop: {quote(prop)} cannot be keyframed; use one of "
                               f"{', '.join(KEYFRAMED)}")
        if easing not in EASINGS:
            raise InvalidInput(f"easing: {quote(easing)} is not allowed; use one of "
                               f"{', '.join(EASINGS)}")
        t = _snap(rt, _seconds("t_s", t_s))
        if t > item.duration_s + 1e-9:
            raise InvalidInput(f"t_s: {t:g} s is past the end of item {item_id} "
                               f"({item.duration_s:g} s long); keyframe times are from the "
                               "item's start")
        kfs = [k for k in item.keyframes.get(prop, []) if abs(k.t_s - t) > 1e-9]
        if value is not None:
            v = as_finite(value)
            lo, hi, unit = BOUNDS[prop]
            if v is None or not lo <= v <= hi:
                raise InvalidInput(f"value: {prop} is {unit}, from {lo:g} to {hi:g}; got "
                                   f"{quote(value)}")
            kfs.append(Keyframe(t_s=t, value=v, easing=easing))  # type: ignore[arg-type]
        kfs.sort(key=lambda k: k.t_s)
        frames = {**item.keyframes, prop: kfs}
        if not kfs:
            frames.pop(prop)
        return _replace(rt, item_id, {"keyframes": {p: [k.model_dump() for k in ks]
                                                    for p, ks in frames.items()}}, "keyframe")


def animate(rt: Runtime, item_id: str, kind: str | None, in_s: float | None = None,
            out_s: float | None = 0.0, direction: str = "left") -> Any:
    """Give a text item an animation (pop, slide, typewriter, words) or take it off (None):
    pop and slide are written as its keyframes, replacing those of the properties they
    animate; one history event."""
    with rt.guard:
        return _replace(rt, item_id, {"animation": (kind, in_s, out_s, direction)}, "animate")


def set_track(rt: Runtime, track: str, **fields: Any) -> Track:
    """Mute, solo or set the gain of a track."""
    name = _track_name(track)
    bad = set(fields) - {"mute", "solo", "gain_db"}
    if bad:
        raise InvalidInput(f"{', '.join(sorted(bad))}: a track takes mute, solo and gain_db")
    with rt.guard:
        tracks = _copy(rt)
        base = tracks.get(name) or Track(kind="overlay" if name in OVERLAY_TRACKS else name)  # type: ignore[arg-type]
        try:
            new = Track.model_validate({**base.model_dump(), **fields})
        except ValidationError as exc:
            raise from_validation(exc, f"track {name}", _HINTS) from None
        tracks[name] = new
        _commit(rt, tracks)
        return new


# ---------------------------------------------------------------------- tables
ITEM_COLUMNS = ["track", "id", "kind", "start_s", "end_s", "duration_s", "source", "source_in_s",
                "x", "y", "anchor", "width", "opacity", "blend", "gain_db", "fade_in_s",
                "fade_out_s", "mute", "keyframed", "animation"]


def items_table(rt: Runtime) -> pd.DataFrame:
    """One row per overlay and audio item, by track then start."""
    rows = []
    for name, track in rt.state.timeline.tracks.items():
        for it in sorted(track.items.values(), key=lambda i: (i.start_s, i.id)):
            over = it.kind != "audio"
            rows.append({
                "track": name, "id": it.id, "kind": it.kind, "start_s": it.start_s,
                "end_s": round(it.end_s, 6), "duration_s": it.duration_s,
                "source": getattr(it, "path", None) or getattr(it, "effect", None)
                or getattr(it, "text", None),
                "source_in_s": getattr(it, "source_in_s", None),
                "x": it.x if over else None, "y": it.y if over else None,
                "anchor": it.anchor if over else None, "width": it.width if over else None,
                "opacity": it.opacity if over else None, "blend": it.blend if over else None,
                "gain_db": None if over else it.gain_db,
                "fade_in_s": None if over else it.fade_in_s,
                "fade_out_s": None if over else it.fade_out_s,
                "mute": None if over else it.mute,
                "keyframed": sorted(it.keyframes) if over else [],
                "animation": (it.animation.kind if getattr(it, "animation", None) is not None
                              else None),
            })
    return pd.DataFrame(rows, columns=ITEM_COLUMNS)


def tracks_table(rt: Runtime) -> pd.DataFrame:
    """One row per track, V1 (the scenes) first: kind, items, span, mute, solo, gain."""
    from nbvideo.edit.timeline import entries

    es = entries(rt)
    rows = [{"track": "V1", "kind": "scenes", "items": len(es), "start_s": 0.0,
             "end_s": round(film_seconds(rt), 6), "mute": False, "solo": False, "gain_db": None}]
    order = sorted(rt.state.timeline.tracks.items(),
                   key=lambda kv: (kv[0] not in OVERLAY_TRACKS, kv[0] in AUDIO_TRACKS
                                   and AUDIO_TRACKS.index(kv[0]), kv[0]))
    for name, t in order:
        its = list(t.items.values())
        rows.append({"track": name, "kind": t.kind, "items": len(its),
                     "start_s": min((i.start_s for i in its), default=None),
                     "end_s": max((round(i.end_s, 6) for i in its), default=None),
                     "mute": t.mute, "solo": t.solo,
                     "gain_db": t.gain_db if t.kind != "overlay" else None})
    return pd.DataFrame(rows, columns=["track", "kind", "items", "start_s", "end_s", "mute",
                                       "solo", "gain_db"])


def media_missing(rt: Runtime) -> list[str]:
    """Items whose files are no longer in the project (an export refuses them, naming them)."""
    out = []
    for name, t in rt.state.timeline.tracks.items():
        for it in t.items.values():
            path = getattr(it, "path", None)
            if path and not rt.store.path(path).is_file():
                out.append(f"{name} item {it.id}: {path}")
    return out

