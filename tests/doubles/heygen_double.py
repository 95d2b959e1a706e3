"""A HeyGen API double: a real HTTP server on 127.0.0.1 speaking the v2 video API's shapes.

Routes (shapes from HeyGen's docs, cited in src/nbvideo/providers/heygen.py):
- POST /v2/video/generate -> {"error": null, "data": {"video_id": ...}}
- GET  /v1/video_status.get?video_id= -> {"code": 100, "data": {id, status, video_url,
  duration, error, ...}, "message": "Success"}; status pending -> processing -> completed
  (or failed, with error {code, message, detail})
- DELETE /v1/video.delete?video_id=&type=heygen_video
- POST /v1/asset (the upload host's route; the double serves both hosts) -> {"code": 100,
  "data": {"id", "name", "file_type", "url", ...}}
- GET /v2/avatars, GET /v2/voices -> {"error": null, "data": {...}}
- GET /files/{id}.mp4 -> a real H.264 + AAC MP4 whose length is the speech's (words at 2.5/s)
Every API route wants X-Api-Key; a wrong one is a 401 in HeyGen's error shape. Faults:
`inject("generate"|"status", 429|401|500, times)`, `fail_avatars` (videos with these avatar
ids end `failed` with an error code and message), `latency_s` (a slow render).
Counters: generates, status_requests, deletes, uploads, requests, bodies, charged_credits.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nbvideo.media.ffmpeg import ffmpeg_exe

# A recorded example of the real request and answers, as HeyGen documents them
# (docs.heygen.com/reference/create-an-avatar-video-v2 and .../video-status).
RECORDED_REQUEST = {
    "video_inputs": [{
        "character": {"type": "avatar", "avatar_id": "Angela-inTshirt-20220820",
                      "avatar_style": "normal"},
        "voice": {"type": "text", "input_text": "Meet the trail shoe.",
                  "voice_id": "1bd001e7e50f421d891986aad5158bc8", "speed": 1.0},
        "background": {"type": "color", "value": "#FAFAFA"}}],
    "dimension": {"width": 1280, "height": 720}}
RECORDED_GENERATE_ANSWER = {"error": None, "data": {"video_id": "abc123"}}
RECORDED_FAILED_STATUS = {
    "code": 100, "data": {"callback_id": None, "caption_url": None, "duration": None,
                          "error": {"code": 40119, "detail": "Video is too long (> 3600.0s). "
                                    "Please upgrade your plan to generate longer videos",
                                    "message": "Video is too long."},
                          "gif_url": None, "id": "abc123", "status": "failed",
                          "thumbnail_url": None, "video_url": None, "video_url_caption": None},
    "message": "Success"}
AVATARS = {"avatars": [
    {"avatar_id": "Abigail_expressive_2024112501", "avatar_name": "Abigail (Upper Body)",
     "gender": "female", "preview_image_url": "https://files2.heygen.ai/avatar/a.webp",
     "preview_video_url": "https://files2.heygen.ai/avatar/a.mp4", "premium": False,
     "type": None, "tags": None, "default_voice_id": None},
    {"avatar_id": "Angela-inTshirt-20220820", "avatar_name": "Angela in T-shirt",
     "gender": "female", "preview_image_url": "https://files2.heygen.ai/avatar/b.webp",
     "preview_video_url": "https://files2.heygen.ai/avatar/b.mp4", "premium": False,
     "type": None, "tags": None, "default_voice_id": None}],
    "talking_photos": [{"talking_photo_id": "tp_0042", "talking_photo_name": "Founder",
                        "preview_image_url": "https://files2.heygen.ai/tp/c.webp"}]}
VOICES = {"voices": [
    {"voice_id": "1bd001e7e50f421d891986aad5158bc8", "language": "English", "gender": "female",
     "name": "Sara", "preview_audio": "https://files.heygen.ai/voice/sara.mp3",
     "support_pause": True, "emotion_support": True},
    {"voice_id": "de8b5d78f2e0485f88d1e9f5c8e7f9a5", "language": "English", "gender": "male",
     "name": "Paul", "preview_audio": "https://files.heygen.ai/voice/paul.mp3",
     "support_pause": True, "emotion_support": False}]}
WORDS_PER_S = 2.5
SECONDS_PER_CREDIT = {"avatar": 120.0, "talking_photo": 300.0}  # docs.heygen.com/reference/limits

_MP4: dict[tuple[int, int, float], bytes] = {}
_MP4_LOCK = threading.Lock()


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
    character: str
    fail: bool = False
    deleted: bool = False
    billed: bool = False


class HeyGenDouble:
    def __init__(self, key: str) -> None:
        self.key = key
        self.base_url = ""
        self.latency_s = 0.3
        self.fail_avatars: set[str] = set()
        self.videos: dict[str, _Video] = {}
        self.generates = 0
        self.uploads = 0
        self.deletes = 0
        self.status_requests: Counter[str] = Counter()
        self.requests: list[tuple[str, str]] = []
        self.bodies: list[dict[str, Any]] = []
        self.charged_credits = 0.0
        self._inject: dict[str, deque[int]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def inject(self, route: str, status: int, times: int = 1) -> None:
        """The next `times` requests to `route` ('generate', 'status', 'avatars') answer
        `status` in HeyGen's error shape."""
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
                self.charged_credits += v.seconds / SECONDS_PER_CREDIT[v.character]
        error = ({"code": 40056, "message": "Avatar not found or not accessible.",
                  "detail": f"avatar {v.body['video_inputs'][0]['character'].get('avatar_id')}"
                            " is not available to this account"} if status == "failed" else None)
        return {"code": 100, "message": "Success", "data": {
            "callback_id": None, "caption_url": None,
            "duration": round(v.seconds, 3) if done else None, "error": error,
            "gif_url": None, "id": v.id, "status": status,
            "thumbnail_url": None, "video_url": f"{self.base_url}/files/{v.id}.mp4" if done else None,
            "video_url_caption": None}}


