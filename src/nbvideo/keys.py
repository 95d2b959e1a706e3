"""API keys and platform tokens: read from the environment, the OS keyring, or typed in once;
never written anywhere.

Keys live only in this process's memory. `redact` scrubs every known key out of a text before
it becomes an error message, a log line or a ledger note, so a provider that echoes a key back
(in a URL, a header dump or an exception) cannot leak it into the project or the notebook.
"""

from __future__ import annotations

import getpass
import ipaddress
import os
import threading
from urllib.parse import urlsplit

from nbvideo.errors import NbvideoError

ENV = {"openai": "OPENAI_API_KEY", "replicate": "REPLICATE_API_TOKEN",
       "runway": "RUNWAYML_API_SECRET", "elevenlabs": "ELEVENLABS_API_KEY",
       "heygen": "HEYGEN_API_KEY",
       # publishing platforms (deliver/platforms): OAuth tokens, not API keys
       "youtube": "NBVIDEO_YOUTUBE_TOKEN", "tiktok": "NBVIDEO_TIKTOK_TOKEN",
       "meta": "NBVIDEO_META_TOKEN",
       # a Facebook Page access token: Meta's user token (above, for Instagram) is another
       # token than the Page's own, which /me/accounts hands out per Page
       "facebook": "NBVIDEO_FACEBOOK_TOKEN"}
PLATFORM_TOKENS = ("youtube", "tiktok", "meta", "facebook")
KEYRING_SERVICE = "nbvideo"
"""Keys and tokens may also live in the OS keyring, under this service and the vendor's name
(`keyring set nbvideo youtube`), so a token need not sit in a shell profile."""

_typed: dict[str, str] = {}
_from_keyring: dict[str, str] = {}
_guard = threading.Lock()


def _keyring(vendor: str) -> str | None:
    """The vendor's key from the OS keyring, if keyring is installed and has one. A keyring
    that cannot be reached (no backend, a locked store) is the same as none."""
    try:
        import keyring
        value = keyring.get_password(KEYRING_SERVICE, vendor)
    except Exception:  # ImportError, keyring.errors.KeyringError, a D-Bus failure
        return None
    value = (value or "").strip() or None
    if value:
        with _guard:
            _from_keyring[vendor] = value  # so redact() knows it
    return value


class MissingKey(NbvideoError):
    """A paid provider was asked for without its key."""


class Secret(str):
    """A key that never shows itself in a repr or an f-string's !r."""

    def __repr__(self) -> str:
        return "Secret('***')"


def set_keys(openai: str | None = None, replicate: str | None = None, *,
             runway: str | None = None, prompt: bool = True,
             elevenlabs: str | None = None, heygen: str | None = None,
             youtube: str | None = None, tiktok: str | None = None,
             meta: str | None = None, facebook: str | None = None) -> None:
    """Give keys (and publishing tokens) for this session only. With no value and
    prompt=True, ask without echoing (an empty answer skips that vendor; the ElevenLabs and
    HeyGen keys and the platform tokens are asked for only by name). Vendors after the first
    two are keyword-only."""
    for vendor, value in (("openai", openai), ("replicate", replicate), ("runway", runway),
                          ("elevenlabs", elevenlabs), ("heygen", heygen), ("youtube", youtube),
                          ("tiktok", tiktok), ("meta", meta), ("facebook", facebook)):
        if vendor not in ("openai", "replicate", "runway") and value is None:
            continue
        if value is None and prompt and not get_key(vendor, required=False):
            value = getpass.getpass(f"{ENV[vendor]} (leave empty to skip): ").strip() or None
        if value:
            with _guard:
                _typed[vendor] = value.strip()


