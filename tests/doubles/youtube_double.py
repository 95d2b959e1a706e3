"""A YouTube Data API v3 double: a real HTTP server on 127.0.0.1 speaking the shapes of the
resumable upload guide (developers.google.com/youtube/v3/guides/using_resumable_upload_protocol)
and the videos, thumbnails and captions references.

Routes:
- POST /upload/youtube/v3/videos?uploadType=resumable&part=... with the video resource as JSON
  and X-Upload-Content-Length -> 200, `Location:` the session URI (counted in `inserts`)
- PUT {session} with `Content-Range: bytes A-B/SIZE` -> 308 `Range: bytes=0-N`, or 200 with
  the video resource after the last byte; `Content-Range: bytes */SIZE` asks the status (308,
  or 200 and the video when finished); an unknown session is 404
- GET /youtube/v3/videos?part=status,processingDetails&id=ID -> {"items": [...]}: uploadStatus
  "uploaded" at the first look, then "processed" (or "failed" with failureReason)
- POST /upload/youtube/v3/thumbnails/set?videoId=ID (uploadType=media, the JPEG as the body)
- POST /upload/youtube/v3/captions?uploadType=multipart&part=snippet (multipart/related: the
  caption resource JSON, then the track)
- POST /token (grant_type=refresh_token) -> {"access_token", "expires_in", "token_type"}
Every API route wants `Authorization: Bearer <a token it issued>`; anything else is 401 in
Google's error shape. Faults: `expire_tokens` (every token is refused: 401), `quota_exceeded`
(403 quotaExceeded on inserts), `fail_puts` (that many chunk PUTs answer 503 without keeping
the bytes), `drop_after_chunks` (the connection closes unanswered on the chunk PUTs after that
many, the bytes kept), `lose_final_answer` (the last chunk makes the video, then the
connection closes unanswered), `fail_processing` (uploadStatus failed, failureReason codec).
Counters: inserts, puts, refreshes, requests (method, path).

Analytics (for `metrics`): GET /v2/reports?ids=channel==MINE&metrics=...&filters=video==ID
&startDate&endDate (YouTube Analytics API v2 reports.query, developers.google.com/youtube/
analytics/reference/reports/query) -> {"kind": "youtubeAnalytics#resultTable",
"columnHeaders": [{"name", "columnType": "METRIC", "dataType"}], "rows": [[values]]}, the
numbers a test puts in `analytics[video id]` (no entry: no rows, as for a video too new to
have data); a metric the API does not have (impressions) is 400. videos.list with
part=statistics gives `statistics[video id]` (counts as strings, as the Data API does). Fault:
`analytics_quota_exceeded` (403 quotaExceeded on reports); `expire_tokens` refuses it too.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.doubles.serving import serve, stop_server

AUTH_ERROR = {"error": {
    "code": 401, "message": "Request had invalid authentication credentials. Expected OAuth 2 "
    "access token, login cookie or other valid authentication credential.",
    "errors": [{"message": "Invalid Credentials", "domain": "global", "reason": "authError",
                "location": "Authorization", "locationType": "header"}],
    "status": "UNAUTHENTICATED"}}
QUOTA_ERROR = {"error": {
    "code": 403, "message": "The request cannot be completed because you have exceeded your "
    "<a href=\"/youtube/v3/getting-started#quota\">quota</a>.",
    "errors": [{"message": "The request cannot be completed because you have exceeded your "
                "<a href=\"/youtube/v3/getting-started#quota\">quota</a>.",
                "domain": "youtube.quota", "reason": "quotaExceeded"}]}}
ANALYTICS_METRICS = {"views": "INTEGER", "estimatedMinutesWatched": "INTEGER",
                     "averageViewDuration": "INTEGER", "averageViewPercentage": "FLOAT",
                     "likes": "INTEGER", "dislikes": "INTEGER", "shares": "INTEGER",
                     "comments": "INTEGER", "subscribersGained": "INTEGER"}
BACKEND_ERROR = {"error": {"code": 503, "message": "Backend Error", "errors": [
    {"message": "Backend Error", "domain": "global", "reason": "backendError"}]}}
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


class YouTubeDouble:
    def __init__(self, token: str) -> None:
        self.tokens = {token}
        self.refresh_token = ""
        self.base_url = ""
        self.expire_tokens = False
        self.quota_exceeded = False
        self.fail_puts = 0
        self.drop_after_chunks: int | None = None
        self.lose_final_answer = False
        self.fail_processing = False
        self.inserts = 0
        self.puts = 0
        self.chunks = 0
        self.refreshes = 0
        self.requests: list[tuple[str, str]] = []
        self.analytics: dict[str, dict[str, float]] = {}  # video id -> reports.query numbers
        self.statistics: dict[str, dict[str, str]] = {}  # video id -> videos.list statistics
        self.analytics_quota_exceeded = False
        self.reports = 0
        self.sessions: dict[str, dict[str, Any]] = {}
        self.videos: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def stop(self) -> None:
        stop_server(self._server)

    def resource(self, vid: str) -> dict[str, Any]:
        v = self.videos[vid]
        return {"kind": "youtube#video", "etag": "e", "id": vid, "snippet": v["snippet"],
                "status": {"uploadStatus": "uploaded", **v["status"]}}


def _handler(double: YouTubeDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None
                  ) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if body is not None:
                self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _authorized(self) -> bool:
            auth = self.headers.get("Authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else ""
            if double.expire_tokens or token not in double.tokens:
                self._send(401, AUTH_ERROR, {"WWW-Authenticate": 'Bearer realm="https://'
                                             'accounts.google.com/", error="invalid_token"'})
                return False
            return True

        def do_POST(self) -> None:
            self._route("POST")

        def do_PUT(self) -> None:
            self._route("PUT")

        def do_GET(self) -> None:
            self._route("GET")

        def _route(self, method: str) -> None:
            url = urlsplit(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            body = self._body()
            with double._lock:
                double.requests.append((method, url.path))
            if (method, url.path) == ("POST", "/token"):
                return self._token(body)
            if not self._authorized():
                return None
            if (method, url.path) == ("POST", "/upload/youtube/v3/videos"):
                return self._insert(q, body)
            if method == "PUT" and url.path == "/upload/youtube/v3/videos":
                return self._put(q.get("upload_id", ""), body)
            if (method, url.path) == ("GET", "/youtube/v3/videos"):
                return self._list(q)
            if (method, url.path) == ("GET", "/v2/reports"):
                return self._report(q)
            if (method, url.path) == ("POST", "/upload/youtube/v3/thumbnails/set"):
                return self._thumbnail(q, body)
            if (method, url.path) == ("POST", "/upload/youtube/v3/captions"):
                return self._caption(body)
            return self._send(404, {"error": {"code": 404, "message": "Not Found"}})

        def _token(self, body: bytes) -> None:
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            if form.get("grant_type") != "refresh_token" or \
                    form.get("refresh_token") != double.refresh_token or double.expire_tokens:
                return self._send(400, {"error": "invalid_grant",
                                        "error_description": "Token has been expired or "
                                        "revoked."})
            token = f"ya29.double-{uuid.uuid4().hex}"
            with double._lock:
                double.tokens.add(token)
                double.refreshes += 1
            return self._send(200, {"access_token": token, "expires_in": 3599,
                                    "token_type": "Bearer", "scope": form.get("scope", "")})

        def _insert(self, q: dict[str, str], body: bytes) -> None:
            if q.get("uploadType") != "resumable" or not q.get("part"):
                return self._send(400, {"error": {"code": 400, "message": "uploadType must be "
                                                  "resumable and part given"}})
            if double.quota_exceeded:
                return self._send(403, QUOTA_ERROR)
            resource = json.loads(body or b"{}")
            size = int(self.headers.get("X-Upload-Content-Length") or -1)
            ref = uuid.uuid4().hex
            with double._lock:
                double.inserts += 1
                double.sessions[ref] = {"size": size, "data": bytearray(), "video": None,
                                        "resource": resource}
            location = f"{double.base_url}/upload/youtube/v3/videos?uploadType=resumable&" \
                       f"part={q['part']}&upload_id={ref}"
            return self._send(200, None, {"Location": location, "X-GUploader-UploadID": ref})

        def _status(self, s: dict[str, Any]) -> None:
            if s["video"] is not None:
                return self._send(200, double.resource(s["video"]))
            have = len(s["data"])
            return self._send(308, None, {"Range": f"bytes=0-{have - 1}"} if have else {})

        def _put(self, ref: str, body: bytes) -> None:
            s = double.sessions.get(ref)
            if s is None:
                return self._send(404, {"error": {"code": 404, "message": "Not Found"}})
            rng = self.headers.get("Content-Range", "")
            if rng == f"bytes */{s['size']}":
                return self._status(s)
            m = _RANGE.match(rng)
            if not m or int(m.group(3)) != s["size"] or \
                    int(m.group(2)) - int(m.group(1)) + 1 != len(body):
                return self._send(400, {"error": {"code": 400, "message": "Bad Content-Range"}})
            with double._lock:
                double.puts += 1
                if double.fail_puts > 0:
                    double.fail_puts -= 1
                    return self._send(503, BACKEND_ERROR)
                if int(m.group(1)) != len(s["data"]):
                    return self._status(s)  # not where the session is: say what it has
                s["data"] += body
                double.chunks += 1
                last = len(s["data"]) == s["size"]
                if last and s["video"] is None:
                    vid = uuid.uuid4().hex[:11]
                    r = s["resource"]
                    double.videos[vid] = {
                        "bytes": bytes(s["data"]), "snippet": r.get("snippet", {}),
                        "status": r.get("status", {}), "looks": 0, "thumbnail": None,
                        "captions": []}
                    s["video"] = vid
                drop = (double.lose_final_answer and last) or (
                    double.drop_after_chunks is not None and not last
                    and double.chunks > double.drop_after_chunks)
                if drop:
                    double.drop_after_chunks = None
                    double.lose_final_answer = False
            if drop:  # kept, but the connection closes unanswered
                self.close_connection = True
                return None
            return self._status(s)

        def _report(self, q: dict[str, str]) -> None:
            with double._lock:
                double.reports += 1
            if double.analytics_quota_exceeded:
                return self._send(403, QUOTA_ERROR)
            metrics = [m for m in q.get("metrics", "").split(",") if m]
            unknown = [m for m in metrics if m not in ANALYTICS_METRICS]
            if q.get("ids") != "channel==MINE" or not metrics or unknown or \
                    not q.get("startDate") or not q.get("endDate"):
                what = unknown[0] if unknown else "ids, metrics, startDate and endDate"
                return self._send(400, {"error": {"code": 400, "message": f"Unknown identifier "
                                                  f"({what}) given in field parameters",
                                                  "errors": [{"reason": "badRequest"}]}})
            vid = q.get("filters", "").removeprefix("video==")
            heads = [{"name": m, "columnType": "METRIC", "dataType": ANALYTICS_METRICS[m]}
                     for m in metrics]
            numbers = double.analytics.get(vid)
            rows = [] if numbers is None else [[numbers.get(m, 0) for m in metrics]]
            return self._send(200, {"kind": "youtubeAnalytics#resultTable",
                                    "columnHeaders": heads, "rows": rows})

        def _list(self, q: dict[str, str]) -> None:
            items = []
            for vid in q.get("id", "").split(","):
                if "statistics" in q.get("part", "") and (vid in double.statistics
                                                          or vid in double.videos):
                    items.append({"kind": "youtube#video", "etag": "e", "id": vid,
                                  "statistics": double.statistics.get(vid, {})})
                    continue
                v = double.videos.get(vid)
                if v is None:
                    continue
                with double._lock:
                    v["looks"] += 1
                    looks = v["looks"]
                status: dict[str, Any] = {"privacyStatus": v["status"].get("privacyStatus",
                                                                           "private")}
                if double.fail_processing:
                    status |= {"uploadStatus": "failed", "failureReason": "codec"}
                    processing = "failed"
                elif looks > 1:
                    status["uploadStatus"], processing = "processed", "succeeded"
                else:
                    status["uploadStatus"], processing = "uploaded", "processing"
                items.append({"kind": "youtube#video", "etag": "e", "id": vid,
                              "status": status,
                              "processingDetails": {"processingStatus": processing}})
            return self._send(200, {"kind": "youtube#videoListResponse", "etag": "e",
                                    "items": items, "pageInfo": {"totalResults": len(items),
                                                                 "resultsPerPage": 5}})

        def _thumbnail(self, q: dict[str, str], body: bytes) -> None:
            v = double.videos.get(q.get("videoId", ""))
            if v is None:
                return self._send(404, {"error": {"code": 404, "message": "videoNotFound"}})
            v["thumbnail"] = body
            url = f"https://i.ytimg.com/vi/{q['videoId']}/default.jpg"
            return self._send(200, {"kind": "youtube#thumbnailSetResponse", "etag": "e",
                                    "items": [{"default": {"url": url, "width": 120,
                                                           "height": 90}}]})

        def _caption(self, body: bytes) -> None:
            head = f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n".encode()
            msg = BytesParser(policy=HTTP).parsebytes(head + body)
            parts = list(msg.iter_parts()) if msg.is_multipart() else []
            if len(parts) != 2:
                return self._send(400, {"error": {"code": 400, "message": "multipart wanted"}})
            meta = json.loads(parts[0].get_payload(decode=True))
            track = parts[1].get_payload(decode=True)
            v = double.videos.get(meta.get("snippet", {}).get("videoId", ""))
            if v is None:
                return self._send(404, {"error": {"code": 404, "message": "videoNotFound"}})
            v["captions"].append({"snippet": meta["snippet"], "track": track})
            return self._send(200, {"kind": "youtube#caption", "etag": "e",
                                    "id": uuid.uuid4().hex, "snippet": meta["snippet"]})

    return Handler


def start_youtube_double(token: str) -> YouTubeDouble:
    """Serve a double on 127.0.0.1 (a free port) in a daemon thread; call `.stop()` after.
    `token` is an access token it accepts."""
    double = YouTubeDouble(token)
    double._server, double.base_url = serve(_handler(double), "youtube-double")
    return double
