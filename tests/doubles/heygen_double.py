"""A HeyGen API double: a real HTTP server on 127.0.0.1 speaking the v3 API's shapes.

Routes (shapes from HeyGen's v3 reference and its CLI's generated schemas, cited in
src/nbvideo/providers/heygen.py):
- POST /v3/videos (type "avatar") -> {"data": {"video_id", "status": "waiting",
  "output_format": "mp4"}}; honours the Idempotency-Key header as documented: a create sent
  again with a key seen in the last 24 h replays the first (2xx) answer and makes nothing; one
  that arrives while the first is still being made gets 409 request_in_progress
- GET /v3/videos/{id} -> {"data": {id, status, video_url, duration, failure_code,
  failure_message, ...}}; status pending -> processing -> completed (or failed)
- DELETE /v3/videos/{id} -> {"data": {"id", "deleted": true}}
- POST /v3/assets (multipart `file`, PNG or JPEG; Idempotency-Key as above) -> {"data":
  {"asset_id", "url", "mime_type", "size_bytes"}}
- GET /v3/avatars/looks, GET /v3/voices -> {"data": [...], "has_more", "next_token"}, at most
  `page_size` items a page (`limit`, `token`); GET /v3/avatars/looks/{id} -> {"data": look}
- GET /files/{id}.mp4 -> a real H.264 + AAC MP4 whose length is the speech's (words at 2.5/s)
- any /v1/ or /v2/ path -> 410 in the v3 error shape: those endpoints were retired on
  2026-11-01 (HeyGen documents the date, not the retired endpoints' answer: the status and
  code here are ours), so a provider that slips back to v2 fails loudly.
Every API route wants X-Api-Key; a wrong one is a 401 in HeyGen's error shape. Faults:
`inject(route, status, times)` for routes create, status, delete, upload, looks, voices (429
with a Retry-After; 409 request_in_progress; else internal_error), `fail_avatars` (videos of
these avatar ids end `failed` with a failure code and message), `fail_next` (so do that many
of the next videos), `latency_s` (a slow render),
`drop_create_answers` (that many creates are made, and billed, but the connection closes
with no answer: a lost answer). Counters: creates (POSTs to /v3/videos), generates (videos
made), status_requests, deletes, uploads, requests, bodies, idempotency_keys, charged_usd,
billed_seconds.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nbvideo.media.ffmpeg import ffmpeg_exe

# A recorded example of the real request, in the shape HeyGen's v3 reference gives
# (developers.heygen.com/reference/create-video, CreateVideoFromAvatar).
RECORDED_REQUEST = {
    "type": "avatar", "avatar_id": "Angela-inTshirt-20220820", "script": "Meet the trail shoe.",
    "voice_id": "1bd001e7e50f421d891986aad5158bc8", "aspect_ratio": "16:9",
    "resolution": "720p", "background": {"type": "color", "value": "#FAFAFA"}}
# The fields of GET /v3/videos/{video_id}'s `data` (heygen-cli gen/video.go VideoGet response
# schema; output_language is "present only for translated videos").
STATUS_FIELDS = {"id", "title", "status", "video_url", "captioned_video_url", "subtitle_url",
                 "thumbnail_url", "gif_url", "duration", "created_at", "completed_at",
                 "failure_code", "failure_message", "folder_id", "video_page_url"}
# The fields POST /v3/videos type "avatar" takes (CreateVideoFromAvatar's properties)
CREATE_FIELDS = {"type", "avatar_id", "title", "resolution", "aspect_ratio", "fit",
                 "background", "remove_background", "callback_url", "callback_id", "watermark",
                 "caption", "output_format", "script", "voice_id", "audio_url",
                 "audio_asset_id", "voice_settings", "motion_prompt", "expressiveness",
                 "engine"}
LOOKS = [
    {"id": "Abigail_expressive_2024112501", "name": "Abigail (Upper Body)",
     "avatar_type": "studio_avatar", "gender": "female", "group_id": "g_abigail",
     "preview_image_url": "https://files2.heygen.ai/avatar/a.webp",
     "preview_video_url": "https://files2.heygen.ai/avatar/a.mp4", "default_voice_id": None,
     "image_width": 1920, "image_height": 1080, "preferred_orientation": "landscape",
     "supported_api_engines": ["avatar_iv", "avatar_v"], "tags": ["professional"]},
    {"id": "Angela-inTshirt-20220820", "name": "Angela in T-shirt",
     "avatar_type": "studio_avatar", "gender": "female", "group_id": "g_angela",
     "preview_image_url": "https://files2.heygen.ai/avatar/b.webp",
     "preview_video_url": "https://files2.heygen.ai/avatar/b.mp4",
     "default_voice_id": "1bd001e7e50f421d891986aad5158bc8", "image_width": 1920,
     "image_height": 1080, "preferred_orientation": "landscape",
     "supported_api_engines": ["avatar_iv"], "tags": []},
    {"id": "tp_0042", "name": "Founder", "avatar_type": "photo_avatar", "gender": "male",
     "group_id": "g_founder", "preview_image_url": "https://files2.heygen.ai/tp/c.webp",
     "preview_video_url": None, "default_voice_id": None, "image_width": 1024,
     "image_height": 1024, "preferred_orientation": "square", "status": "completed",
     "supported_api_engines": ["avatar_iv"], "tags": []}]
VOICES = [
    {"voice_id": "1bd001e7e50f421d891986aad5158bc8", "name": "Sara", "language": "English",
     "gender": "female", "preview_audio_url": "https://files.heygen.ai/voice/sara.mp3",
     "support_pause": True, "support_locale": False, "type": "public"},
    {"voice_id": "de8b5d78f2e0485f88d1e9f5c8e7f9a5", "name": "Paul", "language": "English",
     "gender": "male", "preview_audio_url": "https://files.heygen.ai/voice/paul.mp3",
     "support_pause": True, "support_locale": True, "type": "public"}]
WORDS_PER_S = 2.5
# USD per second of Avatar IV output at 720p / 1080p (developers.heygen.com/docs/pricing);
# an avatar id the double does not list bills as a studio avatar
USD_PER_S = {"studio_avatar": 0.0667, "digital_twin": 0.0667, "photo_avatar": 0.05}
_KEY = re.compile(r"^[A-Za-z0-9_:.\-]{1,255}$")

_MP4: dict[tuple[int, int, float], bytes] = {}
_MP4_LOCK = threading.Lock()
_SIZES = {("16:9", "720p"): (1280, 720), ("16:9", "1080p"): (1920, 1080),
          ("9:16", "720p"): (720, 1280), ("9:16", "1080p"): (1080, 1920),
          ("1:1", "720p"): (720, 720), ("1:1", "1080p"): (1080, 1080),
          ("4:5", "720p"): (720, 900), ("4:5", "1080p"): (1080, 1350),
          ("5:4", "720p"): (900, 720), ("5:4", "1080p"): (1350, 1080)}


def speech_mp4(width: int, height: int, seconds: float) -> bytes:
    """A real MP4: testsrc picture with a 220 Hz voice-like tone, `seconds` long."""
    key = (width, height, round(seconds, 2))
    with _MP4_LOCK:
        if key not in _MP4:
            with tempfile.TemporaryDirectory() as d:
                path = Path(d) / "v.mp4"
                subprocess.run(
                    [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                     f"testsrc=size={width}x{height}:rate=25:duration={seconds:.2f}",
                     "-f", "lavfi", "-i", f"sine=frequency=220:duration={seconds:.2f}",
                     "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                     "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(path)],
                    check=True)
                _MP4[key] = path.read_bytes()
        return _MP4[key]


@dataclass
class _Video:
    id: str
    body: dict[str, Any]
    created: float
    seconds: float
    avatar_type: str
    fail: bool = False
    deleted: bool = False
    billed: bool = False


class HeyGenDouble:
    def __init__(self, key: str) -> None:
        self.key = key
        self.base_url = ""
        self.latency_s = 0.3
        self.page_size = 2
        self.fail_avatars: set[str] = set()
        self.drop_create_answers = 0
        self.fail_next = 0  # that many of the next videos end failed, whatever their avatar
        self.videos: dict[str, _Video] = {}
        self.assets: dict[str, bytes] = {}
        self.creates = 0
        self.generates = 0
        self.uploads = 0
        self.deletes = 0
        self.status_requests: Counter[str] = Counter()
        self.requests: list[tuple[str, str]] = []
        self.bodies: list[dict[str, Any]] = []
        self.idempotency_keys: list[str | None] = []
        self.charged_usd = 0.0
        self.billed_seconds = 0.0
        self._inject: dict[str, deque[int]] = {}
        self._replays: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self._in_flight: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def inject(self, route: str, status: int, times: int = 1) -> None:
        """The next `times` requests to `route` ('create', 'status', 'delete', 'upload',
        'looks', 'voices') answer `status` in HeyGen's error shape."""
        self._inject.setdefault(route, deque()).extend([status] * times)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _status(self, v: _Video) -> dict[str, Any]:
        age = time.monotonic() - v.created
        if age < self.latency_s / 3:
            status = "pending"
        elif age < self.latency_s:
            status = "processing"
        else:
            status = "failed" if v.fail else "completed"
        done = status == "completed"
        with self._lock:  # billed once, when HeyGen first reports it completed
            if done and not v.billed:
                v.billed = True
                self.billed_seconds += v.seconds
                self.charged_usd += v.seconds * USD_PER_S[v.avatar_type]
        failed = status == "failed"
        return {"data": {
            "id": v.id, "title": v.body.get("title"), "status": status,
            "video_url": f"{self.base_url}/files/{v.id}.mp4" if done else None,
            "captioned_video_url": None, "subtitle_url": None,
            "thumbnail_url": f"{self.base_url}/files/{v.id}.jpg" if done else None,
            "gif_url": None, "duration": round(v.seconds, 3) if done else None,
            "created_at": int(time.time() - age), "completed_at": int(time.time()) if done
            else None,
            # the failure_code values are not listed in HeyGen's docs: this one is modelled
            # on the v3 error vocabulary (avatar_not_found, heygen-cli errors.go)
            "failure_code": "avatar_not_found" if failed else None,
            "failure_message": (f"Avatar {v.body.get('avatar_id')} not found or not accessible."
                                if failed else None),
            "folder_id": None, "video_page_url": f"https://app.heygen.com/videos/{v.id}"}}


