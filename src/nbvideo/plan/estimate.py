"""What clips would cost, per scene, before anything is spent.

The estimate is priced from the catalog, says when a model will make a longer clip than the
scene needs (the extra is trimmed on the timeline), counts scenes whose clip is already
current as free (re-running reuses the take), and flags what a model cannot make.

`wasted_s` is what is paid for and thrown away: the seconds a model makes minus the seconds
the timeline keeps of them (a 6 s scene on a model that makes 5 or 10 s pays 10 and keeps
6: 4 s wasted). A clip stretched to fill its scene (`stretch`, the playback factor) wastes
none. `reason` says why the scene's model was chosen (plan/routing.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from nbvideo.model.state import Scene
from nbvideo.providers.base import Usage
from nbvideo.providers.catalog import ModelSpec, generated_duration, get_model, price
from nbvideo.runtime.context import Runtime

if TYPE_CHECKING:
    from nbvideo.plan.routing import Route

COLUMNS = ["scene", "id", "beat", "duration_s", "model", "generated_s", "trim_s", "units", "unit",
           "unit_price_usd", "cost_usd", "note", "wasted_s", "stretch", "reason"]


PRESENTER_WPS = 2.0
"""Slowest speaking rate we expect of a presenter (words/s): bounds what its video bills."""


def clip_estimate(spec: ModelSpec, scene: Scene, resolution: str) -> tuple[float, Usage, str]:
    """(generated seconds, priced usage, note) for one scene's clip on `spec`.

    A presenter model bills the video it renders, which runs as long as the line is spoken
    (the shot is then fitted to the scene): priced at the longer of the scene and the line
    at PRESENTER_WPS, an upper bound."""
    if spec.presenter:
        spoken = len(scene.voice_line.split()) / PRESENTER_WPS
        billed = max(scene.duration_s, spoken) if spec.price_basis != "free" else scene.duration_s
        note = (f"the line may run {spoken:.1f} s: billed up to {billed:g} s, fitted to the scene"
                if billed > scene.duration_s + 1e-9 else "")
        return scene.duration_s, price(spec, resolution=resolution, seconds=billed), note
    gen = generated_duration(spec, scene.duration_s)
    note = ""
    if spec.durations_s and scene.duration_s > max(spec.durations_s) + 1e-9:
        note = (f"scene is {scene.duration_s:g} s but {spec.id} makes at most "
                f"{max(spec.durations_s):g} s; shorten or split it")
    elif gen > scene.duration_s + 1e-9:
        note = f"generated at {gen:g} s, {gen - scene.duration_s:.2f} s trimmed in the timeline"
    return gen, price(spec, resolution=resolution, seconds=gen), note


def estimate_clips(rt: Runtime, chosen: dict[str, str], current_ids: set[str],
                   label: str, routes: dict[str, Route] | None = None) -> pd.DataFrame:
    """One row per scene (priced on its chosen model) plus a total row on top."""
    from nbvideo.plan.routing import reason

    st = rt.state
    rows = []
    for number, scene in enumerate(st.scenes, 1):
        spec = get_model(chosen[scene.id])
        route = (routes or {}).get(scene.id)
        stretch = route.option.stretch if route is not None else 1.0
        if stretch > 1.0:  # made shorter and slowed to the scene's length: nothing trimmed
            gen = route.option.generated_s if route is not None else scene.duration_s
            usage = price(spec, resolution=st.brief.resolution, seconds=gen)
            note = f"generated at {gen:g} s, stretched {stretch:.2f}x to {scene.duration_s:g} s"
        else:
            gen, usage, note = clip_estimate(spec, scene, st.brief.resolution)
        cost = usage.cost_usd
        if st.brief.aspect not in spec.aspects:
            note = (f"{spec.id} cannot make {st.brief.aspect}; it makes "
                    f"{', '.join(spec.aspects)}")
        if scene.id in current_ids:
            cost, note = 0.0, "clip is current: re-running reuses it"
        rows.append({
            "scene": number, "id": scene.id, "beat": scene.beat, "duration_s": scene.duration_s,
            "model": spec.id, "generated_s": gen, "trim_s": round(gen - scene.duration_s, 6),
            "units": usage.units, "unit": usage.unit, "unit_price_usd": usage.unit_price_usd,
            "cost_usd": cost, "note": note,
            "wasted_s": max(0.0, round(gen - scene.duration_s, 6)) if stretch <= 1.0 else 0.0,
            "stretch": stretch, "reason": reason(route) if route is not None else "",
        })
    body = pd.DataFrame(rows, columns=COLUMNS)
    bases = {get_model(m).price_basis for m in chosen.values()}
    total = pd.DataFrame([{
        "scene": "total", "id": "", "beat": "", "duration_s": body["duration_s"].sum(),
        "model": label, "generated_s": body["generated_s"].sum(),
        "trim_s": body["trim_s"].sum(), "units": body["units"].sum(),
        "unit": bases.pop() if len(bases) == 1 else "mixed",
        "unit_price_usd": float("nan"), "cost_usd": body["cost_usd"].sum(),
        "note": f"{sum(1 for r in rows if r['cost_usd'] > 0)} of {len(rows)} scene(s) to pay for",
        "wasted_s": body["wasted_s"].sum(), "stretch": float("nan"),
        "reason": kept_share(body),
    }], columns=COLUMNS)
    return pd.concat([total, body], ignore_index=True)


def kept_share(body: pd.DataFrame) -> str:
    """'84% of 36 paid seconds reach the export': the share of generated seconds kept."""
    paid = float(body["generated_s"].sum())
    if paid <= 0:
        return ""
    kept = paid - float(body["wasted_s"].sum())
    return f"{kept / paid:.0%} of {paid:g} paid seconds reach the timeline"
