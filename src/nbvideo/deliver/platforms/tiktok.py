"""TikTok: the Content Posting API's direct post, mapped onto the publish steps.

The API (developers.tiktok.com, late 2026), each step beside the `Publisher` step it is:

- open: POST /v2/post/publish/creator_info/query/ gives the privacy levels this account may
  use, its longest video and whether comments, duets and stitches are off; the package is
  checked against it, then POST /v2/post/publish/video/init/ (post_info + source_info
  FILE_UPLOAD) gives `publish_id` (the session's ref) and `upload_url` (kept in its extra).
  doc/content-posting-api-reference-query-creator-info,
  doc/content-posting-api-reference-direct-post
- send: PUT one chunk to upload_url with Content-Range and Content-Type video/mp4; 206 while
  chunks are missing, 201 once the file is whole. Chunks are 5 to 64 MB, the last one takes
  the trailing bytes, total_chunk_count = floor(size / chunk_size), at most 1000, in order;
  a video under 5 MB goes whole. doc/content-posting-api-media-transfer-guide
- offset: POST /v2/post/publish/status/fetch/ answers `uploaded_bytes`: what TikTok has,
  so a chunk whose answer was lost is not sent twice. When it does not say, the offset the
  session saved after each acknowledged chunk is used.
  doc/content-posting-api-reference-get-video-status
- finish: nothing to call; TikTok posts by itself after the last chunk. The publish_id is
  the video's id until TikTok gives a public post id (moderation may take a while).
- check: status/fetch: PROCESSING_UPLOAD / PROCESSING_DOWNLOAD -> processing;
  PUBLISH_COMPLETE / SEND_TO_USER_INBOX -> posted; FAILED -> failed, with fail_reason.

Analytics (`metrics`): POST /v2/video/query/?fields=id,view_count,like_count,comment_count,
share_count with {"filters": {"video_ids": [id]}} (scope video.list; doc/tiktok-api-v2-video-
query) answers data.videos[] with those counts. That is all TikTok's public API gives for a
creator's own video: no impressions, watch time, retention, clicks or spend, so those are NaN.
The id is the public post id (publicaly_available_post_id from status/fetch, also the last part
of the post's URL), not the publish_id the post keeps as its remote id.

Errors come as {"error": {"code", "message", "log_id"}} (doc/tiktok-api-v2-error-handling).
The token is sent only to the API host `key_destination("tiktok")` allows, never to the
upload URL, and every text from TikTok is passed through `redact` before it is raised.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nbvideo.deliver.platforms.base import MetricsFailed, Publisher, PublishFailed, Remote
from nbvideo.errors import InvalidInput, quote
from nbvideo.keys import get_key, key_destination, redact
from nbvideo.model.metrics import PostMetrics
from nbvideo.model.posts import Post, UploadSession

__all__ = ["CHUNK_MAX", "CHUNK_MIN", "PRIVACY_LEVELS", "TikTokPublisher", "chunk_plan"]

log = logging.getLogger(__name__)

API = "https://open.tiktokapis.com"
MB = 1024 * 1024
CHUNK_MIN, CHUNK_MAX, MAX_CHUNKS = 5 * MB, 64 * MB, 1000  # media transfer guide
PRIVACY_LEVELS = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR",
                  "SELF_ONLY")
PRIVACY_ENV = "NBVIDEO_TIKTOK_PRIVACY"
NEW_TOKEN = ("get a new user access token (TikTok's OAuth, scopes video.publish and "
             "video.upload; see the TikTok section of docs/publishing.md) and put it in "
             "NBVIDEO_TIKTOK_TOKEN or `keyring set nbvideo tiktok`")
# error.code -> (transient, what to do). Unlisted 4xx codes are not transient; 5xx are.
ERRORS: dict[str, tuple[bool, str]] = {
    "access_token_invalid": (False, f"the token has expired or was revoked: {NEW_TOKEN}"),
    "scope_not_authorized": (False, f"the token lacks the video.publish scope: {NEW_TOKEN}"),
    "rate_limit_exceeded": (True, "too many requests for this token (6 inits a minute); "
                                  "publish again in a minute to resume"),
    "spam_risk_too_many_posts": (True, "this account reached TikTok's daily post cap; "
                                       "publish again tomorrow"),
    "reached_active_user_cap": (True, "the app reached its daily quota of posting users; "
                                      "publish again tomorrow"),
    "spam_risk_user_banned_from_posting": (False, "TikTok has barred this account from "
                                                  "posting"),
    "unaudited_client_can_only_post_to_private_accounts": (
        False, f"an app TikTok has not audited posts privately only: set {PRIVACY_ENV}="
               "SELF_ONLY, or have the app audited"),
    "privacy_level_option_mismatch": (False, "the privacy level is not one this account "
                                             "may use"),
}


class _Error(BaseModel):
    code: str = "ok"
    message: str = ""
    log_id: str = ""


class _Envelope(BaseModel):
    """Every Content Posting API answer: data plus error (code "ok" when all went well)."""

    data: dict[str, Any] = Field(default_factory=dict)
    error: _Error = Field(default_factory=_Error)


class CreatorInfo(BaseModel):
    """data of creator_info/query: what this account may post."""

    model_config = ConfigDict(extra="ignore")
    creator_username: str = ""
    privacy_level_options: list[str] = Field(default_factory=list)
    comment_disabled: bool = False
    duet_disabled: bool = False
    stitch_disabled: bool = False
    max_video_post_duration_sec: int = Field(600, ge=0)


class _Init(BaseModel):
    publish_id: str = Field(min_length=1, max_length=200)
    upload_url: str = Field(min_length=1, max_length=4000)


class _Status(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: str
    fail_reason: str | None = None
    publicaly_available_post_id: list[int | str] = Field(default_factory=list)  # sic
    uploaded_bytes: int | None = Field(None, ge=0)


def chunk_plan(size: int, chunk_bytes: int, chunk_min: int = CHUNK_MIN) -> tuple[int, int]:
    """(chunk_size, total_chunk_count) by TikTok's rules: under `chunk_min` the video goes
    whole; else chunks of `chunk_bytes` (raised so there are at most 1000), the last one
    taking the trailing bytes."""
    if size < chunk_min or size <= chunk_bytes:
        return size, 1
    chunk = max(chunk_bytes, math.ceil(size / MAX_CHUNKS))
    return chunk, size // chunk


class TikTokPublisher(Publisher):
    """TikTok's direct post for the account whose token is `get_key("tiktok")`.

    `privacy_level`: who sees the post (default NBVIDEO_TIKTOK_PRIVACY, else SELF_ONLY, the
    only level an unaudited app may use). `chunk_min` is for tests only: the double takes
    smaller chunks so a test need not move 5 MB pieces."""

    platform = "tiktok"
    poll_s = (2.0, 5.0, 10.0, 30.0)

    def __init__(self, base_url: str | None = None, *, privacy_level: str | None = None,
                 chunk_bytes: int = 10 * MB, chunk_min: int = CHUNK_MIN,
                 poll_s: tuple[float, ...] | None = None, timeout_s: float = 60.0) -> None:
        self.base_url = (key_destination("tiktok", base_url) if base_url is not None
                         else key_destination("tiktok")) or API
        self.base_url = self.base_url.rstrip("/")
        level = privacy_level or os.environ.get(PRIVACY_ENV, "").strip() or "SELF_ONLY"
        if level not in PRIVACY_LEVELS:
            raise InvalidInput(f"TikTok privacy_level must be one of "
                               f"{', '.join(PRIVACY_LEVELS)}, got {quote(level)}")
        if not chunk_min <= chunk_bytes <= CHUNK_MAX:
            raise InvalidInput(f"TikTok chunk_bytes must be {chunk_min:,} to {CHUNK_MAX:,} "
                               f"bytes (5 to 64 MB), got {chunk_bytes!r}")
        self.privacy_level = level
        self.chunk_bytes, self.chunk_min = chunk_bytes, chunk_min
        self.poll_s = poll_s or self.poll_s
        self.timeout_s = timeout_s

    # ------------------------------------------------------------------ HTTP
    async def _api(self, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        """POST to the API with the token; the answer's data, or PublishFailed."""
        token = get_key("tiktok")
        headers = {"Authorization": f"Bearer {token}",
                   "Content-Type": "application/json; charset=UTF-8"}
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                r = await client.post(self.base_url + path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise PublishFailed(redact(f"TikTok: {what}: no answer ({type(exc).__name__}: "
                                       f"{exc})"), transient=True) from None
        try:
            env = _Envelope.model_validate(r.json())
        except (ValueError, ValidationError):
            raise PublishFailed(f"TikTok: {what}: an answer that is not the API's JSON "
                                f"(HTTP {r.status_code})",
                                transient=r.status_code >= 500) from None
        if env.error.code != "ok" or r.status_code >= 400:
            transient, hint = ERRORS.get(env.error.code, (r.status_code >= 500 or
                                                          r.status_code == 429, ""))
            said = redact(env.error.message)[:300]
            raise PublishFailed(redact(f"TikTok refused {what} ({env.error.code}, HTTP "
                                       f"{r.status_code}): {said}"
                                       + (f"; {hint}" if hint else "")), transient=transient)
        return env.data

    def _check_upload_url(self, url: str) -> str:
        """The upload URL TikTok gave: https, or the double's own host in tests."""
        parts, base = urlsplit(url), urlsplit(self.base_url)
        if parts.scheme == "https" or (parts.hostname and parts.hostname == base.hostname):
            return url
        raise PublishFailed("TikTok: init gave an upload URL that is not https; nothing was "
                            "sent to it", transient=False)

    # ------------------------------------------------------------------ the steps
    async def creator_info(self) -> CreatorInfo:
        """What this account may post now (privacy levels, longest video)."""
        data = await self._api("/v2/post/publish/creator_info/query/", {}, "the creator info")
        try:
            return CreatorInfo.model_validate(data)
        except ValidationError as exc:
            raise PublishFailed(f"TikTok: the creator info is not as documented "
                                f"({exc.errors()[0]['msg']})", transient=False) from None

    async def open(self, post: Post, video: Path) -> UploadSession:
        info = await self.creator_info()
        level = str(post.fields.get("privacy_level") or self.privacy_level)
        if level not in info.privacy_level_options:
            raise PublishFailed(f"TikTok: this account may post as "
                                f"{', '.join(info.privacy_level_options) or 'nothing'}, not "
                                f"{level}; set {PRIVACY_ENV} (or privacy_level=) to one of "
                                "them. Nothing was sent", transient=False)
        duration = _duration(video)
        if duration is not None and duration > info.max_video_post_duration_sec:
            raise PublishFailed(f"TikTok: duration {duration:g} s; this account may post at "
                                f"most {info.max_video_post_duration_sec} s. Nothing was sent",
                                transient=False)
        size = video.stat().st_size
        chunk, count = chunk_plan(size, self.chunk_bytes, self.chunk_min)
        caption = str(post.fields.get("caption") or "")
        post_info: dict[str, Any] = {
            "title": caption, "privacy_level": level,
            "disable_comment": info.comment_disabled, "disable_duet": info.duet_disabled,
            "disable_stitch": info.stitch_disabled}
        cover = post.fields.get("video_cover_timestamp_ms")
        if isinstance(cover, int) and cover >= 0:
            post_info["video_cover_timestamp_ms"] = cover
        source = {"source": "FILE_UPLOAD", "video_size": size, "chunk_size": chunk,
                  "total_chunk_count": count}
        data = await self._api("/v2/post/publish/video/init/",
                               {"post_info": post_info, "source_info": source},
                               "the upload (init)")
        try:
            got = _Init.model_validate(data)
        except ValidationError:
            raise PublishFailed("TikTok: init answered without publish_id and upload_url",
                                transient=False) from None
        log.info("tiktok: publish %s opened (%d bytes in %d chunks)", got.publish_id, size,
                 count)
        return UploadSession(ref=got.publish_id, size=size, opened_at=datetime.now(UTC),
                             extra={"upload_url": self._check_upload_url(got.upload_url),
                                    "chunk_size": str(chunk), "chunks": str(count),
                                    "creator": info.creator_username})

    async def _status(self, publish_id: str) -> _Status:
        data = await self._api("/v2/post/publish/status/fetch/", {"publish_id": publish_id},
                               "the status check")
        try:
            return _Status.model_validate(data)
        except ValidationError:
            raise PublishFailed("TikTok: the status answer has no status",
                                transient=True) from None

    async def offset(self, session: UploadSession) -> int | Remote:
        st = await self._status(session.ref)
        if st.status == "PROCESSING_UPLOAD":
            have = st.uploaded_bytes if st.uploaded_bytes is not None else session.offset
            if have >= session.size:  # whole: TikTok is posting it
                return self._remote(session.ref, st, session.extra.get("creator", ""))
            return self._aligned(session, have)
        return self._remote(session.ref, st, session.extra.get("creator", ""))

    def _aligned(self, session: UploadSession, have: int) -> int:
        """The start of the first chunk TikTok does not have whole (chunks go in order)."""
        chunk = int(session.extra.get("chunk_size") or session.size or 1)
        count = int(session.extra.get("chunks") or 1)
        return min(have // chunk, count - 1) * chunk

    async def send(self, session: UploadSession, video: Path, offset: int) -> int:
        chunk = int(session.extra["chunk_size"])
        count = int(session.extra["chunks"])
        index = offset // chunk
        if offset % chunk or index >= count:
            raise PublishFailed(f"TikTok: byte {offset} is not where a chunk starts",
                                transient=False)
        end = session.size if index == count - 1 else offset + chunk
        with video.open("rb") as f:
            f.seek(offset)
            data = f.read(end - offset)
        headers = {"Content-Type": "video/mp4", "Content-Length": str(len(data)),
                   "Content-Range": f"bytes {offset}-{end - 1}/{session.size}"}
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                r = await client.put(session.extra["upload_url"], content=data,
                                     headers=headers)
        except httpx.HTTPError as exc:
            raise PublishFailed(redact(f"TikTok: the connection dropped sending chunk "
                                       f"{index + 1} of {count} ({type(exc).__name__})"),
                                transient=True) from None
        if r.status_code not in (200, 201, 206):
            raise PublishFailed(redact(f"TikTok rejected chunk {index + 1} of {count} (HTTP "
                                       f"{r.status_code}): {r.text[:200]}"), transient=True)
        log.info("tiktok: publish %s chunk %d/%d sent", session.ref, index + 1, count)
        return end

    async def finish(self, post: Post, session: UploadSession) -> Remote:
        # TikTok posts after the last chunk by itself: there is nothing to call, so nothing
        # can be made twice. The publish_id stands for the video until it has a post id.
        return Remote(id=session.ref, state="processing")

    async def check(self, post: Post) -> Remote:
        if post.remote_id is None:
            raise PublishFailed("TikTok: the post has no publish_id yet", transient=False)
        creator = post.session.extra.get("creator", "") if post.session else ""
        return self._remote(post.remote_id, await self._status(post.remote_id), creator)

    def _remote(self, publish_id: str, st: _Status, creator: str) -> Remote:
        if st.status == "FAILED":
            reason = redact(st.fail_reason or "no reason given")[:300]
            return Remote(id=publish_id, state="failed",
                          error=f"TikTok could not post the video: {reason}")
        if st.status in ("PUBLISH_COMPLETE", "SEND_TO_USER_INBOX"):
            url = None
            if st.publicaly_available_post_id and creator:
                url = (f"https://www.tiktok.com/@{creator}/video/"
                       f"{st.publicaly_available_post_id[0]}")
            return Remote(id=publish_id, url=url, state="posted")
        return Remote(id=publish_id, state="processing")

    async def metrics(self, post: Post) -> PostMetrics:
        if post.remote_id is None:
            raise MetricsFailed("TikTok: the post has no publish_id yet", transient=False)
        m = _VIDEO_URL.search(post.remote_url or "")
        try:
            if m:
                video_id = m.group(1)
            else:  # no URL (no creator name when it was posted): ask for the post id
                st = await self._status(post.remote_id)
                if not st.publicaly_available_post_id:
                    raise MetricsFailed("TikTok has not made the video public yet (no post "
                                        "id; it may still be in moderation or private): ask "
                                        "again later", transient=True)
                video_id = str(st.publicaly_available_post_id[0])
            data = await self._api(f"/v2/video/query/?fields={','.join(QUERY_FIELDS)}",
                                   {"filters": {"video_ids": [video_id]}},
                                   "the video's counts (video query)")
        except MetricsFailed:
            raise
        except PublishFailed as exc:
            hint = (" (analytics need the token's video.list scope)"
                    if "scope_not_authorized" in str(exc) else "")
            raise MetricsFailed(f"{exc}{hint}", transient=exc.transient) from None
        videos = data.get("videos") if isinstance(data, dict) else None
        found = [v for v in videos or [] if isinstance(v, dict) and str(v.get("id")) == video_id]
        if not found:
            raise MetricsFailed(f"TikTok did not list video {video_id} among this account's "
                                "videos (deleted, private, or another account's token)",
                                transient=False)
        counts: dict[str, float] = {}
        for key, name in COUNTS.items():
            v = found[0].get(key)
            if isinstance(v, int | float) and not isinstance(v, bool):
                counts[name] = float(v)
        return PostMetrics(post=post.id, platform=self.platform, remote_id=post.remote_id,
                           **counts)


_VIDEO_URL = re.compile(r"/video/(\d{1,30})(?:[/?#]|$)")
QUERY_FIELDS = ("id", "view_count", "like_count", "comment_count", "share_count")
# the video object's counts (doc/tiktok-api-v2-video-query) -> PostMetrics
COUNTS = {"view_count": "views", "like_count": "likes", "comment_count": "comments",
          "share_count": "shares"}


def _duration(video: Path) -> float | None:
    """The video's length as its package's metadata.json records it (the package check
    read the same file), or None when the video is not in a package folder."""
    try:
        doc = json.loads((video.parent / "metadata.json").read_text(encoding="utf-8"))
        return float(doc["video"]["duration_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
