"""HeyGen presenters over httpx: an avatar says a presenter scene's line (HeyGen has no
official Python SDK, so we speak its REST API directly).

The mappings, each read from HeyGen's documentation on 2026-12-05:
- create: POST /v2/video/generate with `video_inputs[0]` = {character, voice, background} and
  `dimension` {width, height}; the answer is {"error": null, "data": {"video_id": ...}}
  (https://docs.heygen.com/reference/create-an-avatar-video-v2,
  https://docs.heygen.com/docs/customize-video-background).
- status: GET /v1/video_status.get?video_id=... -> data.status pending | processing |
  completed | failed, data.video_url, data.duration (seconds), data.error {code, message,
  detail} (https://docs.heygen.com/reference/video-status).
- cancel: HeyGen has no call that stops a render; DELETE /v1/video.delete?video_id=...&
  type=heygen_video deletes the video (https://docs.heygen.com/reference/delete-a-video.md),
  which is the closest we have; whether it stops billing is not documented.
- frame backgrounds: the frame is uploaded first, POST https://upload.heygen.com/v1/asset
  with the PNG as the body and Content-Type image/png -> data.id, used as
  background {type: image, image_asset_id} (https://docs.heygen.com/reference/upload-asset).
- listings: GET /v2/avatars -> data.avatars[] {avatar_id, avatar_name, gender,
  preview_image_url, preview_video_url} and data.talking_photos[] {talking_photo_id,
  talking_photo_name, preview_image_url} (https://docs.heygen.com/reference/list-avatars-v2.md);
  GET /v2/voices -> data.voices[] {voice_id, language, gender, name, preview_audio,
  support_pause, emotion_support} (HeyGen's List All Voices (V2)).
Every request carries the key as the X-Api-Key header. HEYGEN_BASE_URL (and
HEYGEN_UPLOAD_URL) point it at a proxy or the test double.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from nbvideo.errors import InvalidInput
from nbvideo.keys import Secret, key_destination, redact
from nbvideo.providers.base import (
    MediaResult,
    PredictionFailed,
    PresenterRequest,
    ProviderAPIError,
    ProviderError,
    ProviderOutputError,
    Ticket,
    VendorKey,
    WaitTimeout,
)
from nbvideo.providers.catalog import get_model, price

__all__ = ["HeyGenPresenter", "heygen_options", "list_avatars", "list_voices"]

BASE_URL = "https://api.heygen.com"
UPLOAD_URL = "https://upload.heygen.com"
MAX_DOWNLOAD_BYTES = 500_000_000
# HeyGen's own statuses onto our ticket's (https://docs.heygen.com/reference/video-status)
_STATUS = {"pending": "starting", "waiting": "starting", "processing": "processing",
           "completed": "succeeded", "failed": "failed"}
_CHARACTER = {"heygen-avatar": "avatar", "heygen-talking-photo": "talking_photo"}


def heygen_options() -> dict[str, Any]:
    """Where to reach HeyGen: HEYGEN_BASE_URL / HEYGEN_UPLOAD_URL (a proxy or a test double)
    and NBVIDEO_DOWNLOAD_HOSTS for output hosts that may be plain http or private."""
    from nbvideo.providers.download import allowed_hosts_from

    opts: dict[str, Any] = {}  # HEYGEN_BASE_URL is read by the key gate (keys.key_destination)
    if os.environ.get("HEYGEN_UPLOAD_URL"):
        opts["upload_url"] = os.environ["HEYGEN_UPLOAD_URL"]
    hosts = allowed_hosts_from(os.environ.get("NBVIDEO_DOWNLOAD_HOSTS", ""))
    if hosts:
        opts["allowed_download_hosts"] = hosts
    return opts


def generate_body(spec_id: str, req: PresenterRequest, asset_id: str | None) -> dict[str, Any]:
    """Our presenter request as HeyGen's POST /v2/video/generate body (see the module doc)."""
    kind = _CHARACTER[spec_id]
    character: dict[str, Any] = {"type": kind}
    if kind == "avatar":
        character.update(avatar_id=req.avatar, avatar_style="normal")
    else:
        character["talking_photo_id"] = req.avatar
    voice = {"type": "text", "input_text": req.text, "voice_id": req.voice, "speed": 1.0}
    if req.background == "frame":
        if asset_id is None:
            raise InvalidInput("presenter background 'frame' needs the frame uploaded first")
        background: dict[str, Any] = {"type": "image", "image_asset_id": asset_id}
    else:
        background = {"type": "color", "value": req.background.upper()}
    return {"video_inputs": [{"character": character, "voice": voice, "background": background}],
            "dimension": {"width": req.width, "height": req.height}}


