"""20 clips submitted at once to the Replicate API double with a fixed latency L, through the
real pipeline (Project.generate_clips -> ReplicateVideo -> the replicate client over HTTP).

Goals: wall time / L <= 1.2 and at most 3 status requests per clip on average. The poller is
told the model's typical latency (as the catalog would for a real model); two more runs tell
it a latency 50% too low, with and without a progress bar in the prediction's logs, to show
what a misestimate costs. The web app this replaces polls every 5 s for up to 15 min.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbvideo as nv  # noqa: E402
from nbvideo.providers.replicate import ReplicateVideo  # noqa: E402
from tests.doubles.replicate_double import start_replicate_double  # noqa: E402

TOKEN = "r8_bench" + "x" * 24
CLIPS = 20


def project_with(n: int, root: Path) -> nv.Project:
    # 4 s scenes: every clip is a 5 s WAN clip, whose latency the poller is told
    p = nv.Project.open(root / "bench", brief="30s ad for a waterproof trail shoe",
                        duration_s=30, fps=12)
    p.storyboard()
    while len(p.scenes) < n:
        p.add_scene(description=f"extra scene {len(p.scenes) + 1}", visual_prompt="a trail",
                    duration_s=3)
    for s in p.scenes:
        p.edit_scene(s.id, duration_s=4)
    p.storyboard()  # frames for the added scenes
    return p


def run(latency_s: float, assumed_s: float, progress_logs: bool = True) -> dict[str, float]:
    double = start_replicate_double(TOKEN)
    double.latency_s, double.progress_logs = latency_s, progress_logs
    os.environ["REPLICATE_API_TOKEN"] = TOKEN
    try:
        with tempfile.TemporaryDirectory() as d:
            p = project_with(CLIPS, Path(d))
            video = ReplicateVideo("wan-2.5-i2v-fast", base_url=double.base_url,
                                   allowed_download_hosts=frozenset({"127.0.0.1"}),
                                   typical_latency_s=assumed_s)
            p._rt.providers = dataclasses.replace(p._rt.providers, video=video)
            started = time.perf_counter()
            p.generate_clips().wait(600)
            wall = time.perf_counter() - started
            p.close()
        polls = sum(double.status_requests.values()) / CLIPS
        return {"wall_over_latency": wall / latency_s, "status_requests_per_clip": polls}
    finally:
        double.stop()


def main() -> dict[str, float]:
    latency = 10.0
    exact = run(latency, latency)
    low = run(latency, latency * 0.5)
    blind = run(latency, latency * 0.5, progress_logs=False)
    print(f"{CLIPS} clips at once, double latency L = {latency:g} s (download + probe included)")
    print(f"  poller told L:        wall/L {exact['wall_over_latency']:.2f} (goal <= 1.2), "
          f"status requests/clip {exact['status_requests_per_clip']:.2f} (goal <= 3)")
    print(f"  poller told L x 0.5:  wall/L {low['wall_over_latency']:.2f}, "
          f"status requests/clip {low['status_requests_per_clip']:.2f} (progress in the logs)")
    print(f"  poller told L x 0.5:  wall/L {blind['wall_over_latency']:.2f}, "
          f"status requests/clip {blind['status_requests_per_clip']:.2f} (no progress logged)")
    return {"jobs_wall_over_latency": exact["wall_over_latency"],
            "jobs_status_per_clip": exact["status_requests_per_clip"],
            "jobs_misestimate_wall_over_latency": low["wall_over_latency"],
            "jobs_misestimate_status_per_clip": low["status_requests_per_clip"],
            "jobs_blind_misestimate_wall_over_latency": blind["wall_over_latency"],
            "jobs_blind_misestimate_status_per_clip": blind["status_requests_per_clip"]}


if __name__ == "__main__":
    main()
