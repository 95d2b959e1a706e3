"""Editing the storyboard: change a scene, reorder, add, delete, duplicate, pick a take.

Every edit validates first and only then touches state, so a refused edit leaves the
project exactly as it was. Deleted scenes are archived with their takes, never destroyed.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import ValidationError

from nbvideo.errors import InvalidInput, from_validation, quote
from nbvideo.model.state import MAX_SCENE_S, MIN_SCENE_S, Scene, Take
from nbvideo.plan.storyboard import scene_seed
from nbvideo.providers.catalog import get_model, models
from nbvideo.runtime.context import Runtime

EDITABLE = ("title", "description", "visual_prompt", "shot", "camera", "duration_s",
            "on_screen_text", "voice_line", "beat", "kind", "presenter", "complexity",
            "video_model")
# What the complexity profile is read from: a change to one of these drops the planner's
# profile, so routing derives it again from the new words (model/complexity.py).
PROFILED = ("description", "visual_prompt", "shot", "camera", "on_screen_text", "voice_line",
            "beat")


def snap_duration(seconds: float, fps: int) -> float:
    """Round a duration to whole frames so timeline maths stays exact."""
    return round(round(seconds * fps) / fps, 6)


def resolve(rt: Runtime, ref: str | int) -> Scene:
    try:
        return rt.state.scene(ref)
    except (KeyError, IndexError) as exc:
        raise InvalidInput(str(exc.args[0])) from None


def validated_scene(base: Scene, changes: dict[str, Any], fps: int) -> Scene:
    """A copy of `base` with `changes`, validated as a whole; errors name the field."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(
            f"cannot edit {', '.join(unknown)}; editable scene fields: {', '.join(EDITABLE)}"
        )
    if "duration_s" in changes:
        d = changes["duration_s"]
        if isinstance(d, bool) or not isinstance(d, int | float) or not (
            MIN_SCENE_S <= d <= MAX_SCENE_S  # False for NaN
        ):
            raise InvalidInput(
                f"duration_s must be a number of seconds from {MIN_SCENE_S:g} to {MAX_SCENE_S:g}, "
                f"got {quote(d)}"
            )
        changes = {**changes, "duration_s": snap_duration(float(d), fps)}
    pin = changes.get("video_model")
    if pin is not None:
        spec = get_model(pin) if isinstance(pin, str) else None
        if spec is None or spec.kind != "video":
            raise InvalidInput(f"video_model must be a catalog video model or None, got "
                               f"{quote(pin)}; video models: "
                               f"{', '.join(m.id for m in models('video'))}")
    data = base.model_dump()
    if "complexity" not in changes and any(
            k in PROFILED and changes[k] != data[k] for k in changes):
        data["complexity"] = None
    data.update(changes)
    try:
        return Scene.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc, f"scene {base.id}") from None


def edit(rt: Runtime, ref: str | int, **changes: Any) -> Scene:
    with rt.guard:
        scene = resolve(rt, ref)
        new = validated_scene(scene, changes, rt.state.brief.fps)
        idx = rt.state.scenes.index(scene)
        rt.state.scenes[idx] = new
        rt.save()
        return new


PRESENTER_SETTINGS = ("avatar", "voice", "background", "model")


def present(rt: Runtime, ref: str | int, **settings: Any) -> Scene:
    """Make a scene a presenter scene (or change its presenter): an avatar says its voice
    line. Settings not given keep their current (or default) values; each is checked, and
    `model` must be a presenter model of this project's vendors."""
    from nbvideo.providers.catalog import get_model, models

    unknown = sorted(set(settings) - set(PRESENTER_SETTINGS))
    if unknown:
        raise InvalidInput(f"present(): unknown setting {', '.join(unknown)}; presenter "
                           f"settings: {', '.join(PRESENTER_SETTINGS)}")
    given = {k: v for k, v in settings.items() if v is not None}
    if "model" in given:
        spec = get_model(given["model"])
        usable = [m.id for m in models("video") if m.presenter
                  and m.provider in rt.providers.vendors]
        if not spec.presenter or spec.provider not in rt.providers.vendors:
            raise InvalidInput(f"presenter.model={quote(given['model'])} is not a presenter "
                               f"model of providers {rt.providers.name!r}; use one of: "
                               f"{', '.join(usable)}")
    with rt.guard:
        scene = resolve(rt, ref)
        current = scene.presenter.model_dump() if scene.presenter is not None else {}
        return edit(rt, scene.id, kind="presenter", presenter={**current, **given})


def reorder(rt: Runtime, order: list[str | int]) -> list[Scene]:
    """Set the scene order from a full list of scene ids or numbers."""
    with rt.guard:
        scenes = rt.state.scenes
        picked = [resolve(rt, r) for r in order]
        if len(picked) != len(scenes) or {s.id for s in picked} != {s.id for s in scenes}:
            raise InvalidInput(
                f"order must name every scene exactly once ({len(scenes)} scenes: "
                f"{', '.join(s.id for s in scenes)})"
            )
        rt.state.scenes = picked
        rt.save()
        return picked


def move(rt: Runtime, ref: str | int, to: int) -> list[Scene]:
    """Move one scene to 1-based position `to`."""
    with rt.guard:
        scene = resolve(rt, ref)
        n = len(rt.state.scenes)
        if isinstance(to, bool) or not isinstance(to, int) or not 1 <= to <= n:
            raise InvalidInput(f"to must be a scene position from 1 to {n}, got {quote(to)}")
        order = [s.id for s in rt.state.scenes if s.id != scene.id]
        order.insert(to - 1, scene.id)
        return reorder(rt, order)


