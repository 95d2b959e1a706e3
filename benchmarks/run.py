"""`make bench`: every benchmark in one run, each printing ratios measured in that run."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_audio_marks
import bench_campaign
import bench_collab
import bench_demo
import bench_effects
import bench_export
import bench_finishing
import bench_formats
import bench_history
import bench_jobs
import bench_mastering
import bench_paid
import bench_preview
import bench_routing
import bench_scale
import bench_smart_export
import bench_startup
import bench_state
import bench_team
import bench_thumbnails
import bench_uhd
import bench_widgets
import bench_widgets_browser


def main() -> None:
    figures: dict[str, float] = {}
    # The browser bench last: Playwright's sync API runs an asyncio loop while it is open.
    for mod in (bench_startup, bench_export, bench_smart_export, bench_demo, bench_effects,
                bench_finishing, bench_formats, bench_preview,
                bench_mastering, bench_audio_marks, bench_uhd, bench_thumbnails,
                bench_state, bench_history, bench_jobs, bench_paid, bench_routing, bench_campaign,
                bench_scale, bench_team, bench_widgets,
                bench_widgets_browser, bench_collab):
        print(f"\n== {mod.__name__} ==")
        figures.update(mod.main() or {})
    print("\n== figures ==")
    for k, v in figures.items():
        print(f"{k:32s} {v:10.3f}" if isinstance(v, float) else f"{k:32s} {v!s:>10}")


if __name__ == "__main__":
    main()
