"""Presenter scenes: an avatar says the scene's voice line, made as the scene's clip take.

A presenter scene goes through the clips phase like any other (one take per request key,
reused when nothing changed, priced through the money gate, an in-flight remote video saved
on its take before waiting so a reopened project resumes it), but its request is a
`PresenterRequest` and its model is a catalog presenter model: the scene's own
`presenter.model`, else HeyGen where the project has it, else the offline presenter. Routing
never sends b-roll to a presenter model, nor a presenter scene to a b-roll model.

A remote presenter video is as long as its speech; it is conformed here to exactly the
scene's duration, size and fps (padded by holding the last frame, or cut), so presenter
takes place on the timeline like every other clip. Its audio stays in the take: the export
places it under the scene (render/finishing.py) instead of a voice-over line.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nbvideo.errors import InvalidInput, PhaseNotReady, quote
from nbvideo.media.threads import encoder_threads
from nbvideo.model.state import Presenter, Scene, Take, frame_size
from nbvideo.plan.estimate import clip_estimate
from nbvideo.providers import lifecycle
from nbvideo.providers.base import (
    MediaResult,
    PresenterRequest,
    ProviderError,
    RemoteVideoModel,
)
from nbvideo.providers.catalog import get_model
from nbvideo.runtime.budget import Budget
from nbvideo.runtime.context import Pending, Runtime, in_flight, produce, request_key
from nbvideo.runtime.jobs import Job, UnitEvents
from nbvideo.runtime.remote import submit_and_wait

LOCAL = "local-presenter"
HEYGEN = "heygen-avatar"


def settings(scene: Scene) -> Presenter:
    return scene.presenter or Presenter()


def presenter_model_name(rt: Runtime, scene: Scene) -> str:
    """The scene's presenter model: its own choice, else HeyGen where the project has it,
    else the offline presenter."""
    chosen = settings(scene).model
    if chosen:
        return chosen
    return HEYGEN if "heygen" in rt.providers.vendors else LOCAL


def check_presenter_model(rt: Runtime, scene: Scene) -> str:
    """The presenter model for `scene`, checked: a presenter model this project can use,
    not shut down. Errors name the field and what is allowed."""
    name = presenter_model_name(rt, scene)
    spec = get_model(name)
    if not spec.presenter:
        from nbvideo.providers.catalog import models

        usable = [m.id for m in models("video") if m.presenter]
        raise InvalidInput(f"presenter.model={quote(name)} is not a presenter model; presenter "
                           f"models: {', '.join(usable)}")
    if spec.provider not in rt.providers.vendors:
        raise InvalidInput(f"presenter.model={quote(name)} is a {spec.provider} model; open the "
                           f"project with providers including {spec.provider!r} (now "
                           f"{rt.providers.name!r}) or use 'local-presenter'")
    lifecycle.check(name)
    return name


def presenter_request(rt: Runtime, scene: Scene) -> PresenterRequest:
    """The request for a presenter scene as it is now."""
    ps = settings(scene)
    st = rt.state
    frame_path = None
    if ps.background == "frame":
        frame = scene.frame
        if frame is None or not frame.ok or frame.path is None:
            raise PhaseNotReady(f"scene {scene.id} is a presenter over its frame and has no "
                                "frame yet; run p.storyboard(), or give it a colour "
                                "background: p.scene(n).present(background='#223344')")
        frame_path = rt.store.path(frame.path)
    palette = list(st.look.palette) if st.look is not None and st.look.palette else list(st.palette)
    w, h = frame_size(st.brief.aspect, st.brief.resolution)
    return PresenterRequest(text=scene.voice_line.strip(), voice=ps.voice, avatar=ps.avatar,
                            background=ps.background, frame_path=frame_path, palette=palette,
                            duration_s=scene.duration_s, fps=st.brief.fps, width=w, height=h,
                            seed=scene.clip_seed)


def presenter_inputs(req: PresenterRequest, scene: Scene) -> dict[str, Any]:
    """What the take keeps and the key hashes: the request, the frame by checksum."""
    data = req.model_dump(mode="json", exclude={"seed", "frame_path"})
    data["kind"] = "presenter"
    frame = scene.frame
    data["frame_sha256"] = frame.checksum if req.background == "frame" and frame else None
    return data


def presenter_key(model: str, provider: str, req: PresenterRequest, scene: Scene
                  ) -> tuple[dict[str, Any], str]:
    inputs = presenter_inputs(req, scene)
    return inputs, request_key(provider, model, inputs, req.seed)


def presenter_is_current(rt: Runtime, scene: Scene) -> bool:
    """Whether the chosen clip is this presenter scene's shot as the scene is now."""
    take = scene.clip
    if take is None or not take.ok:
        return False
    try:
        model = presenter_model_name(rt, scene)
        spec = get_model(model)
        req = presenter_request(rt, scene)
    except (InvalidInput, PhaseNotReady):
        return False
    return take.model == model and take.key == presenter_key(model, spec.provider, req, scene)[1]


