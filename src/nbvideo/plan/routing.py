"""Which video model makes each scene, and where a failed scene goes next.

`model="auto"` ranks the catalog's video models per scene by a stated policy:
- "cheapest": the lowest estimated cost for this scene among the models that can make its
  duration, the project's aspect and resolution (ties go to the higher quality tier);
- "quality": the highest quality tier that can make it (ties go to the cheaper).
Only models of the project's paid providers take part; the offline animatic stands in only
for an offline project, or where a user names it in `fallback`.

A chain is the ordered list of models a scene may use: its first model makes the clip, and a
scene whose model fails (after its retries) moves to the next one.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal

from nbvideo.errors import InvalidInput, quote
from nbvideo.model.state import Brief, Scene
from nbvideo.providers import ProviderSet, lifecycle
from nbvideo.providers.catalog import ModelSpec, generated_duration, get_model, models, price

Policy = Literal["cheapest", "quality"]
POLICIES: dict[str, str] = {
    "cheapest": "the cheapest model that can make the scene's duration, aspect and resolution",
    "quality": "the highest quality tier that can make the scene (ties: the cheaper)",
}
AUTO = "auto"


def check_policy(policy: str) -> Policy:
    if policy not in POLICIES:
        raise InvalidInput(f"policy={quote(policy)} is not a policy; allowed: {', '.join(POLICIES)}")
    return policy  # type: ignore[return-value]


def cannot_make(spec: ModelSpec, scene: Scene, brief: Brief) -> str | None:
    """Why `spec` cannot make this scene's clip, or None when it can."""
    if spec.aspects and brief.aspect not in spec.aspects:
        return f"makes {', '.join(spec.aspects)}, not {brief.aspect}"
    if spec.presenter != (scene.kind == "presenter"):
        return ("makes presenter scenes only" if spec.presenter
                else "makes b-roll, not a presenter scene")
    if spec.price_basis not in ("free", "per_image", "per_credit") \
            and brief.resolution not in spec.prices_usd:
        return f"has no price at {brief.resolution}"
    longest = max(spec.durations_s) if spec.durations_s else spec.max_duration_s
    if longest and scene.duration_s > longest + 1e-9:
        return f"makes at most {longest:g} s, the scene is {scene.duration_s:g} s"
    return None


def scene_cost(spec: ModelSpec, scene: Scene, brief: Brief) -> float:
    seconds = generated_duration(spec, scene.duration_s)
    return price(spec, resolution=brief.resolution, seconds=seconds).cost_usd


def ranked(providers: ProviderSet, scene: Scene, brief: Brief, policy: Policy,
           avoid: Collection[str] = ()) -> list[str]:
    """The models that can make this scene, best first under `policy`; models in `avoid`
    (unhealthy ones, see pipeline/health.py) go last, kept as a last resort."""
    paid = [v for v in providers.vendors if v != "local"]
    pool = [m for m in models("video") if m.provider in (paid or ["local"])
            and not m.presenter]  # presenter models make presenter scenes only
    able = [m for m in pool if cannot_make(m, scene, brief) is None
            and not lifecycle.retired(m)]  # never route to a model its vendor shut down
    if policy == "cheapest":
        able.sort(key=lambda m: (scene_cost(m, scene, brief), -m.quality_tier, m.id))
    else:
        able.sort(key=lambda m: (-m.quality_tier, scene_cost(m, scene, brief), m.id))
    return sorted((m.id for m in able), key=lambda m: m in avoid)  # stable: order kept


def chain_for(providers: ProviderSet, scene: Scene, brief: Brief, model: str | None,
              policy: Policy, fallback: bool | Sequence[str],
              avoid: Collection[str] = ()) -> list[str]:
    """The ordered models this scene may use. Errors name the scene, the model and why."""
    if model == AUTO:
        order = ranked(providers, scene, brief, policy, avoid)
        if not order:
            reasons = "; ".join(f"{m.id} {cannot_make(m, scene, brief)}"
                                for m in models("video") if m.provider in providers.vendors)
            raise InvalidInput(f"scene {scene.id}: no video model of providers "
                               f"{providers.name!r} can make it ({reasons})")
        chain = order if fallback is True else order[:1]
    else:
        first = model or providers.video.model
        chain = [first]
        if fallback is True:
            chain += [m for m in ranked(providers, scene, brief, policy, avoid) if m != first]
    if not isinstance(fallback, bool):
        if isinstance(fallback, str):
            raise InvalidInput(f"fallback must be True, False or a list of model names, "
                               f"got {quote(fallback)}")
        chain += [m for m in fallback if m not in chain]
    lifecycle.check(chain[0])  # the chosen model shut down: refused, naming its successor
    chain = [chain[0], *lifecycle.usable(chain[1:])]  # a retired fallback is left out
    for m in chain:
        providers.check_video(m)
        why = cannot_make(get_model(m), scene, brief)
        if why is not None and m == chain[0]:
            raise InvalidInput(f"scene {scene.id}: {m} cannot make it: {why}")
    return [m for m in chain if m == chain[0] or cannot_make(get_model(m), scene, brief) is None]
