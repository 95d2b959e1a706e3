"""API keys: read from the environment or typed in once; never written anywhere.

Keys live only in this process's memory. `redact` scrubs every known key out of a text before
it becomes an error message, a log line or a ledger note, so a provider that echoes a key back
(in a URL, a header dump or an exception) cannot leak it into the project or the notebook.
"""

from __future__ import annotations

import getpass
import os
import threading

from nbvideo.errors import NbvideoError

ENV = {"openai": "OPENAI_API_KEY", "replicate": "REPLICATE_API_TOKEN",
       "runway": "RUNWAYML_API_SECRET", "elevenlabs": "ELEVENLABS_API_KEY",
       "heygen": "HEYGEN_API_KEY"}

_typed: dict[str, str] = {}
_guard = threading.Lock()


class MissingKey(NbvideoError):
    """A paid provider was asked for without its key."""


class Secret(str):
    """A key that never shows itself in a repr or an f-string's !r."""

    def __repr__(self) -> str:
        return "Secret('***')"


def set_keys(openai: str | None = None, replicate: str | None = None, *,
             runway: str | None = None, prompt: bool = True,
             elevenlabs: str | None = None, heygen: str | None = None) -> None:
    """Give keys for this session only. With no value and prompt=True, ask without echoing
    (an empty answer skips that vendor; the ElevenLabs and HeyGen keys are asked for only by
    name). Vendors after the first two are keyword-only."""
    for vendor, value in (("openai", openai), ("replicate", replicate), ("runway", runway),
                          ("elevenlabs", elevenlabs), ("heygen", heygen)):
        if vendor in ("elevenlabs", "heygen") and value is None:
            continue
        if value is None and prompt and not get_key(vendor, required=False):
            value = getpass.getpass(f"{ENV[vendor]} (leave empty to skip): ").strip() or None
        if value:
            with _guard:
                _typed[vendor] = value.strip()


def get_key(vendor: str, required: bool = True) -> Secret | None:
    """The key for `vendor` (a name in ENV): typed in this session, else from the env."""
    if vendor not in ENV:
        raise ValueError(f"vendor must be one of {', '.join(ENV)}, got {vendor!r}")
    with _guard:
        value = _typed.get(vendor)
    value = value or os.environ.get(ENV[vendor], "").strip() or None
    if value is None and required:
        raise MissingKey(
            f"{vendor} needs an API key: set the environment variable {ENV[vendor]} "
            f"or call nbvideo.set_keys({vendor}='...') (it is kept in memory only)"
        )
    return Secret(value) if value else None


def known_keys() -> list[str]:
    with _guard:
        typed = list(_typed.values())
    env = [os.environ.get(v, "").strip() for v in ENV.values()]
    return [k for k in {*typed, *env} if len(k) >= 8]


def redact(text: str) -> str:
    """`text` with every known key replaced by '***'."""
    for key in known_keys():
        text = text.replace(key, "***")
    return text


def forget_keys() -> None:
    """Drop keys typed in this session (environment variables are left alone)."""
    with _guard:
        _typed.clear()
