"""Which video model makes each scene, and where a failed scene goes next.

`model="auto"` ranks the catalog's video models per scene by a stated policy:
- "complexity" (the default): the scene's complexity profile (model/complexity.py: faces,
  fast motion, dialogue, ...) sets the quality tier it needs; of the healthy models of that
  tier or better, the cheapest, preferring one whose durations fit the scene (within
  FIT_SLACK of the cheapest price); then, over all scenes, stepped down to cheaper models
  where the plan would pass the remaining budget (the scenes that need least first);
- "cheapest": the lowest estimated cost for this scene among the models that can make its
  duration, the project's aspect and resolution (ties go to the higher quality tier);
- "quality": the highest quality tier that can make it (ties go to the cheaper).
A model pinned for a scene (`Scene.model`) or for the project (`p.use_models(video=...)`)
always wins over routing, and the reason says so. `routes` gives each scene's choice with
its reason, as `p.estimate` shows it.
Only models of the project's paid providers take part; the offline animatic stands in only
for an offline project, or where a user names it in `fallback`.

A chain is the ordered list of models a scene may use: its first model makes the clip, and a
scene whose model fails (after its retries) moves to the next one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from nbvideo.errors import InvalidInput, quote
from nbvideo.model import vocabulary
from nbvideo.model.complexity import of_scene
from nbvideo.model.state import Brief, Scene
from nbvideo.providers import ProviderSet, lifecycle
from nbvideo.providers.catalog import ModelSpec, generated_duration, get_model, models, price

Policy = Literal["complexity", "cheapest", "quality"]
POLICIES: dict[str, str] = {
    "complexity": "the cheapest healthy model of the quality tier the scene's complexity "
                  "needs, preferring durations that fit, within the remaining budget",
    "cheapest": "the cheapest model that can make the scene's duration, aspect and resolution",
    "quality": "the highest quality tier that can make the scene (ties: the cheaper)",
}
AUTO = "auto"


def check_policy(policy: str) -> Policy:
    if policy not in POLICIES:
        raise InvalidInput(f"policy={quote(policy)} is not a policy; allowed: {', '.join(POLICIES)}")
    return policy  # type: ignore[return-value]


DEFAULT_POLICY: Policy = check_policy(vocabulary.DEFAULT_POLICY)
"""The policy `model="auto"` routes by unless told otherwise: generate_clips, regenerate_clip,
estimate, `nbvideo run` and campaigns all start from this one."""


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


# ------------------------------------------------------------------ routing with reasons

FIT_SLACK = 0.10
"""A model whose durations fit the scene wins over a cheaper one that wastes seconds when it
costs at most this much more (10 %): fewer paid seconds are thrown away for the same money."""
STRETCH_MAX = 1.25
"""With `stretch=True` a clip up to this many times shorter than its scene may be made at
the shorter length and slowed to fill it (media/stretch.py), instead of paying for the
next duration up."""


@dataclass(frozen=True)
class Option:
    """What one model would make for one scene: paid seconds, playback stretch, cost."""

    model: str
    generated_s: float
    stretch: float
    cost_usd: float
    waste_s: float


@dataclass
class Route:
    """One scene's routing: its chain (first model first), the option priced, and why."""

    chain: list[str]
    option: Option
    reason: str
    need: int = 1
    notes: list[str] = field(default_factory=list)


def option(spec: ModelSpec, scene: Scene, brief: Brief, stretch: bool = False) -> Option:
    """The model's cheapest way to fill the scene: the next allowed length up (the extra is
    trimmed), or with `stretch`, a shorter allowed length slowed by at most STRETCH_MAX."""
    gen = generated_duration(spec, scene.duration_s)
    best = Option(spec.id, gen, 1.0,
                  price(spec, resolution=brief.resolution, seconds=gen).cost_usd,
                  max(0.0, round(gen - scene.duration_s, 6)))
    if stretch and spec.durations_s:
        shorter = [d for d in spec.durations_s if d < scene.duration_s - 1e-9
                   and scene.duration_s / d <= STRETCH_MAX + 1e-9]
        if shorter:
            d = max(shorter)
            cost = price(spec, resolution=brief.resolution, seconds=d).cost_usd
            if cost < best.cost_usd - 1e-12:
                best = Option(spec.id, d, round(scene.duration_s / d, 6), cost, 0.0)
    return best