def _message(resp: httpx.Response) -> str:
    """HeyGen's own words for a refused request: {"error": {"code", "message"}} on v2,
    {"code", "message"} on v1, else the body's text."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300] or resp.reason_phrase
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return f"{err.get('code', '')}: {err.get('message') or err.get('detail') or ''}".strip(": ")
    if isinstance(err, str) and err:
        return err
    if isinstance(body, dict) and body.get("message"):
        return f"{body.get('code', '')}: {body['message']}".strip(": ")
    return resp.text[:300]


class HeyGenPresenter(VendorKey):
    """RemoteVideoModel for presenter scenes on HeyGen: submit, wait (polling), cancel (delete),
    fetch. Priced in HeyGen credits (see the catalog), from the video's reported duration."""

    provider = "heygen"

    def __init__(self, model: str = "heygen-avatar", *, api_key: str | None = None,
                 base_url: str | None = None, upload_url: str | None = None,
                 allowed_download_hosts: frozenset[str] | set[str] = frozenset(),
                 poll_interval_s: float = 5.0, key_on_use: bool = False,
                 max_download_bytes: int = MAX_DOWNLOAD_BYTES, timeout_s: float = 60.0) -> None:
        spec = get_model(model)
        if spec.provider != "heygen" or model not in _CHARACTER:
            raise InvalidInput(f"{model} is a {spec.provider} {spec.kind} model, not a HeyGen "
                               f"presenter; HeyGen presenters: {', '.join(_CHARACTER)}")
        self.spec, self.model = spec, model
        self._given = Secret(api_key) if api_key else None
        if not key_on_use:
            self.check_key()
        # the key goes only to HeyGen or a server named for it (HEYGEN_BASE_URL / base_url=)
        self.base_url = (key_destination("heygen", base_url) or BASE_URL).rstrip("/")
        self.upload_url = (upload_url or UPLOAD_URL).rstrip("/")
        self.allowed_download_hosts = frozenset(allowed_download_hosts)
        self.poll_interval_s = poll_interval_s
        self.max_download_bytes = max_download_bytes
        self.timeout_s = timeout_s
        self._durations: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"HeyGenPresenter({self.model!r}, base_url={self.base_url!r})"

    def _headers(self) -> dict[str, str]:
        return {"X-Api-Key": str(self._key), "Accept": "application/json"}

    async def _call(self, method: str, url: str, **kw: Any) -> dict[str, Any]:
        """One request; an error answer becomes ProviderAPIError with HeyGen's words (the key
        redacted); 429 and 5xx are transient (the clips phase retries them)."""
        headers = {**self._headers(), **kw.pop("headers", {})}
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, trust_env=False) as http:
                resp = await http.request(method, url, headers=headers, **kw)
        except httpx.HTTPError as exc:
            raise ProviderAPIError(redact(f"HeyGen {method} {url.split('?')[0]}: "
                                          f"{type(exc).__name__}: {exc}"), status=None) from None
        if resp.status_code >= 400:
            hint = " (check HEYGEN_API_KEY)" if resp.status_code == 401 else ""
            raise ProviderAPIError(redact(f"HeyGen refused {method} {url.split('?')[0].replace(self.base_url, '')}"
                                          f" ({resp.status_code}): {_message(resp)}{hint}"),
                                   status=resp.status_code)
        try:
            body = resp.json()
        except ValueError:
            raise ProviderOutputError(f"HeyGen answered {url.split('?')[0]} with no JSON") from None
        if not isinstance(body, dict):
            raise ProviderOutputError(f"HeyGen answered {url.split('?')[0]} with {type(body).__name__}")
        return body

    async def upload_frame(self, frame: Path) -> str:
        """The frame as a HeyGen image asset (its id), for an image background."""
        data = await asyncio.to_thread(Path(frame).read_bytes)
        body = await self._call("POST", f"{self.upload_url}/v1/asset", content=data,
                                headers={"Content-Type": "image/png"})
        asset = (body.get("data") or {}).get("id")
        if not asset:
            raise ProviderOutputError(f"HeyGen's asset upload gave no id: {_message_of(body)}")
        return str(asset)

    async def submit(self, req: PresenterRequest) -> Ticket:
        """Create the video and return at once with its id (persist it before waiting)."""
        if not req.text.strip():
            raise InvalidInput("a HeyGen presenter needs words to say: the scene's voice_line "
                               "is empty (p.edit_scene(n, voice_line=...))")
        asset = None
        if req.background == "frame":
            if req.frame_path is None:
                raise InvalidInput("presenter background 'frame': the scene has no frame yet")
            asset = await self.upload_frame(req.frame_path)
        body = await self._call("POST", f"{self.base_url}/v2/video/generate",
                                json=generate_body(self.model, req, asset))
        vid = (body.get("data") or {}).get("video_id")
        if not vid:
            raise ProviderOutputError(f"HeyGen gave no video_id: {_message_of(body)}")
        return Ticket(id=str(vid), model=self.model, status="starting")

    async def poll(self, ticket: Ticket) -> Ticket:
        body = await self._call("GET", f"{self.base_url}/v1/video_status.get",
                                params={"video_id": ticket.id})
        data = body.get("data") or {}
        status = _STATUS.get(str(data.get("status")), "processing")
        err = data.get("error")
        error = None
        if isinstance(err, dict) and err:
            error = f"{err.get('code', '')}: {err.get('message') or ''}" \
                    f"{' (' + err['detail'] + ')' if err.get('detail') else ''}".strip(": ")
        elif err:
            error = str(err)
        if data.get("duration") is not None:
            self._durations[ticket.id] = float(data["duration"])
        return ticket.model_copy(update={
            "status": status, "output_url": data.get("video_url") or ticket.output_url,
            "error": error, "polls": ticket.polls + 1})

    async def wait(self, ticket: Ticket, on_status: Callable[[Ticket], None] | None = None,
                   timeout_s: float = 900.0) -> Ticket:
        """Poll until the video is completed or failed. A failed video raises PredictionFailed
        with HeyGen's error code and message; canceled while waiting: delete it, re-raise."""
        deadline = time.monotonic() + timeout_s
        delay = min(self.poll_interval_s, 1.0)
        try:
            while True:
                ticket = await self.poll(ticket)
                if on_status is not None:
                    on_status(ticket)
                if ticket.status == "succeeded":
                    return ticket
                if ticket.status == "failed":
                    raise PredictionFailed(f"HeyGen video {ticket.id} failed: "
                                           f"{ticket.error or 'no error given'}", ticket)
                if time.monotonic() + delay > deadline:
                    raise WaitTimeout(f"HeyGen video {ticket.id} still {ticket.status} after "
                                      f"{timeout_s:g} s", ticket)
                await asyncio.sleep(delay * random.uniform(0.9, 1.1))
                delay = min(self.poll_interval_s, delay * 1.5)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.cancel(ticket))
            raise

    async def cancel(self, ticket: Ticket) -> Ticket:
        """Best effort: HeyGen cannot stop a render, so the video is deleted (see above)."""
        await self._call("DELETE", f"{self.base_url}/v1/video.delete",
                         params={"video_id": ticket.id, "type": "heygen_video"})
        return ticket.model_copy(update={"status": "canceled"})

    async def fetch(self, ticket: Ticket, out: Path) -> MediaResult:
        """Download the MP4 (size-capped, through the guarded fetcher), probe it, and price
        the credits its length cost. A failure here still carries the usage: it was billed."""
        from nbvideo.providers.download import download, playable_video

        if ticket.output_url is None or ticket.id not in self._durations:
            ticket = await self.poll(ticket)
        if ticket.status != "succeeded" or not ticket.output_url:
            raise ProviderError(f"HeyGen video {ticket.id} is {ticket.status}; nothing to fetch")
        try:
            got = await download(ticket.output_url, Path(out), max_bytes=self.max_download_bytes,
                                 content_types=("video/mp4",),
                                 allowed_hosts=self.allowed_download_hosts)
            info = await playable_video(Path(out), f"HeyGen video {ticket.id}")
            seconds = self._durations.get(ticket.id) or info.duration_s
            usage = price(self.spec, seconds=seconds).model_copy(update={"request_id": ticket.id})
        except ProviderError as exc:
            seconds = self._durations.get(ticket.id, 0.0)
            exc.usage = price(self.spec, seconds=seconds).model_copy(
                update={"request_id": ticket.id})
            raise
        except Exception as exc:
            Path(out).unlink(missing_ok=True)
            err = ProviderOutputError(f"HeyGen video {ticket.id} is not a playable video: "
                                      f"{type(exc).__name__}")
            err.usage = price(self.spec, seconds=self._durations.get(ticket.id, 0.0))
            raise err from None
        return MediaResult(path=Path(out), width=info.width, height=info.height,
                           duration_s=info.duration_s, fps=info.fps, usage=usage,
                           source_url=got.source_url)

    async def clip(self, req: PresenterRequest, out: Path) -> MediaResult:
        """submit + wait + fetch (the clips phase calls the steps itself, saving the ticket)."""
        t = await self.submit(req)
        t = await self.wait(t)
        return await self.fetch(t, out)


