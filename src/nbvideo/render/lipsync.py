"""`p.lip_sync`: a scene's clip made to say its voice line (spoken by the export's voice, or
recorded by the user), as a new selected clip take that the export then hears from.

Here because the line is the export's own: spoken by `finishing.speak_line` (same request,
same cached WAV, same ledger rows as an export would make) and placed `VOICE_LEAD_S` into the
scene, where the export lays every voice line; the clip work itself is generate/lipsync.py.
"""

from __future__ import annotations

import os
from typing import Any

from nbvideo.errors import InvalidInput, quote
from nbvideo.generate import lipsync as lips
from nbvideo.model.checked import budget as check_budget
from nbvideo.model.state import Take
from nbvideo.render.finishing import VOICE_LEAD_S, speak_line
from nbvideo.runtime.budget import Budget
from nbvideo.runtime.context import Runtime
from nbvideo.runtime.jobs import run_sync
from nbvideo.sound.recorded import take_in


def lip_sync(rt: Runtime, scene_id: str, voice: str | os.PathLike[str] = "line", *,
             model: str | None = None, budget_usd: float | None = None) -> Take:
    """Lip-sync one scene's chosen clip to `voice`; returns the new (or reused) take.

    `voice`: "line" (the scene's voice_line, spoken by the voice-over's voice) or the path of
    a recorded WAV/MP3/M4A. `model`: a catalog lip-sync model (default: lipsync-2 with
    Replicate, else the offline local-lipsync). `budget_usd` caps this call."""
    name = lips.check_model(rt, model)
    cap = check_budget(budget_usd)
    with rt.guard:
        scene = rt.state.scene(scene_id)
        clip = lips.source_clip(rt, scene)  # no clip yet: refused before any voice is made
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
    take, _hit = run_sync(lips.make_lip_sync(rt, scene_id, audio_rel, about, name, budgets))
    return take
