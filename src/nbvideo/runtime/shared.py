"""A content-addressed asset store shared by the projects of a campaign.

Why: the variants of a campaign repeat most of their scenes (the same frame in the same aspect
for every hook and market), and a clip is paid per request. Every take already carries the
request key that `runtime.produce` hashes from (provider, model, canonical inputs, seed), and
the inputs hold nothing project-specific (no paths, no project name, no scene id; a frame by
its checksum), so equal keys mean equal requests wherever they come from. The store keeps
one file per key:

    <campaign>/.shared/objects/<key[:2]>/<key>.png|mp4   the asset (hard-linked into projects)
    <campaign>/.shared/objects/<key[:2]>/<key>.json      who made it, media facts, checksum
    <campaign>/.shared/locks/<key>.lock                  held while the key is being made

`through` runs a request under the key's file lock: a second process (or coroutine) that asks
for the same key waits for the first and then gets a cache hit instead of paying twice. The
lock is an OS file lock, so a worker that dies mid-request releases it and the next asker
makes the asset itself; an entry counts only once its .json is written (last, atomically).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import filelock
from pydantic import BaseModel, ConfigDict

from nbvideo.model.state import Take, utcnow
from nbvideo.runtime.context import (
    _DIR,
    _EXT,
    Runtime,
    TakeKind,
    _select,
    _takes,
    file_sha256,
    new_take_id,
)
from nbvideo.store.folder import atomic_write_bytes

SHARED_DIR = ".shared"


class SharedEntry(BaseModel):
    """What the store knows about one asset besides its bytes."""

    model_config = ConfigDict(extra="ignore")

    key: str
    kind: TakeKind
    provider: str
    model: str
    seed: int
    checksum: str
    size_bytes: int
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    fps: float | None = None
    source_url: str | None = None
    cost_usd: float = 0.0
    origin: str = ""
    created_at: str = ""


def place(src: Path, dest: Path) -> None:
    """Put `src` at `dest`: a hard link when both are on one file system, else a copy.

    Assets are never written in place, so a link is as safe as a copy and costs no space."""
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


class SharedAssets:
    """The store at `<campaign>/.shared`. Safe across threads, processes and machines that
    share the folder (file locks; files appear by rename)."""

    def __init__(self, campaign_root: Path, poll_s: float = 0.05) -> None:
        self.root = Path(campaign_root) / SHARED_DIR
        self.poll_s = poll_s

    # ------------------------------------------------------------------ layout
    def _paths(self, key: str, kind: TakeKind) -> tuple[Path, Path]:
        folder = self.root / "objects" / key[:2]
        return folder / f"{key}.{_EXT[kind]}", folder / f"{key}.json"

    def lookup(self, key: str, kind: TakeKind) -> tuple[SharedEntry, Path] | None:
        """The entry and its file, if complete (its .json written and the file the right size)."""
        asset, meta = self._paths(key, kind)
        try:
            entry = SharedEntry.model_validate_json(meta.read_bytes())
            if asset.stat().st_size != entry.size_bytes:
                return None
        except (OSError, ValueError):
            return None
        return entry, asset

    def entries(self) -> list[SharedEntry]:
        out = []
        for meta in sorted((self.root / "objects").glob("*/*.json")):
            with contextlib.suppress(OSError, ValueError):
                out.append(SharedEntry.model_validate_json(meta.read_bytes()))
        return out

    def seed_from(self, other: SharedAssets) -> int:
        """Start with another store's complete entries (a follow-up campaign reuses what its
        source made): files are hard-linked where the file system allows, else copied; an
        entry this store already has is left alone. Returns how many were added."""
        added = 0
        for entry in other.entries():
            found = other.lookup(entry.key, entry.kind)
            asset, meta = self._paths(entry.key, entry.kind)
            if found is None or meta.exists():
                continue
            asset.parent.mkdir(parents=True, exist_ok=True)
            place(found[1], asset)
            place(other._paths(entry.key, entry.kind)[1], meta)  # the entry counts once this lands
            added += 1
        return added

    def put(self, take: Take, src: Path, origin: str) -> SharedEntry:
        """Add a finished take's file under its key (call while holding the key)."""
        asset, meta = self._paths(take.key, take.kind)
        asset.parent.mkdir(parents=True, exist_ok=True)
        place(src, asset)
        entry = SharedEntry(
            key=take.key, kind=take.kind, provider=take.provider, model=take.model,
            seed=take.seed, checksum=take.checksum or file_sha256(src),
            size_bytes=asset.stat().st_size, width=take.width, height=take.height,
            duration_s=take.duration_s, fps=take.fps, source_url=take.source_url,
            cost_usd=take.cost_usd, origin=origin, created_at=utcnow().isoformat())
        atomic_write_bytes(meta, entry.model_dump_json().encode())
        return entry

    # ------------------------------------------------------------------ the key lock
    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold the key's lock without blocking the event loop (other scenes keep going)."""
        path = self.root / "locks" / f"{key}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(path), is_singleton=False, thread_local=False)
        delay = self.poll_s
        while True:
            try:
                lock.acquire(timeout=0)
                break
            except filelock.Timeout:
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, 1.0)
        try:
            yield
        finally:
            lock.release()

    # ------------------------------------------------------------------ produce's hook
    async def through(self, rt: Runtime, *, scene_id: str, kind: TakeKind, provider: str,
                      model: str, key: str, seed: int, inputs: dict[str, Any],
                      after: Callable[[Take, Path], None] | None,
                      make: Callable[[], Awaitable[tuple[Take, bool]]]) -> tuple[Take, bool]:
        """Answer a request from the store, or make it (once across the campaign) and store it."""
        async with self.hold(key):
            found = self.lookup(key, kind)
            if found is not None:
                take = self._adopt(rt, scene_id, kind, found, inputs, after)
                if take is not None:
                    return take, True
            take, hit = await make()
            if take.ok and take.key == key and take.path:
                self.put(take, rt.store.path(take.path), origin=f"{rt.state.name}/{take.id}")
            return take, hit

    def _adopt(self, rt: Runtime, scene_id: str, kind: TakeKind,
               found: tuple[SharedEntry, Path], inputs: dict[str, Any],
               after: Callable[[Take, Path], None] | None) -> Take | None:
        """A new take in this project whose file is the stored one; logged as a cache hit.

        A stored file whose checksum no longer matches is not used (the caller makes anew)."""
        entry, asset = found
        take = Take(id=new_take_id(kind), kind=kind, key=entry.key, provider=entry.provider,
                    model=entry.model, seed=entry.seed, inputs=inputs, status="succeeded",
                    cost_usd=0.0, width=entry.width, height=entry.height,
                    duration_s=entry.duration_s, fps=entry.fps, source_url=entry.source_url,
                    finished_at=utcnow())
        rel = f"{_DIR[kind]}/{scene_id}-{take.id}.{_EXT[kind]}"
        out = rt.store.path(rel)
        out.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        place(asset, out)
        take.checksum = file_sha256(out)
        if take.checksum != entry.checksum:
            out.unlink(missing_ok=True)
            return None
        take.path = rel
        if after is not None:
            after(take, out)
        with rt.guard:
            scene = rt.state.scene(scene_id)
            _takes(scene, kind).append(take)
            _select(scene, kind, take.id)
            rt.save()
        rt.log(phase="frames" if kind == "frame" else "clips", scene=scene_id, take=take.id,
               provider=entry.provider, model=entry.model, status="cache_hit", cache_hit=True,
               key=entry.key, latency_s=time.perf_counter() - started,
               note=f"shared: made by {entry.origin} for ${entry.cost_usd:.4f}"[:200])
        return take

