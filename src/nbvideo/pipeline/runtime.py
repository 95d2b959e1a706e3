"""What every phase works with: the state, its store, the ledger, the providers, one guard.

`produce` is the one place a frame or clip take is made: it hashes the request, reuses a
take with the same key (a cache hit, logged at cost 0), or calls the provider, records the
new take, selects it, logs the call and saves — so "pay only for what changed" holds for
every phase alike.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nbvideo.keys import redact
from nbvideo.ledger import Ledger, LedgerEntry
from nbvideo.pipeline.budget import Budget, BudgetExceeded, reserve
from nbvideo.providers import ProviderSet
from nbvideo.providers.base import MediaResult, Usage
from nbvideo.state import ProjectState, Scene, Take, utcnow
from nbvideo.store import ProjectStore

TakeKind = Literal["frame", "clip"]
_EXT = {"frame": "png", "clip": "mp4"}
_DIR = {"frame": "assets/frames", "clip": "assets/clips"}


def canonical(obj: Any) -> str:
    """Stable JSON for hashing: sorted keys, no spaces, floats rounded to microseconds."""

    def norm(v: Any) -> Any:
        if isinstance(v, float):
            return round(v, 6)
        if isinstance(v, dict):
            return {str(k): norm(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [norm(x) for x in v]
        if isinstance(v, Path):
            return str(v)
        return v

    return json.dumps(norm(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(provider: str, model: str, inputs: dict[str, Any], seed: int) -> str:
    payload = canonical({"provider": provider, "model": model, "inputs": inputs, "seed": seed})
    return hashlib.sha256(payload.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def new_take_id(kind: TakeKind) -> str:
    return ("f" if kind == "frame" else "c") + secrets.token_hex(5)


@dataclass
class Runtime:
    state: ProjectState
    store: ProjectStore
    ledger: Ledger
    providers: ProviderSet
    guard: threading.RLock = field(default_factory=threading.RLock)
    budget: Budget = field(init=False)

    def __post_init__(self) -> None:
        self.budget = Budget("project budget", self.state.budget_usd, self.spent_usd)

    def spent_usd(self) -> float:
        """Actual spend so far, from the ledger."""
        df = self.ledger.frame()
        return float(df.loc[df["kind"] == "actual", "cost_usd"].sum())

    def save(self) -> None:
        with self.guard:
            self.store.save(self.state)

    def log(self, **fields: Any) -> LedgerEntry:
        return self.ledger.append(LedgerEntry(**fields))

    def log_cache_hit(self, *, phase: str, provider: str, model: str, note: str,
                      scene: str | None = None, take: str | None = None,
                      key: str | None = None) -> LedgerEntry:
        """A request answered from what the project already has: logged, at cost 0."""
        return self.log(phase=phase, scene=scene, take=take, provider=provider, model=model,
                        status="cache_hit", cache_hit=True, key=key, note=note)

    def log_usage(self, *, usage: Usage, latency_s: float, **fields: Any) -> LedgerEntry:
        return self.log(
            units=usage.units, unit=usage.unit, unit_price_usd=usage.unit_price_usd,
            cost_usd=usage.cost_usd, latency_s=latency_s, request_id=usage.request_id, **fields,
        )


def _takes(scene: Scene, kind: TakeKind) -> list[Take]:
    return scene.frame_takes if kind == "frame" else scene.clip_takes


def _select(scene: Scene, kind: TakeKind, take_id: str) -> None:
    if kind == "frame":
        scene.frame_take_id = take_id
    else:
        scene.clip_take_id = take_id


def cached_take(scene: Scene, kind: TakeKind, key: str, store: ProjectStore) -> Take | None:
    """A succeeded take with this key whose file is still there."""
    for take in reversed(_takes(scene, kind)):
        if take.key == key and take.ok and take.path and store.path(take.path).exists():
            return take
    return None


async def produce(
    rt: Runtime,
    *,
    scene_id: str,
    kind: TakeKind,
    provider: str,
    model: str,
    inputs: dict[str, Any],
    seed: int,
    run: Callable[[Path], Awaitable[MediaResult]],
    after: Callable[[Take, Path], None] | None = None,
    estimate_usd: float = 0.0,
    budgets: Sequence[Budget] = (),
) -> tuple[Take, bool]:
    """Make (or reuse) the take for this request and select it. Returns (take, cache_hit)."""
    phase = "frames" if kind == "frame" else "clips"
    key = request_key(provider, model, inputs, seed)
    with rt.guard:
        scene = rt.state.scene(scene_id)
        hit = cached_take(scene, kind, key, rt.store)
        if hit is not None:
            _select(scene, kind, hit.id)
            rt.save()
            rt.log_cache_hit(phase=phase, scene=scene_id, take=hit.id, provider=provider,
                             model=model, key=key, note="reused existing take")
            return hit, True
    take_id = new_take_id(kind)
    rel = f"{_DIR[kind]}/{scene_id}-{take_id}.{_EXT[kind]}"
    out = rt.store.path(rel)
    out.parent.mkdir(parents=True, exist_ok=True)
    take = Take(id=take_id, kind=kind, key=key, provider=provider, model=model, seed=seed,
                inputs=inputs, status="running")
    common = dict(phase=phase, scene=scene_id, take=take_id, provider=provider, model=model,
                  key=key, estimated_usd=estimate_usd or None)
    started = time.perf_counter()
    try:
        with reserve(list(budgets), estimate_usd, f"{kind} for scene {scene_id}") as held:
            try:
                result = await run(out)
            except asyncio.CancelledError:
                out.unlink(missing_ok=True)
                rt.log(**common, status="canceled", latency_s=time.perf_counter() - started)
                raise
            except Exception as exc:  # recorded on the take and in the ledger, then re-raised
                out.unlink(missing_ok=True)
                message = redact(str(exc))
                take.status, take.error, take.finished_at = "failed", message[:500], utcnow()
                with rt.guard:
                    _takes(rt.state.scene(scene_id), kind).append(take)
                    rt.save()
                rt.log(**common, status="failed", latency_s=time.perf_counter() - started,
                       note=message[:200])
                raise
            held.actual_usd = result.usage.cost_usd
            _finish(rt, scene_id, take, rel, out, result, after)
            rt.log_usage(**common, usage=result.usage, latency_s=time.perf_counter() - started)
    except BudgetExceeded as exc:
        rt.log(**common, status="refused", note=str(exc)[:200])
        raise
    return take, False


def _finish(rt: Runtime, scene_id: str, take: Take, rel: str, out: Path, result: MediaResult,
            after: Callable[[Take, Path], None] | None) -> None:
    """Record a finished take (file, checksum, media facts), select it and save."""
    take.path = rel
    take.status = "succeeded"
    take.finished_at = utcnow()
    take.cost_usd = result.usage.cost_usd
    take.checksum = file_sha256(out)
    take.width, take.height = result.width, result.height
    take.duration_s, take.fps = result.duration_s, result.fps
    if after is not None:
        after(take, out)
    with rt.guard:
        scene = rt.state.scene(scene_id)
        _takes(scene, take.kind).append(take)
        _select(scene, take.kind, take.id)
        rt.save()
