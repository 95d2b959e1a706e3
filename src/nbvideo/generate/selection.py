"""Which scenes get a clip, and on which models: what `generate_clips`, `regenerate_clip`,
`estimate` and `check_clips` decide before any work starts.

A refused argument changes nothing, so every choice here is checked before a frame is
redrawn or a request is sent. "auto" routing ranks the catalog per scene and routes around
models this project's ledger shows failing (saying so with a RoutingWarning); `costs`
is the project's ledger as a table (`p.costs`), read only when "auto" needs it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from nbvideo.errors import PhaseNotReady, RoutingWarning
from nbvideo.generate.clips import check_clip, clip_is_current
from nbvideo.model.state import Scene, Take
from nbvideo.plan import routing
from nbvideo.plan import scenes as scene_ops
from nbvideo.plan import storyboard as storyboard_phase
from nbvideo.providers import lifecycle
from nbvideo.providers.catalog import get_model
from nbvideo.runtime.context import Runtime
from nbvideo.runtime.jobs import run_sync

Costs = Callable[[], pd.DataFrame]


def avoided(costs: Costs, stacklevel: int = 2) -> dict[str, str]:
    """Unhealthy models (from this project's ledger) that "auto" routes around; says so."""
    from nbvideo.generate.health import unhealthy_models

    avoid = unhealthy_models(costs())
    for m, why in avoid.items():
        warnings.warn(f"model='auto' routes around {m}: it {why}; it stays only as a last "
                      "resort (see p.provider_health())", RoutingWarning, stacklevel=stacklevel + 1)
    return avoid


def chains(rt: Runtime, scenes: Sequence[Scene], model: str | None, policy: str,
           fallback: bool | Sequence[str] | None, costs: Costs,
           stacklevel: int = 2) -> dict[str, list[str]]:
    """Per scene id, the models to try in order (the first, then where it fails over)."""
    pol = routing.check_policy(policy)
    fb = (model == routing.AUTO) if fallback is None else fallback
    avoid = avoided(costs, stacklevel + 1) if model == routing.AUTO else {}
    return {s.id: routing.chain_for(rt.providers, s, rt.state.brief, model, pol, fb, avoid)
            for s in scenes}


def clip_chains(rt: Runtime, scenes: Sequence[str | int] | None, model: str | None,
                policy: str, fallback: bool | Sequence[str] | None, costs: Costs,
                stacklevel: int = 2) -> dict[str, list[str]]:
    """The scenes `generate_clips` makes (default: those missing or out of date), each with
    its chain of models. Frames drawn before p.finish(...) changed their marks are redrawn
    first (free), so the clips are made from the frames the export wants."""
    routing.check_policy(policy)  # refused arguments change nothing: checked before work
    if model is not None and model != routing.AUTO:
        rt.providers.check_video(model)
    with rt.guard:
        ids = None if scenes is None else [scene_ops.resolve(rt, r).id for r in scenes]
    run_sync(storyboard_phase.refresh_marks(rt, ids))
    with rt.guard:
        if not rt.state.scenes:
            raise PhaseNotReady("no storyboard yet; run p.storyboard() first")
        for s in rt.state.scenes if scenes is None else ():
            if s.frame is None:
                raise PhaseNotReady(f"scene {s.id} has no frame; run p.storyboard() first")
        picked = (rt.state.scenes if scenes is None
                  else [scene_ops.resolve(rt, r) for r in scenes])
        found = chains(rt, picked, model, policy, fallback, costs, stacklevel + 1)
        if scenes is None:  # skip what is current on any model the scene may use
            found = {sid: c for sid, c in found.items()
                     if not clip_is_current(rt, rt.state.scene(sid), c)}
    return found


def new_frame(rt: Runtime, ref: str | int, prompt: str | None, force: bool,
              seed: int | None) -> Take:
    """A new frame take for one scene (a new prompt, a new seed, or force); unchanged
    inputs reuse the cached take."""
    scene_id = scene_ops.resolve(rt, ref).id
    if prompt is not None:
        scene_ops.edit(rt, scene_id, visual_prompt=prompt)
    if seed is not None or force:
        scene_ops.reseed(rt, scene_id, "frame", seed)
    take, _hit = run_sync(storyboard_phase.make_frame(rt, scene_id))
    return take


def clip_again(rt: Runtime, ref: str | int, prompt: str | None, force: bool, seed: int | None,
               model: str | None, costs: Costs, stacklevel: int = 2
               ) -> tuple[str, dict[str, list[str]]]:
    """Get one scene ready for a new clip take (a new prompt redraws its frame first; a new
    seed or force reseeds it) and say on which models to make it."""
    scene_id = scene_ops.resolve(rt, ref).id
    if prompt is not None or seed is not None or force:  # a paid new take asks for its key first
        first = chains(rt, [rt.state.scene(scene_id)], model, "cheapest", None, costs)
        check = getattr(rt.providers.video_for(first[scene_id][0]), "check_key", None)
        if check is not None:
            check()
    if prompt is not None:  # the clip is made from the frame, so the frame follows the prompt
        new_frame(rt, scene_id, prompt, False, None)
    if seed is not None or force:
        scene_ops.reseed(rt, scene_id, "clip", seed)
    run_sync(storyboard_phase.refresh_marks(rt, [scene_id]))
    return scene_id, chains(rt, [rt.state.scene(scene_id)], model, "cheapest", None, costs,
                            stacklevel + 1)


def estimate(rt: Runtime, model: str | None, policy: str, costs: Costs) -> pd.DataFrame:
    """What clips would cost per scene on `model` ("auto": routed per scene by `policy`, as
    generate_clips would), with the total on top. Scenes whose clip is current cost 0."""
    from nbvideo.plan.estimate import estimate_clips

    with rt.guard:
        if not rt.state.scenes:
            raise PhaseNotReady("no storyboard yet; run p.storyboard() first")
        if model == routing.AUTO:  # a scene no model can make is priced (and flagged) as is
            pol = routing.check_policy(policy)
            avoid = avoided(costs, 3)  # priced as generate_clips would route
            chosen = {s.id: (routing.ranked(rt.providers, s, rt.state.brief, pol, avoid)
                             or [rt.providers.video.model])[0] for s in rt.state.scenes}
        else:
            name = model or rt.providers.video.model
            lifecycle.check(get_model(name))  # unknown or shut down: refused, with why
            chosen = {s.id: name for s in rt.state.scenes}
        current = {s.id for s in rt.state.scenes if s.frame is not None
                   and clip_is_current(rt, s, [chosen[s.id]])}
        return estimate_clips(rt, chosen, current, label=model or chosen[rt.state.scenes[0].id])


def check_clips(rt: Runtime, recheck: bool) -> None:
    """QA the current clips not checked yet (all of them with `recheck`)."""
    todo: list[tuple[str, Any]] = []
    with rt.guard:
        for s in rt.state.scenes:
            take = s.clip
            if take is None or not take.ok:
                continue
            if recheck:
                take.qa = None
            if take.qa is None:
                todo.append((s.id, take))
    for sid, take in todo:
        made_by = take.model  # a lip-synced clip is judged as the clip it was made from
        if "lip_sync" in take.inputs:
            with contextlib.suppress(KeyError):
                made_by = rt.state.scene(sid).take(take.inputs["lip_sync"]["from_take"]).model
        run_sync(check_clip(rt, rt.providers.video_for(made_by), sid, take, force=True))
