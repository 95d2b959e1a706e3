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
    <campaign>/.shared/claims/<key>.json                 which project is making it now

`through` runs a request under the key's claim: a second process (or coroutine) that asks
for the same key waits for the first and then gets a cache hit instead of paying twice. Who
arbitrates is pluggable (`KeyClaims`): by default an OS file lock (`FileClaims`), so a worker
that dies mid-request releases it; on a Dask cluster whose machines share no lock-capable
file system, a distributed Lock on the scheduler (campaign/cluster.py). An entry counts only
once its .json is written (last, atomically).

A maker that dies after its paid request was submitted leaves its claim record behind, and
its project holds the remote job's id (a `running` take, see runtime/remote.py). The next
holder of the key resumes that job instead of paying for a second one: from its own project
if the job is its own, else with a copy of the take in its project (the cost is logged where
the job finishes). The dead maker's project, when it runs again, finds the asset in the store
and retires its own `running` take, so the job is paid, logged and waited for once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

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
from nbvideo.store.folder import STATE_FILE, atomic_write_bytes

SHARED_DIR = ".shared"


class KeyClaims(Protocol):
    """Who may make a key right now: one holder per key across every process of a campaign."""

    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """Wait (without blocking the event loop) until this process holds `key`."""
        ...


class FileClaims:
    """A key's claim as an OS file lock under `<campaign>/.shared/locks/`: right for one
    machine, or machines sharing a file system whose locks work across them."""

    def __init__(self, shared_root: Path, poll_s: float = 0.05) -> None:
        self.root = Path(shared_root) / "locks"
        self.poll_s = poll_s

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        path = self.root / f"{key}.lock"
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

    def __init__(self, campaign_root: Path, poll_s: float = 0.05,
                 claims: KeyClaims | None = None) -> None:
        self.campaign = Path(campaign_root)
        self.root = self.campaign / SHARED_DIR
        self.poll_s = poll_s
        self.claims: KeyClaims = claims if claims is not None else FileClaims(self.root, poll_s)

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

    # ------------------------------------------------------------------ the key's claim
    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """Hold the key's claim without blocking the event loop (other scenes keep going)."""
        return self.claims.hold(key)

    def _record(self, key: str) -> Path:
        return self.root / "claims" / f"{key}.json"

    def _maker(self, key: str) -> str | None:
        """The project (relative to the campaign) that held the key last and never finished
        with it (its process died), if any."""
        try:
            return str(json.loads(self._record(key).read_bytes())["project"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _orphan(self, rt: Runtime, key: str, kind: TakeKind, scene_id: str) -> Take | None:
        """A paid job for `key` that a maker which died had submitted (its remote id saved in
        its project), as a take to resume here: the take itself when the maker was this
        project, else a copy added to this project's scene."""
        maker = self._maker(key)
        if maker is None:
            return None
        here = os.path.relpath(rt.store.root, self.campaign)
        if maker == here:
            with rt.guard:
                for take in reversed(_takes(rt.state.scene(scene_id), kind)):
                    if take.key == key and take.status == "running" and take.request_id:
                        return take
            return None
        try:
            raw = json.loads((self.campaign / maker / STATE_FILE).read_bytes())
        except (OSError, ValueError):
            return None
        field = "frame_takes" if kind == "frame" else "clip_takes"
        found = None
        for scene in raw.get("scenes", []):
            for t in scene.get(field, []):
                if t.get("key") == key and t.get("status") == "running" and t.get("request_id"):
                    found = t
        if found is None:
            return None
        try:
            theirs = Take.model_validate(found)
        except ValueError:
            return None
        take = theirs.model_copy(update={"id": new_take_id(kind), "status": "running",
                                         "path": None, "created_at": utcnow()})
        with rt.guard:
            _takes(rt.state.scene(scene_id), kind).append(take)
            rt.save()
        rt.log(phase="frames" if kind == "frame" else "clips", scene=scene_id, take=take.id,
               provider=take.provider, model=take.model, key=key, status="submitted",
               request_id=take.request_id,
               note=f"resumed: submitted by {maker}, whose worker stopped"[:200])
        return take

    def _retire(self, rt: Runtime, scene_id: str, take: Take, entry: SharedEntry) -> None:
        """This project's `running` take of a job another project finished and stored."""
        out = rt.store.path(f"{_DIR[take.kind]}/{scene_id}-{take.id}.{_EXT[take.kind]}")
        out.unlink(missing_ok=True)
        take.status, take.finished_at = "canceled", utcnow()
        take.error = (f"finished by {entry.origin} from the same remote job; this scene uses "
                      f"the stored asset")[:500]
        with rt.guard:
            rt.save()

    # ------------------------------------------------------------------ produce's hook
    async def through(self, rt: Runtime, *, scene_id: str, kind: TakeKind, provider: str,
                      model: str, key: str, seed: int, inputs: dict[str, Any],
                      after: Callable[[Take, Path], None] | None,
                      make: Callable[[Take | None], Awaitable[tuple[Take, bool]]],
                      resume: Take | None = None) -> tuple[Take, bool]:
        """Answer a request from the store, or make it (once across the campaign) and store it.

        `resume`: this project's take of a job already submitted; if another project
        finished the same job meanwhile, the stored asset is used and the take retired."""
        async with self.hold(key):
            found = self.lookup(key, kind)
            if found is not None:
                take = self._adopt(rt, scene_id, kind, found, inputs, after)
                if take is not None:
                    if resume is not None:
                        self._retire(rt, scene_id, resume, found[0])
                    return take, True
            if resume is None:
                resume = self._orphan(rt, key, kind, scene_id)
            record = self._record(key)
            record.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(record, json.dumps(
                {"project": os.path.relpath(rt.store.root, self.campaign)}).encode())
            try:
                take, hit = await make(resume)
                if take.ok and take.key == key and take.path:
                    self.put(take, rt.store.path(take.path),
                             origin=f"{rt.state.name}/{take.id}")
            finally:  # only a process that dies leaves its record behind
                record.unlink(missing_ok=True)
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

