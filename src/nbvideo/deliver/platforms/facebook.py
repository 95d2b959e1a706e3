"""Facebook Page videos and Reels through the Graph API's Video API, with resumable uploads.

A `reels` package (9:16) posts as a reel on the Page; a `web` or `youtube` package posts as a
Page video. The API's steps, mapped onto `Publisher` (shapes from Meta's pages, read late
2026):

Reels (developers.facebook.com/docs/video-api/guides/reels-publishing, and the Page's
video_reels edge, .../docs/graph-api/reference/page/video_reels):

- open: POST /{version}/{page-id}/video_reels upload_phase=start -> {"video_id",
  "upload_url": "https://rupload.facebook.com/video-upload/{version}/{video_id}"} (an answer
  without upload_url gets that documented address). The video id is the session's `ref`, the
  upload URL goes in `extra`.
- send: POST {upload_url} with the headers `Authorization: OAuth {token}`, `offset` and
  `file_size` and the bytes from `offset`. Meta describes it as a resumable, non-chunked
  upload: by default the rest of the file goes in one streamed request (`chunk_bytes` > 0
  splits it, each request starting where the last one ended).
- offset: GET /{video_id}?fields=status -> {"status": {"video_status", "uploading_phase":
  {"status", "bytes_transferred"}, "processing_phase": {...}, "publishing_phase": {...}}}
  (.../docs/graph-api/reference/video-status): the bytes Meta holds are where a retry
  resumes, so a dropped connection sends only the rest; an uploading_phase `complete` (whose
  answers carry no count) means every byte is in.
- finish: POST /{page-id}/video_reels upload_phase=finish, video_id, video_state=PUBLISHED,
  description -> {"success": true}; Meta then processes and publishes it.

Page videos (developers.facebook.com/docs/graph-api/reference/page/videos, "Resumable
upload"; the protocol the archived php-graph-sdk's FacebookResumableUploader drives), on
graph.facebook.com: the video host graph-video.facebook.com is deprecated for uploads
(developers.facebook.com/docs/video-api/overview):

- open: POST /{version}/{page-id}/videos upload_phase=start, file_size -> {"video_id",
  "upload_session_id", "start_offset", "end_offset"}: Facebook sizes each chunk.
- send: POST upload_phase=transfer, upload_session_id, start_offset and the bytes from
  start_offset to end_offset as the multipart file `video_file_chunk` -> the next
  {"start_offset", "end_offset"}. A chunk at an offset Facebook does not expect is refused
  with error_subcode 1363037 and the offsets it wants in `error_data`, which the client takes.
- offset: the offset Facebook last answered (saved on the post), after the video's status.
- finish: POST upload_phase=finish, upload_session_id, title, description -> {"success"}.
  Meta's Video API guide (.../docs/video-api/guides/publishing) also shows an app-scoped path
  (/{app-id}/uploads, then /{page-id}/videos fbuploader_video_file_chunk={handle}); it needs
  the app's id and a user token besides the Page token, so the Page's own protocol is used.

Both kinds:

- finish reads the video's status first: a `publishing_phase` already in progress or
  complete (a finish whose answer was lost) is that video, so nothing is published twice.
- check: the status again: `publishing_phase` complete is posted (its permalink_url is the
  post's link); an `error` in any phase is failed, with Meta's message.

The token is a Page access token (NBVIDEO_FACEBOOK_TOKEN, `keyring set nbvideo facebook` or
set_keys(facebook=...)); it travels only in the Authorization header (never in a URL's
query), to graph.facebook.com or the server named in
NBVIDEO_FACEBOOK_BASE_URL (the key gate, keys.key_destination), and to an upload URL only on
rupload.facebook.com or that server. Graph API errors ({"error": {"message", "code",
"error_subcode", "is_transient"}}, developers.facebook.com/docs/graph-api/guides/
error-handling): 190 is a token that expired or was revoked; 4, 17, 32, 613 and 80001 (the
Page's own limit) are rate limits (transient); `is_transient` marks others worth a retry (a
refused chunk, 6000); the rest fail the post.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, Field, ValidationError

from nbvideo.deliver.platforms.base import Publisher, PublishFailed, Remote
from nbvideo.deliver.platforms.graph import UPLOAD_HOST, graph_id, graph_request, upload_address
from nbvideo.errors import InvalidInput
from nbvideo.keys import Secret, get_key, key_destination, redact
from nbvideo.model.posts import Post, UploadSession

__all__ = ["API_VERSION", "FacebookPublisher"]

log = logging.getLogger(__name__)

BASE_URL = "https://graph.facebook.com"
API_VERSION = "v24.0"
PAGE_ENV = "NBVIDEO_FACEBOOK_PAGE_ID"
RATE_LIMITS = {4, 17, 32, 613, 80001}  # application, user, page, hourly, page (BUC)
WRONG_OFFSET = 1363037  # a transfer at another offset than Facebook expects
SITE = "https://www.facebook.com"
NEW_TOKEN = ("make a new Page access token (see Publishing > Facebook in the docs) and set "
             "NBVIDEO_FACEBOOK_TOKEN or run: keyring set nbvideo facebook")
_BLOCK = 1024 * 1024  # what is read from the file at a time when streaming


class _Phase(BaseModel):
    status: str = "not_started"  # not_started, in_progress, complete, error
    bytes_transferred: int | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)


class _Status(BaseModel):
    video_status: str = ""
    uploading_phase: _Phase = Field(default_factory=_Phase)
    processing_phase: _Phase = Field(default_factory=_Phase)
    publishing_phase: _Phase = Field(default_factory=_Phase)

    @property
    def finished(self) -> bool:
        """A finish was taken: the video is being (or was) published."""
        return self.publishing_phase.status in ("in_progress", "complete")

    def problem(self) -> str | None:
        """Meta's words for a phase that failed, or None."""
        for phase in (self.uploading_phase, self.processing_phase, self.publishing_phase):
            if phase.status == "error":
                said = [str(e.get("message") or e.get("code") or "") for e in phase.errors]
                return "; ".join(s for s in said if s) or "no reason given"
        if self.video_status == "error":
            return "no reason given"
        return None


