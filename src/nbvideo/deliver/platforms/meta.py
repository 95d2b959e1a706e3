"""Instagram Reels through the Instagram Graph API (Facebook Login), with a resumable upload.

The API's steps, mapped onto `Publisher` (shapes from Meta's pages, read late 2026):

- open: POST /{version}/{ig-user-id}/media media_type=REELS, upload_type=resumable, caption
  (and thumb_offset, the cover frame in ms, when the package chose one)
  -> {"id": container id, "uri": "https://rupload.facebook.com/ig-api-upload/{version}/{id}"}
  (developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media).
  The container id is the session's `ref`, the upload URI goes in `extra`.
- send: POST {uri} with the headers `Authorization: OAuth {token}`, `offset` and `file_size`
  and the bytes from `offset` (developers.facebook.com/documentation/instagram-platform/
  content-publishing/resumable-uploads).
- offset: the API gives no byte count for an IG upload; GET /{container}?fields=status_code,
  status says whether the container is still open (IN_PROGRESS), ready (FINISHED), broken
  (ERROR), gone (EXPIRED, after 24 h) or already published (PUBLISHED) (.../reference/
  ig-container). So the offset the upload host last acknowledged (saved on the post) is where
  a retry resumes, unless the container is already published.
- finish: wait for FINISHED, then POST /{ig-user-id}/media_publish creation_id={container}
  -> {"id": media id}; GET /{media}?fields=permalink is the reel's page. Before publishing,
  the container's status_code is read: PUBLISHED (a crash after publishing, before its answer
  was saved) means the reel is found among the account's newest media instead, since the API
  links no container to its media, so a reel is never published twice.
- check: the media's permalink (posted), or the container's ERROR with its status text.

Analytics (`metrics`): GET /{media}/insights?metric=views,reach,likes,comments,shares,saved,
ig_reels_avg_watch_time,ig_reels_video_view_total_time (permission instagram_manage_insights;
developers.facebook.com/docs/instagram-platform/reference/instagram-media/insights) answers
{"data": [{"name", "period": "lifetime", "values": [{"value"}]}]}. plays, impressions and
video_views are deprecated (v22.0; gone for all versions since April 2025), so `views` is the
view count and there are no impressions; reach and saved are kept in `extra`; the two watch
times are milliseconds. A metric with no data yet is left out of `data` (never 0), so it stays
NaN. Insights count organic views only; boosted spend is in the Marketing API, not here.

The token travels only in the Authorization header (never in a URL's query, where proxies
and logs keep it), to graph.facebook.com or the server named in NBVIDEO_META_BASE_URL (the key
gate, keys.key_destination), and to an upload URI only on rupload.facebook.com or that server.
Graph API errors ({"error": {"message", "code", "error_subcode"}}, developers.facebook.com/
docs/graph-api/guides/error-handling): 190 is a token that expired or was revoked; 4, 17, 32
and 613 are rate limits (transient); the rest (9007, 2207xxx: the media) fail the post.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from nbvideo.deliver.platforms.base import MetricsFailed, Publisher, PublishFailed, Remote
from nbvideo.deliver.platforms.graph import graph_id, graph_request, upload_address
from nbvideo.errors import InvalidInput
from nbvideo.keys import Secret, get_key, key_destination, redact
from nbvideo.model.metrics import PostMetrics
from nbvideo.model.posts import Post, UploadSession

__all__ = ["API_VERSION", "InstagramReels"]

log = logging.getLogger(__name__)

BASE_URL = "https://graph.facebook.com"
API_VERSION = "v24.0"
USER_ENV = "NBVIDEO_INSTAGRAM_USER_ID"
RATE_LIMITS = {4, 17, 32, 613}  # application, user, page, "calls within one hour"
# media insights metrics for a reel (the page cited above, late 2026)
INSIGHTS = ("views", "reach", "likes", "comments", "shares", "saved", "ig_reels_avg_watch_time",
            "ig_reels_video_view_total_time")
NEW_TOKEN = ("make a new long-lived token (see Publishing > Instagram Reels in the docs) and "
             "set NBVIDEO_META_TOKEN or run: keyring set nbvideo meta")


class _Container(BaseModel):
    id: str
    uri: str


class _Status(BaseModel):
    status_code: str
    status: str = ""


class _Media(BaseModel):
    id: str
    permalink: str | None = None
    caption: str | None = None
    timestamp: str | None = None


def _graph_error(what: str, resp: httpx.Response) -> PublishFailed:
    """Meta's own words for a refused request, classed: a dead token or a media error is
    final, a rate limit or a 5xx is worth a retry."""
    try:
        body = resp.json()
    except ValueError:
        body = {}
    err = body.get("error") if isinstance(body, dict) else None
    dbg = body.get("debug_info") if isinstance(body, dict) else None  # the upload host's shape
    if isinstance(err, dict):
        code, sub = err.get("code"), err.get("error_subcode")
        text = redact(str(err.get("message") or "")[:300])
        if code == 190:
            return PublishFailed(f"Meta refused the token (code 190: {text}): {NEW_TOKEN}",
                                 transient=False)
        if code in RATE_LIMITS:
            return PublishFailed(f"Meta's rate limit was reached {what} (code {code}: {text}); "
                                 "publish again later: it resumes", transient=True)
        tag = f"code {code}" + (f", subcode {sub}" if sub else "")
        return PublishFailed(f"Instagram refused {what} ({tag}): {text}",
                             transient=resp.status_code >= 500)
    if isinstance(dbg, dict):
        text = redact(str(dbg.get("message") or dbg.get("type") or "")[:300])
        return PublishFailed(f"Instagram's upload host refused {what}: {text}",
                             transient=bool(dbg.get("retriable")))
    return PublishFailed(f"Instagram answered {what} with HTTP {resp.status_code}",
                         transient=resp.status_code >= 500 or resp.status_code == 429)


class InstagramReels(Publisher):
    """Reels on the Instagram professional account `user_id` (NBVIDEO_INSTAGRAM_USER_ID),
    posted with the Meta token (NBVIDEO_META_TOKEN, the keyring or set_keys)."""

    platform = "instagram"
    poll_s = (2.0, 5.0, 10.0, 30.0)

    def __init__(self, user_id: str | None = None, *, token: str | None = None,
                 base_url: str | None = None, api_version: str = API_VERSION,
                 chunk_bytes: int = 8 * 1024 * 1024, poll_s: tuple[float, ...] | None = None,
                 ready_wait_s: float = 300.0, timeout_s: float = 120.0) -> None:
        user = (user_id or os.environ.get(USER_ENV, "")).strip()
        if not (user.isascii() and user.isdigit()):
            raise InvalidInput(f"the Instagram user id must be the professional account's "
                               f"numeric id, set in {USER_ENV} (see Publishing > Instagram "
                               f"Reels in the docs), got {user[:40]!r}")
        self.user_id = user
        self._token = Secret(token) if token else get_key("meta")
        base = key_destination("meta", base_url)  # the one gate for where the token goes
        self.base_url = (base or BASE_URL).rstrip("/")
        self._local = base is not None
        self.version = api_version
        self.chunk_bytes = chunk_bytes
        self.poll_s = poll_s or self.poll_s
        self.ready_wait_s = ready_wait_s
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"InstagramReels({self.user_id!r}, base_url={self.base_url!r})"

    async def _request(self, what: str, method: str, url: str, **kw: Any) -> dict[str, Any]:
        return await graph_request("Instagram", what, method, url, token=self._token,
                                   timeout_s=self.timeout_s,
                                   error=lambda resp: _graph_error(what, resp), **kw)

    async def _graph(self, what: str, method: str, path: str, **kw: Any) -> dict[str, Any]:
        return await self._request(what, method, f"{self.base_url}/{self.version}/{path}", **kw)

    @staticmethod
    def _node(node: str) -> str:
        return graph_id(node, "Instagram", "an Instagram id")

    def _upload_uri(self, uri: str) -> str:
        return upload_address(uri, self.base_url, self._local, "Instagram")

    # ------------------------------------------------------------------ the steps

    async def open(self, post: Post, video: Path) -> UploadSession:
        caption = str(post.fields.get("caption") or "")
        form = {"media_type": "REELS", "upload_type": "resumable", "caption": caption}
        offset = post.fields.get("thumb_offset")  # the cover frame p.package chose, in ms
        if isinstance(offset, int) and not isinstance(offset, bool) and offset >= 0:
            # thumb_offset: the frame (ms into the video) used as the cover (the Reels
            # fields of .../reference/ig-user/media); cover_url needs a public image URL,
            # which a package does not have, so a picture cover stays for the app.
            form["thumb_offset"] = str(offset)
        body = await self._graph("creating the Reels container", "POST",
                                 f"{self.user_id}/media", data=form)
        try:
            got = _Container.model_validate(body)
        except ValidationError:
            raise PublishFailed("Instagram answered the Reels container request without an "
                                "id and an upload uri", transient=True) from None
        log.info("instagram: container %s opened for %s", got.id, post.id)
        return UploadSession(ref=self._node(got.id), size=video.stat().st_size,
                             opened_at=datetime.now(UTC),
                             extra={"uri": self._upload_uri(got.uri), "caption": caption})

    async def _status(self, container: str) -> _Status:
        body = await self._graph("reading the container's status", "GET",
                                 self._node(container), params={"fields": "status_code,status"})
        try:
            return _Status.model_validate(body)
        except ValidationError:
            raise PublishFailed("Instagram answered the container status without a "
                                "status_code", transient=True) from None

    async def offset(self, session: UploadSession) -> int | Remote:
        st = await self._status(session.ref)
        if st.status_code == "PUBLISHED":
            return await self._published(session)
        if st.status_code == "EXPIRED":
            raise PublishFailed("Instagram: the upload container expired (containers last 24 "
                                "hours); publish again with again=True to start anew",
                                transient=False)
        if st.status_code == "ERROR":
            raise PublishFailed(f"Instagram could not process the video: "
                                f"{redact(st.status)[:300]}", transient=False)
        return session.offset  # what the upload host last acknowledged

    async def send(self, session: UploadSession, video: Path, offset: int) -> int:
        with video.open("rb") as f:
            f.seek(offset)
            chunk = f.read(self.chunk_bytes)
        body = await self._request(
            f"uploading bytes {offset:,} to {offset + len(chunk):,}", "POST",
            self._upload_uri(session.extra["uri"]), content=chunk,
            headers={"offset": str(offset), "file_size": str(session.size),
                     "Content-Type": "application/octet-stream"})
        if body.get("success") is False:
            raise PublishFailed(f"Instagram's upload host did not take the bytes from "
                                f"{offset:,}", transient=True)
        return offset + len(chunk)

    async def finish(self, post: Post, session: UploadSession) -> Remote:
        waited, i = 0.0, 0
        while True:
            st = await self._status(session.ref)
            if st.status_code == "PUBLISHED":  # published before; its answer was lost
                return await self._published(session)
            if st.status_code in ("ERROR", "EXPIRED"):
                return Remote(id=session.ref, state="failed",
                              error=f"Instagram could not process the video: "
                                    f"{redact(st.status or st.status_code)[:300]}")
            if st.status_code == "FINISHED":
                break
            if waited >= self.ready_wait_s:
                raise PublishFailed("Instagram is still processing the upload; publish again "
                                    "later to post it", transient=True)
            pause = self.poll_s[min(i, len(self.poll_s) - 1)]
            await asyncio.sleep(pause)
            waited, i = waited + pause, i + 1
        body = await self._graph("publishing the reel", "POST", f"{self.user_id}/media_publish",
                                 data={"creation_id": self._node(session.ref)})
        media = str(body.get("id") or "")
        if not media:
            raise PublishFailed("Instagram answered media_publish without the media id",
                                transient=True)
        log.info("instagram: container %s published as %s", session.ref, media)
        return await self._media(media)

    async def _media(self, media: str) -> Remote:
        body = await self._graph("reading the reel's link", "GET", self._node(media),
                                 params={"fields": "id,permalink"})
        url = body.get("permalink")
        return Remote(id=media, url=str(url) if url else None, state="posted")

    async def _published(self, session: UploadSession) -> Remote:
        """The reel a published container made: the account's newest media with the caption
        sent, posted after the container was opened (the API names no media for a container)."""
        body = await self._graph("looking for the published reel", "GET",
                                 f"{self.user_id}/media",
                                 params={"fields": "id,caption,timestamp,permalink",
                                         "limit": "25"})
        since = session.opened_at - timedelta(minutes=5)
        for item in body.get("data") or []:
            try:
                m = _Media.model_validate(item)
                at = datetime.fromisoformat(m.timestamp or "")
            except (ValidationError, ValueError):
                continue
            if (m.caption or "") == session.extra.get("caption", "") and at >= since:
                return Remote(id=m.id, url=m.permalink, state="posted")
        raise PublishFailed("Instagram says the reel was published, but it is not among the "
                            "account's newest media yet; publish again later (it is never "
                            "posted twice)", transient=True)

    async def check(self, post: Post) -> Remote:
        if post.remote_id is None:
            raise PublishFailed("Instagram: the post has no media id yet", transient=True)
        if post.session is not None and post.remote_id == post.session.ref:  # the container
            st = await self._status(post.remote_id)
            if st.status_code == "PUBLISHED":
                return await self._published(post.session)
            return Remote(id=post.remote_id, state="failed",
                          error=f"Instagram could not process the video: "
                                f"{redact(st.status or st.status_code)[:300]}")
        return await self._media(post.remote_id)

    async def metrics(self, post: Post) -> PostMetrics:
        media = post.remote_id
        if media is None or (post.session is not None and media == post.session.ref):
            raise MetricsFailed("Instagram: the post has no media id (the reel was not "
                                "published)", transient=False)
        try:
            body = await self._graph("reading the reel's insights", "GET",
                                     f"{self._node(media)}/insights",
                                     params={"metric": ",".join(INSIGHTS)})
        except PublishFailed as exc:
            hint = (" (insights need the instagram_manage_insights permission, and a reel "
                    "with enough viewers)" if re.search(r"\(code (10|200)\b", str(exc))
                    else "")
            raise MetricsFailed(f"{exc}{hint}", transient=exc.transient) from None
        got: dict[str, float] = {}
        for item in body.get("data") or []:
            if not isinstance(item, dict):
                continue
            values = item.get("values") or []
            v = values[-1].get("value") if values and isinstance(values[-1], dict) else None
            if isinstance(v, int | float) and not isinstance(v, bool):
                got[str(item.get("name"))] = float(v)
        avg_ms, total_ms = got.get("ig_reels_avg_watch_time"), \
            got.get("ig_reels_video_view_total_time")
        return PostMetrics(
            post=post.id, platform=self.platform, remote_id=media, views=got.get("views"),
            avg_view_s=None if avg_ms is None else avg_ms / 1000,
            watch_time_s=None if total_ms is None else total_ms / 1000,
            likes=got.get("likes"), comments=got.get("comments"), shares=got.get("shares"),
            extra={k: got[k] for k in ("reach", "saved") if k in got})
