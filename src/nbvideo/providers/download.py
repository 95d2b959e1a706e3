"""Fetch a provider's output file: bounded, typed, atomic, and never to an unexpected place.

Provider outputs are URLs the vendor hands back (Replicate serves them from its CDN for about
an hour). We stream them into a temp file beside the destination and rename on success, so a
half-downloaded clip can never be mistaken for a finished one. Errors name the URL without its
query string: signed CDN URLs carry short-lived credentials in the query, and error texts end
up in notebooks and ledgers.

A provider response (or whoever controls one) chooses the URL, so it must not reach the user's
own network: every connection, including each redirect hop, resolves the host once, refuses it
unless every address is public, and connects to exactly the address it checked (the TLS
certificate is still verified for the host name). A DNS answer that changes between check and
connect therefore cannot slip through. Hosts named in an explicit allowlist (the test doubles on
127.0.0.1) skip the address rule; nothing else does.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import ipaddress
import os
import re
import socket
import uuid
from collections.abc import Awaitable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urljoin, urlsplit, urlunsplit

import anyio
import httpcore
import httpx
from pydantic import BaseModel, ConfigDict

from nbvideo.errors import InvalidInput, quote
from nbvideo.keys import redact
from nbvideo.media.ffmpeg import MediaInfo
from nbvideo.providers.base import TRANSIENT_STATUS, ProviderError, ProviderOutputError, Usage

CHUNK = 1 << 16
MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


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
    """`url` without userinfo, query string or fragment (what errors and records may show)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def allowed_hosts_from(text: str, source: str = "NBVIDEO_DOWNLOAD_HOSTS") -> frozenset[str]:
    """Parse a comma-separated allowlist of exact host names; wildcards and ranges are refused,
    so the list can only ever name the hosts it means (the test doubles, a local mirror)."""
    hosts = frozenset(h.strip().lower().strip("[]") for h in text.split(",") if h.strip())
    for h in sorted(hosts):
        if not re.fullmatch(r"[a-z0-9._:-]+", h) or h.strip(".:") == "":
            raise InvalidInput(
                f"{source} entry {quote(h)} is not a host name: list exact hosts such as "
                "127.0.0.1 (no wildcards, ranges or ports)")
    return hosts


