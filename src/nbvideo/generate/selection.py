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

from nbvideo.errors import InvalidInput, PhaseNotReady, RoutingWarning
from nbvideo.generate import presenter as presenter_phase
from nbvideo.generate.clips import check_clip, clip_is_current
from nbvideo.model.state import Scene, Take
from nbvideo.plan import routing
from nbvideo.plan import scenes as scene_ops
from nbvideo.plan import storyboard as storyboard_phase
from nbvideo.providers import lifecycle
from nbvideo.providers.catalog import get_model
from nbvideo.runtime.context import Runtime
from nbvideo.runtime.jobs import run_sync
from nbvideo.store.imports import IMPORT_PROVIDER

Costs = Callable[[], pd.DataFrame]


def avoided(rt: Runtime, costs: Costs, stacklevel: int = 2) -> dict[str, str]:
    """Unhealthy or slow models (from this project's ledger and what other projects on this
    machine saw lately, against what each model's client expects) that "auto" routes around;
    says so."""
    from nbvideo.generate.health import unhealthy_models
    from nbvideo.store.engine_log import with_others

    avoid = unhealthy_models(with_others(costs(), rt.ledger.path),
                             expected=rt.providers.typical_latency_s)
    for m, why in avoid.items():
        warnings.warn(f"model='auto' routes around {m}: it {why}; it stays only as a last "
                      "resort (see p.provider_health())", RoutingWarning, stacklevel=stacklevel + 1)
    return avoid


def remaining_usd(rt: Runtime, budget_usd: float | None = None) -> float | None:
    """What the project's budget (and this call's, if given) has left; None: no cap."""
    left = [budget_usd] if budget_usd is not None else []
    if rt.budget.limit_usd is not None:
        left.append(max(0.0, rt.budget.limit_usd - rt.budget.total_with(0.0)[2]))
    return min(left) if left else None


def routes(rt: Runtime, scenes: Sequence[Scene], model: str | None, policy: str,
           fallback: bool | Sequence[str] | None, costs: Costs, stacklevel: int = 2,
           budget_usd: float | None = None, stretch: bool = False) -> dict[str, routing.Route]:
    """Per scene id, its route: the models to try in order and why the first. A presenter
    scene has one model, its presenter model (`model` and `fallback` are for b-roll)."""
    pol = routing.check_policy(policy)
    fb = (model == routing.AUTO) if fallback is None else fallback
    broll = [s for s in scenes if s.kind != "presenter"]
    avoid = avoided(rt, costs, stacklevel + 1) if model == routing.AUTO and broll else {}
    free = {s.id for s in broll if s.clip is not None and s.frame is not None
            and clip_is_current(rt, s, [s.clip.model])}
    found = routing.routes(rt.providers, broll, rt.state.brief, model, pol, fb, avoid,
                           project_models=rt.state.models,
                           remaining_usd=remaining_usd(rt, budget_usd), free=free,
                           stretch=stretch) if broll else {}
    return {s.id: found[s.id] if s.kind != "presenter" else presenter_route(rt, s)
            for s in scenes}


def presenter_route(rt: Runtime, scene: Scene) -> routing.Route:
    """A presenter scene's route: its presenter model, never routed."""
    name = presenter_phase.check_presenter_model(rt, scene)
    return routing.Route([name], routing.option(get_model(name), scene, rt.state.brief),
                         "presenter scene: its presenter model")


def chains(rt: Runtime, scenes: Sequence[Scene], model: str | None, policy: str,
           fallback: bool | Sequence[str] | None, costs: Costs,
           stacklevel: int = 2, budget_usd: float | None = None) -> dict[str, list[str]]:
    """Per scene id, the models to try in order (the first, then where it fails over)."""
    return {sid: r.chain for sid, r in routes(rt, scenes, model, policy, fallback, costs,
                                              stacklevel + 1, budget_usd,
                                              rt.state.stretch_clips).items()}


