"""`p.lip_sync`: a scene's clip made to say its voice line (spoken by the export's voice, or
recorded by the user), as a new selected clip take that the export then hears from; a Job,
like the other phase calls that make paid media.

Here because the line is the export's own: spoken by `finishing.speak_line` (same request,
same cached WAV, same ledger rows as an export would make) and placed `VOICE_LEAD_S` into the
scene, where the export lays every voice line; the clip work itself is generate/lipsync.py.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from nbvideo.errors import InvalidInput, quote
from nbvideo.generate import lipsync as lips
from nbvideo.model.checked import ClipOptions
from nbvideo.model.state import Take
from nbvideo.providers.catalog import get_model
from nbvideo.render.finishing import VOICE_LEAD_S, speak_line
from nbvideo.runtime.budget import Budget
from nbvideo.runtime.context import Runtime
from nbvideo.runtime.jobs import Job
from nbvideo.runtime.remote import DEFAULT_TIMEOUT_S
from nbvideo.sound.recorded import take_in


def lip_sync(rt: Runtime, scene_id: str, voice: str | os.PathLike[str] = "line", *,
             model: str | None = None, budget_usd: float | None = None,
             timeout_s: float = DEFAULT_TIMEOUT_S) -> Job[Take]:
    """Start lip-syncing one scene's chosen clip to `voice`; returns a Job at once, whose
    result is the new (or reused) take, chosen when it is made.

    Everything that can be refused (the model, the budget, no clip, a line that does not
    fit) is refused here, in the caller's cell, and the line is spoken (or the recording
    taken in) before the job starts; only the lip sync itself runs in the background, so
    `job.cancel()` cancels its remote prediction.

    `voice`: "line" (the scene's voice_line, spoken by the voice-over's voice) or the path of
    a recorded WAV/MP3/M4A. `model`: a catalog lip-sync model (default: lipsync-2 with
    Replicate, else the offline local-lipsync). `budget_usd` caps this call."""
    name = lips.check_model(rt, model)
    opts = ClipOptions.check(budget_usd=budget_usd, timeout_s=timeout_s)  # as generate_clips'
    cap, timeout_s = opts.budget_usd, opts.timeout_s
    with rt.guard:
        scene = rt.state.scene(scene_id)
        clip = lips.source_clip(rt, scene)  # no clip yet: refused before any voice is made
        if get_model(name).provider == "local":  # no face to draw a mouth on: refused now
            lips.check_face("local", lips.face_of(rt, scene, clip)[0], scene.id, clip)
    about: dict[str, Any]
    if isinstance(voice, str) and voice == "line":
        wav, _secs = speak_line(rt, scene)
        about = {"voice": "line", "text": scene.voice_line.strip()}
        label = "voice='line'"
    elif isinstance(voice, str | os.PathLike):
        wav, kept, _secs = take_in(rt, voice)
        about = {"voice": "recorded", "recording": kept}
        label = f"voice={quote(os.fspath(voice))}"
    else:
        raise InvalidInput(f"voice: {type(voice).__name__} given; allowed: 'line' or the path "
                           "of a recorded WAV/MP3/M4A")
    with rt.guard:
        audio_rel, line_s = lips.place_line(rt, scene, clip, wav, VOICE_LEAD_S, label)
    about["line_s"] = round(line_s, 6)
    budgets = [Budget("budget of this call", cap, lambda: 0.0, counts_own_calls=True)]
    job: Job[Take] = Job(f"lip sync {scene_id}", total=1)
    job.emit(scene_id, "queued")

    async def run() -> Take:
        try:
            take, hit = await lips.make_lip_sync(rt, scene_id, audio_rel, about, name, budgets,
                                                 job, timeout_s)
        except asyncio.CancelledError:
            job.emit(scene_id, "canceled")
            raise
        except Exception as exc:
            job.emit(scene_id, "failed", str(exc)[:200])
            raise
        job.emit(scene_id, "cached" if hit else "succeeded")
        return take

    return job.start(run())
