"""HeyGen presenters over httpx: an avatar says a presenter scene's line (HeyGen has no
official Python SDK, so we speak its REST API directly).

HeyGen retired its v1 and v2 endpoints on 2026-11-01 ("v1/v2 endpoints will be retired. All
traffic should be routed to v3 by this date",
https://developers.heygen.com/endpoint-version-comparison), so this speaks v3 only. Each
mapping was read on 2026-12-05 in HeyGen's v3 reference and in the request and response
schemas its official CLI generates from that reference (github.com/heygen-com/heygen-cli,
gen/video.go, gen/asset.go, gen/avatar.go, gen/voice.go at 7699a8e, 2026-07-22):
- create: POST /v3/videos, a union on `type`; we send type "avatar" with `avatar_id` (a look
  id: studio avatar, digital twin or photo avatar, the talking photo of v2), `script` and
  `voice_id`, `aspect_ratio` (16:9 9:16 4:5 5:4 1:1), `resolution` (720p 1080p; 4k is billed
  higher and not offered here) and `background` {type color, value} or {type image,
  asset_id}; no `engine`, so HeyGen renders with Avatar IV, its v3 default. Answer:
  {"data": {"video_id", "status", "output_format"}}
  (https://developers.heygen.com/reference/create-video; CLI VideoCreate).
- idempotency: every create carries an `Idempotency-Key` header. "Subsequent calls within 24
  hours that share this key replay the original response ... A retry that arrives while the
  original is still in flight gets a 409 request_in_progress. Keys must be 1-255 characters
  from [A-Za-z0-9_:.-] ... Scope is per-endpoint" (the header's text on
  https://developers.heygen.com/reference/create-video; added in May 2026 per
  https://developers.heygen.com/changelog). So a create whose answer was lost is sent again
  with the same key here, and the runtime's key (runtime/context.py
  `Pending.idempotency_key`: the take's request hash) makes a later retry by the clips
  phase replay it too: one video, billed once. The docs are silent on whether an error
  answer (a 429, a 5xx) is replayed; we only count on a 2xx being replayed.
- status: GET /v3/videos/{video_id} -> data {id, status pending | processing | completed |
  failed, video_url, duration (s), failure_code, failure_message, thumbnail_url, ...}
  (https://developers.heygen.com/generate-avatar-video "Status values"; CLI VideoGet). The
  create answer's first status is "waiting" (CLI VideoCreate response schema).
- cancel: HeyGen still has no call that stops a render; DELETE /v3/videos/{video_id} ->
  {"data": {"id", "deleted": true}} deletes it ("Permanently deletes a video and its
  associated files", CLI VideoDelete), the closest we have; whether that stops billing is not
  documented.
- frame backgrounds: POST /v3/assets, multipart field `file` (PNG or JPEG, up to 32 MB) ->
  data {asset_id, url, mime_type, size_bytes}; v1's upload.heygen.com/v1/asset is retired
  with the rest of v1 (https://developers.heygen.com/assets; CLI AssetCreate). It takes an
  Idempotency-Key too (changelog, May 2026): ours is the frame's hash.
- a talking photo's look is checked first: GET /v3/avatars/looks/{look_id} -> data
  {avatar_type, ...} (CLI AvatarLooksGet); one HeyGen bills higher is refused before the
  create (see `_check_photo_look`).
- listings: GET /v3/avatars/looks -> data[] {id (the avatar_id to send), name, avatar_type
  studio_avatar | digital_twin | photo_avatar, gender, preview_image_url, preview_video_url,
  default_voice_id, supported_api_engines}, pages by `token` / `next_token`, `has_more`
  (CLI AvatarLooksList; https://developers.heygen.com/generate-avatar-video "Find your
  Digital Twin"); GET /v3/voices -> data[] {voice_id, name, language, gender,
  preview_audio_url, support_pause, support_locale, type} (CLI VoiceList).
- errors: {"error": {"code", "message", "param"?, "doc_url"?}} with 400 invalid_parameter,
  401 unauthorized, 402 insufficient_credit, 403 forbidden, 404 *_not_found, 409
  request_in_progress, 429 rate_limit_exceeded (with Retry-After), 5xx internal_error
  (https://developers.heygen.com/docs/error-codes; CLI internal/errors/errors.go). 429 and
  5xx are transient (the clips phase retries them, with the same Idempotency-Key).
- price: billed in USD per second of output on the API key's wallet, Avatar IV at 720p /
  1080p $0.0667/s for studio avatars and digital twins, $0.05/s for photo avatars
  (https://developers.heygen.com/docs/pricing; see providers/catalog.py).
Every request carries the key as the X-Api-Key header, to HeyGen or to the server that
HEYGEN_BASE_URL names (a proxy or the test double); nothing goes to any other host.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import random
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

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
    Usage,
    VendorKey,
    WaitTimeout,
)
from nbvideo.providers.catalog import get_model, price

__all__ = ["HeyGenPresenter", "heygen_options", "list_avatars", "list_voices"]

BASE_URL = "https://api.heygen.com"
MAX_DOWNLOAD_BYTES = 500_000_000
MAX_ASSET_BYTES = 32 * 1024 * 1024  # POST /v3/assets "Max 32 MB" (developers.heygen.com/assets)
# HeyGen's statuses onto our ticket's (GET /v3/videos/{id}; "waiting": the create answer's)
_STATUS = {"pending": "starting", "waiting": "starting", "processing": "processing",
           "completed": "succeeded", "failed": "failed"}
_MODELS = ("heygen-avatar", "heygen-talking-photo")
# POST /v3/videos aspect_ratio values ('auto' aside: we always know the project's shape)
_ASPECTS = {"16:9": 16 / 9, "9:16": 9 / 16, "4:5": 4 / 5, "5:4": 5 / 4, "1:1": 1.0}
_KEY_CHARS = re.compile(r"^[A-Za-z0-9_:.\-]{1,255}$")  # the Idempotency-Key's documented form
CREATE_TRIES = 3  # a create (or asset upload) whose answer was lost is sent up to twice more
MAX_LISTING_PAGES = 50  # a listing stops here even if HeyGen keeps saying has_more


def heygen_options() -> dict[str, Any]:
    """Where to fetch HeyGen's videos from: NBVIDEO_DOWNLOAD_HOSTS for output hosts that may
    be plain http or private (HEYGEN_BASE_URL is read by the key gate, keys.key_destination)."""
    from nbvideo.providers.download import allowed_hosts_from

    hosts = allowed_hosts_from(os.environ.get("NBVIDEO_DOWNLOAD_HOSTS", ""))
    return {"allowed_download_hosts": hosts} if hosts else {}


def aspect_ratio(width: int, height: int) -> str:
    """The POST /v3/videos aspect_ratio nearest the shot's shape (conform crops the rest)."""
    shape = width / height
    return min(_ASPECTS, key=lambda a: abs(math.log(_ASPECTS[a] / shape)))


