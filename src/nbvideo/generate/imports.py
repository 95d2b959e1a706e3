"""`p.import_clip`: the user's own video as a scene's clip (a 4K shot, b-roll, a screen
recording), a take like any generated one: chosen, kept, undoable, free.

The file is copied in and checked by `store.imports.import_video` (the same checks an
overlay clip goes through). The take's provider is "import": no model made it, so
`generate_clips()` counts it as current and never replaces it (a new take needs
`p.regenerate_clip`), and clip QA, which judges a model's output against its request, leaves
it alone. The ledger gets one row at cost 0 (phase "clips", provider "local", model
"import"), as local work is logged. A source above 1080p gets its editing proxy in the
background (media/proxy.py); the export reads the original.
"""

from __future__ import annotations

import os
import time

from nbvideo.errors import InvalidInput
from nbvideo.media import proxy
from nbvideo.model.state import Take, utcnow
from nbvideo.plan.scenes import resolve
from nbvideo.runtime.context import Runtime, new_take_id
from nbvideo.store.imports import IMPORT_PROVIDER, import_video

__all__ = ["CLIP_IMPORT_DIR", "import_clip", "imported"]

CLIP_IMPORT_DIR = "assets/clips/imported"
IMPORT_MODEL = "user-clip"


def imported(take: Take | None) -> bool:
    """Whether a take is a user's own file rather than a model's output."""
    return take is not None and take.provider == IMPORT_PROVIDER


def import_clip(rt: Runtime, ref: str | int, path: str | os.PathLike[str], *,
                asset: str | None = None) -> Take:
    """Copy the video at `path` into the project as a new clip take of scene `ref`, chosen.

    The copy and probe run outside the project lock (a 4K file takes a while); the take is
    added under it. Importing the same file again makes the existing take the chosen one.
    `asset`: the id of the asset-library asset `path` is, recorded for exports."""
    if not rt.store.writable:
        raise InvalidInput("import_clip: the project is open read-only; nothing can be added")
    with rt.guard:
        scene_id = resolve(rt, ref).id
    started = time.perf_counter()
    rt.require("edit", "import a clip")
    video = import_video(path, rt.store.root, CLIP_IMPORT_DIR, field="import_clip: path")
    with rt.guard:
        scene = rt.state.scene(scene_id)  # still there: resolve again under the lock
        key = f"{IMPORT_PROVIDER}:{video.sha256}"
        take = next((t for t in scene.clip_takes if t.key == key and t.ok), None)
        if take is None:
            take = Take(
                id=new_take_id("clip"), kind="clip", key=key, provider=IMPORT_PROVIDER,
                model=IMPORT_MODEL, seed=0, path=video.rel, status="succeeded",
                checksum=video.sha256, width=video.width, height=video.height,
                duration_s=round(video.duration_s, 6), fps=round(video.fps, 6),
                finished_at=utcnow(),
                inputs={"source_name": video.name, "size_bytes": video.size_bytes,
                        "has_audio": video.has_audio, **({"asset": asset} if asset else {})},
            )
            scene.clip_takes.append(take)
        scene.clip_take_id = take.id
        if asset is not None:
            rt.state.library_files[video.rel] = asset
        rt.save()
    rt.log(phase="clips", scene=scene_id, take=take.id, provider="local", model="import",
           units=round(video.duration_s, 3), unit="second",
           latency_s=round(time.perf_counter() - started, 3), key=key,
           note=f"imported {video.name} ({video.width}x{video.height}, "
                f"{video.duration_s:.2f} s){'' if video.copied else ', already in the project'}"
                [:200])
    proxy.start(rt.store.root, video.path, video.sha256, video.width, video.height)
    return take