def _handler(double: HeyGenDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any, ctype: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, code: str, message: str) -> None:
            self._send(status, {"data": None, "error": {"code": code, "message": message}})

        def _body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

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
                dim = v.body.get("dimension") or {"width": 1280, "height": 720}
                return self._send(200, speech_mp4(dim["width"], dim["height"], v.seconds),
                                  "video/mp4")
            if self.headers.get("X-Api-Key") != double.key:
                return self._error(401, "authentication_failed", "Invalid API key provided.")
            route = {"/v2/video/generate": "generate", "/v1/video_status.get": "status",
                     "/v2/avatars": "avatars", "/v2/voices": "voices",
                     "/v1/asset": "upload", "/v1/video.delete": "delete"}.get(path)
            q = double._inject.get(route or "")
            if q:
                status = q.popleft()
                if status == 429:
                    return self._error(429, "rate_limit_exceeded",
                                       "Too many requests, please retry later.")
                return self._error(status, "internal_error", f"injected {status}")
            if route == "generate" and method == "POST":
                return self._generate(raw)
            if route == "status" and method == "GET":
                vid = (query.get("video_id") or [""])[0]
                double.status_requests[vid] += 1
                v = double.videos.get(vid)
                if v is None:
                    return self._error(404, "video_not_found", f"video {vid} not found")
                return self._send(200, double._status(v))
            if route == "delete" and method == "DELETE":
                vid = (query.get("video_id") or [""])[0]
                if (query.get("type") or [""])[0] != "heygen_video" or vid not in double.videos:
                    return self._error(400, "invalid_parameter", "video_id or type is invalid")
                double.deletes += 1
                double.videos[vid].deleted = True
                return self._send(200, {"code": 100, "data": None, "message": "Success"})
            if route == "upload" and method == "POST":
                ctype = self.headers.get("Content-Type", "")
                if ctype not in ("image/png", "image/jpeg") or not raw.startswith(
                        (b"\x89PNG", b"\xff\xd8")):
                    return self._error(400, "invalid_parameter", "unsupported content type")
                double.uploads += 1
                aid = uuid.uuid4().hex
                return self._send(200, {"code": 100, "data": {
                    "id": aid, "name": aid, "file_type": "image", "folder_id": "", "meta": None,
                    "created_ts": int(time.time()),
                    "url": f"{double.base_url}/files/{aid}.png"}, "msg": None, "message": None})
            if route == "avatars" and method == "GET":
                return self._send(200, {"error": None, "data": AVATARS})
            if route == "voices" and method == "GET":
                return self._send(200, {"error": None, "data": VOICES})
            return self._error(404, "not_found", f"no route {method} {path}")

        def _generate(self, raw: bytes) -> None:
            try:
                body = json.loads(raw)
            except ValueError:
                return self._error(400, "invalid_parameter", "body is not JSON")
            double.bodies.append(body)
            problem = _check_generate(body)
            if problem:
                return self._error(400, "invalid_parameter", problem)
            vi = body["video_inputs"][0]
            ch = vi["character"]
            words = len(vi["voice"]["input_text"].split())
            vid = uuid.uuid4().hex
            double.videos[vid] = _Video(
                id=vid, body=body, created=time.monotonic(),
                seconds=max(1.0, words / WORDS_PER_S), character=ch["type"],
                fail=(ch.get("avatar_id") or ch.get("talking_photo_id")) in double.fail_avatars)
            double.generates += 1
            self._send(200, {"error": None, "data": {"video_id": vid}})

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_DELETE(self) -> None:
            self._route("DELETE")

    return Handler


