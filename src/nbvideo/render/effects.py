"""The sound of an item with time effects, as the export hears it: the item's own audio
(a scene's clip on the "clips" track, a presenter's line, an overlay clip with sound)
played backwards, at its speed or ramp with the pitch kept, silent while a frame is held.

Made once per (file, window, effects, fps) under assets/voice/effects/ (like the presenter's
extracted lines), so a re-export reads it back and the soundtrack's cache key, which names
the files it mixes, stays stable.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from nbvideo.media.effects import effect_sound
from nbvideo.model.effects import Effects
from nbvideo.render.mezzanine import file_digest
from nbvideo.runtime.context import Runtime, canonical

__all__ = ["effected_sound"]


def effected_sound(rt: Runtime, src: Path, start_s: float, source_s: float,
                   fx: Effects) -> Path:
    """A mono WAV of `src`'s sound from `start_s` for `source_s` source seconds, as `fx`
    plays it: exactly `fx.frames(source_s, fps)` frames long."""
    fps = rt.state.brief.fps
    what = {"src": file_digest(src), "start": round(start_s, 6), "s": round(source_s, 6),
            "fx": fx.model_dump(mode="json", include={"speed", "ramp", "reverse", "freeze"}),
            "fps": fps}
    key = hashlib.sha256(canonical(what).encode()).hexdigest()[:16]
    out = rt.store.path(f"assets/voice/effects/{key}.wav")
    if not out.is_file():
        effect_sound(src, out, start_s, source_s, fx, fps)
    return out
