"""How much of what is paid for reaches the export: a 6-scene 30 s ad routed model="auto"
versus pinned to WAN 2.5, computed from `p.estimate` (no network, no clock: a figure of the
catalog's durations and prices, not a timing).

"kept" is the share of paid clip seconds the timeline keeps (the rest is trimmed away:
`wasted_s`). Also shown: the same with stretch=True (a clip up to 1.25x short is slowed to
fill its scene) and with the planner asked for WAN's own lengths (storyboard fit_model).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbvideo as nv
from nbvideo.plan import storyboard as storyboard_phase
from nbvideo.providers import provider_set
from nbvideo.runtime.jobs import run_sync

BRIEF = "30 second ad for a banking app for young professionals"  # six scenes, offline plan
WAN = "wan-2.5-i2v-fast"


def _priced(root: Path, name: str, fit_model: str | None = None) -> nv.Project:
    """The offline plan (no frames drawn), priced as on Replicate: nothing is sent."""
    p = nv.Project.open(root / name, brief=BRIEF, duration_s=30, providers="local")
    run_sync(storyboard_phase.plan(p.runtime, fit_model=fit_model))
    p.runtime.providers = provider_set("replicate", p.state.models)
    return p


def _figures(est: object) -> tuple[float, float, float]:
    total = est.iloc[0]  # type: ignore[attr-defined]
    paid = float(total["generated_s"])
    return (paid - float(total["wasted_s"])) / paid, float(total["wasted_s"]), \
        float(total["cost_usd"])


def main() -> dict[str, float]:
    had = os.environ.get("REPLICATE_API_TOKEN")
    os.environ.setdefault("REPLICATE_API_TOKEN", "r8_" + "0" * 30)  # built, never used
    try:
        with tempfile.TemporaryDirectory() as d:
            p = _priced(Path(d), "ad")
            assert len(p.state.scenes) == 6, len(p.state.scenes)
            rows = {
                "auto": _figures(p.estimate(model="auto")),
                "auto, stretch": _figures(p.estimate(model="auto", stretch=True)),
                "wan-2.5": _figures(p.estimate(model=WAN)),
                "wan-2.5, stretch": _figures(p.estimate(model=WAN, stretch=True)),
            }
            p.close()
            fitted = _priced(Path(d), "fit", fit_model=WAN)
            rows["wan-2.5, planned to fit"] = _figures(fitted.estimate(model=WAN))
            fitted.close()
    finally:
        if had is None:
            os.environ.pop("REPLICATE_API_TOKEN", None)
    print(f"6-scene 30 s ad ({BRIEF!r}), 720p, from p.estimate:")
    print(f"  {'route':26s} {'kept':>6s} {'wasted':>8s} {'cost':>8s}")
    for name, (kept, wasted, cost) in rows.items():
        print(f"  {name:26s} {kept:6.0%} {wasted:7.2f}s ${cost:7.2f}")
    auto, wan = rows["auto"], rows["wan-2.5"]
    print(f"  auto keeps {auto[0]:.0%} of paid seconds vs {wan[0]:.0%} pinned to WAN 2.5 "
          f"(ratio {auto[0] / wan[0]:.2f}x)")
    return {"routing_kept_auto": auto[0], "routing_kept_wan": wan[0],
            "routing_kept_ratio": auto[0] / wan[0],
            "routing_kept_auto_stretch": rows["auto, stretch"][0],
            "routing_kept_wan_fit": rows["wan-2.5, planned to fit"][0],
            "routing_wasted_auto_s": auto[1], "routing_wasted_wan_s": wan[1]}


if __name__ == "__main__":
    main()