def _handler(double: HeyGenDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any, ctype: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, code: str, message: str, param: str | None = None,
                   headers: dict[str, str] | None = None) -> None:
            """v3's error envelope (developers.heygen.com/docs/error-codes)."""
            err: dict[str, Any] = {"code": code, "message": message,
                                   "doc_url": "https://developers.heygen.com/docs/error-codes"
                                              f"#{code.replace('_', '-')}"}
            if param:
                err["param"] = param
            self._send(status, {"error": err}, headers=headers)

        def _body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _injected(self, route: str) -> bool:
            q = double._inject.get(route)
            if not q:
                return False
            status = q.popleft()
            if status == 429:
                self._error(429, "rate_limit_exceeded", "Too many requests, please retry later.",
                            headers={"Retry-After": "1"})
            elif status == 409:
                self._error(409, "request_in_progress", "A request with this Idempotency-Key "
                                                        "is still being processed.")
            else:
                self._error(status, "internal_error", f"injected {status}")
            return True

        def _route(self, method: str) -> None:
            url = urlsplit(self.path)
            path, query = url.path, parse_qs(url.query)
            raw = self._body()
            double.requests.append((method, path))
            if path.startswith("/files/") and method == "GET":
                vid = path.rsplit("/", 1)[-1].removesuffix(".mp4")
                v = double.videos.get(vid)
                if v is None or v.deleted:
                    return self._send(404, b"not found", "text/plain")
                w, h = _SIZES[(v.body.get("aspect_ratio") or "16:9",
                               v.body.get("resolution") or "1080p")]
                return self._send(200, speech_mp4(w, h, v.seconds), "video/mp4")
            if self.headers.get("X-Api-Key") != double.key:
                return self._error(401, "unauthorized", "Invalid API key provided.")
            if path.startswith(("/v1/", "/v2/")):
                return self._error(410, "endpoint_retired",
                                   f"{method} {path} was retired on 2026-11-01; use the v3 API "
                                   "(developers.heygen.com/endpoint-version-comparison)")
            m_video = re.fullmatch(r"/v3/videos/([^/]+)", path)
            if path == "/v3/videos" and method == "POST":
                return self._idempotent("create", path, lambda: self._create(raw))
            if path == "/v3/assets" and method == "POST":
                return self._idempotent("upload", path, lambda: self._upload(raw))
            if m_video and method == "GET":
                if self._injected("status"):
                    return None
                vid = m_video[1]
                with double._lock:
                    double.status_requests[vid] += 1
                v = double.videos.get(vid)
                if v is None or v.deleted:
                    return self._error(404, "video_not_found", f"Video {vid} not found.")
                return self._send(200, double._status(v))
            if m_video and method == "DELETE":
                if self._injected("delete"):
                    return None
                v = double.videos.get(m_video[1])
                if v is None or v.deleted:
                    return self._error(404, "video_not_found", f"Video {m_video[1]} not found.")
                with double._lock:
                    double.deletes += 1
                    v.deleted = True
                return self._send(200, {"data": {"id": v.id, "deleted": True}})
            m_look = re.fullmatch(r"/v3/avatars/looks/([^/]+)", path)
            if m_look and method == "GET":
                look = next((x for x in LOOKS if x["id"] == m_look[1]), None)
                if look is None:
                    return self._error(404, "avatar_not_found", f"Avatar {m_look[1]} not found.")
                return self._send(200, {"data": look})
            if path == "/v3/avatars/looks" and method == "GET":
                return None if self._injected("looks") else self._page(LOOKS, query)
            if path == "/v3/voices" and method == "GET":
                return None if self._injected("voices") else self._page(VOICES, query)
            return self._error(404, "not_found", f"no route {method} {path}")

        def _page(self, items: list[dict[str, Any]], query: dict[str, list[str]]) -> None:
            limit = min(int((query.get("limit") or ["10"])[0]), double.page_size)
            start = int((query.get("token") or ["0"])[0])
            more = start + limit < len(items)
            self._send(200, {"data": items[start:start + limit], "has_more": more,
                             "next_token": str(start + limit) if more else None})

        def _idempotent(self, route: str, path: str, make: Any) -> None:
            """A POST under the Idempotency-Key contract HeyGen documents on its v3 POSTs:
            replay a key's first 2xx answer (for 24 h at HeyGen; the double never forgets),
            409 request_in_progress while the first is still being made. (Whether an error
            answer is replayed is undocumented: here it is not.)"""
            key = self.headers.get("Idempotency-Key")
            if route == "create":
                double.idempotency_keys.append(key)
                with double._lock:
                    double.creates += 1
            if self._injected(route):
                return None
            if key is not None and not _KEY.match(key):
                return self._error(400, "invalid_parameter", "Idempotency-Key must be 1-255 "
                                   "characters from [A-Za-z0-9_:.-]", param="Idempotency-Key")
            slot = (path, key or "")
            with double._lock:
                if key is not None and slot in double._replays:
                    status, body = double._replays[slot]
                    replay = True
                elif key is not None and slot in double._in_flight:
                    replay, status, body = False, 409, {}
                else:
                    replay, status, body = False, 0, {}
                    if key is not None:
                        double._in_flight.add(slot)
            if status == 409:
                return self._error(409, "request_in_progress", "A request with this "
                                   "Idempotency-Key is still being processed.")
            if not replay:
                try:
                    status, body = make()
                    if key is not None and 200 <= status < 300:
                        with double._lock:
                            double._replays[slot] = (status, body)
                finally:
                    with double._lock:
                        double._in_flight.discard(slot)
            if route == "create" and 200 <= status < 300:
                with double._lock:
                    drop, double.drop_create_answers = (double.drop_create_answers > 0,
                                                        max(0, double.drop_create_answers - 1))
                if drop:  # made (and billed) or replayed, but the connection closes unanswered
                    self.close_connection = True
                    return None
            return self._send(status, body,
                              headers={"Idempotent-Replayed": "true"} if replay else None)

        def _create(self, raw: bytes) -> tuple[int, dict[str, Any]]:
            try:
                body = json.loads(raw)
            except ValueError:
                return 400, _err("invalid_parameter", "body is not JSON")
            double.bodies.append(body)
            problem = check_create(body, double.assets)
            if problem:
                return 400, _err("invalid_parameter", problem[1], problem[0])
            look = next((x for x in LOOKS if x["id"] == body["avatar_id"]), None)
            vid = uuid.uuid4().hex
            with double._lock:
                double.videos[vid] = _Video(
                    id=vid, body=body, created=time.monotonic(),
                    seconds=max(1.0, len(body["script"].split()) / WORDS_PER_S),
                    avatar_type=look["avatar_type"] if look else "studio_avatar",
                    fail=body["avatar_id"] in double.fail_avatars or double.fail_next > 0)
                double.fail_next = max(0, double.fail_next - 1)
                double.generates += 1
            return 200, {"data": {"video_id": vid, "status": "waiting", "output_format": "mp4"}}

        def _upload(self, raw: bytes) -> tuple[int, dict[str, Any]]:
            ctype = self.headers.get("Content-Type", "")
            if not ctype.startswith("multipart/form-data"):
                return 400, _err("invalid_parameter", "expected multipart/form-data", "file")
            msg = BytesParser(policy=HTTP).parsebytes(
                f"Content-Type: {ctype}\r\n\r\n".encode() + raw)
            files = [p for p in msg.iter_parts()
                     if p.get_param("name", header="content-disposition") == "file"]
            data = files[0].get_payload(decode=True) if files else None
            if not data:
                return 400, _err("invalid_parameter", "file is required", "file")
            if len(data) > 32 * 1024 * 1024:
                return 413, _err("payload_too_large", "Max file size is 32 MB.", "file")
            mime = ("image/png" if data.startswith(b"\x89PNG") else
                    "image/jpeg" if data.startswith(b"\xff\xd8") else None)
            if mime is None:  # HeyGen detects the type from the bytes
                return 400, _err("invalid_parameter", "unsupported file type", "file")
            aid = "ast_" + uuid.uuid4().hex[:16]
            with double._lock:
                double.uploads += 1
                double.assets[aid] = data
            return 200, {"data": {"asset_id": aid, "url": f"{double.base_url}/files/{aid}.png",
                                  "mime_type": mime, "size_bytes": len(data)}}

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_DELETE(self) -> None:
            self._route("DELETE")

    return Handler