def get_key(vendor: str, required: bool = True) -> Secret | None:
    """The key for `vendor` (a name in ENV): typed in this session, else from the
    environment, else from the OS keyring (service "nbvideo", the vendor's name)."""
    if vendor not in ENV:
        raise ValueError(f"vendor must be one of {', '.join(ENV)}, got {vendor!r}")
    with _guard:
        value = _typed.get(vendor)
    value = value or os.environ.get(ENV[vendor], "").strip() or None
    value = value or _keyring(vendor)
    if value is None and required:
        what = "a token" if vendor in PLATFORM_TOKENS else "an API key"
        raise MissingKey(
            f"{vendor} needs {what}: set the environment variable {ENV[vendor]}, store it "
            f"in the OS keyring (keyring set {KEYRING_SERVICE} {vendor}) or call "
            f"nbvideo.set_keys({vendor}='...') (it is kept in memory only)"
        )
    return Secret(value) if value else None


def known_keys() -> list[str]:
    with _guard:
        typed = [*_typed.values(), *_from_keyring.values()]
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
        _from_keyring.clear()


# --------------------------------------------------------------------------- where a key may go
BASE_URL_ENV = {"openai": "OPENAI_BASE_URL", "replicate": "REPLICATE_BASE_URL",
                "runway": "RUNWAYML_BASE_URL", "elevenlabs": "ELEVENLABS_BASE_URL",
                "heygen": "HEYGEN_BASE_URL", "youtube": "NBVIDEO_YOUTUBE_BASE_URL",
                "tiktok": "NBVIDEO_TIKTOK_BASE_URL", "meta": "NBVIDEO_META_BASE_URL",
                "facebook": "NBVIDEO_FACEBOOK_BASE_URL"}
"""The one environment variable that may point each vendor's key at another server."""
VENDOR_HOSTS = {"openai": "api.openai.com", "replicate": "api.replicate.com",
                "runway": "api.dev.runwayml.com", "elevenlabs": "api.elevenlabs.io",
                "heygen": "api.heygen.com", "youtube": "www.googleapis.com",
                "tiktok": "open.tiktokapis.com", "meta": "graph.facebook.com",
                "facebook": "graph.facebook.com"}


class KeyDestinationRefused(NbvideoError):
    """A vendor's key would have gone to a server nobody named for that vendor."""


def _local_host(host: str) -> bool:
    if host == "localhost" or host.endswith((".localhost", ".local")):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private


def key_destination(vendor: str, base_url: str | None = None, *,
                    source: str = "argument") -> str | None:
    """The base URL `vendor`'s key may be sent to, or None for the vendor's own API.

    The one gate every client built with a key passes. A key goes to a server other than its
    vendor's only when the user named that server for that vendor: `base_url=` given in code
    (`source="argument"`) or the vendor's own variable (OPENAI_BASE_URL, REPLICATE_BASE_URL),
    read here when no argument is given. Refused, by name (KeyDestinationRefused): a URL taken
    from any other variable, a URL that is not http(s), another vendor's API host, and plain
    http to a host off this machine or network (the key would cross the internet in clear).
    """
    if vendor not in BASE_URL_ENV:
        raise ValueError(f"vendor must be one of {', '.join(BASE_URL_ENV)}, got {vendor!r}")
    own = BASE_URL_ENV[vendor]
    if base_url is None:
        base_url = os.environ.get(own, "").strip() or None
        source = own
    if base_url is None:
        return None
    if source not in ("argument", own):
        raise KeyDestinationRefused(
            f"the {vendor} base URL came from {source}, which is not {vendor}'s setting: the "
            f"{vendor} key is only sent to a server named in {own} or passed as base_url=")
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    named = f"{own}={base_url!r}" if source == own else f"base_url={base_url!r}"
    if parts.scheme not in ("http", "https") or not host:
        raise KeyDestinationRefused(f"{named} is not an http(s) URL; the {vendor} key is not "
                                    "sent there")
    other = [v for v, h in VENDOR_HOSTS.items()  # meta and facebook share Meta's graph host
             if v != vendor and host == h != VENDOR_HOSTS[vendor]]
    if other:
        raise KeyDestinationRefused(
            f"{named} is {other[0]}'s API ({host}); the {vendor} key is not sent to another "
            f"vendor. Unset it or point it at a {vendor}-compatible server")
    if parts.scheme == "http" and not _local_host(host):
        raise KeyDestinationRefused(
            f"{named} is plain http to {host}, off this machine: the {vendor} key would travel "
            "unencrypted. Use https")
    return base_url
