"""Replicate webhooks: verifying them, and the spool that carries them from the Jupyter server
to the kernel that waits. Standard library only, and nothing from nbvideo: the server extension
(nbvideo.serverext) loads it on every Jupyter server start, where the provider stack (pandas,
pydantic, the SDKs) would cost seconds; providers/replicate.py uses it from the kernel's side.

Why a spool: the webhook reaches the Jupyter *server* process (nbvideo.serverext, behind
JupyterHub's proxy); the clip job waits in a *kernel*, another process that may not even be
running yet (a restarted kernel resumes saved predictions). So the server writes each verified
event atomically as `events/<prediction id>.json` in a per-user directory, and the kernel's
waiter looks for its prediction's file between (rarer) status requests. A file outlives both
processes: an event that lands before its waiter starts, or while the kernel restarts, is
found when it looks. Nothing but the extension writes there, and only after the signature
checked out, so the kernel can take the event's prediction as Replicate's own answer.

Layout of the spool (`NBVIDEO_WEBHOOK_SPOOL`, else `<jupyter runtime dir>/nbvideo-webhooks`,
mode 0700):
    route        the random path segment of our webhook URL (stable, so predictions created
                 before a server restart still reach us)
    ready.json   {"pid", "url"}: written by a server that can verify (has the signing secret)
                 and is publicly reachable; kernels ask for webhooks only while that pid lives
    seen/        one empty file per accepted webhook-id (sha256 of it): replays are refused
    events/      one JSON prediction per finished prediction id, taken (deleted) by its waiter

Verification, as Replicate documents it (replicate.com/docs/topics/webhooks/verify-webhook;
the same steps as replicate-python 1.0.7 `replicate/webhook.py` `Webhooks.validate`): headers
webhook-id, webhook-timestamp (Unix seconds) and webhook-signature (space-separated
`v1,<base64>`); signed content `{id}.{timestamp}.{raw body}`; HMAC-SHA256 keyed with the
base64 part of the account's `whsec_...` secret (GET /v1/webhooks/default/secret); any one
matching signature, compared in constant time; timestamps far from now refused. We do not call
the SDK's `validate`: it takes the body as text (we keep the raw bytes that were signed) and
its InvalidSecretKeyError quotes the secret itself.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TOLERANCE_S = 300
"""How far a webhook's timestamp may be from our clock (Standard Webhooks' five minutes)."""
KEEP_S = 24 * 3600
"""How long accepted webhook-ids and unclaimed events are kept."""
EVENTS_FILTER = ["completed"]
"""What we ask Replicate to send: only the end (it sends `start` too; that is acknowledged and
dropped). replicate.com/docs/topics/webhooks/setup-webhook#webhook-events-filter"""
TERMINAL = ("succeeded", "failed", "canceled")
ROUTE = "nbvideo/webhooks/replicate"
"""The handler's path under the Jupyter server's base_url; the route token follows it."""
MAX_BODY_BYTES = 32 << 20  # a prediction echoes its input, which carries our frame (data URI)
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


class WebhookRefused(Exception):
    """A delivery we will not act on, with the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def signing_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret (ValueError, without the secret, if not)."""
    prefix, _, b64 = secret.strip().partition("_")
    if prefix != "whsec" or not b64:
        raise ValueError("the webhook signing secret is not of the form whsec_<base64>")
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook signing secret's key part is not base64") from None


