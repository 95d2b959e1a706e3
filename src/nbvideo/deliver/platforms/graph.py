"""What Meta's two clients (Instagram Reels in meta.py, Facebook Page video in facebook.py)
share: the guards that keep the token where it belongs.

Both post through the Graph API and send bytes to Meta's upload host, so both must check the
same two things before a request carries the token: an id that goes into a URL path is one of
Meta's numeric ids (a hand-edited post record cannot steer a request elsewhere on the host),
and an upload address is Meta's upload host over https (or the server the base-URL setting
names, for a double).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from nbvideo.deliver.platforms.base import PublishFailed

__all__ = ["UPLOAD_HOST", "graph_id", "upload_address"]

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
