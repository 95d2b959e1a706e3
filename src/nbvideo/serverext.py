"""Jupyter server extension: Replicate's webhooks, received where the notebook server is public.

On a JupyterHub behind its proxy the user's server has a public URL; Replicate can call it when
a clip's prediction finishes, so the kernel need not keep asking. This extension adds one
handler, `{base_url}nbvideo/webhooks/replicate/{route token}`, that

- verifies each delivery with the account's signing secret (`webhooks.verify`:
  400 missing headers, 401 bad signature or stale timestamp; nothing is written),
- refuses a replayed webhook-id (409), atomically, across restarts,
- writes the verified, finished prediction into the per-user spool, where the kernel's waiter
  finds it (the kernel is another process, perhaps not started yet: see the spool's docstring).

It turns itself on only with a public URL (NBVIDEO_PUBLIC_URL, or the JupyterHub spawner's
JUPYTERHUB_PUBLIC_URL / JUPYTERHUB_HOST + JUPYTERHUB_SERVICE_PREFIX) and a signing secret
(NBVIDEO_REPLICATE_WEBHOOK_SECRET, or fetched once with REPLICATE_API_TOKEN from
GET /v1/webhooks/default/secret through the official client). Only then does it announce itself
in the spool, and only then do kernels ask Replicate for webhooks. The secret stays in this
process's memory. The wheel enables the extension (jupyter-config/ -> etc/jupyter/
jupyter_server_config.d/nbvideo.json); from a source checkout, copy that file into
~/.jupyter/jupyter_server_config.d/ (jupyter_server 2.21's `extension enable` refuses a module
no config names yet).
"""

from __future__ import annotations

import asyncio
import atexit
import hmac
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from tornado import web

try:  # jupyter_server >= 2.13: say out loud that this endpoint takes no Jupyter login
    from jupyter_server.auth.decorator import allow_unauthenticated
except ImportError:  # pragma: no cover - older servers have no such check
    def allow_unauthenticated(method: Any) -> Any:
        return method

from nbvideo.keys import get_key
from nbvideo.webhooks import (
    MAX_BODY_BYTES,
    ROUTE,
    Spool,
    WebhookRefused,
    server_public_url,
    signing_key,
    verify,
)

SETTINGS_KEY = "nbvideo_webhooks"
SECRET_ENV = "NBVIDEO_REPLICATE_WEBHOOK_SECRET"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "nbvideo.serverext"}]


@dataclass
class Receiver:
    """What the handler needs: where to spool, the route token, and (once known) the key."""

    spool: Spool
    token: str
    url: str
    log: logging.Logger
    key: bytes | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)