def _s(seconds: float) -> str:
    return f"{round(seconds, 2):g} s"


def _fits(o: Option, scene: Scene) -> str:
    if o.stretch > 1.0:
        return (f"{o.model} makes {_s(o.generated_s)}, stretched {o.stretch:.2f}x to the "
                f"{_s(scene.duration_s)} scene")
    if o.waste_s <= 1e-6:
        return f"{o.model} fits {_s(scene.duration_s)} exactly"
    return (f"{o.model} makes {_s(o.generated_s)} for the {_s(scene.duration_s)} scene "
            f"({_s(o.waste_s)} wasted)")


def pinned(scene: Scene, project_models: Mapping[str, str]) -> tuple[str, str] | None:
    """(model, who pinned it) when the scene or the project pins a video model."""
    if scene.video_model:
        return scene.video_model, "pinned for this scene"
    if project_models.get("video"):
        return project_models["video"], "pinned for the project (p.use_models(video=...))"
    return None


def _route_scene(providers: ProviderSet, scene: Scene, brief: Brief, policy: Policy,
                 avoid: Mapping[str, str], stretch: bool) -> Route:
    paid = [v for v in providers.vendors if v != "local"]
    pool = [m for m in models("video") if m.provider in (paid or ["local"])]
    able = [m for m in pool if cannot_make(m, scene, brief) is None and not lifecycle.retired(m)]
    if not able:
        reasons = "; ".join(f"{m.id} {cannot_make(m, scene, brief)}"
                            for m in models("video") if m.provider in providers.vendors)
        raise InvalidInput(f"scene {scene.id}: no video model of providers "
                           f"{providers.name!r} can make it ({reasons})")
    opts = {m.id: option(m, scene, brief, stretch) for m in able}
    healthy = [m for m in able if m.id not in avoid]
    notes = [f"{m} skipped: unhealthy ({why})" for m, why in avoid.items() if m in opts]
    if not healthy:  # every one of them failing: routed as if none were, and said so
        healthy = able
        notes = [f"every model that can make it is unhealthy ({', '.join(avoid)}); "
                 "routed among them all"]
    prof = of_scene(scene)
    need = prof.tier() if policy == "complexity" else 1
    if policy == "cheapest":
        order = sorted(healthy, key=lambda m: (opts[m.id].cost_usd, -m.quality_tier, m.id))
        head = f"cheapest that can make it: {_fits(opts[order[0].id], scene)}"
    elif policy == "quality":
        order = sorted(healthy, key=lambda m: (-m.quality_tier, opts[m.id].cost_usd, m.id))
        head = f"highest quality tier ({order[0].quality_tier}): {_fits(opts[order[0].id], scene)}"
    else:
        flags = " + ".join(prof.flags()) or "nothing demanding"
        top = max(m.quality_tier for m in healthy)
        meet = [m for m in healthy if m.quality_tier >= min(need, top)]
        low = min(opts[m.id].cost_usd for m in meet)
        near = [m for m in meet if opts[m.id].cost_usd <= low * (1 + FIT_SLACK) + 1e-9]
        first = min(near, key=lambda m: (opts[m.id].waste_s, opts[m.id].cost_usd,
                                         -m.quality_tier, m.id))
        rest = sorted((m for m in healthy if m is not first),
                      key=lambda m: (m.quality_tier < need, opts[m.id].cost_usd, m.id))
        order = [first, *rest]
        head = f"{flags} -> quality tier {need}"
        if top < need:
            head += f" (none of {providers.name!r} reaches it; best here: tier {top})"
        head += f"; {_fits(opts[first.id], scene)}"
        cheapest = min(meet, key=lambda m: (opts[m.id].cost_usd, m.id))
        if cheapest is not first:
            head += (f", within {FIT_SLACK:.0%} of {cheapest.id} "
                     f"(${opts[cheapest.id].cost_usd:.2f}, {_s(opts[cheapest.id].waste_s)} wasted)")
    chain = [m.id for m in order] + [m.id for m in able if m not in healthy]
    return Route(chain, opts[chain[0]], head, need, notes)