def sign(key: bytes, webhook_id: str, timestamp: str, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}`: what Replicate sends."""
    mac = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(headers: Mapping[str, str], body: bytes, key: bytes, *, now: float | None = None,
           tolerance_s: float = TOLERANCE_S) -> str:
    """Check a delivery's signature and age; returns its webhook-id or raises WebhookRefused
    (400 for missing or malformed headers, 401 for a stale timestamp or no valid signature).

    `headers` must look names up case-insensitively (tornado's HTTPHeaders does).
    """
    webhook_id = headers.get("webhook-id") or ""
    stamp = headers.get("webhook-timestamp") or ""
    signatures = headers.get("webhook-signature") or ""
    if not (webhook_id and stamp and signatures):
        raise WebhookRefused(400, "missing webhook-id, webhook-timestamp or webhook-signature")
    if not stamp.isdigit():
        raise WebhookRefused(400, "webhook-timestamp is not Unix seconds")
    now = time.time() if now is None else now
    if abs(now - int(stamp)) > tolerance_s:
        raise WebhookRefused(401, f"webhook-timestamp is more than {tolerance_s:g} s from now")
    expected = base64.b64decode(sign(key, webhook_id, stamp, body).partition(",")[2])
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version != "v1":
            continue  # a scheme we do not know is no evidence either way
        try:
            got = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(got, expected):
            return webhook_id
    raise WebhookRefused(401, "no valid signature")


def server_public_url(env: Mapping[str, str]) -> str | None:
    """The public URL of this Jupyter server (ending in its base_url), if it has one.

    NBVIDEO_PUBLIC_URL names it explicitly. On JupyterHub the spawner sets
    JUPYTERHUB_PUBLIC_URL to this server's full public URL, path included, when the hub has
    one (`c.JupyterHub.public_url`, or users on subdomains), and to "" otherwise
    (jupyterhub/spawner.py `Spawner.get_env`, jupyterhub/user.py `User.public_url`). Hubs from
    before that variable set JUPYTERHUB_HOST (the subdomain host, with scheme) beside
    JUPYTERHUB_SERVICE_PREFIX (/user/<name>/). A laptop has none of these: no webhooks.
    """
    for name in ("NBVIDEO_PUBLIC_URL", "JUPYTERHUB_PUBLIC_URL"):
        url = (env.get(name) or "").strip()
        if url.startswith(("https://", "http://")):
            return url.rstrip("/") + "/"
    host = (env.get("JUPYTERHUB_HOST") or "").strip().rstrip("/")
    prefix = (env.get("JUPYTERHUB_SERVICE_PREFIX") or "").strip()
    if host.startswith(("https://", "http://")) and prefix.startswith("/"):
        return host + prefix.rstrip("/") + "/"
    return None


def default_spool_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """NBVIDEO_WEBHOOK_SPOOL, else `nbvideo-webhooks` in Jupyter's runtime dir (per user; the
    server and its kernels agree on it), else None (no Jupyter here: nothing to spool)."""
    env = os.environ if env is None else env
    if env.get("NBVIDEO_WEBHOOK_SPOOL"):
        return Path(env["NBVIDEO_WEBHOOK_SPOOL"])
    if env.get("JUPYTER_RUNTIME_DIR"):
        return Path(env["JUPYTER_RUNTIME_DIR"]) / "nbvideo-webhooks"
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return None
    return Path(jupyter_runtime_dir()) / "nbvideo-webhooks"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    except OSError:
        return False
    return True


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class Spool:
    """The directory shared by the server extension (writer) and the kernels (readers)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.events = self.root / "events"
        self.seen = self.root / "seen"

    @classmethod
    def default(cls) -> Spool | None:
        root = default_spool_dir()
        return cls(root) if root is not None else None

    def prepare(self) -> None:
        for d in (self.root, self.events, self.seen):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            self.root.chmod(0o700)

    # --- the server's side --------------------------------------------------------------
    def route_token(self) -> str:
        """The URL's random segment, made once and kept (so a restarted server still
        answers the webhooks of predictions created before)."""
        path = self.root / "route"
        try:
            token = path.read_text().strip()
            if _ID.fullmatch(token):
                return token
        except OSError:
            pass
        token = secrets.token_urlsafe(24)
        _write_atomic(path, token.encode())
        return token

    def announce(self, url: str, pid: int | None = None) -> None:
        """Tell kernels: a live server at `url` verifies webhooks into this spool."""
        body = {"pid": pid or os.getpid(), "url": url, "since": time.time()}
        _write_atomic(self.root / "ready.json", json.dumps(body).encode())

    def withdraw(self, pid: int | None = None) -> None:
        """Remove our announcement (only ours: another live server's stays)."""
        ready = self._ready()
        if ready is not None and ready.get("pid") == (pid or os.getpid()):
            (self.root / "ready.json").unlink(missing_ok=True)

    def claim(self, webhook_id: str) -> bool:
        """True the first time a webhook-id is seen; False for a replay (atomic across
        processes: the id's file is created exclusively)."""
        name = hashlib.sha256(webhook_id.encode()).hexdigest()
        try:
            os.close(os.open(self.seen / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            return False
        return True

    def unclaim(self, webhook_id: str) -> None:
        """Forget an id whose event could not be kept, so Replicate's retry is accepted."""
        (self.seen / hashlib.sha256(webhook_id.encode()).hexdigest()).unlink(missing_ok=True)

    def put(self, prediction: dict[str, Any]) -> bool:
        """Spool a finished prediction for its waiter; False (nothing written) for one still
        running (there is nothing to wake it for) or without a usable id."""
        pid = prediction.get("id")
        if not isinstance(pid, str) or not _ID.fullmatch(pid):
            raise WebhookRefused(400, "the body is not a prediction with an id")
        if prediction.get("status") not in TERMINAL:
            return False
        _write_atomic(self.events / f"{pid}.json", json.dumps(prediction).encode())
        return True

    def prune(self, keep_s: float = KEEP_S, now: float | None = None) -> int:
        """Forget accepted ids and unclaimed events older than `keep_s`; how many went."""
        cutoff = (time.time() if now is None else now) - keep_s
        gone = 0
        for d in (self.seen, self.events):
            for entry in os.scandir(d) if d.is_dir() else ():
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                        gone += 1
        return gone

    # --- the kernel's side --------------------------------------------------------------
    def _ready(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.root / "ready.json").read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def live_url(self) -> str | None:
        """The webhook URL to give Replicate, if a live server announced one."""
        ready = self._ready()
        if not ready or not isinstance(ready.get("pid"), int) or not _pid_alive(ready["pid"]):
            return None
        url = ready.get("url")
        return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None

    def take(self, prediction_id: str) -> dict[str, Any] | None:
        """The spooled event of `prediction_id`, removed as it is read; None if none yet."""
        if not _ID.fullmatch(prediction_id):
            return None
        path = self.events / f"{prediction_id}.json"
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            path.unlink(missing_ok=True)  # unreadable: the status request will tell us instead
            return None
        path.unlink(missing_ok=True)
        return data if isinstance(data, dict) and data.get("id") == prediction_id else None