class ReplicateWebhookHandler(web.RequestHandler):
    """POST only. Not a JupyterHandler: Replicate has no Jupyter login; the signature is the
    credential, and the route token keeps strangers' scans from even reaching the check."""

    def initialize(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def check_xsrf_cookie(self) -> None:
        """No cookie comes with a webhook; the HMAC signature authenticates it instead."""

    def _answer(self, status: int, text: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": status, "detail": text}))

    @allow_unauthenticated
    async def post(self, token: str) -> None:
        r = self.receiver
        if not hmac.compare_digest(token.encode(), r.token.encode()):
            return self._answer(404, "not found")
        if r.key is None:  # not ready yet: a 5xx makes Replicate try again later
            return self._answer(503, "the webhook signing secret is not known yet")
        body = self.request.body
        try:
            if len(body) > MAX_BODY_BYTES:
                raise WebhookRefused(413, "body too large")
            webhook_id = verify(self.request.headers, body, r.key)
            if not r.spool.claim(webhook_id):
                raise WebhookRefused(409, "this webhook-id was already received (replay)")
            try:
                prediction = json.loads(body)
                if not isinstance(prediction, dict):
                    raise ValueError
                spooled = r.spool.put(prediction)
            except ValueError:
                raise WebhookRefused(400, "the body is not a JSON prediction") from None
            except OSError:
                r.spool.unclaim(webhook_id)  # not kept: let Replicate's retry through
                raise WebhookRefused(500, "could not spool the event") from None
        except WebhookRefused as exc:
            r.log.warning("nbvideo: refused a Replicate webhook from %s: %s (HTTP %s)",
                          self.request.remote_ip, exc.reason, exc.status)
            return self._answer(exc.status, exc.reason)
        self._answer(200, "spooled" if spooled else "not finished: nothing to wake")


async def _signing_secret(log: logging.Logger) -> str | None:
    """The account's signing secret: from NBVIDEO_REPLICATE_WEBHOOK_SECRET, else asked of
    Replicate with the API token (replicate-python 1.0.7 `client.webhooks.default.async_secret`,
    GET /v1/webhooks/default/secret -> {"key": "whsec_..."}); None when neither is set."""
    explicit = os.environ.get(SECRET_ENV, "").strip()
    if explicit:
        return explicit
    token = get_key("replicate", required=False)
    if token is None:
        log.info("nbvideo: no REPLICATE_API_TOKEN or %s in the server's environment, so no "
                 "webhooks: Replicate clips are polled", SECRET_ENV)
        return None
    import replicate

    client = replicate.Client(api_token=str(token),
                              base_url=os.environ.get("REPLICATE_BASE_URL") or None)
    try:
        got = await client.webhooks.default.async_secret()
    finally:
        await client._async_client.aclose()  # the client offers no public close
    return str(got.key)


async def _become_ready(r: Receiver) -> None:
    """Fetch the key (retrying with backoff: the hub may start us before the network is up),
    then announce the URL so kernels start asking for webhooks."""
    pause = 2.0
    while True:
        try:
            secret = await _signing_secret(r.log)
        except Exception as exc:  # any failure just means "poll for now"
            r.log.warning("nbvideo: could not get Replicate's webhook signing secret (%s); "
                          "trying again in %.0f s", type(exc).__name__, pause)
            await asyncio.sleep(pause)
            pause = min(300.0, pause * 2)
            continue
        if secret is None:
            return
        try:
            r.key = signing_key(secret)
        except ValueError as exc:  # malformed: asking again will not mend it
            r.log.error("nbvideo: no Replicate webhooks: %s", exc)
            return
        r.spool.announce(r.url)
        atexit.register(r.spool.withdraw, os.getpid())
        r.log.info("nbvideo: Replicate webhooks are received at %s", r.url.rsplit("/", 1)[0])
        break
    while True:  # events nobody came for (a canceled job's) and old ids go after a day
        await asyncio.sleep(3600)
        r.spool.prune()


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Add the handler under the server's base_url when this server is publicly reachable."""
    log = serverapp.log
    public = server_public_url(os.environ)
    if public is None:
        log.info("nbvideo: this server has no public URL (NBVIDEO_PUBLIC_URL or JupyterHub's); "
                 "Replicate clips are polled")
        return
    spool = Spool.default()
    if spool is None:
        return
    spool.prepare()
    spool.prune()
    token = spool.route_token()
    receiver = Receiver(spool=spool, token=token, url=f"{public}{ROUTE}/{token}", log=log)
    web_app = serverapp.web_app
    base_url = web_app.settings.get("base_url", "/")
    pattern = f"{base_url.rstrip('/')}/{ROUTE}/([A-Za-z0-9_-]+)"
    web_app.add_handlers(".*$", [(pattern, ReplicateWebhookHandler, {"receiver": receiver})])
    web_app.settings[SETTINGS_KEY] = receiver


async def _start_jupyter_server_extension(serverapp: Any) -> None:
    """Once the loop runs: get the secret in the background (the server does not wait)."""
    receiver = serverapp.web_app.settings.get(SETTINGS_KEY)
    if receiver is not None:
        task = asyncio.ensure_future(_become_ready(receiver))
        receiver.tasks.add(task)
        task.add_done_callback(receiver.tasks.discard)
