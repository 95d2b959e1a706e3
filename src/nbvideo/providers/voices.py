"""Our voice names, and what each voice model speaks them with.

A project picks one voice by our name ("narrator-f", "warm", ...) so the same notebook works
offline (espeak-ng) and with OpenAI, and switching models keeps the character of the read.
The table is data: add a row to offer another voice.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from nbvideo.errors import InvalidInput

__all__ = ["DEFAULT_VOICE", "ELEVENLABS_VOICE_ID", "OPENAI_VOICES", "VOICES", "Voice", "estimate_seconds", "get_voice"]


class Voice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str
    espeak: str = Field(description="espeak-ng voice+variant, e.g. 'en-us+f3'.")
    espeak_pitch: int = Field(50, ge=0, le=99)
    espeak_wpm: int = Field(160, ge=80, le=450, description="Words per minute at speed 1.")
    openai: str = Field(description="OpenAI built-in voice.")
    instructions: str = Field("", description="Direction for OpenAI models that take it.")
    elevenlabs: str = Field("", description="ElevenLabs default ('premade') voice id.")


VOICES: dict[str, Voice] = {v.name: v for v in (
    Voice(name="narrator-f", title="Clear female narrator", espeak="en-us+f3", espeak_pitch=55,
          espeak_wpm=160, openai="coral",
          instructions="A clear, confident narrator reading a short video ad. Even pace.",
          elevenlabs="EXAVITQu4vr4xnSDxMaL"),
    Voice(name="narrator-m", title="Clear male narrator", espeak="en-us+m3", espeak_pitch=40,
          espeak_wpm=155, openai="onyx",
          instructions="A clear, grounded narrator reading a short video ad. Even pace.",
          elevenlabs="pNInz6obpgDQGcFmaJgB"),
    Voice(name="warm", title="Warm and unhurried", espeak="en-gb+f2", espeak_pitch=45,
          espeak_wpm=145, openai="sage",
          instructions="Warm, friendly and unhurried, as if talking to one person.",
          elevenlabs="pFZP5JQG7iQjIQuC4Bku"),
    Voice(name="bright", title="Bright and upbeat", espeak="en-us+f4", espeak_pitch=68,
          espeak_wpm=175, openai="nova",
          instructions="Bright, upbeat and energetic, smiling while speaking.",
          elevenlabs="FGY2WhTYpPnrIDTdsKH5"),
)}
# ElevenLabs default voices (category "premade" in the API; elevenlabs.io/docs "Default
# voices": long-term availability, on every account), chosen to keep each read's character:
# narrator-f Sarah (American, confident), narrator-m Adam (American, deep, professional),
# warm Lily (British, warm, like the en-gb espeak voice), bright Laura (American, upbeat,
# social media). Ids as listed by GET /v2/voices?category=premade (read 2026-12-05 from the
# voice tables in github.com/vellum-ai/vellum-assistant skills/elevenlabs-voice/SKILL.md).
DEFAULT_VOICE = "narrator-f"

OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage",
                 "shimmer", "verse", "marin", "cedar")
"""OpenAI's built-in voices, also accepted by name by the OpenAI voice model."""


ELEVENLABS_VOICE_ID = re.compile(r"^[A-Za-z0-9]{20}$")
"""The shape of an ElevenLabs voice id (the account's own or library voices are named by it)."""


def get_voice(name: str) -> Voice:
    """The voice called `name`, or an InvalidInput that lists the voices there are."""
    try:
        return VOICES[name]
    except KeyError:
        raise InvalidInput(f"voice {name!r} is not known; voices: {', '.join(VOICES)}") \
            from None


_WORD = re.compile(r"[\w'’-]+")


def estimate_seconds(text: str, voice: str = DEFAULT_VOICE, speed: float | None = None) -> float:
    """About how long `text` takes to say, from the voice's words per minute.

    For warning about a line that will not fit its scene before paying for speech; the
    spoken file's own length is what `line_overruns` checks at export.
    """
    words = len(_WORD.findall(text))
    pauses = text.count(",") * 0.15 + sum(text.count(p) for p in ".!?;:") * 0.3
    wpm = get_voice(voice).espeak_wpm * (speed or 1.0)
    return round(words * 60 / wpm + pauses, 3)