def resolution(width: int, height: int) -> str:
    """The POST /v3/videos resolution for a shot: 720p up to a 720-pixel short side, else
    1080p (HeyGen's 4k is billed higher and the catalog does not offer it)."""
    return "720p" if min(width, height) <= 720 else "1080p"


def generate_body(spec_id: str, req: PresenterRequest, asset_id: str | None) -> dict[str, Any]:
    """Our presenter request as HeyGen's POST /v3/videos body (CreateVideoFromAvatar; see the
    module doc). Avatars and photo avatars ("talking photos" in v2) are both looks sent as
    `avatar_id`; the model only says which rate the look bills at."""
    del spec_id  # both models send the same body (the look id says which it is)
    if req.background == "frame":
        if asset_id is None:
            raise InvalidInput("presenter background 'frame' needs the frame uploaded first")
        background: dict[str, Any] = {"type": "image", "asset_id": asset_id}
    else:
        background = {"type": "color", "value": req.background.upper()}
    return {"type": "avatar", "avatar_id": req.avatar, "script": req.text,
            "voice_id": req.voice, "aspect_ratio": aspect_ratio(req.width, req.height),
            "resolution": resolution(req.width, req.height), "background": background}


def _message(resp: httpx.Response) -> str:
    """HeyGen's own words for a refused request: v3's {"error": {"code", "message", "param"}}
    (developers.heygen.com/docs/error-codes), else the body's text."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300] or resp.reason_phrase
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        text = f"{err.get('code', '')}: {err.get('message') or ''}".strip(": ")
        return f"{text} (field {err['param']})" if err.get("param") else text
    if isinstance(err, str) and err:
        return err
    if isinstance(body, dict) and body.get("message"):
        return f"{body.get('code', '')}: {body['message']}".strip(": ")
    return resp.text[:300]


def _message_of(body: dict[str, Any]) -> str:
    err = body.get("error")
    if isinstance(err, dict):
        return str(err.get("message") or err)
    return str(err or body.get("message") or body)[:200]


def _code(resp: httpx.Response) -> str:
    """HeyGen's machine-readable error code in a refusal ('' when it gave none)."""
    with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
        return str(resp.json()["error"]["code"] or "")
    return ""