def _check_generate(body: dict[str, Any]) -> str | None:
    """Stricter than HeyGen: unknown fields are refused, so a mapping typo fails a test."""
    if set(body) - {"video_inputs", "dimension", "title", "test", "caption", "callback_id"}:
        return f"unknown fields {sorted(set(body) - {'video_inputs', 'dimension'})}"
    inputs = body.get("video_inputs")
    if not isinstance(inputs, list) or not 1 <= len(inputs) <= 50:
        return "video_inputs must be a list of 1-50 inputs"
    vi = inputs[0]
    if set(vi) - {"character", "voice", "background"}:
        return "unknown video_inputs fields"
    ch, voice, bg = vi.get("character") or {}, vi.get("voice") or {}, vi.get("background")
    if ch.get("type") == "avatar":
        if set(ch) - {"type", "avatar_id", "avatar_style", "scale", "offset"} or \
                not ch.get("avatar_id") or ch.get("avatar_style", "normal") not in (
                    "normal", "circle", "closeUp"):
            return "character: avatar needs avatar_id and a valid avatar_style"
    elif ch.get("type") == "talking_photo":
        if set(ch) - {"type", "talking_photo_id", "scale", "offset", "talking_style"} or \
                not ch.get("talking_photo_id"):
            return "character: talking_photo needs talking_photo_id"
    else:
        return "character.type must be avatar or talking_photo"
    if voice.get("type") != "text" or not voice.get("input_text") or not voice.get("voice_id") \
            or set(voice) - {"type", "input_text", "voice_id", "speed", "pitch", "emotion"}:
        return "voice: type text needs input_text and voice_id"
    if bg is not None:
        if bg.get("type") == "color":
            if set(bg) - {"type", "value"} or not str(bg.get("value", "")).startswith("#"):
                return "background: color needs a hex value"
        elif bg.get("type") == "image":
            if set(bg) - {"type", "url", "image_asset_id", "fit"} or not (
                    bg.get("image_asset_id") or bg.get("url")):
                return "background: image needs image_asset_id or url"
        else:
            return "background.type must be color or image"
    dim = body.get("dimension")
    if dim is not None and (set(dim) != {"width", "height"} or dim["width"] % 2 or dim["height"] % 2):
        return "dimension needs even width and height"
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
