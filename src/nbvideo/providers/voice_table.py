"""`nv.voices()`: our voice names and what each voice model speaks them with, or the voices
of a vendor's account (ElevenLabs), as a DataFrame. Its own module because it reaches both
the voice table and the ElevenLabs client, which itself maps our names onto its voices."""

from __future__ import annotations

from typing import Any

from nbvideo.errors import InvalidInput
from nbvideo.providers.voices import VOICES

__all__ = ["voices_table"]


def voices_table(provider: str | None = None, *, search: str | None = None) -> Any:
    """The voices as a DataFrame. With no `provider`: our voice names, one row each, with
    what every voice model speaks them with (espeak-ng, OpenAI, ElevenLabs). With
    ``provider="elevenlabs"``: the voices of the ElevenLabs account (its default voices and its
    own: voice_id, name, category, labels, our_name where one of ours maps onto it), listed
    through the SDK (needs ELEVENLABS_API_KEY; `search` filters by name and labels). An
    ElevenLabs voice id works as ``p.finish(voice=...)`` with an ElevenLabs voice model.

    Example: ``nv.voices()``; ``nv.voices(provider="elevenlabs", search="british")``"""
    import pandas as pd

    if provider is None:
        return pd.DataFrame([{"voice": v.name, "title": v.title, "espeak": v.espeak,
                              "openai": v.openai, "elevenlabs": v.elevenlabs}
                             for v in VOICES.values()])
    if provider == "elevenlabs":
        from nbvideo.providers.elevenlabs import list_voices_sync

        return pd.DataFrame(list_voices_sync(search=search), columns=[
            "voice_id", "name", "category", "gender", "age", "accent", "use_case",
            "description", "our_name", "preview_url"])
    raise InvalidInput(f"voices: provider={provider!r}; one of None (our voice names) or "
                       "'elevenlabs' (the account's voices)")