class HeyGenPresenter(VendorKey):
    """RemoteVideoModel for presenter scenes on HeyGen: submit, wait (polling), cancel (delete),
    fetch. Priced in USD per second of the video HeyGen reports (see the catalog)."""

    provider = "heygen"

    def __init__(self, model: str = "heygen-avatar", *, api_key: str | None = None,
                 base_url: str | None = None,
                 allowed_download_hosts: frozenset[str] | set[str] = frozenset(),
                 poll_interval_s: float = 5.0, key_on_use: bool = False,
                 max_download_bytes: int = MAX_DOWNLOAD_BYTES, timeout_s: float = 60.0) -> None:
        spec = get_model(model)
        if spec.provider != "heygen" or model not in _MODELS:
            raise InvalidInput(f"{model} is a {spec.provider} {spec.kind} model, not a HeyGen "
                               f"presenter; HeyGen presenters: {', '.join(_MODELS)}")
        self.spec, self.model = spec, model
        self._given = Secret(api_key) if api_key else None
        if not key_on_use:
            self.check_key()
        # the key goes only to HeyGen or a server named for it (HEYGEN_BASE_URL / base_url=)
        self.base_url = (key_destination("heygen", base_url) or BASE_URL).rstrip("/")
        self.allowed_download_hosts = frozenset(allowed_download_hosts)
        self.poll_interval_s = poll_interval_s
        self.max_download_bytes = max_download_bytes
        self.timeout_s = timeout_s
        self._durations: dict[str, float] = {}
        self._resolutions: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"HeyGenPresenter({self.model!r}, base_url={self.base_url!r})"

    def _headers(self) -> dict[str, str]:
        return {"X-Api-Key": str(self._key), "Accept": "application/json"}

    async def _call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        """One request to `path` on the API; an error answer becomes ProviderAPIError with
        HeyGen's words (the key redacted); 429 and 5xx are transient."""
        headers = {**self._headers(), **kw.pop("headers", {})}
        url = f"{self.base_url}{path}"
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, trust_env=False) as http:
                resp = await http.request(method, url, headers=headers, **kw)
        except httpx.HTTPError as exc:
            raise ProviderAPIError(redact(f"HeyGen {method} {path}: {type(exc).__name__}: "
                                          f"{exc}"), status=None) from None
        if resp.status_code >= 400:
            hint = " (check HEYGEN_API_KEY)" if resp.status_code == 401 else ""
            after = resp.headers.get("Retry-After")
            if resp.status_code == 429 and after:
                hint = f" (HeyGen asks to retry after {after[:20]} s)"
            err = ProviderAPIError(redact(f"HeyGen refused {method} {path} ({resp.status_code})"
                                          f": {_message(resp)}{hint}"), status=resp.status_code)
            err.vendor_code = _code(resp)  # e.g. request_in_progress (see _create)
            raise err
        try:
            body = resp.json()
        except ValueError:
            raise ProviderOutputError(f"HeyGen answered {method} {path} with no JSON") from None
        if not isinstance(body, dict):
            raise ProviderOutputError(f"HeyGen answered {method} {path} with "
                                      f"{type(body).__name__}")
        return body

    async def _create(self, path: str, key: str, stable: bool, **kw: Any) -> dict[str, Any]:
        """POST with an Idempotency-Key, sent again with the same key when the answer was lost
        (no answer at all) or HeyGen says the first one is still in flight (409
        request_in_progress): HeyGen replays the first answer, so this makes one thing.

        Still lost after CREATE_TRIES: transient when `key` is `stable` (the caller will
        send the same key again: safe), else not (a new key could make, and bill, a second)."""
        if not _KEY_CHARS.match(key):
            raise InvalidInput(f"Idempotency-Key {key[:40]!r}: 1-255 of A-Z a-z 0-9 _ : . -")
        delay = min(self.poll_interval_s, 1.0)
        for attempt in range(CREATE_TRIES):
            try:
                return await self._call("POST", path, headers={"Idempotency-Key": key}, **kw)
            except ProviderAPIError as exc:
                lost = exc.status is None
                busy = exc.status == 409 and \
                    getattr(exc, "vendor_code", "") == "request_in_progress"
                if not (lost or busy):
                    raise
                if attempt + 1 == CREATE_TRIES:
                    why = ("sending it again with the same Idempotency-Key is safe: HeyGen "
                           "answers with what the first made" if stable else
                           "it may exist and was not sent again under a new key, so it is "
                           "not paid twice")
                    raise ProviderAPIError(f"{exc} (sent {CREATE_TRIES} times with "
                                           f"Idempotency-Key {key}); {why}",
                                           status=exc.status, transient=stable) from None
                await asyncio.sleep(delay * (attempt + 1) * random.uniform(0.9, 1.1))
        raise AssertionError("unreachable")  # pragma: no cover

    async def upload_frame(self, frame: Path) -> str:
        """The frame as a HeyGen image asset (its id), for an image background. Its
        Idempotency-Key is the frame's hash: the same picture is one asset."""
        data = await asyncio.to_thread(Path(frame).read_bytes)
        if len(data) > MAX_ASSET_BYTES:
            raise InvalidInput(f"the scene's frame is {len(data) / 1e6:.1f} MB; HeyGen takes "
                               f"images up to {MAX_ASSET_BYTES / 1e6:.0f} MB")
        kind = "image/jpeg" if data.startswith(b"\xff\xd8") else "image/png"
        digest = hashlib.sha256(data).hexdigest()
        body = await self._create("/v3/assets", f"nbvideo-asset-{digest[:48]}", True,
                                  files={"file": (Path(frame).name, data, kind)})
        asset = (body.get("data") or {}).get("asset_id")
        if not asset:
            raise ProviderOutputError(f"HeyGen's asset upload gave no asset_id: "
                                      f"{_message_of(body)}")
        return str(asset)

    async def submit(self, req: PresenterRequest, *,
                     idempotency_key: str | None = None) -> Ticket:
        """Create the video and return at once with its id (persist it before waiting).

        `idempotency_key` (the runtime's, from the take's request hash) makes every try at
        this request one video; without it a fresh key still covers this call's own resends."""
        if not req.text.strip():
            raise InvalidInput("a HeyGen presenter needs words to say: the scene's voice_line "
                               "is empty (p.edit_scene(n, voice_line=...))")
        if self.model == "heygen-talking-photo":
            await self._check_photo_look(req.avatar)
        asset = None
        if req.background == "frame":
            if req.frame_path is None:
                raise InvalidInput("presenter background 'frame': the scene has no frame yet")
            asset = await self.upload_frame(req.frame_path)
        body = generate_body(self.model, req, asset)
        key = idempotency_key or f"nbvideo-{uuid.uuid4().hex}"
        answer = await self._create("/v3/videos", key, idempotency_key is not None, json=body)
        vid = (answer.get("data") or {}).get("video_id")
        if not vid:
            raise ProviderOutputError(f"HeyGen gave no video_id: {_message_of(answer)}")
        self._resolutions[str(vid)] = body["resolution"]
        status = _STATUS.get(str((answer.get("data") or {}).get("status")), "starting")
        return Ticket(id=str(vid), model=self.model, status=status)

    async def _check_photo_look(self, look_id: str) -> None:
        """A talking photo is priced at HeyGen's photo-avatar rate, the lowest: refuse a look
        HeyGen would bill higher (GET /v3/avatars/looks/{look_id} -> data.avatar_type, CLI
        AvatarLooksGet) before the paid create, so the ledger never records too little."""
        body = await self._call("GET", f"/v3/avatars/looks/{quote(look_id, safe='')}")
        kind = (body.get("data") or {}).get("avatar_type")
        if kind != "photo_avatar":
            raise InvalidInput(f"presenter.avatar={look_id!r} is a HeyGen {kind} look, which "
                               "HeyGen bills at the avatar rate: use present(model="
                               "'heygen-avatar') (heygen-talking-photo is for photo avatars)")

    async def poll(self, ticket: Ticket) -> Ticket:
        body = await self._call("GET", f"/v3/videos/{quote(ticket.id, safe='')}")
        data = body.get("data") or {}
        status = _STATUS.get(str(data.get("status")), "processing")
        error = None
        if data.get("failure_code") or data.get("failure_message"):
            error = f"{data.get('failure_code') or ''}: " \
                    f"{data.get('failure_message') or ''}".strip(": ")
        if data.get("duration") is not None:
            self._durations[ticket.id] = float(data["duration"])
        return ticket.model_copy(update={
            "status": status, "output_url": data.get("video_url") or ticket.output_url,
            "error": error, "polls": ticket.polls + 1})

    async def wait(self, ticket: Ticket, on_status: Callable[[Ticket], None] | None = None,
                   timeout_s: float = 900.0) -> Ticket:
        """Poll until the video is completed or failed. A failed video raises PredictionFailed
        with HeyGen's failure code and message; canceled while waiting: delete it, re-raise."""
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
        await self._call("DELETE", f"/v3/videos/{quote(ticket.id, safe='')}")
        return ticket.model_copy(update={"status": "canceled"})

    def _usage(self, video_id: str, seconds: float) -> Usage:
        """What HeyGen bills for `seconds` of this video, at the resolution it was asked for
        (a resumed video whose size we did not send: the dearer of the catalog's rates)."""
        res = self._resolutions.get(video_id) or max(self.spec.prices_usd,
                                                     key=self.spec.prices_usd.__getitem__)
        return price(self.spec, resolution=res, seconds=seconds).model_copy(
            update={"request_id": video_id})

    async def fetch(self, ticket: Ticket, out: Path) -> MediaResult:
        """Download the MP4 (size-capped, through the guarded fetcher), probe it, and price
        the seconds HeyGen made. A failure here still carries the usage: it was billed."""
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
            usage = self._usage(ticket.id, self._durations.get(ticket.id) or info.duration_s)
        except ProviderError as exc:
            exc.usage = self._usage(ticket.id, self._durations.get(ticket.id, 0.0))
            raise
        except Exception as exc:
            Path(out).unlink(missing_ok=True)
            err = ProviderOutputError(f"HeyGen video {ticket.id} is not a playable video: "
                                      f"{type(exc).__name__}")
            err.usage = self._usage(ticket.id, self._durations.get(ticket.id, 0.0))
            raise err from None
        return MediaResult(path=Path(out), width=info.width, height=info.height,
                           duration_s=info.duration_s, fps=info.fps, usage=usage,
                           source_url=got.source_url)

    async def clip(self, req: PresenterRequest, out: Path) -> MediaResult:
        """submit + wait + fetch (the clips phase calls the steps itself, saving the ticket)."""
        t = await self.submit(req)
        t = await self.wait(t)
        return await self.fetch(t, out)