def _err(code: str, message: str, param: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if param:
        err["param"] = param
    return {"error": err}


def check_create(body: dict[str, Any], assets: dict[str, bytes] | None = None
                 ) -> tuple[str, str] | None:
    """(field, problem) for a POST /v3/videos body HeyGen would refuse, else None. Stricter
    than HeyGen: unknown fields are refused, so a mapping typo fails a test."""
    if body.get("type") != "avatar":
        return "type", "type must be 'avatar' here (the double makes avatar videos only)"
    extra = set(body) - CREATE_FIELDS
    if extra:
        return sorted(extra)[0], f"unknown fields {sorted(extra)}"
    if not body.get("avatar_id"):
        return "avatar_id", "avatar_id is required"
    if not body.get("script") or not body.get("voice_id"):
        return "script", "script and voice_id are needed to speak a line"
    if body.get("aspect_ratio", "16:9") not in ("16:9", "9:16", "4:5", "5:4", "1:1", "auto"):
        return "aspect_ratio", "aspect_ratio must be one of 16:9, 9:16, 4:5, 5:4, 1:1, auto"
    if body.get("resolution") not in (None, "4k", "1080p", "720p"):
        return "resolution", "resolution must be 4k, 1080p or 720p"
    bg = body.get("background")
    if bg is not None:
        if bg.get("type") == "color":
            if set(bg) - {"type", "value"} or not re.fullmatch(r"#[0-9A-Fa-f]{6}",
                                                              str(bg.get("value", ""))):
                return "background", "background: color needs a hex value"
        elif bg.get("type") == "image":
            if set(bg) - {"type", "url", "asset_id"} or bool(bg.get("url")) == bool(
                    bg.get("asset_id")):
                return "background", "background: image needs one of url or asset_id"
            if bg.get("asset_id") and assets is not None and bg["asset_id"] not in assets:
                return "background.asset_id", f"asset {bg['asset_id']} not found"
        else:
            return "background", "background.type must be color or image"
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def start_heygen_double(key: str) -> HeyGenDouble:
    """Serve a double on 127.0.0.1 (a free port) in a daemon thread; call `.stop()` after."""
    double = HeyGenDouble(key)
    server = _Server(("127.0.0.1", 0), _handler(double))
    double._server = server
    double.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True,
                     name="heygen-double").start()
    return double