class _Video(BaseModel):
    id: str
    status: _Status
    permalink_url: str | None = None


class _ReelStart(BaseModel):
    video_id: str
    upload_url: str | None = None


class _Offsets(BaseModel):
    start_offset: int
    end_offset: int


class _VideoStart(_Offsets):
    video_id: str
    upload_session_id: str


class _Resync(Exception):
    """Facebook wants the transfer from other offsets than the one sent (internal)."""

    def __init__(self, offsets: _Offsets) -> None:
        super().__init__(offsets.start_offset)
        self.offsets = offsets


def _graph_error(what: str, resp: httpx.Response, resync: bool = False
                 ) -> PublishFailed | _Resync:
    """Meta's own words for a refused request, classed: a dead token or a refused video is
    final, a rate limit, a transient error or a 5xx is worth a retry."""
    try:
        body = resp.json()
    except ValueError:
        body = {}
    err = body.get("error") if isinstance(body, dict) else None
    dbg = body.get("debug_info") if isinstance(body, dict) else None  # the upload host's shape
    if isinstance(err, dict):
        code, sub = err.get("code"), err.get("error_subcode")
        text = redact(str(err.get("error_user_msg") or err.get("message") or "")[:300])
        if sub == WRONG_OFFSET and resync:
            try:
                return _Resync(_Offsets.model_validate(err.get("error_data")))
            except ValidationError:
                pass
        if code == 190:
            return PublishFailed(f"Meta refused the Facebook Page token (code 190: {text}): "
                                 f"{NEW_TOKEN}", transient=False)
        if code in RATE_LIMITS:
            return PublishFailed(f"Facebook's rate limit was reached {what} (code {code}: "
                                 f"{text}); publish again later: it resumes", transient=True)
        tag = f"code {code}" + (f", subcode {sub}" if sub else "")
        return PublishFailed(f"Facebook refused {what} ({tag}): {text}",
                             transient=bool(err.get("is_transient")) or resp.status_code >= 500)
    if isinstance(dbg, dict):
        text = redact(str(dbg.get("message") or dbg.get("type") or "")[:300])
        return PublishFailed(f"Facebook's upload host refused {what}: {text}",
                             transient=bool(dbg.get("retriable")))
    return PublishFailed(f"Facebook answered {what} with HTTP {resp.status_code}",
                         transient=resp.status_code >= 500 or resp.status_code == 429)


