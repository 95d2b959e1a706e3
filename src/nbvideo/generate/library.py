"""An asset-library asset used in a project: as a scene's frame, a scene's clip, or a file
an overlay or audio item plays. The asset is copied into the project through the one import
gate (store/imports.py), so the project stays whole when the library changes or is gone, and
its id is recorded (`ProjectState.library_files`) so each export can list what it used.

A frame from the library is a take like a generated one, at no cost: provider "import",
so `p.storyboard()` leaves it chosen (a new frame needs `p.regenerate_frame`), and the next
`p.generate_clips()` animates it with the project's image-to-video model. A clip is
`p.import_clip` of the library's file: no generation, no cost.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from nbvideo.errors import InvalidInput
from nbvideo.generate.imports import CLIP_IMPORT_DIR, import_clip
from nbvideo.model.assets import MEDIA, Asset
from nbvideo.model.state import Take, utcnow
from nbvideo.plan.scenes import resolve as resolve_scene
from nbvideo.plan.storyboard import write_thumbnail
from nbvideo.runtime.context import Runtime, new_take_id
from nbvideo.store.assets import MAX_ASSET_BYTES, SUFFIXES, AssetStore, resolve
from nbvideo.store.imports import IMPORT_PROVIDER, ImportRule, import_file, size_text

__all__ = ["LIBRARY_DIR", "bring_in", "brought_in", "find", "is_ref", "use_clip", "use_frame"]

LIBRARY_DIR = "assets/library"
FRAME_MODEL = "library-image"
FOLDERS = {"image": f"{LIBRARY_DIR}/image", "audio": f"{LIBRARY_DIR}/audio",
           "video": CLIP_IMPORT_DIR}
"""Where a copy is kept: a clip beside the imported scene clips, so a clip used as a scene's
clip and as an overlay is one file in the project."""
USES = {"frame": "image", "clip": "video", "image": "image", "audio": "audio",
        "music": "audio"}


def find(rt: Runtime, ref: Any, use: str) -> tuple[AssetStore, Asset]:
    """The library asset `ref` names, checked to be the media `use` needs."""
    store, asset = resolve(ref, rt.store.root)
    want = USES[use]
    if asset.media != want:
        raise InvalidInput(f"asset: {asset.id} ({asset.name}) is a {asset.kind}; as a {use} "
                           f"it must be {'an' if want[0] in 'aeiou' else 'a'} {want} "
                           f"({', '.join(k for k, m in MEDIA.items() if m == want)})")
    return store, asset


def _rule(media: str, field: str) -> ImportRule:
    cap = MAX_ASSET_BYTES[media]
    return ImportRule(field=field, kind=media, suffixes=SUFFIXES[media],  # type: ignore[arg-type]
                      max_bytes=cap, dest=FOLDERS[media], stem="asset",
                      hint=f"add it to the library again ({'an' if media[0] in 'aeiou' else 'a'}"
                           f" {media} of at most {size_text(cap)})")


def bring_in(rt: Runtime, store: AssetStore, asset: Asset, field: str) -> str:
    """Copy the asset's file into the project (`FOLDERS`, by content) and
    record it; returns its project path. The caller's own save keeps the record."""
    rt.require("edit", f"use asset {asset.id}")
    kept, _ = import_file(store.path(asset), rt.store.root, _rule(asset.media, field))
    if kept.sha256 != asset.sha256:
        raise InvalidInput(f"{field}: {asset.id}'s file in the library was changed after it "
                           "was added (its bytes no longer match its id); add it again")
    with rt.guard:
        rt.state.library_files[kept.rel] = asset.id
    return kept.rel


@contextlib.contextmanager
def brought_in(rt: Runtime, ref: Any, use: str, field: str) -> Iterator[str]:
    """`bring_in` the asset `ref` names for `use` and yield its project path; the block
    saves it (an item, the music setting). Refused in the block: the record is taken back
    (the copy, kept by content, is harmless and reused next time)."""
    store, asset = find(rt, ref, use)
    with rt.guard:
        before = dict(rt.state.library_files)
    rel = bring_in(rt, store, asset, field)
    try:
        yield rel
    except BaseException:
        with rt.guard:
            if rel not in before:
                rt.state.library_files.pop(rel, None)
        raise


def is_ref(value: Any) -> bool:
    """Whether a path argument names a library asset (an Asset, or 'asset:...')."""
    return isinstance(value, Asset) or (isinstance(value, str) and value.startswith("asset:"))


def use_frame(rt: Runtime, ref: str | int, asset_ref: Any) -> Take:
    """The library image as scene `ref`'s frame: a new frame take, chosen, free."""
    if not rt.store.writable:
        raise InvalidInput("use_asset: the project is open read-only; nothing can be added")
    with rt.guard:
        scene_id = resolve_scene(rt, ref).id
    store, asset = find(rt, asset_ref, "frame")
    started = time.perf_counter()
    rel = bring_in(rt, store, asset, "use_asset")
    with rt.guard:
        scene = rt.state.scene(scene_id)
        key = f"{IMPORT_PROVIDER}:{asset.sha256}"
        take = next((t for t in scene.frame_takes if t.key == key and t.ok), None)
        if take is None:
            take = Take(id=new_take_id("frame"), kind="frame", key=key,
                        provider=IMPORT_PROVIDER, model=FRAME_MODEL, seed=0, path=rel,
                        status="succeeded", checksum=asset.sha256, width=asset.width,
                        height=asset.height, finished_at=utcnow(),
                        inputs={"asset": asset.id, "source_name": asset.name})
            write_thumbnail(take, rt.store.root / rel, rt.store.root)
            scene.frame_takes.append(take)
        scene.frame_take_id = take.id
        rt.save()
    rt.log(phase="frames", scene=scene_id, take=take.id, provider="local", model="import",
           units=1, unit="image", latency_s=round(time.perf_counter() - started, 3), key=key,
           note=f"asset {asset.id} ({asset.name}) as the frame"[:200])
    return take


def use_clip(rt: Runtime, ref: str | int, asset_ref: Any) -> Take:
    """The library clip as scene `ref`'s clip (`import_clip`): no generation, no cost."""
    store, asset = find(rt, asset_ref, "clip")
    return import_clip(rt, ref, store.path(asset), asset=asset.id)