def _with_budget(routes: dict[str, Route], scenes: Sequence[Scene], brief: Brief,
                 remaining_usd: float | None, free: Collection[str], stretch: bool,
                 avoid: Collection[str]) -> None:
    """Step scenes down to cheaper healthy models, those that need least first, while the
    plan costs more than the budget has left. Scenes in `free` (clip current) cost nothing."""
    if remaining_usd is None:
        return
    paying = [s for s in scenes if s.id not in free and s.id in routes]

    def total() -> float:
        return sum(routes[s.id].option.cost_usd for s in paying)

    planned = total()
    if planned <= remaining_usd + 1e-9:
        return
    for s in sorted(paying, key=lambda s: (routes[s.id].need, s.duration_s)):
        if total() <= remaining_usd + 1e-9:
            break
        r = routes[s.id]
        pool = [m for m in r.chain if m not in avoid] or r.chain
        opts = {m: option(get_model(m), s, brief, stretch) for m in pool}
        cheaper = min(pool, key=lambda m: (opts[m].cost_usd, m))
        if opts[cheaper].cost_usd < r.option.cost_usd - 1e-12:
            r.chain = [cheaper, *[m for m in r.chain if m != cheaper]]
            r.option = opts[cheaper]
            r.notes.append(f"budget: ${remaining_usd:.2f} left but the plan came to "
                           f"${planned:.2f}; stepped down to {cheaper} "
                           f"(tier {get_model(cheaper).quality_tier}, ${opts[cheaper].cost_usd:.2f})")
    if total() > remaining_usd + 1e-9:
        for s in paying:
            routes[s.id].notes.append(f"over budget even at the cheapest: ${total():.2f} of "
                                      f"${remaining_usd:.2f} left")


def routes(providers: ProviderSet, scenes: Sequence[Scene], brief: Brief, model: str | None,
           policy: Policy, fallback: bool | Sequence[str], avoid: Mapping[str, str] | None = None,
           *, project_models: Mapping[str, str] | None = None,
           remaining_usd: float | None = None, free: Collection[str] = (),
           stretch: bool = False) -> dict[str, Route]:
    """Each scene's chain and the reason for its first model, as `p.estimate` shows it."""
    avoid = dict(avoid or {})
    pins = {s.id: pinned(s, project_models or {}) if model in (AUTO, None) else None
            for s in scenes}
    out: dict[str, Route] = {}
    for s in scenes:
        pin = pins[s.id]
        if model == AUTO and pin is None:
            out[s.id] = _route_scene(providers, s, brief, policy, avoid, stretch)
            continue
        first = pin[0] if pin else model or providers.video.model
        if pin and model == AUTO:
            why = f"{pin[1]}: {first} wins over routing"
        elif pin:
            why = f"{pin[1]}: {first}"
        else:
            why = f"{first} named" if model else f"{first}: the project's video model"
        o = option(get_model(first), s, brief, stretch)
        out[s.id] = Route([first], o, f"{why}; {_fits(o, s)}")
    if model == AUTO:
        _with_budget(out, [s for s in scenes if pins[s.id] is None], brief, remaining_usd, free,
                     stretch, avoid)
    fb_policy: Policy = "cheapest" if policy == "complexity" else policy
    for s in scenes:  # fallbacks, lifecycles and what each model can make, as chain_for does
        r = out[s.id]
        if model == AUTO and pins[s.id] is None:
            chain = r.chain if fallback is True else r.chain[:1]
            if not isinstance(fallback, bool):
                chain += [m for m in fallback if m not in chain]
            lifecycle.check(chain[0])
            for m in chain:
                providers.check_video(m)
            r.chain = [chain[0], *[m for m in lifecycle.usable(chain[1:])
                                   if cannot_make(get_model(m), s, brief) is None]]
        else:
            r.chain = chain_for(providers, s, brief, r.chain[0], fb_policy, fallback,
                                avoid.keys())
    return out


def reason(r: Route) -> str:
    """The route's reason with its notes (unhealthy models skipped, budget steps)."""
    return "; ".join([r.reason, *r.notes])