def _message_of(body: dict[str, Any]) -> str:
    err = body.get("error")
    if isinstance(err, dict):
        return str(err.get("message") or err)
    return str(err or body.get("message") or body)[:200]


async def _listing(path: str, key: str | None, base_url: str | None) -> dict[str, Any]:
    model = HeyGenPresenter("heygen-avatar", api_key=key,
                            base_url=base_url)
    body = await model._call("GET", f"{model.base_url}{path}")
    return body.get("data") or {}


async def list_avatars(api_key: str | None = None, base_url: str | None = None) -> Any:
    """HeyGen's avatars and talking photos (GET /v2/avatars) as a DataFrame: one row each,
    with the `character` type and the id to give `presenter.avatar`."""
    import pandas as pd

    data = await _listing("/v2/avatars", api_key, base_url)
    rows = [{"avatar": a.get("avatar_id"), "name": a.get("avatar_name"), "character": "avatar",
             "model": "heygen-avatar", "gender": a.get("gender"),
             "preview_image_url": a.get("preview_image_url"),
             "preview_video_url": a.get("preview_video_url")}
            for a in data.get("avatars") or []]
    rows += [{"avatar": t.get("talking_photo_id"), "name": t.get("talking_photo_name"),
              "character": "talking_photo", "model": "heygen-talking-photo", "gender": None,
              "preview_image_url": t.get("preview_image_url"), "preview_video_url": None}
             for t in data.get("talking_photos") or []]
    return pd.DataFrame(rows, columns=["avatar", "name", "character", "model", "gender",
                                       "preview_image_url", "preview_video_url"])


async def list_voices(api_key: str | None = None, base_url: str | None = None) -> Any:
    """HeyGen's voices (GET /v2/voices) as a DataFrame: the `voice` id for `presenter.voice`."""
    import pandas as pd

    data = await _listing("/v2/voices", api_key, base_url)
    rows = [{"voice": v.get("voice_id"), "name": v.get("name"), "language": v.get("language"),
             "gender": v.get("gender"), "preview_audio": v.get("preview_audio"),
             "support_pause": v.get("support_pause"), "emotion_support": v.get("emotion_support")}
            for v in data.get("voices") or []]
    return pd.DataFrame(rows, columns=["voice", "name", "language", "gender", "preview_audio",
                                       "support_pause", "emotion_support"])
