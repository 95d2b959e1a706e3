"""Fetch a provider's output file: bounded, typed, atomic, and never to an unexpected place.

Provider outputs are URLs the vendor hands back (Replicate serves them from its CDN for about
an hour). We stream them into a temp file beside the destination and rename on success, so a
half-downloaded clip can never be mistaken for a finished one. Errors name the URL without its
query string: signed CDN URLs carry short-lived credentials in the query, and error texts end
up in notebooks and ledgers.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict

from nbvideo.keys import redact
from nbvideo.providers.base import TRANSIENT_STATUS, ProviderError

CHUNK = 1 << 16
MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}


class DownloadError(ProviderError):
    """An output could not be fetched; the message says which URL and why."""


class URLNotAllowed(DownloadError):
    """The URL (or a redirect) points somewhere we do not download from."""


class URLExpired(DownloadError):
    """The provider no longer serves the output (HTTP 404/410)."""


class TooLarge(DownloadError):
    """The body is bigger than the caller's limit."""


class WrongContentType(DownloadError):
    """The server sent a type the caller did not ask for (an HTML error page, say)."""


class DownloadResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path
    size_bytes: int
    sha256: str
    content_type: str
    source_url: str  # without the query string, so no signed-URL secret lands on disk


def public_url(url: str) -> str:
    """`url` without query string or fragment (what errors and records may show)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _check_url(url: str, allowed_hosts: frozenset[str]) -> None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and host in allowed_hosts:
        return
    raise URLNotAllowed(
        f"refusing to download {public_url(url)!r}: only https:// URLs"
        + (f" or http:// to {', '.join(sorted(allowed_hosts))}" if allowed_hosts else "")
        + " are fetched"
    )


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 10_000_000 else f"{n:,} bytes"


async def download(url: str, out: Path, *, max_bytes: int, content_types: tuple[str, ...],
                   allowed_hosts: frozenset[str] = frozenset(),
                   client: httpx.AsyncClient | None = None,
                   timeout_s: float = 60.0) -> DownloadResult:
    """Stream `url` to `out` (temp file + rename), refusing oversize bodies and wrong types.

    `content_types` lists the media types accepted (parameters such as '; charset' ignored);
    empty accepts any. Redirects are followed by hand so every hop passes the same URL rule.
    On any error or cancellation the temp file is removed and `out` is left untouched.
    """
    out = Path(out)
    allowed = frozenset(h.lower() for h in allowed_hosts)
    wanted = tuple(t.lower() for t in content_types)
    own_client = client is None
    if client is None:
        client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=10.0))
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.part"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            _check_url(current, allowed)
            try:
                async with client.stream("GET", current, follow_redirects=False) as resp:
                    if resp.status_code in _REDIRECTS and "location" in resp.headers:
                        current = urljoin(current, resp.headers["location"])
                        continue
                    return await _save(resp, current, out, tmp, max_bytes, wanted)
            except httpx.TimeoutException:
                raise DownloadError(
                    f"timed out downloading {public_url(current)!r} after {timeout_s:g} s",
                    transient=True) from None
            except httpx.TransportError as exc:
                raise DownloadError(redact(
                    f"could not download {public_url(current)!r}: {type(exc).__name__}: {exc}"
                ), transient=True) from None
        raise URLNotAllowed(f"too many redirects (> {MAX_REDIRECTS}) from {public_url(url)!r}")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if own_client:
            await client.aclose()


async def _save(resp: httpx.Response, url: str, out: Path, tmp: Path, max_bytes: int,
                wanted: tuple[str, ...]) -> DownloadResult:
    shown = public_url(url)
    if resp.status_code in (404, 410):
        raise URLExpired(
            f"the provider URL expired (HTTP {resp.status_code}): {shown!r}; "
            "Replicate keeps outputs for about an hour, so generate this take again"
        )
    if resp.status_code != 200:
        raise DownloadError(f"HTTP {resp.status_code} downloading {shown!r}",
                            transient=resp.status_code in TRANSIENT_STATUS
                            or resp.status_code >= 500)
    ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
    if wanted and ctype not in wanted:
        raise WrongContentType(
            f"{shown!r} is {ctype or 'of no stated type'}, expected {' or '.join(wanted)}"
        )
    declared = resp.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"{shown!r} is {_mb(int(declared))}, over the {_mb(max_bytes)} limit")
    digest, size = hashlib.sha256(), 0
    with tmp.open("wb") as f:
        async for chunk in resp.aiter_bytes(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(f"{shown!r} sent more than the {_mb(max_bytes)} limit")
            digest.update(chunk)
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)
    return DownloadResult(path=out, size_bytes=size, sha256=digest.hexdigest(),
                          content_type=ctype, source_url=shown)
