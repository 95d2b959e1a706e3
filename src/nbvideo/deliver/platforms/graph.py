"""What Meta's two clients (Instagram Reels in meta.py, Facebook Page video in facebook.py)
share: the guards that keep the token where it belongs.

Both post through the Graph API and send bytes to Meta's upload host, so both must check the
same two things before a request carries the token: an id that goes into a URL path is one of
Meta's numeric ids (a hand-edited post record cannot steer a request elsewhere on the host),
and an upload address is Meta's upload host over https (or the server the base-URL setting
names, for a double).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from nbvideo.deliver.platforms.base import PublishFailed
from nbvideo.keys import Secret, redact

__all__ = ["UPLOAD_HOST", "graph_id", "graph_request", "upload_address"]

UPLOAD_HOST = "rupload.facebook.com"  # where reel bytes go, for Instagram and Facebook alike


def graph_id(node: str, label: str, kind: str) -> str:
    """`node` if it is a Graph API id (digits), else a refusal naming the platform."""
    if not (node.isascii() and node.isdigit()) or len(node) > 40:
        raise PublishFailed(f"{label}: {node[:40]!r} is not {kind} (the post's record was "
                            "edited?); publish again with again=True", transient=False)
    return node


def upload_address(url: str, base_url: str, local: bool, label: str) -> str:
    """`url` if the token may go there: Meta's upload host over https, or (`local`, a base
    URL set for a double) the very server `base_url` names."""
    parts, base = urlsplit(url), urlsplit(base_url)
    ours = (parts.scheme, parts.netloc) == (base.scheme, base.netloc) if local else \
        parts.scheme == "https" and parts.hostname == UPLOAD_HOST
    if not ours:
        raise PublishFailed(f"{label} gave an upload address on {parts.hostname!r}, not "
                            f"{UPLOAD_HOST}; the token is not sent there", transient=False)
    return url


async def graph_request(label: str, what: str, method: str, url: str, *, token: Secret,
                        timeout_s: float, error: Callable[[httpx.Response], Exception],
                        **kw: Any) -> dict[str, Any]:
    """One Graph API (or upload host) request with the token in the Authorization header
    only; a refusal becomes `error(response)`, a dropped connection a transient failure."""
    headers = {"Authorization": f"OAuth {token}", **kw.pop("headers", {})}
    try:
        async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as http:
            resp = await http.request(method, url, headers=headers, **kw)
    except httpx.HTTPError as exc:
        raise PublishFailed(redact(f"{label}: the connection failed {what} "
                                   f"({type(exc).__name__})"), transient=True) from None
    if resp.status_code >= 400:
        raise error(resp)
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise PublishFailed(f"{label} answered {what} with no JSON object", transient=True)
    return body