def address_problem(ip: _IP) -> str | None:
    """Why `ip` is not a public address we may fetch from, or None if it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is None and ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            return address_problem(inner)
    for kind, flag in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                       ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                       ("reserved", ip.is_reserved), ("private", ip.is_private)):
        if flag:
            return f"a {kind} address"
    return None if ip.is_global else "not a public address"


def _refuse(host: str, why: str) -> URLNotAllowed:
    return URLNotAllowed(f"refusing to download from {host!r}: {why}; only public addresses "
                         "are fetched (NBVIDEO_DOWNLOAD_HOSTS names exceptions)")


def _check_url(url: str, allowed_hosts: frozenset[str]) -> None:
    """The rules a URL must meet before any connection: scheme, no userinfo, standard port,
    and a host that is a name or a public IP address written the standard way."""
    parts = urlsplit(url)
    try:
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:  # a port that is not a number
        host, port = "", -1
    if parts.scheme == "http" and host in allowed_hosts:
        return
    if parts.scheme == "https" and host in allowed_hosts:
        return
    if parts.scheme != "https" or not host:
        raise URLNotAllowed(
            f"refusing to download {public_url(url)!r}: only https:// URLs"
            + (f" or http:// to {', '.join(sorted(allowed_hosts))}" if allowed_hosts else "")
            + " are fetched"
        )
    if "@" in parts.netloc:
        raise _refuse(host, "URLs with a user name or password are not fetched")
    if port not in (None, 443):
        raise _refuse(host, "only the standard https port 443 is used")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if _NUMERIC_LABEL.match(host.rstrip(".").rpartition(".")[2]):
            raise _refuse(host, "it is an IP address in a non-standard form") from None
        return  # a name: checked when it is resolved, at connect time
    why = address_problem(ip)
    if why:
        raise _refuse(host, f"it is {why}")


async def _resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order (tests replace this)."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def checked_addresses(host: str, port: int, allowed_hosts: frozenset[str]) -> list[str]:
    """Resolve `host` once; refuse it unless every address is public. The caller connects to
    these addresses and no others."""
    if host.lower() in allowed_hosts:
        return [host]
    try:
        found = await _resolve(host, port)
    except OSError as exc:
        raise DownloadError(f"could not resolve {host!r}: {exc.strerror or exc}") from None
    if not found:
        raise DownloadError(f"could not resolve {host!r}: no addresses")
    for text in found:
        why = address_problem(ipaddress.ip_address(text.split("%")[0]))
        if why:
            raise _refuse(host, f"it resolves to {text}, {why}")
    return found


class _CheckedNetwork(httpcore.AsyncNetworkBackend):
    """httpcore's network layer with the address rule applied at the moment of connecting.

    httpcore asks for a TCP connection to the URL's host; we resolve and check it here and
    connect to the checked address, while TLS still verifies the certificate for the host name
    (httpcore passes the origin host as server_hostname). Each redirect to a new origin opens a
    new connection, so it passes the same rule."""

    def __init__(self, allowed_hosts: frozenset[str],
                 inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.allowed_hosts = allowed_hosts
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        last: Exception | None = None
        for ip in await checked_addresses(host, port, self.allowed_hosts):
            try:
                return await self._inner.connect_tcp(ip, port, timeout=timeout,
                                                     local_address=local_address,
                                                     socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        raise URLNotAllowed("downloads never use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class Fetcher:
    """The one HTTP client provider outputs are fetched with: pooled, no proxies from the
    environment (a proxy would resolve names itself, past our check), and every connection
    made through `_CheckedNetwork`. Bound to one event loop; close it with `aclose`."""

    def __init__(self, allowed_hosts: Iterable[str] = (), *, timeout_s: float = 60.0,
                 network: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.allowed_hosts = frozenset(h.lower().strip("[]") for h in allowed_hosts)
        transport = httpx.AsyncHTTPTransport(trust_env=False)
        # httpx builds its pool without a way to name the network backend; rebuild it with
        # the same TLS context (certifi, or SSL_CERT_FILE) and our checked network.
        ssl_context = httpx.create_ssl_context()
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            network_backend=_CheckedNetwork(self.allowed_hosts, network))
        self.timeout_s = timeout_s
        self.http = httpx.AsyncClient(transport=transport, trust_env=False,
                                      timeout=httpx.Timeout(timeout_s, connect=10.0))

    async def aclose(self) -> None:
        await self.http.aclose()


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 10_000_000 else f"{n:,} bytes"


async def download(url: str, out: Path, *, max_bytes: int, content_types: tuple[str, ...],
                   allowed_hosts: Iterable[str] = (),
                   client: Fetcher | None = None,
                   timeout_s: float = 60.0) -> DownloadResult:
    """Stream `url` to `out` (temp file + rename), refusing oversize bodies and wrong types.

    `content_types` lists the media types accepted (parameters such as '; charset' ignored);
    empty accepts any. Redirects are followed by hand so every hop passes the same URL rule,
    and every connection the address rule (see `Fetcher`). `allowed_hosts` is used when no
    `client` is given; a client carries its own. On any error or cancellation the temp file
    is removed and `out` is left untouched.
    """
    out = Path(out)
    wanted = tuple(t.lower() for t in content_types)
    if url[:5].lower() == "data:":  # the output inline, already paid for: decode, same rules
        return _save_data_url(url, out, max_bytes, wanted)
    own_client = client is None
    if client is None:
        client = Fetcher(allowed_hosts, timeout_s=timeout_s)
    elif not isinstance(client, Fetcher):
        raise TypeError("download(client=...) takes a nbvideo Fetcher, which checks addresses")
    allowed = client.allowed_hosts
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.part"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            _check_url(current, allowed)
            try:
                async with client.http.stream("GET", current, follow_redirects=False) as resp:
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


def _save_data_url(url: str, out: Path, max_bytes: int,
                   wanted: tuple[str, ...]) -> DownloadResult:
    """A `data:` URL (RFC 2397) as a file, under the same size cap and type check as a
    download, written the same way (temp file + rename). Replicate may hand an output back
    inline (a data URI) instead of as a CDN URL; refusing it after the prediction was paid
    would throw the money away. Nothing is fetched, so no address rule applies. The size is
    checked from the encoded length before anything is decoded."""
    head, comma, payload = url.partition(",")
    params = [p.strip().lower() for p in head[5:].split(";")]
    ctype = params[0] if params and "/" in params[0] else "text/plain"
    shown = f"data:{ctype} URL"
    if not comma:
        raise DownloadError(f"the provider's {shown} has no data (no ',')")
    if wanted and ctype not in wanted:
        raise WrongContentType(f"the provider's {shown} is {ctype}, expected "
                               f"{' or '.join(wanted)}")
    is_b64 = "base64" in params[1:]
    bound = len(payload) * 3 // 4 if is_b64 else len(payload)
    if bound > max_bytes + 3:
        raise TooLarge(f"the provider's {shown} holds about {_mb(bound)}, over the "
                       f"{_mb(max_bytes)} limit")
    try:
        data = (base64.b64decode(payload, validate=True) if is_b64
                else unquote_to_bytes(payload))
    except (binascii.Error, ValueError):
        raise DownloadError(f"the provider's {shown} is not valid base64") from None
    if len(data) > max_bytes:
        raise TooLarge(f"the provider's {shown} holds {_mb(len(data))}, over the "
                       f"{_mb(max_bytes)} limit")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.part"
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return DownloadResult(path=out, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                          content_type=ctype, source_url=shown)


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


async def playable_video(out: Path, what: str) -> MediaInfo:
    """Probe a downloaded output. One that does not play (cut short, not a video) is deleted
    and refused as ProviderOutputError: the model answered with something we cannot use."""
    import av

    from nbvideo.media.ffmpeg import probe

    try:
        return await asyncio.to_thread(probe, out)
    except (av.FFmpegError, OSError, ValueError, InvalidInput) as exc:
        out.unlink(missing_ok=True)
        raise ProviderOutputError(f"{what} is not a playable video: "
                                  f"{type(exc).__name__}") from None


async def paid_video(download: Awaitable[str], out: Path, request_id: str, usage: Usage
                     ) -> tuple[str, MediaInfo]:
    """(source URL, probe) of a paid video output: downloaded, then `playable_video`. A
    failure of either carries `usage`: the output was billed whether or not it arrived."""
    try:
        source = await download
        return source, await playable_video(out, f"the output of {request_id}")
    except ProviderError as exc:
        exc.usage = usage
        raise
