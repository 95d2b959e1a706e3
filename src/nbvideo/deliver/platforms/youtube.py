"""YouTube: the YouTube Data API v3 through google-api-python-client, uploads resumable.

The Publisher steps map onto YouTube's resumable upload protocol
(developers.google.com/youtube/v3/guides/using_resumable_upload_protocol):

- `open`: POST /upload/youtube/v3/videos?uploadType=resumable&part=snippet,status with the
  video resource (snippet title/description/tags, status privacyStatus) and
  X-Upload-Content-Length/-Type; the answer's `Location` is the session URI, saved as the
  session's `ref` (step 1 of the guide);
- `send`: PUT a chunk to the session URI with `Content-Range: bytes A-B/SIZE`; YouTube answers
  308 Resume Incomplete with `Range: bytes=0-N` (it has N+1 bytes), or 200/201 with the video
  resource after the last one (steps 2 and 3; chunks are multiples of 256 KiB, the guide's
  rule for every chunk but the last);
- `offset`: PUT with no body and `Content-Range: bytes */SIZE` asks the session what it has:
  308 and its Range, or 200/201 and the video when it was already finished (step 4, "check the
  status of a resumable upload"), so a lost last answer finds the video instead of a second;
- `finish`: the video id the last chunk's answer gave (or the status query's);
- `check`: videos.list part=status,processingDetails: status.uploadStatus is uploaded (still
  processing), processed, failed (status.failureReason) or rejected (status.rejectionReason)
  (developers.google.com/youtube/v3/docs/videos#resource). At the first check the package's
  poster.jpg goes up with thumbnails.set (developers.google.com/youtube/v3/docs/thumbnails/set)
  and captions.srt with captions.insert (developers.google.com/youtube/v3/docs/captions/insert);
  both are best effort, noted on the post, never a reason to fail it.

Why the chunks go through httpx and not `HttpRequest.next_chunk`: the library keeps the
session URI in the request object's memory and merges opening the session with the first
chunk, while a post must save the session before a byte is sent and resume it from another
process. The library still builds every request from its bundled discovery document
(`static_discovery=True`: nothing is fetched), including the session's opening POST, and
makes the videos.list, thumbnails.set and captions.insert calls.

The token (NBVIDEO_YOUTUBE_TOKEN, the keyring, set_keys) is a plain OAuth access token or the
JSON of an authorized user (client_id, client_secret, refresh_token). It only goes where
`keys.key_destination("youtube")` allows (Google's API, or NBVIDEO_YOUTUBE_BASE_URL), and a
refresh only to Google's token endpoint (or that base URL's /token). Vendor text is passed
through `redact` before it becomes an error.

`metrics` asks the YouTube Analytics API v2 (reports.query, ids=channel==MINE,
filters=video==ID, developers.google.com/youtube/analytics/reference/reports/query) on
youtubeanalytics.googleapis.com, or the same NBVIDEO_YOUTUBE_BASE_URL: views, watch time,
average view duration and percentage, likes, shares, comments. Its data lags a day or two; a
video it has no row for yet gets videos.list part=statistics (viewCount, likeCount,
commentCount) from the Data API instead. It needs the token to carry the yt-analytics.readonly
scope.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from nbvideo.deliver.platforms.base import MetricsFailed, Publisher, PublishFailed, Remote
from nbvideo.errors import InvalidInput
from nbvideo.keys import get_key, key_destination, redact
from nbvideo.model.metrics import PostMetrics
from nbvideo.model.posts import Post, UploadSession

__all__ = ["ANALYTICS_SCOPE", "CHUNK_UNIT", "SCOPES", "YouTubePublisher"]

CHUNK_UNIT = 256 * 1024  # every chunk but the last is a multiple of this (the guide's rule)
SCOPES = ("https://www.googleapis.com/auth/youtube.upload",
          "https://www.googleapis.com/auth/youtube.force-ssl")
GOOGLE_API = "https://www.googleapis.com"
ANALYTICS_API = "https://youtubeanalytics.googleapis.com"
ANALYTICS_SCOPE = "https://www.googleapis.com/auth/yt-analytics.readonly"
# reports.query metrics (developers.google.com/youtube/analytics/metrics). Impressions and
# their click-through rate are not among them: YouTube gives those only in the Reporting
# API's bulk reports (developers.google.com/youtube/reporting/v1/reports/metrics:
# video_thumbnail_impressions, video_thumbnail_impressions_ctr), so they stay NaN here.
ANALYTICS_METRICS = ("views", "estimatedMinutesWatched", "averageViewDuration",
                     "averageViewPercentage", "likes", "shares", "comments")
HOW_TO_TOKEN = ("give NBVIDEO_YOUTUBE_TOKEN (or `keyring set nbvideo youtube`) an authorized "
                "user's JSON with a refresh token, or a fresh access token; see "
                "docs/publishing.md, YouTube")
_RANGE = re.compile(r"^bytes=0-(\d+)$")


_secrets: set[str] = set()  # the parts of an authorized user's JSON and tokens it refreshed


def _scrub(text: str) -> str:
    """`text` without any known key (`redact`) or any part of the YouTube credentials."""
    for s in _secrets:
        text = text.replace(s, "***")
    return redact(text)


def _fail(status: int, text: str, what: str) -> PublishFailed:
    """The PublishFailed for YouTube's answer `status` with error body `text` to `what`."""
    reason, message = "", ""
    try:
        err = json.loads(text).get("error", {})
        message = str(err.get("message", ""))
        reason = str((err.get("errors") or [{}])[0].get("reason", ""))
    except (ValueError, AttributeError, TypeError, IndexError):
        message = text[:300]
    message = _scrub(message)[:300]
    if status == 401:
        return PublishFailed(f"YouTube refused the token for {what} (401: expired or revoked; "
                             f"an access token lasts an hour): {HOW_TO_TOKEN}", transient=False)
    if status == 403 and reason in ("quotaExceeded", "dailyLimitExceeded"):
        return PublishFailed(f"YouTube: the Google Cloud project's daily YouTube Data API quota "
                             f"is used up ({reason}) for {what}; it resets at midnight Pacific "
                             "Time: publish again after that, or ask Google for more quota",
                             transient=False)
    transient = status >= 500 or status == 429 or reason == "rateLimitExceeded"
    return PublishFailed(f"YouTube refused {what} ({status}{' ' + reason if reason else ''})"
                         f"{': ' + message if message else ''}", transient=transient)


