"""What a spoken line carries besides its audio: how the voice was tuned, and when each word
is said.

Word timings are kept with every voice line (a sidecar beside its WAV) so captions can
follow the voice word by word. A voice model that reports them (ElevenLabs' character
alignment) gives `timings="provider"`; for one that does not (espeak-ng, OpenAI) they are
estimated from the audio's loudness and marked `"estimated"`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["LineWords", "SPEED_RANGE", "Timings", "VoiceSettings", "WordTiming"]

Timings = Literal["provider", "estimated"]

SPEED_RANGE = (0.7, 1.2)
"""The speeds ElevenLabs takes in voice_settings (elevenlabs.io/docs voice settings; the
replicate.com/elevenlabs/flash-v2.5 schema: min 0.7, max 1.2). The finishing setting keeps to
it for every voice model, so switching models never turns a saved speed into an error."""


class WordTiming(BaseModel):
    """One word of a spoken line: seconds from the start of the line's audio."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    word: str = Field(min_length=1, max_length=200)
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> WordTiming:
        if self.end_s < self.start_s:
            raise ValueError(f"word {self.word!r} ends ({self.end_s}) before it starts "
                             f"({self.start_s})")
        return self


class LineWords(BaseModel):
    """The word timings kept beside one voice line's WAV (its `.words.json` sidecar)."""

    model_config = ConfigDict(extra="forbid")

    text: str
    duration_s: float = Field(ge=0)
    timings: Timings
    words: list[WordTiming] = Field(default_factory=list)


class VoiceSettings(BaseModel):
    """How the voice reads: `speed` for every voice model; the rest for models that take
    them (ElevenLabs: stability, similarity_boost, style, use_speaker_boost). None keeps the
    voice's own setting. Ranges are ElevenLabs' (VoiceSettings in the elevenlabs SDK;
    elevenlabs.io/docs/api-reference/voices/settings): 0 to 1, speed 0.7 to 1.2."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stability: float | None = Field(None, ge=0, le=1, description=(
        "Lower: a broader emotional range; higher: steadier, flatter."))
    similarity_boost: float | None = Field(None, ge=0, le=1, description=(
        "How closely the read keeps to the original voice."))
    style: float | None = Field(None, ge=0, le=1, description=(
        "Style exaggeration; 0 is the voice as it is (and the fastest)."))
    use_speaker_boost: bool | None = Field(None, description=(
        "Boost likeness to the original speaker (a little slower)."))
    speed: float | None = Field(None, ge=SPEED_RANGE[0], le=SPEED_RANGE[1], description=(
        "Pace: 1 is the voice's own, 0.7 to 1.2."))

    def given(self) -> dict[str, float | bool]:
        """The settings that were set (what a request sends)."""
        return self.model_dump(exclude_none=True)
