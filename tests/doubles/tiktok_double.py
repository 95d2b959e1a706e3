"""A small TikTok Content Posting API double: a real HTTP server on 127.0.0.1.

It speaks the shapes of the real API (developers.tiktok.com, late 2026):

- POST /v2/post/publish/creator_info/query/ -> data {creator_username, privacy_level_options,
  comment_disabled, duet_disabled, stitch_disabled, max_video_post_duration_sec}
  (doc/content-posting-api-reference-query-creator-info);
- POST /v2/post/publish/video/init/ {post_info, source_info FILE_UPLOAD} -> data
  {publish_id, upload_url}, checking the chunk rules of the media transfer guide (chunks of
  `min_chunk` (5 MB) to 64 MB, total_chunk_count = floor(video_size / chunk_size), a video
  under `min_chunk` whole) (doc/content-posting-api-reference-direct-post);
- PUT {upload_url} with Content-Range, one chunk in order: 206, or 201 once whole
  (doc/content-posting-api-media-transfer-guide);
- POST /v2/post/publish/status/fetch/ {publish_id} -> data {status, fail_reason,
  publicaly_available_post_id, uploaded_bytes}: PROCESSING_UPLOAD until the file is whole,
  once more after it, then PUBLISH_COMPLETE (or FAILED)
  (doc/content-posting-api-reference-get-video-status).

- POST /v2/video/query/?fields=id,view_count,... {"filters": {"video_ids": [...]}} -> data
  {videos: [the requested fields of each of the account's videos asked for], cursor,
  has_more} (scope video.list, doc/tiktok-api-v2-video-query); the counts are what a test
  puts in `video_stats[post id]`; a video not there is left out, as TikTok leaves out
  another account's.

Every answer has TikTok's envelope {"data", "error": {code, message, log_id}}. Faults on
demand, per endpoint: an expired token (401 access_token_invalid, echoing the token as a
careless server might), a rate limit (429 rate_limit_exceeded), the daily post cap (403
spam_risk_too_many_posts), a chunk rejected (400), a connection dropped after a chunk was
stored (its answer lost), and processing that fails. `inits` counts init calls, so a test
can assert that nothing was ever posted twice.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MB = 1024 * 1024
FAULTS = ("expired_token", "rate_limit", "too_many_posts", "chunk_rejected", "drop",
          "processing_failed")
ALL_LEVELS = ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR",
              "SELF_ONLY"]
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


def _answer(data: dict[str, Any] | None = None, code: str = "ok",
            message: str = "") -> dict[str, Any]:
    return {"data": data or {}, "error": {"code": code, "message": message,
                                          "log_id": uuid.uuid4().hex[:20].upper()}}


class TikTokDouble:
    """State of the double: creator settings, uploads, faults queued per endpoint."""

    def __init__(self, token: str, *, min_chunk: int = 5 * MB) -> None:
        self.token = token
        self.min_chunk = min_chunk
        self.creator: dict[str, Any] = {
            "creator_avatar_url": "https://p16.tiktokcdn.example/avatar.jpeg",
            "creator_username": "trailhead", "creator_nickname": "Trailhead",
            "privacy_level_options": list(ALL_LEVELS), "comment_disabled": False,
            "duet_disabled": False, "stitch_disabled": True,
            "max_video_post_duration_sec": 600}
        self.inits = 0
        self.uploads: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self._faults: dict[str, deque[str | None]] = {}
        self.chunks = 0  # PUTs answered or dropped after storing
        self.video_stats: dict[str, dict[str, Any]] = {}  # public post id -> video object
        self.queries = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True, name="tiktok-double")
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail(self, kind: str, on: str, *, after: int = 0, times: int = 1) -> None:
        """Break `times` calls to `on` (creator, init, upload, status) after `after` more
        go through."""
        if kind not in FAULTS or on not in ("creator", "init", "upload", "status", "query"):
            raise ValueError(f"fault {kind!r} on {on!r}")
        with self._lock:
            self._faults.setdefault(on, deque()).extend([None] * after + [kind] * times)

    def videos(self) -> list[dict[str, Any]]:
        """Every upload made whole, with what was posted with it."""
        return [u for u in self.uploads.values() if len(u["bytes"]) == u["size"]]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _fault(self, on: str) -> str | None:
        with self._lock:
            q = self._faults.get(on)
            return q.popleft() if q else None

    # ---- request handling (server threads)
    def api(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        path, _, query = path.partition("?")
        on = {"/v2/post/publish/creator_info/query/": "creator",
              "/v2/post/publish/video/init/": "init",
              "/v2/post/publish/status/fetch/": "status",
              "/v2/video/query/": "query"}.get(path)
        if on is None:
            return 404, _answer(code="not_found", message=f"no endpoint {path}")
        fault = self._fault(on)
        given = headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            self.requests.append({"path": path, "authorization": bool(given)})
        if given != self.token or fault == "expired_token":
            return 401, _answer(code="access_token_invalid", message=(
                f"The access token is invalid or not found in the request: {given}"))
        if fault == "rate_limit":
            return 429, _answer(code="rate_limit_exceeded",
                                message="API rate limit was exceeded.")
        if fault == "too_many_posts":
            return 403, _answer(code="spam_risk_too_many_posts",
                                message="The daily post cap from the API is reached.")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, _answer(code="invalid_params", message="body is not JSON")
        if on == "creator":
            return 200, _answer(dict(self.creator))
        if on == "init":
            return self._init(body)
        if on == "query":
            return self._query(query, body)
        return self._status(body, fault)

    def _init(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        post, src = body.get("post_info") or {}, body.get("source_info") or {}
        if post.get("privacy_level") not in self.creator["privacy_level_options"]:
            return 403, _answer(code="privacy_level_option_mismatch",
                                message="privacy_level is not among the creator's options")
        size, chunk, count = (src.get("video_size"), src.get("chunk_size"),
                              src.get("total_chunk_count"))
        ok = src.get("source") == "FILE_UPLOAD" and all(
            isinstance(v, int) and v > 0 for v in (size, chunk, count))
        if ok:
            if size < self.min_chunk:
                ok = chunk == size and count == 1
            else:
                ok = (self.min_chunk <= chunk <= 64 * MB and count == size // chunk
                      and 1 <= count <= 1000 and size - (count - 1) * chunk <= 128 * MB)
        if not ok:
            return 400, _answer(code="invalid_params", message="The chunk size or total "
                                "chunk count is invalid.")
        pid = f"v_pub_file~v2-1.{uuid.uuid4().int % 10**18}"
        with self._lock:
            self.inits += 1
            self.uploads[pid] = {"publish_id": pid, "post_info": post, "size": size,
                                 "chunk": chunk, "count": count, "bytes": bytearray(),
                                 "checks_after_upload": 0, "failed": False,
                                 "public_id": 7300000000000000001 + len(self.uploads)}
        url = f"{self.base_url}/upload/?upload_id={pid}&upload_token={uuid.uuid4().hex}"
        return 200, _answer({"publish_id": pid, "upload_url": url})

    def _query(self, query: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        fields = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("fields", "")
        wanted = [f for f in fields.split(",") if f]
        ids = (body.get("filters") or {}).get("video_ids")
        if not wanted or not isinstance(ids, list) or not 1 <= len(ids) <= 20:
            return 400, _answer(code="invalid_params", message="fields and filters.video_ids "
                                "(1 to 20) are required")
        with self._lock:
            self.queries += 1
        videos = [{k: v for k, v in {"id": str(i), **self.video_stats[str(i)]}.items()
                   if k in wanted} for i in ids if str(i) in self.video_stats]
        return 200, _answer({"videos": videos, "cursor": 0, "has_more": False})

    def _status(self, body: dict[str, Any], fault: str | None) -> tuple[int, dict[str, Any]]:
        up = self.uploads.get(str(body.get("publish_id")))
        if up is None:
            return 400, _answer(code="invalid_publish_id", message="publish_id not found")
        data: dict[str, Any] = {"status": "PROCESSING_UPLOAD", "fail_reason": "",
                                "publicaly_available_post_id": [],
                                "uploaded_bytes": len(up["bytes"])}
        if len(up["bytes"]) == up["size"]:
            if fault == "processing_failed":
                up["failed"] = True
            up["checks_after_upload"] += 1
            if up["failed"]:
                data.update(status="FAILED", fail_reason="file_format_check_failed")
            elif up["checks_after_upload"] > 1:
                data.update(status="PUBLISH_COMPLETE",
                            publicaly_available_post_id=[up["public_id"]])
        return 200, _answer(data)

    def upload(self, query: str, headers: dict[str, str], raw: bytes
               ) -> tuple[int, str | None]:
        """A chunk: (status, None) to answer, or (0, None) to drop the connection."""
        pid = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("upload_id", "")
        up = self.uploads.get(pid)
        if headers.get("authorization"):  # the token never goes to the upload URL
            return 400, "authorization sent to the upload URL"
        if up is None:
            return 404, "no such upload"
        fault = self._fault("upload")
        if fault == "chunk_rejected":
            return 400, "chunk rejected"
        m = _RANGE.match(headers.get("content-range", ""))
        if not m or headers.get("content-type") != "video/mp4":
            return 400, "Content-Range and Content-Type video/mp4 are required"
        first, last, total = (int(g) for g in m.groups())
        have = len(up["bytes"])
        index = first // up["chunk"]
        want_last = up["size"] - 1 if index == up["count"] - 1 else first + up["chunk"] - 1
        if total != up["size"] or first != have or last != want_last \
                or len(raw) != last - first + 1:
            return 416, f"chunk out of order: have {have}"
        with self._lock:
            up["bytes"].extend(raw)
            self.chunks += 1
        if fault == "drop":
            return 0, None
        return (201 if len(up["bytes"]) == up["size"] else 206), None


def _make_handler(double: TikTokDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, payload: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = double.api(self.path, headers, raw)
            self._send(status, json.dumps(payload).encode(), "application/json")

        def do_PUT(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            path, _, query = self.path.partition("?")
            status, text = double.upload(query, headers, raw) if path == "/upload/" \
                else (404, "not found")
            if status == 0:  # the connection drops before the answer
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._send(status, (text or "").encode(), "text/plain")

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    return Handler


def start_tiktok_double(token: str, *, min_chunk: int = 5 * MB) -> TikTokDouble:
    """Start the double on a free port; point NBVIDEO_TIKTOK_BASE_URL at `double.base_url`."""
    return TikTokDouble(token, min_chunk=min_chunk)
