"""Lip-synced scenes: a scene's clip of a person made to say a voice line, as a new clip take.

The take is made through `produce` like every clip (cache key, money gate, ledger row, the
prediction id saved before waiting, resumed by a new kernel) and selected. It records what it
was made from in `inputs["lip_sync"]`: the clip take it re-animated, the audio (generated
line or recorded file, by checksum) and the line's text. The audio sent is the line placed
as the export places a voice line (`lead_s` into the scene) and padded with silence to the
clip's length, so the synced clip carries the line at exactly the time the export would have
laid it; the export then takes that scene's line from the clip (render/finishing.py) instead
of laying it again on the voice-over track.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nbvideo.errors import InvalidInput, PhaseNotReady, quote
from nbvideo.media.audio_io import SAMPLE_RATE, read_wav, write_wav
from nbvideo.model.state import Scene, Take
from nbvideo.providers.base import LipSyncRequest, MediaResult
from nbvideo.providers.catalog import get_model, models, price
from nbvideo.runtime.budget import Budget
from nbvideo.runtime.context import Pending, Runtime, file_sha256, in_flight, produce, request_key
from nbvideo.runtime.jobs import Job, UnitEvents
from nbvideo.runtime.remote import DEFAULT_TIMEOUT_S, submit_and_wait

LIPSYNC_DIR = "assets/voice/lipsync"
FIT_SLACK_S = 0.05  # a line may end this close to the scene's end (one or two frames)


def lip_sync_source(scene: Scene, take: Take | None) -> Take | None:
    """The clip take a lip-synced take was made from (itself if it is not lip-synced)."""
    if take is None or "lip_sync" not in take.inputs:
        return take
    try:
        return scene.take(str(take.inputs["lip_sync"].get("from_take")))
    except KeyError:
        return None


def lip_synced(take: Take | None) -> bool:
    """Whether a clip take carries its scene's line in its own audio."""
    return take is not None and take.ok and "lip_sync" in take.inputs


def default_model(rt: Runtime) -> str:
    """lipsync-2 where the project has Replicate, else the offline lip sync."""
    return "lipsync-2" if "replicate" in rt.providers.vendors else "local-lipsync"


def check_model(rt: Runtime, model: str | None) -> str:
    """A lip-sync model these providers can serve, or an error naming the allowed ones."""
    name = model or default_model(rt)
    usable = [m.id for m in models("lipsync") if m.provider in rt.providers.vendors]
    try:
        spec = get_model(name)
    except InvalidInput:
        spec = None
    if spec is None or spec.kind != "lipsync" or spec.provider not in rt.providers.vendors:
        raise InvalidInput(f"model={quote(name)}: with providers {rt.providers.name!r} a lip-sync "
                           f"model is one of: {', '.join(usable)}")
    return name


def build_model(rt: Runtime, model: str) -> Any:
    """The lip-sync provider for a catalog id (paid ones ask for their key when used)."""
    spec = get_model(model)
    if spec.provider == "local":
        from nbvideo.providers.local.lipsync import LocalLipSync

        return LocalLipSync()
    from nbvideo.providers import replicate_options
    from nbvideo.providers.replicate_lipsync import ReplicateLipSync

    extra = dict(rt.providers.options.get("replicate", {}))
    return ReplicateLipSync(spec.id, key_on_use=True, **{**replicate_options(), **extra})


def source_clip(rt: Runtime, scene: Scene) -> Take:
    """The clip to re-animate: the scene's chosen clip, or the one a lip-synced choice was
    made from (so syncing again starts from the original picture, not a synced one)."""
    take = lip_sync_source(scene, scene.clip)
    if take is None or not take.ok or take.path is None or not rt.store.path(take.path).is_file():
        raise PhaseNotReady(f"scene {scene.id} has no clip yet; run p.generate_clips() before "
                            "lip-syncing it")
    return take


def face_of(rt: Runtime, scene: Scene, clip: Take) -> tuple[tuple[float, float, float, float]
                                                         | None, str]:
    """(where the face is in the clip's frame, as fractions, or None; the camera move).

    Known for a local animatic of a local storyboard frame that shows a figure: the frame
    is painted again to find the head (providers.local.frames.face_box)."""
    camera = str(clip.inputs.get("camera", scene.camera))
    if (clip.provider, clip.model) != ("local", "ffmpeg-animatic"):
        return None, camera
    frame = next((t for t in scene.frame_takes if t.ok and t.provider == "local"
                  and t.checksum == clip.inputs.get("frame_sha256")), None)
    if frame is None:
        return None, camera
    from nbvideo.providers.base import FrameRequest
    from nbvideo.providers.local.frames import face_box

    inp = dict(frame.inputs)
    if "prompt_sent" in inp:
        inp["visual_prompt"] = inp["prompt_sent"]
    fields = {k: v for k, v in inp.items() if k in FrameRequest.model_fields
              and k not in ("logo", "reference_image", "scene_number")}
    try:
        req = FrameRequest(**fields, seed=frame.seed)
    except ValueError:
        return None, camera
    box = face_box(req)
    if box is None:
        return None, camera
    # The animatic cover-crops the frame to the clip's aspect: map the box through that crop.
    cw, ch = clip.width or req.width, clip.height or req.height
    fw, fh = req.width, req.height
    if fw / fh > cw / ch:  # frame wider than the clip: its sides were trimmed
        keep = (fh * cw / ch) / fw
        x0 = (1 - keep) / 2
        box = ((box[0] - x0) / keep, box[1], (box[2] - x0) / keep, box[3])
    elif fw / fh < cw / ch:
        keep = (fw * ch / cw) / fh
        y0 = (1 - keep) / 2
        box = (box[0], (box[1] - y0) / keep, box[2], (box[3] - y0) / keep)
    return box, camera