def clip_chains(rt: Runtime, scenes: Sequence[str | int] | None, model: str | None,
                policy: str, fallback: bool | Sequence[str] | None, costs: Costs,
                stacklevel: int = 2, budget_usd: float | None = None) -> dict[str, list[str]]:
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
        found = chains(rt, picked, model, policy, fallback, costs, stacklevel + 1, budget_usd)
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
               model: str | None, costs: Costs, stacklevel: int = 2,
               policy: str = routing.DEFAULT_POLICY) -> tuple[str, dict[str, list[str]]]:
    """Get one scene ready for a new clip take (a new prompt redraws its frame first; a new
    seed or force reseeds it) and say on which models to make it: routed by `chains`, the
    same function and policy `generate_clips` uses, so "auto" picks alike in both."""
    routing.check_policy(policy)  # refused arguments change nothing: checked before work
    scene_id = scene_ops.resolve(rt, ref).id
    if prompt is not None or seed is not None or force:  # a paid new take asks for its key first
        first = chains(rt, [rt.state.scene(scene_id)], model, policy, None, costs)
        check = getattr(rt.providers.video_for(first[scene_id][0]), "check_key", None)
        if check is not None:
            check()
    if prompt is not None:  # the clip is made from the frame, so the frame follows the prompt
        new_frame(rt, scene_id, prompt, False, None)
    if seed is not None or force:
        scene_ops.reseed(rt, scene_id, "clip", seed)
    run_sync(storyboard_phase.refresh_marks(rt, [scene_id]))
    return scene_id, chains(rt, [rt.state.scene(scene_id)], model, policy, None, costs,
                            stacklevel + 1)


def estimate(rt: Runtime, model: str | None, policy: str, costs: Costs,
             stretch: bool = False) -> pd.DataFrame:
    """What clips would cost per scene on `model` ("auto": routed per scene by `policy`, as
    generate_clips would), with the total on top, each scene's reason and its wasted
    seconds. Scenes whose clip is current cost 0."""
    from nbvideo.plan.estimate import estimate_clips

    with rt.guard:
        if not rt.state.scenes:
            raise PhaseNotReady("no storyboard yet; run p.storyboard() first")
        routing.check_policy(policy)
        if model != routing.AUTO:
            name = model or rt.providers.video.model
            lifecycle.check(get_model(name))  # unknown or shut down: refused, with why
        pol = routing.check_policy(policy)
        scenes = rt.state.scenes
        broll = [s for s in scenes if s.kind != "presenter"]
        avoid = avoided(rt, costs, 3) if model == routing.AUTO and broll else {}
        free = {s.id for s in broll if s.clip is not None and s.frame is not None
                and clip_is_current(rt, s, [s.clip.model])}

        def route(group: list[Scene]) -> dict[str, routing.Route]:
            return routing.routes(rt.providers, group, rt.state.brief, model, pol, False, avoid,
                                  project_models=rt.state.models,
                                  remaining_usd=remaining_usd(rt), free=free, stretch=stretch)

        try:
            found = route(broll) if broll else {}
        except InvalidInput:  # a scene no model can make is priced (and flagged) as is
            found = {}
            for s in broll:
                try:
                    found |= route([s])
                except InvalidInput as exc:
                    name = rt.providers.video.model if model == routing.AUTO \
                        else model or rt.providers.video.model
                    found[s.id] = routing.Route(
                        [name], routing.option(get_model(name), s, rt.state.brief), str(exc))
        for s in scenes:  # a presenter scene is priced on its presenter model
            if s.kind == "presenter":
                name = presenter_phase.presenter_model_name(rt, s)
                found[s.id] = routing.Route(
                    [name], routing.option(get_model(name), s, rt.state.brief),
                    "presenter scene: its presenter model")
        found = {s.id: found[s.id] for s in scenes}
        chosen = {sid: r.chain[0] for sid, r in found.items()}
        current = {s.id for s in rt.state.scenes if (s.frame is not None or s.kind == "presenter")
                   and clip_is_current(rt, s, [chosen[s.id]])}
        return estimate_clips(rt, chosen, current, label=model or chosen[rt.state.scenes[0].id],
                              routes=found)


def check_clips(rt: Runtime, recheck: bool) -> None:
    """QA the current clips not checked yet (all of them with `recheck`)."""
    todo: list[tuple[str, Any]] = []
    with rt.guard:
        for s in rt.state.scenes:
            take = s.clip
            if take is None or not take.ok or take.provider == IMPORT_PROVIDER:
                continue  # an imported clip is not a model's answer to a request: no QA
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