def _new_id(rt: Runtime) -> str:
    taken = {s.id for s in rt.state.scenes} | {s.id for s in rt.state.archived_scenes}
    while True:
        sid = "s" + secrets.token_hex(4)
        if sid not in taken:
            return sid


def add(rt: Runtime, after: str | int | None = None, **fields: Any) -> Scene:
    """Insert a new scene after `after` (default: at the end). Needs description and prompt."""
    with rt.guard:
        sid = _new_id(rt)
        base = Scene(  # plain defaults; what was given is validated (and named) below
            id=sid, beat="product", description="New scene", visual_prompt="New scene",
            duration_s=3.0,
            frame_seed=scene_seed(rt.state.seed, sid, "frame"),
            clip_seed=scene_seed(rt.state.seed, sid, "clip"),
        )
        if not fields.get("visual_prompt") and fields.get("description"):
            fields = {**fields, "visual_prompt": fields["description"]}
        new = validated_scene(base, {k: v for k, v in fields.items()
                                     if k not in ("description", "visual_prompt") or v},
                              rt.state.brief.fps)
        pos = len(rt.state.scenes) if after is None else rt.state.scenes.index(resolve(rt, after)) + 1
        rt.state.scenes.insert(pos, new)
        rt.save()
        return new


def duplicate(rt: Runtime, ref: str | int) -> Scene:
    """Copy a scene (with its chosen frame and clip, as shared takes) right after it."""
    with rt.guard:
        src = resolve(rt, ref)
        sid = _new_id(rt)
        # The copy is a new scene for review: no sign-off or comments carried over.
        copy = src.model_copy(deep=True, update={"id": sid, "review_status": "draft",
                                                 "comments": []})
        rt.state.scenes.insert(rt.state.scenes.index(src) + 1, copy)
        if src.id in rt.state.timeline.edits:
            rt.state.timeline.edits[sid] = rt.state.timeline.edits[src.id].model_copy(deep=True)
        rt.save()
        return copy


def delete(rt: Runtime, ref: str | int) -> Scene:
    """Remove a scene from the storyboard; it is archived with its takes and can be restored."""
    with rt.guard:
        scene = resolve(rt, ref)
        if len(rt.state.scenes) == 1:
            raise InvalidInput("cannot delete the only scene; add another first")
        rt.state.scenes.remove(scene)
        rt.state.archived_scenes.append(scene)
        rt.state.timeline.edits.pop(scene.id, None)
        rt.save()
        return scene


def restore(rt: Runtime, scene_id: str, to: int | None = None) -> Scene:
    """Bring an archived scene back (at the end, or at 1-based position `to`)."""
    with rt.guard:
        found = next((s for s in rt.state.archived_scenes if s.id == scene_id), None)
        if found is None:
            ids = ", ".join(s.id for s in rt.state.archived_scenes) or "(none)"
            raise InvalidInput(f"no archived scene {quote(scene_id)}; archived: {ids}")
        rt.state.archived_scenes.remove(found)
        pos = len(rt.state.scenes) if to is None else max(0, min(to - 1, len(rt.state.scenes)))
        rt.state.scenes.insert(pos, found)
        rt.save()
        return found


def reseed(rt: Runtime, ref: str | int, kind: str, seed: int | None = None) -> int:
    """Give the scene's frame or clip a seed no earlier take used (or the one asked for),
    so the next generation is a genuinely new take rather than a cache hit."""
    with rt.guard:
        scene = resolve(rt, ref)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise InvalidInput(f"seed must be a whole number >= 0, got {quote(seed)}")
        takes = scene.frame_takes if kind == "frame" else scene.clip_takes
        current = scene.frame_seed if kind == "frame" else scene.clip_seed
        new = seed if seed is not None else max({t.seed for t in takes} | {current}) + 1
        setattr(scene, f"{kind}_seed", new)
        rt.save()
        return new


FRAME_FIELDS = ("title", "description", "visual_prompt", "shot", "camera", "on_screen_text", "beat")


def _restore_frame(scene: Scene, take: Take) -> None:
    for name in FRAME_FIELDS:
        if name in take.inputs:
            setattr(scene, name, take.inputs[name])
    scene.frame_seed = take.seed
    scene.frame_take_id = take.id


def choose_take(rt: Runtime, ref: str | int, take_id: str) -> Scene:
    """Go back to an earlier take: select it and restore the scene fields it was made from.

    Restoring the fields keeps the scene consistent with what is on screen, so the next
    storyboard() or generate_clips() sees it as current instead of making it again.
    """
    with rt.guard:
        scene = resolve(rt, ref)
        try:
            take = scene.take(take_id)
        except KeyError as exc:
            raise InvalidInput(str(exc.args[0])) from None
        if not take.ok:
            raise InvalidInput(f"take {take_id} did not succeed ({take.status}); pick another")
        if take.kind == "frame":
            _restore_frame(scene, take)
        else:
            frame = next((t for t in scene.frame_takes
                          if t.ok and t.checksum == take.inputs.get("frame_sha256")), None)
            if frame is not None:
                _restore_frame(scene, frame)
            scene.camera = take.inputs.get("camera", scene.camera)
            scene.duration_s = take.inputs.get("duration_s", scene.duration_s)
            scene.clip_seed = take.seed
            scene.clip_take_id = take.id
        rt.save()
        return scene