def check_face(provider: str, face: object | None, scene_id: str, clip: Take) -> None:
    """The offline lip sync draws a mouth where the face is: refused when that is unknown."""
    if provider == "local" and face is None:
        raise InvalidInput(f"lip sync: scene {scene_id}'s clip ({clip.provider} {clip.model}) "
                           "has no known face position, so the offline lip sync cannot place "
                           "a mouth (it works on local animatics of a drawn figure); use "
                           "model='lipsync-2' with providers including 'replicate'")


def place_line(rt: Runtime, scene: Scene, clip: Take, line: Path, lead_s: float,
               label: str) -> tuple[str, float]:
    """The line `lead_s` into the clip, silence to the clip's end, as a 48 kHz mono WAV in
    the project (by content); returns (its project path, the line's own seconds).

    Refused, naming `label`, when the line does not fit the scene after its lead."""
    samples, rate = read_wav(line)
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    if rate != SAMPLE_RATE:
        raise InvalidInput(f"{label}: the line is at {rate} Hz, not the 48 kHz every voice "
                           "line is kept at")
    seconds = len(mono) / rate
    room = scene.duration_s - lead_s
    if seconds > room + FIT_SLACK_S:
        raise InvalidInput(f"{label}: the line is {seconds:.2f} s; scene {scene.id} is "
                           f"{scene.duration_s:g} s, so a line of at most {room:.2f} s fits "
                           "(it starts "
                           f"{lead_s:g} s in). Shorten the line or lengthen the scene "
                           "(p.edit_scene(..., duration_s=...))")
    clip_s = clip.duration_s or scene.duration_s
    total = max(int(round(clip_s * rate)), int(round(lead_s * rate)) + len(mono))
    placed = np.zeros(total, dtype=np.float32)
    start = int(round(lead_s * rate))
    placed[start:start + len(mono)] = mono[: total - start]
    tmp = rt.store.path(f"{LIPSYNC_DIR}/.{scene.id}-placing.wav")
    write_wav(tmp, placed)
    digest = file_sha256(tmp)
    rel = f"{LIPSYNC_DIR}/{scene.id}-{digest[:16]}.wav"
    tmp.replace(rt.store.path(rel))
    return rel, seconds


async def make_lip_sync(rt: Runtime, scene_id: str, audio_rel: str, about: dict[str, Any],
                        model: str, budgets: list[Budget] | None = None,
                        job: Job[Any] | None = None,
                        timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[Take, bool]:
    """Make (or reuse) the lip-synced take of a scene and select it. Returns (take, hit).

    `audio_rel` is the placed line (`place_line`); `about` says where it came from
    (voice "line" or "recorded", text, file name), kept on the take. Its progress goes to
    `job` as the scene's events; a prediction still running after `timeout_s` is canceled."""
    lips = build_model(rt, model)
    spec = get_model(model)
    with rt.guard:
        scene = rt.state.scene(scene_id)
        clip = source_clip(rt, scene)
        face, camera = face_of(rt, scene, clip)
        audio_path = rt.store.path(audio_rel)
        seconds = float(clip.duration_s or scene.duration_s)
        req = LipSyncRequest(video_path=rt.store.path(clip.path),  # type: ignore[arg-type]
                             audio_path=audio_path, duration_s=seconds, face_box=face,
                             camera=camera)  # type: ignore[arg-type]
    check_face(spec.provider, face, scene_id, clip)
    audio_sha = file_sha256(audio_path)
    key_inputs = {**lips.key_inputs(req), "from_sha256": clip.checksum, "audio_sha256": audio_sha}
    inputs = {"lip_sync": {"from_take": clip.id, "from_sha256": clip.checksum,
                           "audio": audio_rel, "audio_sha256": audio_sha, **about},
              "camera": camera, "duration_s": seconds}
    key = request_key(lips.provider, lips.model, key_inputs, clip.seed)
    with rt.guard:
        flying = [t for t in in_flight(rt.state.scene(scene_id), "clip") if t.key == key]
    estimate = price(spec, seconds=seconds).cost_usd

    events = UnitEvents(job, scene_id)

    async def run(out: Path, pending: Pending) -> MediaResult:
        if not hasattr(lips, "submit"):
            events("processing")
            return await lips.lip_sync(req, out)
        ticket = await submit_and_wait(lips, req, pending, events, timeout_s)
        return await lips.fetch(ticket, out, seconds)

    try:
        return await produce(rt, scene_id=scene_id, kind="clip", provider=lips.provider,
                             model=lips.model, inputs=inputs, seed=clip.seed, run=run,
                             estimate_usd=estimate, budgets=[rt.budget, *(budgets or [])],
                             resume=flying[-1] if flying else None, key_inputs=key_inputs)
    finally:
        close = getattr(lips, "aclose", None)
        if close is not None:
            await close()