class YouTubePublisher(Publisher):
    """Posts to the channel of the token's account. `chunk_bytes` must be a multiple of
    256 KiB; `retries` is how many 5xx answers in a row a chunk gets before the publish
    stops (a stopped one resumes on the next publish)."""

    platform = "youtube"
    poll_s = (2.0, 5.0, 10.0, 30.0)

    def __init__(self, *, chunk_bytes: int = 8 * 1024 * 1024, retries: int = 3,
                 retry_pause_s: float = 1.0) -> None:
        if chunk_bytes <= 0 or chunk_bytes % CHUNK_UNIT:
            raise InvalidInput(f"chunk_bytes must be a positive multiple of 256 KiB "
                             f"({CHUNK_UNIT}), got {chunk_bytes}")
        self.chunk_bytes = chunk_bytes
        self.retries = retries
        self.retry_pause_s = retry_pause_s
        self.base = (key_destination("youtube") or GOOGLE_API).rstrip("/")
        self._creds: Any = None
        self._acreds: Any = None  # the Analytics API's (see _credentials)
        self._service: Any = None
        # the Analytics API has its own host; a base URL named for YouTube serves both
        self.analytics_base = self.base if self.base != GOOGLE_API else ANALYTICS_API

    # ------------------------------------------------------------------ token and requests
    def _credentials(self, *, analytics: bool = False) -> Any:
        """google-auth credentials from the token, refreshed when they can and must be.
        `analytics`: a second set for the Analytics API, refreshed without narrowing the
        token to the upload scopes (it needs yt-analytics.readonly, which they lack)."""
        from google.auth.exceptions import RefreshError
        from google.auth.transport.requests import Request
        from google.oauth2.credentials import Credentials

        attr = "_acreds" if analytics else "_creds"
        if getattr(self, attr) is None:
            value = str(get_key("youtube"))
            if value.lstrip().startswith("{"):
                try:
                    info = json.loads(value)
                    if not isinstance(info, dict):
                        raise ValueError
                    # the refresh token goes to Google's token endpoint (google-auth ignores a
                    # token_uri in the JSON), or to the gated base URL's /token for a double
                    made = Credentials.from_authorized_user_info(
                        info, None if analytics else list(SCOPES))
                    if self.base != GOOGLE_API:
                        made = made.with_token_uri(f"{self.base}/token")
                    setattr(self, attr, made)
                    _secrets.update(str(info[k]) for k in ("refresh_token", "client_secret")
                                    if len(str(info.get(k) or "")) >= 8)
                except ValueError:
                    raise PublishFailed("the YouTube token is JSON but not an authorized "
                                        "user's (client_id, client_secret, refresh_token): "
                                        f"{HOW_TO_TOKEN}", transient=False) from None
            else:
                setattr(self, attr, Credentials(token=value))
        creds = getattr(self, attr)
        if not creds.valid and creds.refresh_token:
            try:
                creds.refresh(Request())
            except RefreshError:
                raise PublishFailed("Google refused the YouTube refresh token (revoked, "
                                    "expired after 7 days in a 'Testing' app, or for another "
                                    f"client): {HOW_TO_TOKEN}", transient=False) from None
            except Exception as exc:  # the token endpoint unreachable
                raise PublishFailed(f"could not reach Google's token endpoint "
                                    f"({type(exc).__name__})", transient=True) from None
            if creds.token and len(creds.token) >= 8:
                _secrets.add(creds.token)
        return creds

    def _api(self) -> Any:
        """The youtube v3 service from the bundled discovery document."""
        if self._service is None:
            from googleapiclient.discovery import build
            self._service = build("youtube", "v3", credentials=self._credentials(),
                                  static_discovery=True, cache_discovery=False,
                                  client_options={"api_endpoint": self.base})
        return self._service

    def _gated(self, uri: str) -> str:
        """`uri` on the gated base (the library keeps https for its media paths)."""
        parts, base = urlsplit(uri), urlsplit(self.base)
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))

    async def _call(self, request: Any, what: str) -> dict[str, Any]:
        """Execute a googleapiclient request on the gated base, YouTube's errors mapped."""
        from google.auth.exceptions import RefreshError
        from googleapiclient.errors import HttpError
        from httplib2 import HttpLib2Error

        request.uri = self._gated(request.uri)
        try:
            return await asyncio.to_thread(request.execute, num_retries=0)  # type: ignore[no-any-return]
        except HttpError as exc:
            body = exc.content.decode("utf-8", "replace") if exc.content else ""
            raise _fail(int(exc.resp.status), body, what) from None
        except RefreshError:  # a plain access token answered 401: nothing to refresh with
            raise _fail(401, "", what) from None
        except (OSError, TimeoutError, HttpLib2Error) as exc:
            raise PublishFailed(f"YouTube could not be reached for {what} "
                                f"({type(exc).__name__})", transient=True) from None
        finally:  # httplib2 keeps its connections open otherwise; polls are minutes apart
            self._api().close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._credentials().token}"}

    def _own_session(self, ref: str) -> str:
        """The session URI, only if it is on the gated host: the token goes with every PUT."""
        got, base = urlsplit(ref), urlsplit(self.base)
        if (got.scheme, got.netloc) != (base.scheme, base.netloc):
            raise PublishFailed(f"YouTube's upload session is on {got.netloc or 'no host'}, "
                                f"not {base.netloc}; the token is not sent there",
                                transient=False)
        return ref

    async def _put(self, session: UploadSession, body: bytes, content_range: str,
                   what: str) -> httpx.Response:
        headers = {**self._headers(), "Content-Range": content_range}
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0)) as client:
                return await client.put(self._own_session(session.ref), content=body,
                                        headers=headers)
        except httpx.TransportError as exc:
            raise PublishFailed(f"the connection to YouTube dropped during {what} "
                                f"({type(exc).__name__})", transient=True) from None

    def _video(self, resp: httpx.Response, session: UploadSession) -> Remote:
        """The video resource a finished session answers with; its id is kept on the session."""
        try:
            vid = str(resp.json()["id"])
        except (ValueError, KeyError, TypeError):
            raise PublishFailed("YouTube finished the upload but its answer has no video id",
                                transient=True) from None
        session.extra["video_id"] = vid
        return Remote(id=vid, url=f"https://www.youtube.com/watch?v={vid}", state="processing")

    @staticmethod
    def _have(resp: httpx.Response) -> int:
        m = _RANGE.match(resp.headers.get("Range", "").strip())
        return int(m.group(1)) + 1 if m else 0

    # ------------------------------------------------------------------ the steps
    async def open(self, post: Post, video: Path) -> UploadSession:
        from googleapiclient.http import MediaFileUpload

        f = post.fields
        snippet: dict[str, Any] = {"title": str(f.get("title") or video.stem)[:100],
                                   "description": str(f.get("description") or "")}
        if f.get("tags"):
            snippet["tags"] = [str(t) for t in f["tags"]]
        if f.get("language"):  # the title's and the speech's language (videos#snippet)
            snippet["defaultLanguage"] = snippet["defaultAudioLanguage"] = str(f["language"])
        status: dict[str, Any] = {"privacyStatus": str(f.get("privacy_status") or "private")}
        if f.get("made_for_kids") is not None:
            status["selfDeclaredMadeForKids"] = bool(f["made_for_kids"])
        size = video.stat().st_size
        media = MediaFileUpload(str(video), mimetype="video/*", resumable=True,
                                chunksize=self.chunk_bytes)
        try:  # the library only builds the request here: its URI, JSON body and upload type
            req = self._api().videos().insert(part="snippet,status",
                                              body={"snippet": snippet, "status": status},
                                              media_body=media)
        finally:
            media.stream().close()
        headers = {**self._headers(), "Content-Type": "application/json; charset=UTF-8",
                   "X-Upload-Content-Length": str(size), "X-Upload-Content-Type": "video/*"}
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0)) as client:
                resp = await client.post(self._gated(req.uri), content=req.body,
                                         headers=headers)
        except httpx.TransportError as exc:
            raise PublishFailed(f"YouTube could not be reached to open the upload "
                                f"({type(exc).__name__})", transient=True) from None
        if resp.status_code != 200 or not resp.headers.get("Location"):
            raise _fail(resp.status_code, resp.text, "opening the upload")
        ref = self._own_session(resp.headers["Location"])
        return UploadSession(ref=ref, size=size, opened_at=datetime.now(UTC),
                             extra={"folder": str(video.parent)})

    async def offset(self, session: UploadSession) -> int | Remote:
        resp = await self._put(session, b"", f"bytes */{session.size}", "the status query")
        if resp.status_code in (200, 201):
            return self._video(resp, session)
        if resp.status_code == 308:
            return self._have(resp)
        if resp.status_code in (404, 410):
            raise PublishFailed("YouTube no longer has this upload session (a session lasts "
                                "about a week): publish the package again to start a new one",
                                transient=False)
        raise _fail(resp.status_code, resp.text, "the status query")

    async def send(self, session: UploadSession, video: Path, offset: int) -> int:
        with video.open("rb") as src:
            src.seek(offset)
            chunk = src.read(self.chunk_bytes)
        end = offset + len(chunk) - 1
        for attempt in range(self.retries + 1):
            resp = await self._put(session, chunk, f"bytes {offset}-{end}/{session.size}",
                                   "the upload")
            if resp.status_code in (200, 201):
                self._video(resp, session)
                return session.size
            if resp.status_code == 308:
                return self._have(resp)
            if resp.status_code < 500 or attempt == self.retries:
                raise _fail(resp.status_code, resp.text, "a chunk of the upload")
            # a 5xx: the guide says to ask what it has and resume from there
            await asyncio.sleep(self.retry_pause_s * (attempt + 1))
            have = await self.offset(session)
            if isinstance(have, Remote):
                return session.size
            if have != offset:
                return have
        raise AssertionError("unreachable")

    async def finish(self, post: Post, session: UploadSession) -> Remote:
        vid = session.extra.get("video_id")
        if vid:
            return Remote(id=vid, url=f"https://www.youtube.com/watch?v={vid}",
                          state="processing")
        have = await self.offset(session)
        if isinstance(have, Remote):
            return have
        raise PublishFailed(f"YouTube has {have:,} of {session.size:,} bytes of the upload",
                            transient=True)

    async def check(self, post: Post) -> Remote:
        if post.remote_id is None:
            raise PublishFailed("the YouTube post has no video id yet")
        vid = post.remote_id
        got = await self._call(self._api().videos().list(
            part="status,processingDetails", id=vid), "the video's status")
        items = got.get("items") or []
        if not items:
            raise PublishFailed(f"YouTube has no video {vid} (was it deleted?)",
                                transient=False)
        if post.session is not None and post.session.extra.get("extras") != "done":
            await self._extras(post, vid)
            post.session.extra["extras"] = "done"
        st = items[0].get("status") or {}
        url = f"https://www.youtube.com/watch?v={vid}"
        upload = st.get("uploadStatus")
        if upload == "processed":
            return Remote(id=vid, url=url, state="posted")
        if upload in ("failed", "rejected", "deleted"):
            why = st.get("failureReason") or st.get("rejectionReason") or upload
            return Remote(id=vid, url=url, state="failed",
                          error=_scrub(f"YouTube {upload} the video: {why}")[:500])
        return Remote(id=vid, url=url, state="processing")

    async def _extras(self, post: Post, vid: str) -> None:
        """The thumbnail and captions, when the package has them; a refusal is noted only."""
        from googleapiclient.http import MediaFileUpload

        folder = Path(post.session.extra.get("folder", "")) if post.session else None
        if folder is None:
            return
        api = self._api()
        poster = folder / str(post.fields.get("thumbnail") or "poster.jpg")
        if poster.is_file():
            media = MediaFileUpload(str(poster), mimetype="image/jpeg")
            try:
                await self._call(api.thumbnails().set(videoId=vid, media_body=media),
                                 "the thumbnail")
                post.note(f"thumbnail set from {poster.name}")
            except PublishFailed as exc:
                post.note(f"thumbnail not set: {exc} (the video is unaffected)")
            finally:
                media.stream().close()
        srt = folder / str(post.fields.get("captions") or "captions.srt")
        if srt.is_file():
            lang = str(post.fields.get("language") or "en")  # packages before it: English
            body = {"snippet": {"videoId": vid, "language": lang, "name": f"Captions ({lang})"}}
            media = MediaFileUpload(str(srt), mimetype="application/octet-stream")
            try:
                await self._call(api.captions().insert(part="snippet", body=body,
                                                       media_body=media), "the captions")
                post.note(f"captions added from {srt.name}")
            except PublishFailed as exc:
                post.note(f"captions not added: {exc} (the video is unaffected)")
            finally:
                media.stream().close()

    # ------------------------------------------------------------------ analytics
    def _analytics_fail(self, status: int, text: str) -> MetricsFailed:
        """The MetricsFailed for the Analytics API's answer `status` with error body `text`
        (Google's error shape: {"error": {"code", "message", "errors": [{"reason"}]}})."""
        reason, message = "", ""
        try:
            err = json.loads(text).get("error", {})
            message = str(err.get("message", ""))
            reason = str((err.get("errors") or [{}])[0].get("reason", "") or
                         err.get("status", ""))
        except (ValueError, AttributeError, TypeError, IndexError):
            message = text[:300]
        message = _scrub(message)[:300]
        if status == 401:
            return MetricsFailed("YouTube refused the token for the video's analytics (401: "
                                 f"expired or revoked): {HOW_TO_TOKEN}", transient=False)
        if reason in ("quotaExceeded", "dailyLimitExceeded", "RESOURCE_EXHAUSTED"):
            return MetricsFailed(f"YouTube Analytics: the Google Cloud project's quota is used "
                                 f"up ({reason}); it resets at midnight Pacific Time: ask "
                                 "again after that (the numbers last saved are shown)",
                                 transient=True)
        if status == 403 and reason in ("insufficientPermissions", "forbidden",
                                        "PERMISSION_DENIED"):
            return MetricsFailed(f"YouTube refused the video's analytics ({reason}): the token "
                                 f"needs the {ANALYTICS_SCOPE} scope, and the channel must be "
                                 "the token's own", transient=False)
        return MetricsFailed(f"YouTube Analytics refused the query ({status}"
                             f"{' ' + reason if reason else ''})"
                             f"{': ' + message if message else ''}",
                             transient=status >= 500 or status == 429)

    async def _report(self, vid: str, since: datetime) -> dict[str, float]:
        """reports.query for one video since `since`: {metric: value}, {} when no row yet."""
        from google.auth.exceptions import RefreshError
        from googleapiclient.discovery import build
        from googleapiclient.errors import HttpError
        from httplib2 import HttpLib2Error

        try:
            creds = self._credentials(analytics=True)
        except PublishFailed as exc:
            raise MetricsFailed(str(exc), transient=exc.transient) from None
        service = build("youtubeAnalytics", "v2", credentials=creds, static_discovery=True,
                        cache_discovery=False,
                        client_options={"api_endpoint": self.analytics_base})
        today = datetime.now(UTC).date()
        start = min(since.astimezone(UTC).date() - timedelta(days=1), today)  # Pacific dates
        request = service.reports().query(
            ids="channel==MINE", metrics=",".join(ANALYTICS_METRICS), filters=f"video=={vid}",
            startDate=start.isoformat(), endDate=today.isoformat())
        try:
            got = await asyncio.to_thread(request.execute, num_retries=0)
        except HttpError as exc:
            body = exc.content.decode("utf-8", "replace") if exc.content else ""
            raise self._analytics_fail(int(exc.resp.status), body) from None
        except RefreshError:
            raise self._analytics_fail(401, "") from None
        except (OSError, TimeoutError, HttpLib2Error) as exc:
            raise MetricsFailed(f"YouTube Analytics could not be reached "
                                f"({type(exc).__name__})", transient=True) from None
        finally:
            service.close()
        names = [str(h.get("name")) for h in got.get("columnHeaders") or []]
        rows = got.get("rows") or []
        if not rows:
            return {}
        return {n: float(v) for n, v in zip(names, rows[0], strict=False)
                if isinstance(v, int | float)}

    async def metrics(self, post: Post) -> PostMetrics:
        if post.remote_id is None:
            raise MetricsFailed("the YouTube post has no video id yet", transient=False)
        vid = post.remote_id
        since = next((e.at for e in post.events if e.status == "posted"), post.created_at)
        r = await self._report(vid, since)
        if r:
            pct = r.get("averageViewPercentage")
            minutes = r.get("estimatedMinutesWatched")
            return PostMetrics(
                post=post.id, platform=self.platform, remote_id=vid, views=r.get("views"),
                watch_time_s=None if minutes is None else minutes * 60,
                avg_view_s=r.get("averageViewDuration"),
                # a Short watched in loops can pass 100 %: retention is capped at all of it
                retention=None if pct is None else min(1.0, pct / 100),
                likes=r.get("likes"), shares=r.get("shares"), comments=r.get("comments"))
        # no analytics row yet (it lags a day or two): the Data API's public counts
        # (developers.google.com/youtube/v3/docs/videos#statistics)
        try:
            got = await self._call(self._api().videos().list(part="statistics", id=vid),
                                   "the video's statistics")
        except PublishFailed as exc:
            raise MetricsFailed(str(exc), transient=exc.transient) from None
        items = got.get("items") or []
        if not items:
            raise MetricsFailed(f"YouTube has no video {vid} (was it deleted?)",
                                transient=False)
        st = items[0].get("statistics") or {}

        def num(key: str) -> float | None:
            try:
                return float(st[key])
            except (KeyError, TypeError, ValueError):
                return None

        return PostMetrics(post=post.id, platform=self.platform, remote_id=vid,
                           views=num("viewCount"), likes=num("likeCount"),
                           comments=num("commentCount"))
