"""Open and save of a project with 100 scenes x 10 takes (goals: open < 0.2 s, save < 0.1 s).

Also prints the ratio to the naive path (json.load + model_validate of the same file), so
the figure is comparable across machines.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from nbvideo.model.state import Brief, ProjectState, Scene, Take
from nbvideo.store.folder import ProjectStore


def big_state(n_scenes: int = 100, n_takes: int = 10) -> ProjectState:
    scenes = []
    for i in range(n_scenes):
        sid = f"s{i:08x}"
        frames = [Take(id=f"f{i:04d}{k}", kind="frame", key=f"{i}-{k}" * 8, provider="local",
                       model="pillow-storyboard", seed=k, path=f"assets/frames/{sid}-{k}.png",
                       status="succeeded", inputs={"visual_prompt": "a hiker on a ridge " * 4,
                                                   "shot": "wide", "palette": ["#112233"] * 5},
                       checksum="ab" * 32, width=1280, height=720)
                  for k in range(n_takes)]
        clips = [t.model_copy(update={"id": f"c{i:04d}{k}", "kind": "clip", "duration_s": 5.0})
                 for k, t in enumerate(frames)]
        scenes.append(Scene(id=sid, beat="product", description="A hiker crosses a stream " * 3,
                            visual_prompt="wet rocks, boots, spray " * 3, duration_s=5.0,
                            frame_takes=frames, clip_takes=clips, frame_take_id=frames[-1].id,
                            clip_take_id=clips[-1].id))
    return ProjectState(name="big", brief=Brief(text="a big project"), scenes=scenes)


def best(fn, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> dict[str, float]:
    state = big_state()
    with tempfile.TemporaryDirectory() as d:
        store = ProjectStore(Path(d))
        store.acquire()
        store.save(state)
        size = store.state_path.stat().st_size
        save_s = best(lambda: store.save(state))
        open_s = best(store.load)
        naive_s = best(lambda: ProjectState.model_validate(json.loads(store.state_path.read_text())))
        store.release()
    print(f"state: 100 scenes x 10 takes ({size / 1e6:.1f} MB project.json)")
    print(f"  open  {open_s * 1000:7.1f} ms  (goal < 200 ms)  ratio to bare json+validate "
          f"{open_s / naive_s:.2f}x")
    print(f"  save  {save_s * 1000:7.1f} ms  (goal < 100 ms, includes fsync and backup copy)")
    return {"open_s": open_s, "save_s": save_s, "open_naive_ratio": open_s / naive_s}


if __name__ == "__main__":
    main()