def _package(video: Path) -> dict[str, Any]:
    """The package's metadata.json beside the video (its preset and metadata), or {}."""
    try:
        doc = json.loads((video.parent / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


class FacebookPublisher(Publisher):
    """Reels and videos on the Facebook Page `page_id` (NBVIDEO_FACEBOOK_PAGE_ID), posted
    with the Page's access token (NBVIDEO_FACEBOOK_TOKEN, the keyring or set_keys).

    `chunk_bytes`: bytes per request to the reels upload host; 0 sends the rest of the file
    in one streamed request. Page video chunks are the sizes Facebook asks for."""

    platform = "facebook"
    poll_s = (2.0, 5.0, 10.0, 30.0)

    def __init__(self, page_id: str | None = None, *, token: str | None = None,
                 base_url: str | None = None, api_version: str = API_VERSION,
                 chunk_bytes: int = 0, poll_s: tuple[float, ...] | None = None,
                 timeout_s: float = 300.0) -> None:
        page = (page_id or os.environ.get(PAGE_ENV, "")).strip()
        if not (page.isascii() and page.isdigit()) or len(page) > 40:
            raise InvalidInput(f"the Facebook Page id must be the Page's numeric id, set in "
                               f"{PAGE_ENV} (see Publishing > Facebook in the docs), got "
                               f"{page[:40]!r}")
        self.page_id = page
        self._token = Secret(token) if token else get_key("facebook")
        base = key_destination("facebook", base_url)  # the one gate for where the token goes
        self.base_url = (base or BASE_URL).rstrip("/")
        self._local = base is not None
        self.version = api_version
        self.chunk_bytes = max(0, chunk_bytes)
        self.poll_s = poll_s or self.poll_s
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"FacebookPublisher({self.page_id!r}, base_url={self.base_url!r})"

    async def _request(self, what: str, method: str, url: str, *, resync: bool = False,
                       **kw: Any) -> dict[str, Any]:
        return await graph_request("Facebook", what, method, url, token=self._token,
                                   timeout_s=self.timeout_s,
                                   error=lambda resp: _graph_error(what, resp, resync), **kw)

    def _graph(self, path: str) -> str:
        return f"{self.base_url}/{self.version}/{path}"

    @staticmethod
    def _node(node: str) -> str:
        return graph_id(node, "Facebook", "a Facebook video id")

    def _upload_url(self, url: str) -> str:
        return upload_address(url, self.base_url, self._local, "Facebook")

    # ------------------------------------------------------------------ the steps

    async def open(self, post: Post, video: Path) -> UploadSession:
        doc = _package(video)
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        fields = {**{k: v for k, v in meta.items() if isinstance(v, str)}, **post.fields}
        size = video.stat().st_size
        now = datetime.now(UTC)
        if doc.get("preset", "reels" if "caption" in post.fields else "web") == "reels":
            text = str(fields.get("caption") or fields.get("description") or "")
            body = await self._request("starting the reel's upload", "POST",
                                       self._graph(f"{self.page_id}/video_reels"),
                                       data={"upload_phase": "start"})
            try:
                reel = _ReelStart.model_validate(body)
            except ValidationError:
                raise PublishFailed("Facebook answered the reel's upload start without a "
                                    "video_id", transient=True) from None
            vid = self._node(reel.video_id)
            host = self.base_url if self._local else f"https://{UPLOAD_HOST}"
            url = reel.upload_url or f"{host}/video-upload/{self.version}/{vid}"
            log.info("facebook: reel %s opened for %s", reel.video_id, post.id)
            return UploadSession(ref=vid, size=size, opened_at=now,
                                 extra={"kind": "reel", "uri": self._upload_url(url),
                                        "description": text})
        cta = " ".join(str(fields.get(k) or "") for k in ("cta", "link")).strip()
        text = "\n\n".join(p for p in (str(fields.get("description") or ""), cta) if p)
        body = await self._request("starting the video's upload", "POST",
                                   self._graph(f"{self.page_id}/videos"),
                                   data={"upload_phase": "start", "file_size": str(size)})
        try:
            got = _VideoStart.model_validate(body)
        except ValidationError:
            raise PublishFailed("Facebook answered the video's upload start without a "
                                "video_id, an upload_session_id and offsets",
                                transient=True) from None
        log.info("facebook: video %s opened for %s", got.video_id, post.id)
        return UploadSession(ref=self._node(got.video_id), size=size, opened_at=now,
                             offset=got.start_offset,
                             extra={"kind": "video", "session": got.upload_session_id,
                                    "end": str(got.end_offset),
                                    "title": str(fields.get("title") or ""),
                                    "description": text})

    async def _video(self, video_id: str) -> _Video:
        body = await self._request("reading the video's status", "GET",
                                   self._graph(self._node(video_id)),
                                   params={"fields": "id,status,permalink_url"})
        try:
            return _Video.model_validate(body)
        except ValidationError:
            raise PublishFailed("Facebook answered the video's status without its phases",
                                transient=True) from None

    @staticmethod
    def _remote(v: _Video, kind: str) -> Remote:
        link = v.permalink_url or ""
        if link.startswith("/"):
            link = SITE + link
        if not link.startswith("https://"):
            link = f"{SITE}/reel/{v.id}" if kind == "reel" else f"{SITE}/watch/?v={v.id}"
        problem = v.status.problem()
        if problem:
            return Remote(id=v.id, url=link, state="failed",
                          error=f"Facebook could not process the video: {redact(problem)[:300]}")
        done = v.status.publishing_phase.status == "complete"
        return Remote(id=v.id, url=link, state="posted" if done else "processing")

    async def offset(self, session: UploadSession) -> int | Remote:
        v = await self._video(session.ref)
        kind = session.extra.get("kind", "video")
        if v.status.finished:  # finished before; its answer was lost
            return self._remote(v, kind)
        problem = v.status.problem()
        if problem:
            raise PublishFailed(f"Facebook could not process the video: "
                                f"{redact(problem)[:300]}", transient=False)
        if v.status.video_status == "expired":
            raise PublishFailed("Facebook: the upload session expired; publish again with "
                                "again=True to start anew", transient=False)
        up = v.status.uploading_phase
        if kind == "reel" and up.status == "complete":  # every byte is in (no count given)
            return session.size
        if kind == "reel" and up.bytes_transferred is not None:
            return min(up.bytes_transferred, session.size)  # what Meta holds: only the rest
        return session.offset  # what Facebook last answered

    async def send(self, session: UploadSession, video: Path, offset: int) -> int:
        if session.extra.get("kind") == "reel":
            return await self._send_reel(session, video, offset)
        return await self._send_chunk(session, video, offset)

    async def _send_reel(self, session: UploadSession, video: Path, offset: int) -> int:
        end = min(offset + self.chunk_bytes, session.size) if self.chunk_bytes else session.size

        async def chunk() -> AsyncIterator[bytes]:
            with video.open("rb") as f:
                f.seek(offset)
                left = end - offset
                while left > 0:
                    block = f.read(min(_BLOCK, left))
                    if not block:
                        return
                    left -= len(block)
                    yield block

        body = await self._request(
            f"uploading bytes {offset:,} to {end:,}", "POST",
            self._upload_url(session.extra.get("uri", "")), content=chunk(),
            headers={"offset": str(offset), "file_size": str(session.size),
                     "Content-Length": str(end - offset),
                     "Content-Type": "application/octet-stream"})
        if body.get("success") is False:
            raise PublishFailed(f"Facebook's upload host did not take the bytes from "
                                f"{offset:,}", transient=True)
        return end

    async def _send_chunk(self, session: UploadSession, video: Path, offset: int) -> int:
        end = int(session.extra.get("end") or 0)
        if end <= offset:  # no range saved for this offset: one chunk's worth
            end = offset + (self.chunk_bytes or 8 * 1024 * 1024)
        end = min(end, session.size)
        with video.open("rb") as f:
            f.seek(offset)
            data = f.read(end - offset)
        try:
            body = await self._request(
                f"uploading bytes {offset:,} to {end:,}", "POST",
                self._graph(f"{self.page_id}/videos"),
                data={"upload_phase": "transfer", "upload_session_id": session.extra.get("session", ""),
                      "start_offset": str(offset)},
                files={"video_file_chunk": ("chunk", data, "application/octet-stream")},
                resync=True)
        except _Resync as want:
            got = want.offsets
            if got.start_offset == offset and str(got.end_offset) == session.extra.get("end"):
                raise PublishFailed(f"Facebook refused the chunk from {offset:,} and asks "
                                    "for the same one again; publish again later",
                                    transient=True) from None
            log.info("facebook: video %s resumes at %d (Facebook's offset)", session.ref,
                     got.start_offset)
            session.extra["end"] = str(got.end_offset)
            return got.start_offset
        try:
            got = _Offsets.model_validate(body)
        except ValidationError:
            raise PublishFailed(f"Facebook answered the chunk from {offset:,} without the "
                                "next offsets", transient=True) from None
        if got.start_offset <= offset and got.start_offset < session.size:
            raise PublishFailed(f"Facebook did not take the chunk from {offset:,}; publish "
                                "again to resume", transient=True)
        session.extra["end"] = str(got.end_offset)
        return min(got.start_offset, session.size)

    async def finish(self, post: Post, session: UploadSession) -> Remote:
        kind = session.extra.get("kind", "video")
        v = await self._video(session.ref)
        if v.status.finished or v.status.problem():  # an earlier finish; or a broken upload
            return self._remote(v, kind)
        if kind == "reel":
            body = await self._request(
                "publishing the reel", "POST", self._graph(f"{self.page_id}/video_reels"),
                data={"upload_phase": "finish", "video_id": self._node(session.ref),
                      "video_state": "PUBLISHED",
                      "description": session.extra.get("description", "")})
        else:
            body = await self._request(
                "publishing the video", "POST",
                self._graph(f"{self.page_id}/videos"),
                data={"upload_phase": "finish",
                      "upload_session_id": session.extra.get("session", ""),
                      "title": session.extra.get("title", ""),
                      "description": session.extra.get("description", "")})
        if body.get("success") is not True:
            raise PublishFailed(f"Facebook answered the {kind}'s finish without success",
                                transient=True)
        log.info("facebook: %s %s finished", kind, session.ref)
        return self._remote(v.model_copy(update={"status": v.status.model_copy(update={
            "publishing_phase": _Phase(status="in_progress")})}), kind)

    async def check(self, post: Post) -> Remote:
        if post.remote_id is None:
            raise PublishFailed("Facebook: the post has no video id yet", transient=True)
        kind = post.session.extra.get("kind", "video") if post.session else "video"
        return self._remote(await self._video(post.remote_id), kind)
