"""Phase 2: the storyboard — a plan of scenes from the planner, then one frame per scene."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from PIL import Image

from nbvideo.pipeline.questions import ask_planner, effective_answers, plan_context
from nbvideo.pipeline.runtime import Runtime, produce, request_key
from nbvideo.providers.base import FrameRequest
from nbvideo.providers.local.planner import palette_for
from nbvideo.state import Scene, Take, frame_size

THUMB_SIDE = 320


def scene_seed(project_seed: int, scene_id: str, salt: str) -> int:
    """A per-scene seed that survives reordering (it hangs on the scene id, not its place)."""
    digest = hashlib.sha256(f"{project_seed}:{scene_id}:{salt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


async def plan(rt: Runtime, replan: bool = False) -> list[Scene]:
    """Plan the scenes once. With `replan`, a new plan replaces them; the old ones are archived."""
    planner = rt.providers.planner
    if rt.state.scenes and not replan:
        rt.log_cache_hit(phase="storyboard", provider=planner.provider, model=planner.model,
                         note="storyboard already planned")
        return rt.state.scenes
    ctx = plan_context(rt)
    result = await ask_planner(rt, "storyboard", planner.storyboard(ctx))
    scenes = []
    for sc in result.storyboard.scenes:
        sc = sc.model_copy(update={
            "frame_seed": scene_seed(rt.state.seed, sc.id, "frame"),
            "clip_seed": scene_seed(rt.state.seed, sc.id, "clip"),
            "frame_takes": [], "clip_takes": [], "frame_take_id": None, "clip_take_id": None,
        })
        scenes.append(sc)
    with rt.guard:
        st = rt.state
        existing = {s.id for s in st.scenes} | {s.id for s in st.archived_scenes}
        for sc in scenes:  # a re-plan can repeat ids from the same seed: keep both apart
            if sc.id in existing:
                sc.id = "s" + hashlib.sha256(f"{sc.id}:{len(existing)}".encode()).hexdigest()[:8]
            existing.add(sc.id)
        st.archived_scenes.extend(st.scenes)
        st.scenes = scenes
        st.storyboard_title = result.storyboard.title
        st.structure = result.storyboard.structure
        st.palette = palette_for(st.brief.text, effective_answers(st.questions, st.answers))
        st.timeline.edits = {}
        rt.save()
    return scenes


def frame_request(rt: Runtime, scene: Scene) -> FrameRequest:
    """What a scene's frame depends on: the scene itself, never its position (see
    FrameRequest), so reordering keeps every frame and clip current."""
    st = rt.state
    w, h = frame_size(st.brief.aspect, st.brief.resolution)
    return FrameRequest(
        beat=scene.beat, title=scene.title, description=scene.description,
        visual_prompt=scene.visual_prompt, shot=scene.shot, camera=scene.camera,
        on_screen_text=scene.on_screen_text, aspect=st.brief.aspect, width=w, height=h,
        palette=st.palette, seed=scene.frame_seed,
    )


def frame_inputs(req: FrameRequest) -> dict[str, Any]:
    return req.model_dump(mode="json", exclude={"seed", "scene_number"})


def write_thumbnail(take: Take, src: Path, store_root: Path) -> None:
    """A small JPEG beside the frame, for reprs and (later) widgets."""
    thumb = store_root / "assets" / "thumbs" / f"{take.id}.jpg"
    thumb.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        im = im.convert("RGB")
        im.thumbnail((THUMB_SIDE, THUMB_SIDE))
        im.save(thumb, "JPEG", quality=82)


def adopt_numbered_takes(scene: Scene, provider: str, model: str, inputs: dict[str, Any],
                         seed: int) -> None:
    """Re-key frame takes made while frames still asked for the scene's position.

    Such a take has `scene_number` in its inputs and key, so after the change no request
    matches it. A paid image never showed the number, so it answers today's request as it
    is: re-keying it saves paying again (and keeps its clip current). Offline panels had
    the number drawn in, so those are drawn again, for free."""
    if provider == "local":
        return
    for take in scene.frame_takes:
        if ("scene_number" in take.inputs and (take.provider, take.model, take.seed)
                == (provider, model, seed)
                and {k: v for k, v in take.inputs.items() if k != "scene_number"} == inputs):
            take.inputs = dict(inputs)
            take.key = request_key(provider, model, inputs, seed)


async def make_frame(rt: Runtime, scene_id: str) -> tuple[Take, bool]:
    """Bring one scene's frame up to date with its inputs (reusing a cached take if any)."""
    frames = rt.providers.frames
    with rt.guard:
        scene = rt.state.scene(scene_id)
        req = frame_request(rt, scene)
        adopt_numbered_takes(scene, frames.provider, frames.model, frame_inputs(req), req.seed)
    return await produce(
        rt, scene_id=scene_id, kind="frame", provider=frames.provider, model=frames.model,
        inputs=frame_inputs(req), seed=req.seed,
        run=lambda out, _pending: frames.frame(req, out),
        after=lambda take, out: write_thumbnail(take, out, rt.store.root),
    )


async def make_frames(rt: Runtime, scene_ids: list[str] | None = None) -> list[Take]:
    """Frames for the given scenes (default: every scene whose frame is missing or stale)."""
    with rt.guard:
        if scene_ids is None:
            scene_ids = [s.id for s in rt.state.scenes]
    results = await asyncio.gather(*(make_frame(rt, sid) for sid in scene_ids))
    return [take for take, _hit in results]