def presenter_estimate(rt: Runtime, scene: Scene, model: str) -> float:
    """What the money gate reserves: the estimate's upper bound (plan/estimate.py)."""
    return clip_estimate(get_model(model), scene, rt.state.brief.resolution)[1].cost_usd


def conform(src: Path, out: Path, req: PresenterRequest) -> None:
    """`src` as exactly the scene's shot: size (cover-cropped), fps, duration (the last frame
    held or the rest cut), H.264 + AAC 48 kHz mono. Blocking; writes `out` atomically."""
    from nbvideo.media.ffmpeg import RGB_TO_BT709, TAG_BT709, FFmpegError, ffmpeg_exe

    w, h, d = req.width, req.height, req.duration_s
    n = round(d * req.fps)
    tmp = out.with_name(f".{out.name}.conform.part")
    vf = (f"scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},fps={req.fps},"
          f"tpad=stop_mode=clone:stop_duration={d:.3f},{RGB_TO_BT709},{TAG_BT709}")
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(src),
           "-map", "0:v:0", "-map", "0:a:0?", "-vf", vf, "-af", "apad", "-frames:v", str(n),
           "-t", f"{n / req.fps:.6f}", "-c:v", "libx264", "-preset", "superfast", "-crf", "20",
           *encoder_threads(), "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
           "-ar", "48000", "-ac", "1",
           "-movflags", "+faststart", "-f", "mp4", str(tmp)]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise FFmpegError(proc.returncode, proc.stderr.decode(errors="replace").splitlines()[-10:],
                          cmd, step="presenter conform")
    tmp.replace(out)


async def make_presenter(rt: Runtime, scene_id: str, job: Job[Any] | None,
                         budgets: Sequence[Budget], timeout_s: float) -> tuple[Take, bool]:
    """A presenter scene's shot: reuse the take for this request, resume its in-flight
    remote video, or make it (through the money gate)."""
    with rt.guard:
        scene = rt.state.scene(scene_id)
        model = check_presenter_model(rt, scene)
        video = rt.providers.video_for(model)
        req = presenter_request(rt, scene)
        inputs, key = presenter_key(model, video.provider, req, scene)
        flying = [t for t in in_flight(scene, "clip") if t.key == key]
        estimate = presenter_estimate(rt, scene, model)

    events = UnitEvents(job, scene_id)

    async def run(out: Path, pending: Pending) -> MediaResult:
        if not isinstance(video, RemoteVideoModel):
            events("processing")
            return await video.clip(req, out)  # type: ignore[arg-type]
        # HeyGen cannot stop a render: its cancel deletes the video. Its create takes an
        # Idempotency-Key (the take's request hash): a lost answer is retried, not repaid.
        ticket = await submit_and_wait(video, req, pending, events, timeout_s, noun="video",
                                       still="rendering", stopped="deleted",
                                       idempotent=video.provider == "heygen")
        raw = out.with_name(f".{out.stem}.raw.mp4")
        try:
            got = await video.fetch(ticket, raw)
            try:
                await asyncio.to_thread(conform, raw, out, req)
            except Exception as exc:
                err = ProviderError(f"{video.model} video {ticket.id} could not be fitted to "
                                    f"the scene: {exc}")
                err.usage = got.usage  # it was made, so it was billed
                raise err from None
        finally:
            raw.unlink(missing_ok=True)
        return got.model_copy(update={"path": out, "width": req.width, "height": req.height,
                                      "duration_s": round(req.duration_s * req.fps) / req.fps,
                                      "fps": float(req.fps)})

    return await produce(rt, scene_id=scene_id, kind="clip", provider=video.provider,
                         model=video.model, inputs=inputs, seed=req.seed, run=run,
                         estimate_usd=estimate, budgets=[rt.budget, *budgets],
                         resume=flying[-1] if flying else None)
