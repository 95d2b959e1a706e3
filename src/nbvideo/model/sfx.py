"""A sound effect placed on the film: which effect, when, how loud, how it fades.

One small record, kept on the project (`ProjectState.sound_effects`), rendered by the mix
(`nbvideo.sound.sfx.place_effects`). It is a model of its own so the multi-track timeline's
audio items can carry the same fields later, and the mix render them the same way.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from nbvideo.model.checked import Checked

__all__ = ["EFFECT_NAME", "MAX_SFX_GAIN_DB", "MIN_SFX_GAIN_DB", "SfxCue"]

EFFECT_NAME = r"^[a-z0-9][a-z0-9-]{0,39}$"
"""A built-in effect's name ("whoosh") or one the user imported: lower case, digits, dashes."""
MIN_SFX_GAIN_DB, MAX_SFX_GAIN_DB = -40.0, 12.0


class SfxCue(Checked):
    """One effect on the film. `start_s` is seconds from the film's start; `gain_db` is
    relative to the reference level (its loudest 400 ms as loud as the voice); fades linear."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    id: str = Field(pattern=r"^x[0-9a-f]{8}$")
    effect: str = Field(pattern=EFFECT_NAME, description="Built-in or imported effect name.")
    start_s: float = Field(ge=0.0, le=600.0, description="Seconds from the film's start.")
    gain_db: float = Field(0.0, ge=MIN_SFX_GAIN_DB, le=MAX_SFX_GAIN_DB)
    fade_in_s: float = Field(0.0, ge=0.0, le=30.0)
    fade_out_s: float = Field(0.0, ge=0.0, le=30.0)
