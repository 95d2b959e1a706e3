"""Phase 3: one clip per scene, made from its chosen frame, as a background Job."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from nbvideo.errors import InvalidInput, PhaseNotReady
from nbvideo.pipeline.budget import Budget
from nbvideo.pipeline.estimate import clip_estimate
from nbvideo.pipeline.jobs import EventStatus, Job, gather_limited
from nbvideo.pipeline.runtime import Pending, Runtime, in_flight, produce, request_key
from nbvideo.providers.base import ClipRequest, MediaResult, RemoteVideoModel, Ticket
from nbvideo.providers.catalog import get_model
from nbvideo.state import Scene, Take, frame_size

REMOTE_IN_FLIGHT = 64


def clip_request(rt: Runtime, scene: Scene) -> ClipRequest:
    frame = scene.frame
    if frame is None or not frame.ok or frame.path is None:
        raise PhaseNotReady(
            f"scene {scene.id} has no frame yet; run p.storyboard() before generating clips"
        )
    st = rt.state
    w, h = frame_size(st.brief.aspect, st.brief.resolution)
    return ClipRequest(
        frame_path=rt.store.path(frame.path), prompt=scene.visual_prompt, camera=scene.camera,
        duration_s=scene.duration_s, fps=st.brief.fps, width=w, height=h, seed=scene.clip_seed,
    )


def clip_inputs(req: ClipRequest, frame: Take) -> dict[str, Any]:
    """What we keep on the take: the request, with the frame by checksum, not by path."""
    data = req.model_dump(mode="json", exclude={"seed", "frame_path"})
    data["frame_sha256"] = frame.checksum
    return data


def clip_key_inputs(video: Any, req: ClipRequest, frame: Take) -> dict[str, Any]:
    """What the cache key hashes: the provider's real request where it says (a 3 s and a 4 s
    scene are the same 5 s request to a model that makes 5 s clips), else our request."""
    own = getattr(video, "key_inputs", None)
    if own is None:
        return clip_inputs(req, frame)
    return {**own(req), "frame_sha256": frame.checksum}


def clip_key(video: Any, req: ClipRequest, frame: Take) -> tuple[dict[str, Any], str]:
    """(what the key hashes, the key) for one clip request."""
    key_inputs = clip_key_inputs(video, req, frame)
    return key_inputs, request_key(video.provider, video.model, key_inputs, req.seed)


def clip_is_current(rt: Runtime, scene: Scene) -> bool:
    take, frame = scene.clip, scene.frame
    if take is None or not take.ok or frame is None or not frame.ok:
        return False
    video = rt.providers.video
    try:
        _inputs, key = clip_key(video, clip_request(rt, scene), frame)
    except InvalidInput:  # the model cannot make this scene: it is not current, say so later
        return False
    return take.key == key


async def make_clip(rt: Runtime, scene_id: str, job: Job[Any] | None = None,
                    budgets: Sequence[Budget] = ()) -> tuple[Take, bool]:
    """Bring one scene's clip up to date: reuse, resume an in-flight prediction, or generate."""
    video = rt.providers.video
    with rt.guard:
        scene = rt.state.scene(scene_id)
        req = clip_request(rt, scene)
        frame = scene.frame
        assert frame is not None
        inputs = clip_inputs(req, frame)
        key_inputs, key = clip_key(video, req, frame)
        flying = [t for t in in_flight(scene, "clip") if t.key == key]
        _gen, usage, _note = clip_estimate(get_model(video.model), scene, rt.state.brief.resolution)

    def emit(status: EventStatus) -> None:
        if job is not None:
            job.emit(scene_id, status)

    def status(ticket: Ticket) -> None:
        if ticket.status in ("starting", "processing"):
            emit(ticket.status)

    async def run(out: Path, pending: Pending) -> MediaResult:
        if not isinstance(video, RemoteVideoModel):
            emit("processing")
            return await video.clip(req, out)
        emit("starting")
        ticket = (Ticket(id=pending.take.request_id, model=video.model)
                  if pending.take.request_id else await video.submit(req))
        if not pending.take.request_id:
            pending.submitted(ticket.id)  # saved before waiting: a new kernel resumes it
        try:
            ticket = await video.wait(ticket, on_status=status)  # cancels itself if we are canceled
        except Exception:  # timed out or lost track of it: do not leave it running (and billing)
            with contextlib.suppress(Exception):
                await video.cancel(ticket)
            raise
        if ticket.status != "succeeded":
            raise RuntimeError(f"{video.model} prediction {ticket.id} {ticket.status}: "
                               f"{ticket.error or 'no error given'}")
        return await video.fetch(ticket, out)

    return await produce(rt, scene_id=scene_id, kind="clip", provider=video.provider,
                         model=video.model, inputs=inputs, seed=req.seed, run=run,
                         estimate_usd=usage.cost_usd, budgets=[rt.budget, *budgets],
                         resume=flying[-1] if flying else None, key_inputs=key_inputs)


def start_clip_job(rt: Runtime, scene_ids: list[str], name: str = "clips",
                   budget_usd: float | None = None) -> Job[list[Take]]:
    """Start making clips for `scene_ids`; returns at once with a Job showing tqdm progress.

    `budget_usd` caps what this job may spend, on top of the project's own budget."""
    with rt.guard:
        for sid in scene_ids:  # fail now, in the caller's cell, not later in the background
            clip_request(rt, rt.state.scene(sid))
    job: Job[list[Take]] = Job(name, total=len(scene_ids))
    bar = tqdm(total=len(scene_ids), desc=name, unit="clip", leave=True)
    spec = get_model(rt.providers.video.model)
    if isinstance(rt.providers.video, RemoteVideoModel):
        # Remote clips mostly wait: submit them all at once; the provider limits its own
        # concurrent HTTP requests (spec.max_concurrency).
        limit = REMOTE_IN_FLIGHT
    else:  # local renders are CPU-bound: one per core at most
        limit = max(1, min(spec.max_concurrency, os.cpu_count() or 1))
    call_budget = Budget("budget of this call", budget_usd, lambda: 0.0, counts_own_calls=True)
    for sid in scene_ids:
        job.emit(sid, "queued")

    async def one(sid: str) -> Take:
        try:
            take, hit = await make_clip(rt, sid, job, [call_budget])
        except asyncio.CancelledError:
            job.emit(sid, "canceled")
            raise
        except Exception as exc:
            job.emit(sid, "failed", str(exc)[:200])
            raise
        job.emit(sid, "cached" if hit else "succeeded")
        bar.update(1)
        return take

    async def run_all() -> list[Take]:
        try:
            results = await gather_limited([lambda s=sid: one(s) for sid in scene_ids], limit)
        finally:
            bar.close()
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            failed = [sid for sid, r in zip(scene_ids, results) if isinstance(r, BaseException)]
            raise RuntimeError(
                f"{len(errors)} of {len(scene_ids)} clip(s) failed (scenes {', '.join(failed)}): "
                f"{errors[0]}"
            ) from errors[0]
        return [r for r in results if isinstance(r, Take)]

    return job.start(run_all())
