"""Phase 2: the storyboard — a plan of scenes from the planner, then one frame per scene."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any, Literal

from nbvideo.errors import InvalidInput, PathEscape, ScenesFailed
from nbvideo.media.ffmpeg import open_image
from nbvideo.model.look import apply_look, palette_for
from nbvideo.model.state import Scene, Take, frame_size
from nbvideo.plan.questions import ask_planner, effective_answers, plan_context
from nbvideo.providers import catalog, lifecycle
from nbvideo.providers.base import FrameModel, FrameRequest
from nbvideo.providers.local.frames import needs_fallback_fonts
from nbvideo.runtime.context import Runtime, file_sha256, produce, request_key
from nbvideo.store.brands import logo_for, reference_for

THUMB_SIDE = 320


def scene_seed(project_seed: int, scene_id: str, salt: str) -> int:
    """A per-scene seed that survives reordering (it hangs on the scene id, not its place)."""
    digest = hashlib.sha256(f"{project_seed}:{scene_id}:{salt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


async def plan(rt: Runtime, replan: bool = False, fit_model: str | None = None,
               template: str | None = None) -> list[Scene]:
    """Plan the scenes once. With `replan`, a new plan replaces them; the old ones are archived.
    `fit_model` (a catalog video model with fixed clip lengths) asks the planner for scene
    lengths that model makes exactly, so no paid second is trimmed. `template` (a template
    pack's storyboard, ``pack/name``) gives the scenes instead of the planner: no call."""
    if template is not None:
        return from_template(rt, template, replan)
    planner = rt.providers.planner
    if rt.state.scenes and not replan:
        rt.log_cache_hit(phase="storyboard", provider=planner.provider, model=planner.model,
                         note="storyboard already planned")
        return rt.state.scenes
    fit = catalog.get_model(fit_model).durations_s if fit_model else ()
    ctx = plan_context(rt, fit)
    # a new plan needs new frames: a shut-down frame model is refused before the plan is paid
    lifecycle.check(rt.providers.frames.model)
    result = await ask_planner(rt, "storyboard", planner.storyboard, ctx)
    scenes = []
    for sc in result.storyboard.scenes:
        sc = sc.model_copy(update={
            "frame_seed": scene_seed(rt.state.seed, sc.id, "frame"),
            "clip_seed": scene_seed(rt.state.seed, sc.id, "clip"),
            "frame_takes": [], "clip_takes": [], "frame_take_id": None, "clip_take_id": None,
        })
        scenes.append(sc)
    return _adopt(rt, scenes, result.storyboard.title, result.storyboard.structure)


def from_template(rt: Runtime, name: str, replan: bool) -> list[Scene]:
    """The scenes of a template pack's storyboard, as the project's plan (archiving any
    scenes there are only with `replan`: a storyboard is not replaced by surprise)."""
    from nbvideo.store.packs import load_storyboard

    if rt.state.scenes and not replan:
        raise InvalidInput(f"the project already has a storyboard; pass replan=True to replace "
                           f"it with the storyboard template {name!r} (its scenes are kept "
                           "in the archive)")
    board = load_storyboard(name)
    scenes = []
    for i, t in enumerate(board.scenes):
        sid = "s" + hashlib.sha256(f"{name}:{i}:{rt.state.seed}".encode()).hexdigest()[:8]
        scenes.append(Scene(
            id=sid, beat=t.beat, title=t.title, description=t.description or t.visual_prompt,
            visual_prompt=t.visual_prompt, shot=t.shot, camera=t.camera,
            duration_s=t.duration_s, on_screen_text=t.on_screen_text, voice_line=t.voice_line,
            frame_seed=scene_seed(rt.state.seed, sid, "frame"),
            clip_seed=scene_seed(rt.state.seed, sid, "clip")))
    return _adopt(rt, scenes, board.name, "")


def _adopt(rt: Runtime, scenes: list[Scene], title: str, structure: str) -> list[Scene]:
    """Make `scenes` the project's plan and save it; the scenes it had are archived."""
    with rt.guard:
        st = rt.state
        existing = {s.id for s in st.scenes} | {s.id for s in st.archived_scenes}
        for sc in scenes:  # a re-plan can repeat ids from the same seed: keep both apart
            if sc.id in existing:
                sc.id = "s" + hashlib.sha256(f"{sc.id}:{len(existing)}".encode()).hexdigest()[:8]
            existing.add(sc.id)
        st.archived_scenes.extend(st.scenes)
        st.scenes = scenes
        st.storyboard_title = title
        st.structure = structure
        st.palette = palette_for(st.brief.text, effective_answers(st.questions, st.answers))
        st.timeline.edits = {}
        rt.save()
    return scenes


def _spec(frames: FrameModel) -> catalog.ModelSpec | None:
    spec = getattr(frames, "spec", None)
    if isinstance(spec, catalog.ModelSpec):
        return spec
    try:
        return catalog.get_model(frames.model)
    except InvalidInput:  # a model on an OpenAI-compatible server: no catalog entry
        return None


Annotations = Literal["board", "clean"]


def frame_marks(rt: Runtime) -> tuple[Annotations, bool]:
    """How local frames are marked, from the project's finishing: (annotations, logo allowed).

    The one place this is decided. 'clean' when the export burns text into the picture
    (captions of the voice lines, or the scenes' on-screen text): the board's scrim, labels,
    caption and move hints would sit under that text or repeat it, and the board, timeline and
    review sheet print them beside each frame anyway. The look's logo stays off the frames
    while the export watermarks the kit's: one logo, where the kit puts it. Without finishing
    (a plain animatic preview) frames are the annotated board panels, logo and all."""
    return ("clean" if burns_text(rt) else "board"), not watermarks_logo(rt)


def watermarks_logo(rt: Runtime) -> bool:
    """Whether the export lays the kit's logo over the picture (as finishing's `prepare` does)."""
    f = rt.state.finishing
    if not (f.brand and f.logo):
        return False
    kit = rt.brand_kit()
    return kit is not None and kit.logo_path() is not None


def burns_text(rt: Runtime) -> bool:
    """Whether the export burns text into the picture (as finishing's `prepare` does):
    captions of the spoken voice lines, or each scene's on-screen text."""
    f, scenes = rt.state.finishing, rt.state.scenes
    spoken = f.captions and f.voice and any(s.voice_line.strip() for s in scenes)
    shown = f.scene_text and any(s.on_screen_text.strip() for s in scenes)
    return bool(spoken or shown)


def frame_request(rt: Runtime, scene: Scene,
                  marks: tuple[Annotations, bool] | None = None) -> FrameRequest:
    """The request for one scene's frame, with the project look applied the way the frame
    model can use it: local frames take the palette, the logo and the marks the finishing
    calls for (`frame_marks`); paid models the style words, product and colour names in the
    prompt and, if the catalog says they take one, the reference image. The look's seed
    stands for every scene the user has not reseeded. `marks`: `frame_marks(rt)`, when the
    caller already has it. Never the scene's position (see FrameRequest): a reorder keeps every frame current."""
    st = rt.state
    w, h = frame_size(st.brief.aspect, st.brief.resolution)
    prompt, palette, seed = scene.visual_prompt, list(st.palette), scene.frame_seed
    frames = rt.providers.frames
    extra: dict[str, Any] = {}
    logo_ok = True
    if frames.provider == "local":
        annotations, logo_ok = marks or frame_marks(rt)
        extra["annotations"] = annotations
    look = st.look
    if look is not None:
        palette = list(look.palette) or palette
        if scene.frame_seed == scene_seed(st.seed, scene.id, "frame"):
            seed = look.seed
        try:
            if frames.provider == "local":
                logo = logo_for(look, rt.store.root) if logo_ok else None
                if logo is not None:
                    extra["logo"] = logo
            else:
                prompt = apply_look(scene.visual_prompt, look)
                spec = _spec(frames)
                extra["reference_image"] = reference_for(
                    look, spec is not None and spec.reference_input is not None, rt.store.root)
        except (InvalidInput, PathEscape) as exc:
            raise type(exc)(f"{exc}; fix it with p.set_look(...)") from None
    return FrameRequest(
        beat=scene.beat, title=scene.title, description=scene.description,
        visual_prompt=prompt, shot=scene.shot, camera=scene.camera,
        on_screen_text=scene.on_screen_text, aspect=st.brief.aspect, width=w, height=h,
        palette=palette, seed=seed, **extra,
    )


MARKS = ("annotations", "logo_sha256", "logo_corner")
"""A local frame's inputs that the finishing decides (`frame_marks`), not the scene."""


def frame_inputs(req: FrameRequest, scene: Scene | None = None, *,
                 local: bool = False) -> dict[str, Any]:
    """What a frame take records and its cache key hashes. Files of the look count by
    content (a new logo or product photo at the same path makes new frames); the scene's own
    prompt is kept, with the prompt really sent beside it when the look changed it. A clean
    frame says so; a board frame's inputs are what they were before frames could be clean,
    and paid frames never carry marks, so neither kind's key moves with the finishing."""
    inputs = req.model_dump(mode="json", exclude={"seed", "scene_number", "logo",
                                                  "logo_corner", "reference_image",
                                                  "annotations"})
    if req.annotations != "board":
        inputs["annotations"] = req.annotations
    if req.logo is not None:
        inputs["logo_sha256"] = file_sha256(req.logo)
        inputs["logo_corner"] = req.logo_corner
    if req.reference_image is not None:
        inputs["reference_sha256"] = file_sha256(req.reference_image)
    if scene is not None and scene.visual_prompt != req.visual_prompt:
        inputs["visual_prompt"], inputs["prompt_sent"] = scene.visual_prompt, req.visual_prompt
    if local and needs_fallback_fonts(req):  # `local`: the frame is drawn here, not paid for
        inputs["glyphs"] = "fallback"
    return inputs


def unmarked(inputs: dict[str, Any]) -> dict[str, Any]:
    """A frame's inputs without its marks: what the scene decides."""
    return {k: v for k, v in inputs.items() if k not in MARKS}


def write_thumbnail(take: Take, src: Path, store_root: Path) -> None:
    """A small JPEG beside the frame, for reprs and (later) widgets."""
    thumb = store_root / "assets" / "thumbs" / f"{take.id}.jpg"
    thumb.parent.mkdir(parents=True, exist_ok=True)
    with open_image(src, "frame") as im:
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
        inputs = frame_inputs(req, scene, local=frames.provider == "local")
        adopt_numbered_takes(scene, frames.provider, frames.model, inputs, req.seed)
    check = getattr(frames, "preflight", None)
    return await produce(
        rt, scene_id=scene_id, kind="frame", provider=frames.provider, model=frames.model,
        inputs=inputs, seed=req.seed,
        run=lambda out, _pending: frames.frame(req, out),
        after=lambda take, out: write_thumbnail(take, out, rt.store.root),
        estimate_usd=frame_estimate(frames),
        preflight=(lambda: check(req, rt.schemas)) if check else None,
    )


def frame_estimate(frames: FrameModel) -> float:
    """What one frame can cost, from the catalog (0 for a model it does not price)."""
    spec = _spec(frames)
    return 0.0 if spec is None else catalog.price(spec, images=1).cost_usd


async def make_frames(rt: Runtime, scene_ids: list[str] | None = None) -> list[Take]:
    """Frames for the given scenes (default: every scene whose frame is missing or stale,
    leaving alone a frame the user chose from the asset library: it answers the scene
    because the user said so, as an imported clip does)."""
    with rt.guard:
        if scene_ids is None:
            scene_ids = [s.id for s in rt.state.scenes
                         if s.frame is None or not s.frame.ok or s.frame.provider != "import"]
    lifecycle.check(rt.providers.frames.model)  # one clear refusal, not one per scene
    return await _each(rt, scene_ids)


async def _each(rt: Runtime, scene_ids: list[str]) -> list[Take]:
    """Every scene's frame, each tried even when another fails (a refused frame must not
    leave the others unrecorded); then the failures are raised as `ScenesFailed.raise_for`
    says: one failure as itself, several as one error naming each scene."""
    results = await asyncio.gather(*(make_frame(rt, sid) for sid in scene_ids),
                                   return_exceptions=True)
    ScenesFailed.raise_for([(sid, r) for sid, r in zip(scene_ids, results, strict=True)
                            if isinstance(r, BaseException)], len(scene_ids), "frame")
    return [r[0] for r in results if not isinstance(r, BaseException)]


def marks_stale(rt: Runtime, scene: Scene,
                marks: tuple[Annotations, bool] | None = None) -> bool:
    """Whether the scene's frame is a local panel that shows the scene as it is now, only
    with the marks of another finishing (board marks where the export now burns text, a logo
    the export now watermarks, or the reverse)."""
    take, frames = scene.frame, rt.providers.frames
    if (take is None or not take.ok or frames.provider != "local"
            or (take.provider, take.model) != (frames.provider, frames.model)):
        return False
    try:
        req = frame_request(rt, scene, marks)
    except InvalidInput:  # e.g. the look's logo is gone: p.storyboard() says so, not this
        return False
    inputs = frame_inputs(req, scene, local=True)
    return (take.seed == req.seed and take.inputs != inputs
            and unmarked(take.inputs) == unmarked(inputs))


def _feeds_paid_clip(scene: Scene) -> bool:
    clip, frame = scene.clip, scene.frame
    return (clip is not None and clip.ok and clip.provider != "local" and frame is not None
            and clip.inputs.get("frame_sha256") == frame.checksum)


async def refresh_marks(rt: Runtime, scene_ids: list[str] | None = None) -> list[str]:
    """Redraw (free) the local frames whose marks no longer match the finishing, so that
    `p.finish(...)` before or after the storyboard ends in the same export. A frame that a
    paid clip was made from is left as it is: redrawing it would put that clip out of date,
    and paying again is the user's call (`p.storyboard()`, then `p.generate_clips()`).
    Returns the ids of the scenes redrawn."""
    with rt.guard:
        if rt.providers.frames.provider != "local":
            return []
        try:
            marks = frame_marks(rt)
        except InvalidInput:  # the kit is gone: the export says so
            return []
        ids = [s.id for s in rt.state.scenes if (scene_ids is None or s.id in scene_ids)
               and marks_stale(rt, s, marks) and not _feeds_paid_clip(s)]
    await _each(rt, ids)
    return ids
