"""Phase 3: one clip per scene, made from its chosen frame, as a background Job."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from nbvideo.errors import InvalidInput, PhaseNotReady, ScenesFailed
from nbvideo.generate import presenter as presenter_phase
from nbvideo.generate.health import unhealthy_models
from nbvideo.generate.lipsync import lip_sync_source
from nbvideo.generate.qa import Expectation, inspect_clip
from nbvideo.media.stretch import stretch_clip
from nbvideo.model.state import QAResult, Scene, Take, frame_size
from nbvideo.plan import routing
from nbvideo.plan.estimate import clip_estimate
from nbvideo.providers.base import (
    ClipRequest,
    CreateMayExist,
    MediaResult,
    PredictionFailed,
    ProviderAPIError,
    ProviderError,
    RemoteVideoModel,
)
from nbvideo.providers.catalog import generated_duration, get_model, price
from nbvideo.runtime.budget import Budget, BudgetExceeded
from nbvideo.runtime.context import (
    Pending,
    Runtime,
    cached_take,
    in_flight,
    produce,
    request_key,
)
from nbvideo.runtime.jobs import Job, UnitEvents, gather_limited
from nbvideo.runtime.remote import DEFAULT_TIMEOUT_S, submit_and_wait
from nbvideo.store.imports import IMPORT_PROVIDER

log = logging.getLogger(__name__)

REMOTE_IN_FLIGHT = 64


def local_render_slots() -> int:
    """Local clips rendered at once: NBVIDEO_LOCAL_RENDERS, else one per core. A campaign
    worker that owns one core of the machine is given 1 (see campaign/runner.py)."""
    n = os.environ.get("NBVIDEO_LOCAL_RENDERS", "").strip()
    return int(n) if n.isdigit() and int(n) > 0 else (os.cpu_count() or 1)


def stretch_to(rt: Runtime, scene: Scene, model: str | None) -> float | None:
    """The scene's length when its clip on `model` is made shorter and slowed to fill it
    (the project stretches clips and that is cheaper than the next length up), else None."""
    if model is None or not rt.state.stretch_clips:
        return None
    o = routing.option(get_model(model), scene, rt.state.brief, stretch=True)
    return scene.duration_s if o.stretch > 1.0 else None


def clip_request(rt: Runtime, scene: Scene, model: str | None = None) -> ClipRequest:
    """The request for the scene's clip; on `model`, at the shorter length it is made at
    when the project stretches clips (see `stretch_to`)."""
    frame = scene.frame
    if frame is None or not frame.ok or frame.path is None:
        raise PhaseNotReady(
            f"scene {scene.id} has no frame yet; run p.storyboard() before generating clips"
        )
    st = rt.state
    w, h = frame_size(st.brief.aspect, st.brief.resolution)
    made = scene.duration_s
    if stretch_to(rt, scene, model) is not None:
        made = routing.option(get_model(model or ""), scene, st.brief, stretch=True).generated_s
    return ClipRequest(
        frame_path=rt.store.path(frame.path), prompt=scene.visual_prompt, camera=scene.camera,
        duration_s=made, fps=st.brief.fps, width=w, height=h, seed=scene.clip_seed,
    )


def clip_inputs(req: ClipRequest, frame: Take, stretched: float | None = None) -> dict[str, Any]:
    """What we keep on the take: the request, with the frame by checksum, not by path, and
    the length the clip was slowed to fill (`stretch_to_s`) when it was."""
    data = req.model_dump(mode="json", exclude={"seed", "frame_path"})
    data["frame_sha256"] = frame.checksum
    if stretched is not None:
        data["stretch_to_s"] = stretched
    return data


def clip_key_inputs(video: Any, req: ClipRequest, frame: Take,
                    stretched: float | None = None) -> dict[str, Any]:
    """What the cache key hashes: the provider's real request where it says (a 3 s and a 4 s
    scene are the same 5 s request to a model that makes 5 s clips), else our request; a
    stretched clip also by the length it fills (it is not the clip the request made)."""
    own = getattr(video, "key_inputs", None)
    if own is None:
        return clip_inputs(req, frame, stretched)
    extra = {} if stretched is None else {"stretch_to_s": stretched}
    return {**own(req), "frame_sha256": frame.checksum, **extra}


def clip_key(video: Any, req: ClipRequest, frame: Take,
             stretched: float | None = None) -> tuple[dict[str, Any], str]:
    """(what the key hashes, the key) for one clip request."""
    key_inputs = clip_key_inputs(video, req, frame, stretched)
    return key_inputs, request_key(video.provider, video.model, key_inputs, req.seed)


def clip_is_current(rt: Runtime, scene: Scene, models: Sequence[str] | None = None) -> bool:
    """Whether the chosen clip answers the scene as it is now, on one of `models` (default:
    the project's video model): same frame, same request, same seed. A presenter scene:
    its shot as the scene is now, on its presenter model. A clip the user imported is
    always current: it answers the scene because the user said so (generate/imports.py)."""
    if scene.clip is not None and scene.clip.ok and scene.clip.provider == IMPORT_PROVIDER:
        return True
    if scene.kind == "presenter":
        return presenter_phase.presenter_is_current(rt, scene)
    take, frame = scene.clip, scene.frame
    if take is not None and take.ok and "lip_sync" in take.inputs:
        # A lip-synced clip is as current as the clip it was made from (generate/lipsync.py).
        with contextlib.suppress(KeyError):
            take = scene.take(str(take.inputs["lip_sync"].get("from_take")))
    if take is None or not take.ok or frame is None or not frame.ok:
        return False
    if take.model not in (models or [rt.providers.video.model]):
        return False
    try:
        video = rt.providers.video_for(take.model)
        _inputs, key = clip_key(video, clip_request(rt, scene, take.model), frame,
                                stretch_to(rt, scene, take.model))
    except InvalidInput:  # the model cannot make this scene (or is gone): not current
        return False
    return take.key == key


def remarked_clip(rt: Runtime, scene: Scene) -> bool:
    """Whether the chosen clip is a local animatic that answers the scene as it is now but
    for the marks of its frame: the frame was redrawn for the finishing (see
    `storyboard.refresh_marks`) and nothing else about the scene or the clip changed."""
    from nbvideo.plan.storyboard import unmarked

    clip, frame = scene.clip, scene.frame
    presenter = scene.kind == "presenter"
    if presenter and (scene.presenter is None or scene.presenter.background != "frame"):
        return False  # a presenter over a colour does not show the frame
    if clip is not None and clip.provider == "local" and "lip_sync" in clip.inputs:
        clip = lip_sync_source(scene, clip)  # an offline lip sync of a remarked animatic
    if (clip is None or not clip.ok or clip.provider != "local" or frame is None
            or not frame.ok or clip.inputs.get("frame_sha256") == frame.checksum):
        return False
    source = next((t for t in scene.frame_takes
                   if t.ok and t.checksum == clip.inputs.get("frame_sha256")), None)
    if (source is None or (source.provider, source.model, source.seed)
            != (frame.provider, frame.model, frame.seed)
            or unmarked(source.inputs) != unmarked(frame.inputs)):
        return False
    now = (presenter_phase.presenter_inputs(presenter_phase.presenter_request(rt, scene), scene)
           if presenter else clip_inputs(clip_request(rt, scene), frame))
    return clip.seed == scene.clip_seed and {k: v for k, v in clip.inputs.items()
                                             if k != "frame_sha256"} == {
        k: v for k, v in now.items() if k != "frame_sha256"}


def retryable(exc: BaseException) -> bool:
    """Worth another prediction on the same model: it failed while running, or the API was
    briefly unavailable. A refusal (4xx), a timeout or an unusable output moves on instead,
    and so does a create whose answer was lost (marked not transient): it may have made a
    paid job, and another create could pay twice."""
    if isinstance(exc, PredictionFailed):
        return True
    return isinstance(exc, ProviderAPIError) and exc.transient and (
        exc.status is None or exc.status == 429 or exc.status >= 500)


class ClipFailed(ProviderError):
    """Every model in a scene's chain failed; the message lists each attempt."""


async def make_clip(rt: Runtime, scene_id: str, job: Job[Any] | None = None,
                    budgets: Sequence[Budget] = (), chain: Sequence[str] | None = None,
                    retries: int = 2, timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[Take, bool]:
    """Bring one scene's clip up to date on the first model of `chain` that succeeds.

    Each model gets up to 1 + `retries` predictions for failures worth retrying; then the
    scene moves to the next model, at once when the ledger shows the model unhealthy (it
    failed for other scenes too). Every attempt is a take and a ledger row of its own."""
    chain = list(chain or [rt.providers.video.model])
    tried: list[str] = []
    for i, model in enumerate(chain):
        for attempt in range(1 + max(0, retries)):
            video = rt.providers.video_for(model)
            try:
                with _attempt(rt, model, asyncio.Event()):
                    take, hit = await _make_any(rt, video, scene_id, job, budgets, timeout_s,
                                                may_abandon=i + 1 < len(chain))
                return await _quality_gate(rt, video, scene_id, take, hit, job, budgets,
                                           timeout_s)
            except CreateMayExist as exc:  # another create, here or elsewhere, may pay twice
                tried.append(f"{model}: {exc}; not retried and no fallback for this scene "
                             "(run it again to try again)")
                raise ClipFailed(f"scene {scene_id}: " + " | ".join(tried)) from None
            except ProviderError as exc:
                tried.append(f"{model}: {exc}")
                if not retryable(exc) or attempt == retries:
                    break
                if i + 1 < len(chain):
                    await _siblings_settle(rt, model, retry_wait_s(rt, model))
                why = _failing(rt, model) if i + 1 < len(chain) else None
                if why is not None:  # the ledger says it is down, not unlucky: move on now
                    tried.append(f"{model}: not retried, {why}")
                    break
                if job is not None:
                    job.emit(scene_id, "starting", f"retry {attempt + 1} of {retries} on {model}")
        if i + 1 < len(chain) and job is not None:
            job.emit(scene_id, "starting", f"{model} failed; falling back to {chain[i + 1]}")
    raise ClipFailed(f"scene {scene_id}: " + " | ".join(tried))


RETRY_WAIT_SHARE = 0.1
RETRY_WAIT_MIN_S = 1.0
RETRY_WAIT_MAX_S = 10.0


@contextlib.contextmanager
def _attempt(rt: Runtime, model: str, done: asyncio.Event) -> Iterator[None]:
    """Mark one prediction on `model` under way until it ends (its ledger row written)."""
    flights = rt.attempts.setdefault(model, set())
    flights.add(done)
    try:
        yield
    finally:
        done.set()
        flights.discard(done)


def retry_wait_s(rt: Runtime, model: str) -> float:
    """The longest a failed scene waits for its siblings on `model` before retrying: a tenth
    of the model's typical latency (a retry costs that much again), within bounds."""
    typical = rt.providers.typical_latency_s(model) or 0.0
    return min(RETRY_WAIT_MAX_S, max(RETRY_WAIT_MIN_S, RETRY_WAIT_SHARE * typical))


async def _siblings_settle(rt: Runtime, model: str, timeout_s: float) -> None:
    """Wait (up to `timeout_s`) for the other predictions under way on `model` to end.

    When a model is down, the scenes sent to it together fail within moments of each other;
    once they have, the ledger holds their failures and `_failing` says the model is down,
    so no scene pays for a retry on it. A healthy sibling still running only costs the wait.
    """
    others = [e.wait() for e in rt.attempts.get(model, ()) if not e.is_set()]
    if others:
        tasks = [asyncio.ensure_future(w) for w in others]
        try:
            await asyncio.wait(tasks, timeout=timeout_s)
        finally:
            for t in tasks:
                t.cancel()


def _failing(rt: Runtime, model: str) -> str | None:
    """Why `model` is unhealthy by the ledger (generate/health.py), or None. Scenes failing
    at once on one model all fill the ledger, so a model that is down costs each scene one
    failed prediction, not 1 + retries, before it falls back."""
    return unhealthy_models(rt.ledger.health_rows()).get(model)


def qa_expectation(rt: Runtime, video: Any, scene: Scene) -> Expectation:
    """What the clip should be: the length the model makes for this scene, the request's
    size, sound where the model promises it, motion unless it is a still by design."""
    spec = get_model(video.model)
    if scene.kind == "presenter":  # conformed to the scene, with its line as sound
        w, h = frame_size(rt.state.brief.aspect, rt.state.brief.resolution)
        return Expectation(duration_s=scene.duration_s, width=w, height=h, audio=True,
                           motion=True)
    req = clip_request(rt, scene, video.model)
    return Expectation(duration_s=stretch_to(rt, scene, video.model)
                       or generated_duration(spec, req.duration_s), width=req.width,
                       height=req.height, audio=spec.audio,
                       motion=not (spec.provider == "local" and scene.camera == "static"))


async def check_clip(rt: Runtime, video: Any, scene_id: str, take: Take, force: bool = False
                     ) -> QAResult | None:
    """QA one clip take (once: a reused take keeps its result) and record it on the take.
    The policy 'off' skips it unless `force`."""
    if (rt.state.qa_policy.mode == "off" and not force) or take.path is None:
        return None
    if take.qa is not None:
        return take.qa
    with rt.guard:
        want = qa_expectation(rt, video, rt.state.scene(scene_id))
        path = rt.store.path(take.path)
    result = await asyncio.to_thread(inspect_clip, path, want)
    with rt.guard:
        rt.state.scene(scene_id).take(take.id).qa = result
        rt.save()
    return result


async def _quality_gate(rt: Runtime, video: Any, scene_id: str, take: Take, hit: bool,
                        job: Job[Any] | None, budgets: Sequence[Budget], timeout_s: float
                        ) -> tuple[Take, bool]:
    """Check the clip; under the 'retry' policy make new takes (a new seed each, within the
    budgets) until one passes or the retries run out. The last take stays current either
    way; a clip that still fails carries its QA problems (see `p.qa`)."""
    policy = rt.state.qa_policy
    result = await check_clip(rt, video, scene_id, take)
    tries = 0
    while (result is not None and not result.passed and policy.mode == "retry"
           and tries < policy.retries):
        tries += 1
        if job is not None:
            job.emit(scene_id, "starting", f"QA failed ({'; '.join(result.problems)[:120]}); "
                                           f"new take {tries} of {policy.retries}")
        with rt.guard:
            rt.state.scene(scene_id).clip_seed += 1
            rt.save()
        try:
            take, hit = await _make_any(rt, video, scene_id, job, budgets, timeout_s)
        except BudgetExceeded as exc:
            log.warning("scene %s: no QA retry: %s", scene_id, exc)
            with rt.guard:  # the take we keep answers the scene's seed again
                rt.state.scene(scene_id).clip_seed -= 1
                rt.save()
            break
        result = await check_clip(rt, video, scene_id, take)
    if result is not None and not result.passed:
        log.warning("scene %s: clip %s fails QA: %s", scene_id, take.id,
                    "; ".join(result.problems))
    return rt.state.scene(scene_id).take(take.id), hit


async def _make_any(rt: Runtime, video: Any, scene_id: str, job: Job[Any] | None,
                    budgets: Sequence[Budget], timeout_s: float, may_abandon: bool = False
                    ) -> tuple[Take, bool]:
    """A presenter scene's shot (generate/presenter.py), else a clip from the frame."""
    with rt.guard:
        presenter = rt.state.scene(scene_id).kind == "presenter"
    if presenter:
        return await presenter_phase.make_presenter(rt, scene_id, job, budgets, timeout_s)
    return await _make_on(rt, video, scene_id, job, budgets, timeout_s, may_abandon)


START_BY_SHARE = 0.45
"""A prediction still waiting to start (queued, or its engine booting) when this share of
the time it should take in all has passed cannot finish on time: with a fallback to go to,
it is canceled before it runs (a prediction that never ran makes no output to bill) and the
scene moves on. Checked at each status answer, so the poller's probe at half the expected
time is where a queue shows."""


class NotStarted(ProviderError):
    """A prediction was abandoned in the queue for a model that can start now."""


def start_by_s(rt: Runtime, model: str, seconds: float) -> float | None:
    """When a prediction of `seconds` of clip on `model` should be running, or None."""
    typical = rt.providers.typical_latency_s(model)
    return START_BY_SHARE * typical * max(1.0, seconds / 5.0) if typical else None


class _StartBy(UnitEvents):
    """A clip's events, and NotStarted from a status answer that is still "starting" past
    `start_by` seconds (None: never)."""

    def __init__(self, job: Job[Any] | None, unit: str, model: str, start_by: float | None
                 ) -> None:
        super().__init__(job, unit)
        self.model, self.start_by = model, start_by

    def ticket(self, ticket: Any) -> None:
        super().ticket(ticket)
        age = ticket.age_s()
        if self.start_by is not None and ticket.status == "starting" and age is not None \
                and age >= self.start_by:
            raise NotStarted(f"{self.model} prediction {ticket.id} had not started after "
                             f"{age:.3g} s (it should take "
                             f"{self.start_by / START_BY_SHARE:.3g} s in all); canceled before "
                             "it ran, so nothing was billed")


async def _make_on(rt: Runtime, video: Any, scene_id: str, job: Job[Any] | None,
                   budgets: Sequence[Budget], timeout_s: float, may_abandon: bool = False
                   ) -> tuple[Take, bool]:
    """One model's go at a scene: reuse, resume an in-flight prediction, or generate.
    With `may_abandon` (the scene has another model to go to) a prediction that has not
    started by `start_by_s` is canceled and NotStarted raised."""
    with rt.guard:
        scene = rt.state.scene(scene_id)
        req = clip_request(rt, scene, video.model)
        stretched = stretch_to(rt, scene, video.model)
        frame = scene.frame
        assert frame is not None
        inputs = clip_inputs(req, frame, stretched)
        key_inputs, key = clip_key(video, req, frame, stretched)
        flying = [t for t in in_flight(scene, "clip") if t.key == key]
        spec = get_model(video.model)
        if stretched is None:
            _gen, usage, _note = clip_estimate(spec, scene, rt.state.brief.resolution)
        else:  # priced at the length it is made at
            usage = price(spec, resolution=rt.state.brief.resolution, seconds=req.duration_s)

    events = _StartBy(job, scene_id, video.model,
                      start_by_s(rt, video.model, req.duration_s) if may_abandon else None)

    async def run(out: Path, pending: Pending) -> MediaResult:
        if stretched is None:
            return await make(out, pending)
        made = out.with_name(f".{out.stem}.made{out.suffix}")
        try:  # made at the shorter length, then slowed to fill the scene
            res = await make(made, pending)
            await asyncio.to_thread(stretch_clip, made, out, stretched, fps=req.fps)
        finally:
            made.unlink(missing_ok=True)
        return res.model_copy(update={"path": out, "duration_s": stretched, "fps": req.fps})

    async def make(out: Path, pending: Pending) -> MediaResult:
        if not isinstance(video, RemoteVideoModel):
            events("processing")
            return await video.clip(req, out)
        ticket = await submit_and_wait(video, req, pending, events, timeout_s)
        return await video.fetch(ticket, out)

    check = getattr(video, "preflight", None)
    return await produce(rt, scene_id=scene_id, kind="clip", provider=video.provider,
                         model=video.model, inputs=inputs, seed=req.seed, run=run,
                         estimate_usd=usage.cost_usd, budgets=[rt.budget, *budgets],
                         resume=flying[-1] if flying else None, key_inputs=key_inputs,
                         preflight=(lambda: check(req, rt.schemas)) if check else None)


def _require_keys(rt: Runtime, scene_ids: Sequence[str], chains: dict[str, list[str]]) -> None:
    """MissingKey now, in the caller's cell, for a scene whose first model is paid and has
    no take for this exact request yet (a reused take needs no key)."""
    for sid in scene_ids:
        video = rt.providers.video_for(chains[sid][0])
        if getattr(video, "check_key", None) is None:
            continue
        scene = rt.state.scene(sid)
        frame = scene.frame
        if scene.kind == "presenter":
            if presenter_phase.presenter_is_current(rt, scene):
                continue
        elif frame is not None and frame.ok:
            _inputs, key = clip_key(video, clip_request(rt, scene, video.model), frame,
                                    stretch_to(rt, scene, video.model))
            if cached_take(scene, "clip", key, rt.store) is not None:
                continue
        video.check_key()


def start_clip_job(rt: Runtime, chains: dict[str, list[str]], name: str = "clips",
                   budget_usd: float | None = None, retries: int = 2,
                   timeout_s: float = DEFAULT_TIMEOUT_S) -> Job[list[Take]]:
    """Start making clips for each scene id in `chains` (its models, first choice first);
    returns at once with a Job showing tqdm progress.

    `budget_usd` caps what this job may spend, on top of the project's own budget."""
    scene_ids = list(chains)
    with rt.guard:
        for sid in scene_ids:  # fail now, in the caller's cell, not later in the background
            scene = rt.state.scene(sid)
            if scene.kind == "presenter":
                presenter_phase.check_presenter_model(rt, scene)
                presenter_phase.presenter_request(rt, scene)
            else:
                clip_request(rt, scene)
        _require_keys(rt, scene_ids, chains)
    job: Job[list[Take]] = Job(name, total=len(scene_ids))
    bar = tqdm(total=len(scene_ids), desc=name, unit="clip", leave=True)
    firsts = [rt.providers.video_for(chains[sid][0]) for sid in scene_ids]
    if all(isinstance(v, RemoteVideoModel) for v in firsts):
        # Remote clips mostly wait: submit them all at once; each provider limits its own
        # concurrent HTTP requests (spec.max_concurrency).
        limit = REMOTE_IN_FLIGHT
    else:  # local renders are CPU-bound: one per core (of this process's share) at most
        local = [get_model(v.model).max_concurrency for v in firsts
                 if not isinstance(v, RemoteVideoModel)]
        limit = max(1, min(*local, local_render_slots()))
    call_budget = Budget("budget of this call", budget_usd, lambda: 0.0, counts_own_calls=True)
    for sid in scene_ids:
        job.emit(sid, "queued")

    async def one(sid: str) -> Take:
        try:
            take, hit = await make_clip(rt, sid, job, [call_budget], chains[sid], retries,
                                        timeout_s)
        except asyncio.CancelledError:
            job.emit(sid, "canceled")
            raise
        except Exception as exc:
            job.emit(sid, "failed", str(exc)[:200])
            raise
        qa = take.qa
        job.emit(sid, "cached" if hit else "succeeded",
                 f"QA: {'; '.join(qa.problems)}"[:200] if qa is not None and not qa.passed else "")
        bar.update(1)
        return take

    async def run_all() -> list[Take]:
        try:
            results = await gather_limited([lambda s=sid: one(s) for sid in scene_ids], limit)
        finally:
            bar.close()
        ScenesFailed.raise_for([(sid, r) for sid, r in zip(scene_ids, results, strict=True)
                                if isinstance(r, BaseException)], len(scene_ids), "clip")
        return [r for r in results if isinstance(r, Take)]

    return job.start(run_all())