async def _listing(path: str, key: str | None, base_url: str | None,
                   params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of a paged v3 listing (`data` list, `has_more`, `next_token` -> `token`)."""
    model = HeyGenPresenter("heygen-avatar", api_key=key, base_url=base_url)
    items: list[dict[str, Any]] = []
    query = dict(params)
    for _ in range(MAX_LISTING_PAGES):
        body = await model._call("GET", path, params=query)
        page = body.get("data")
        if not isinstance(page, list):
            raise ProviderOutputError(f"HeyGen's listing {path} has no data list")
        items += [x for x in page if isinstance(x, dict)]
        if not body.get("has_more") or not body.get("next_token"):
            break
        query["token"] = body["next_token"]
    return items


# GET /v3/avatars/looks avatar_type -> the catalog model whose rate it bills at
_LOOK_MODEL = {"studio_avatar": "heygen-avatar", "digital_twin": "heygen-avatar",
               "photo_avatar": "heygen-talking-photo"}


async def list_avatars(api_key: str | None = None, base_url: str | None = None) -> Any:
    """HeyGen's avatar looks (GET /v3/avatars/looks) as a DataFrame: one row each, with the
    id to give `presenter.avatar`, its type and the `model` that prices it."""
    import pandas as pd

    looks = await _listing("/v3/avatars/looks", api_key, base_url, {"limit": 50})
    rows = [{"avatar": a.get("id"), "name": a.get("name"), "character": a.get("avatar_type"),
             "model": _LOOK_MODEL.get(str(a.get("avatar_type")), "heygen-avatar"),
             "gender": a.get("gender"), "default_voice": a.get("default_voice_id"),
             "preview_image_url": a.get("preview_image_url"),
             "preview_video_url": a.get("preview_video_url")} for a in looks]
    return pd.DataFrame(rows, columns=["avatar", "name", "character", "model", "gender",
                                       "default_voice", "preview_image_url",
                                       "preview_video_url"])


async def list_voices(api_key: str | None = None, base_url: str | None = None) -> Any:
    """HeyGen's voices (GET /v3/voices) as a DataFrame: the `voice` id for `presenter.voice`."""
    import pandas as pd

    voices = await _listing("/v3/voices", api_key, base_url, {"limit": 100})
    rows = [{"voice": v.get("voice_id"), "name": v.get("name"), "language": v.get("language"),
             "gender": v.get("gender"), "preview_audio": v.get("preview_audio_url"),
             "support_pause": v.get("support_pause"), "support_locale": v.get("support_locale"),
             "type": v.get("type")} for v in voices]
    return pd.DataFrame(rows, columns=["voice", "name", "language", "gender", "preview_audio",
                                       "support_pause", "support_locale", "type"])
