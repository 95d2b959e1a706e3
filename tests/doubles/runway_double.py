"""A Runway API double: a real HTTP server on 127.0.0.1 speaking the subset nbvideo uses.

Routes, in Runway's shapes (runwayml 5.24 SDK types; docs.dev.runwayml.com api-details/errors
and errors/task-failures): POST /v1/image_to_video and POST /v1/text_to_image -> {"id"};
GET /v1/tasks/{id} -> PENDING | THROTTLED | RUNNING (progress) | SUCCEEDED (output URLs,
cost.credits) | FAILED (failure, failureCode, cost.credits) | CANCELLED; DELETE
/v1/tasks/{id} -> 204 (cancels an unfinished task, deletes a finished one); GET
/files/{name} serves outputs without auth, as Runway's CDN does: real MP4s (bundled ffmpeg)
of the asked ratio and duration, and PNGs. Every API route wants `Authorization: Bearer
<key>` (401 otherwise) and `X-Runway-Version: 2024-11-06` (400 otherwise), as the real API.
Bodies are validated per model (fields, required ones, ratios, durations, data URI size) and
refused with a 400 {"error": ...}, stricter than Runway, so a mapping typo fails a test.

Faults: `inject(kind, status)` answers the next create/get/delete/file with an HTTP status
(429 with Retry-After, 5xx); `fail_next` with `failure_code` makes tasks FAIL; `latency_s`
sets how long a task runs (a slow task: raise it); `throttle_s` keeps new tasks THROTTLED
first. Counters: creates, status_requests, deletes, requests (with headers and bodies) and
`charged_credits` (what Runway would have charged, from its credit table below).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.doubles.replicate_double import _Server, make_image, make_mp4

API_VERSION = "2024-11-06"
DATA_URI_MAX = 5_000_000
GEN4_RATIOS = {"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"}
VEO_RATIOS = {"1280:720", "720:1280", "1080:1920", "1920:1080"}
IMAGE_RATIOS = {"1024:1024", "1080:1080", "1168:880", "1360:768", "1440:1080", "1080:1440",
                "1808:768", "1920:1080", "1080:1920", "2112:912", "1280:720", "720:1280",
                "720:720", "960:720", "720:960", "1680:720"}
# Per model: endpoint, allowed fields, required fields, enums, default duration (SDK types).
SCHEMAS: dict[str, dict[str, Any]] = {
    "gen4_turbo": {"endpoint": "image_to_video",
                   "fields": {"model", "promptImage", "promptText", "ratio", "duration", "seed",
                              "contentModeration"},
                   "required": {"model", "promptImage", "ratio"},
                   "enums": {"ratio": GEN4_RATIOS, "duration": set(range(2, 11))},
                   "default_s": 5},
    "gen4.5": {"endpoint": "image_to_video",
               "fields": {"model", "promptImage", "promptText", "ratio", "duration", "seed",
                          "contentModeration", "outputFormat", "proresProfile"},
               "required": {"model", "promptImage", "promptText", "ratio", "duration"},
               "enums": {"ratio": GEN4_RATIOS, "duration": set(range(2, 11))},
               "default_s": 5},
    "veo3.1": {"endpoint": "image_to_video",
               "fields": {"model", "promptImage", "promptText", "ratio", "duration", "seed",
                          "audio", "negativePrompt"},
               "required": {"model", "promptImage", "ratio"},
               "enums": {"ratio": VEO_RATIOS, "duration": {4, 6, 8}}, "default_s": 8},
    "veo3.1_fast": {"endpoint": "image_to_video",
                    "fields": {"model", "promptImage", "promptText", "ratio", "duration", "seed",
                               "audio", "negativePrompt"},
                    "required": {"model", "promptImage", "ratio"},
                    "enums": {"ratio": VEO_RATIOS, "duration": {4, 6, 8}}, "default_s": 8},
    "gen4_image": {"endpoint": "text_to_image",
                   "fields": {"model", "promptText", "ratio", "seed", "referenceImages",
                              "contentModeration"},
                   "required": {"model", "promptText", "ratio"},
                   "enums": {"ratio": IMAGE_RATIOS}},
}
# Runway's credit table (github.com/runwayml/skills rw-api-reference): per second of video
# (Veo: without / with audio), per image at 720p / 1080p. Kept apart from the catalog so a
# catalog typo shows up as a ledger that does not match what the double charged.
CREDITS_PER_S = {"gen4_turbo": 5, "gen4.5": 12, "veo3.1": (20, 40), "veo3.1_fast": (10, 15)}
IMAGE_CREDITS = {"gen4_image": (5, 8)}


@dataclass
class _Task:
    id: str
    model: str
    body: dict[str, Any]
    created: float
    created_at: str
    latency: float
    throttle: float
    failure_code: str | None = None
    failure: str | None = None
    cancelled_at: float | None = None
    cancelled_from: str | None = None
    deleted: bool = False

    def status(self, now: float) -> str:
        if self.cancelled_at is not None:
            return "CANCELLED"
        elapsed = now - self.created
        if elapsed < self.throttle:
            return "THROTTLED"
        run = elapsed - self.throttle
        if run < self.latency * 0.2:
            return "PENDING"
        if run < self.latency:
            return "RUNNING"
        return "FAILED" if self.failure is not None else "SUCCEEDED"

    def progress(self, now: float) -> float:
        """The share of the task's life, from its creation to its end, that has passed.

        Counted from creation (the age a client knows) so that a poller extrapolating the time
        left from age and progress lands on the end; counted from the start of RUNNING, a
        first answer of 0.01 after a queue told it to wait a hundred times the age, seconds
        for a task of a fraction of one."""
        whole = self.throttle + self.latency
        return round(max(0.0, min(0.99, (now - self.created) / whole)), 2)

    def credits(self) -> int:
        """What this task costs when it is charged."""
        if self.model in IMAGE_CREDITS:
            low, high = IMAGE_CREDITS[self.model]
            return high if max(int(x) for x in self.body["ratio"].split(":")) >= 1440 else low
        rate = CREDITS_PER_S[self.model]
        if isinstance(rate, tuple):
            rate = rate[1] if self.body.get("audio", True) else rate[0]
        return rate * int(self.body.get("duration", SCHEMAS[self.model]["default_s"]))

    def charged(self, now: float) -> int:
        """Credits charged so far: a success; a moderated failure ("Moderated generations
        have the same credit cost as successful generations"); a task canceled while
        RUNNING ("If that check observes RUNNING, cancellation does not refund credits").
        Other failures and tasks canceled while queued are refunded (0)."""
        st = self.status(now)
        if st == "SUCCEEDED":
            return self.credits()
        if st == "FAILED":
            return self.credits() if (self.failure_code or "").startswith("SAFETY") else 0
        if st == "CANCELLED":
            return self.credits() if self.cancelled_from == "RUNNING" else 0
        return 0


class RunwayDouble:
    """The server and its scenario controls; start with `start_runway_double(key)`."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.latency_s = 0.3
        self.throttle_s = 0.0
        self.fail_next = 0
        self.drop_create_answers = 0  # creates whose task is made but whose answer is lost
        self.failure_code: str | None = "INTERNAL.BAD_OUTPUT.CODE01"
        self.failure = "An unexpected error occurred."
        self.creates: Counter[str] = Counter()
        self.status_requests: Counter[str] = Counter()
        self.deletes: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.tasks: dict[str, _Task] = {}
        self._inject: dict[str, deque[tuple[int, int | None]]] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self.base_url = ""

    # --- scenario controls -------------------------------------------------------------
    def inject(self, kind: str, status: int, times: int = 1,
               retry_after: int | None = None) -> None:
        """Answer the next `times` requests of `kind` (create|get|delete|file) with `status`."""
        with self._lock:
            self._inject.setdefault(kind, deque()).extend([(status, retry_after)] * times)

    def bodies(self, model: str) -> list[dict[str, Any]]:
        """Every create body sent for `model`, oldest first (as sent: camelCase JSON)."""
        with self._lock:
            return [t.body for t in self.tasks.values() if t.model == model]

    def api_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["path"].startswith("/v1/")]

    @property
    def charged_credits(self) -> int:
        now = time.monotonic()
        with self._lock:
            return sum(t.charged(now) for t in self.tasks.values())

    @property
    def charged_usd(self) -> float:
        return round(self.charged_credits * 0.01, 6)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- behaviour ----------------------------------------------------------------------
    def _validate(self, endpoint: str, body: dict[str, Any]) -> str | None:
        model = body.get("model")
        schema = SCHEMAS.get(str(model))
        if schema is None or schema["endpoint"] != endpoint:
            return f"model: {model!r} is not available on /v1/{endpoint}"
        for k in sorted(set(body) - schema["fields"]):
            return f"{k}: Unrecognized key for {model}"
        for k in sorted(schema["required"] - set(body)):
            return f"{k}: Required"
        for k, allowed in schema["enums"].items():
            if k in body and body[k] not in allowed:
                return f"{k}: must be one of {sorted(allowed, key=str)}"
        text = body.get("promptText")
        if text is not None and not (isinstance(text, str)
                                     and 0 < len(text.encode("utf-16-le")) // 2 <= 1000):
            return "promptText: must be a non-empty string of at most 1000 characters"
        seed = body.get("seed")
        if seed is not None and not (isinstance(seed, int) and 0 <= seed <= 4_294_967_295):
            return "seed: must be an integer from 0 to 4294967295"
        images = [body["promptImage"]] if "promptImage" in body else []
        for ref in body.get("referenceImages") or []:
            tag = ref.get("tag")
            if tag is not None and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{2,15}", tag):
                return "referenceImages.tag: 3-16 letters, digits or underscores"
            images.append(ref.get("uri"))
        for uri in images:
            problem = _image_problem(uri)
            if problem:
                return problem
        return None

    def _create(self, body: dict[str, Any]) -> _Task:
        with self._lock:
            code = failure = None
            if self.fail_next > 0:
                self.fail_next -= 1
                code, failure = self.failure_code, self.failure
            t = _Task(id=str(uuid.uuid4()), model=body["model"], body=body,
                      created=time.monotonic(),
                      created_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                      latency=self.latency_s, throttle=self.throttle_s,
                      failure_code=code, failure=failure)
            self.tasks[t.id] = t
            self.creates[t.model] += 1
        return t

    def _json(self, t: _Task) -> dict[str, Any]:
        now = time.monotonic()
        st = t.status(now)
        out: dict[str, Any] = {"id": t.id, "status": st, "createdAt": t.created_at}
        if st in ("PENDING", "THROTTLED", "RUNNING"):
            out["estimatedCost"] = {"credits": t.credits()}
        else:
            out["cost"] = {"credits": t.charged(now)}
        if st == "RUNNING":
            out["progress"] = t.progress(now)
        if st == "SUCCEEDED":
            ext = "png" if t.model in IMAGE_CREDITS else "mp4"
            # signed, expiring URLs in real life: a query the client must not keep
            out["output"] = [f"{self.base_url}/files/{t.id}.{ext}?_jwt=signed-{t.id[:8]}"]
        if st == "FAILED":
            out["failure"] = t.failure
            out["failureCode"] = t.failure_code
        return out

    def _file(self, name: str) -> tuple[bytes, str] | None:
        stem, _, ext = name.partition(".")
        with self._lock:
            t = self.tasks.get(stem)
        if t is None or t.status(time.monotonic()) != "SUCCEEDED":
            return None
        w, h = (int(x) for x in t.body["ratio"].split(":"))
        if ext == "png":
            return make_image((w, h), "png")
        seconds = int(t.body.get("duration", SCHEMAS[t.model]["default_s"]))
        sound = bool(t.body.get("audio", t.model.startswith("veo")))
        return make_mp4(w, h, seconds, sound=sound), "video/mp4"

    def _take_injected(self, kind: str) -> tuple[int, int | None] | None:
        with self._lock:
            q = self._inject.get(kind)
            return q.popleft() if q else None


def _image_problem(uri: Any) -> str | None:
    if not isinstance(uri, str):
        return "promptImage: must be a string"
    if uri.startswith(("https://", "runway://")):
        return None
    m = re.fullmatch(r"data:(image/(?:png|jpeg|webp));base64,(.+)", uri, re.S)
    if not m:
        return "promptImage: must be an HTTPS URL, a runway:// URI or a base64 image data URI"
    if len(uri) > DATA_URI_MAX:
        return f"promptImage: data URI is {len(uri)} bytes; at most {DATA_URI_MAX}"
    try:
        data = base64.b64decode(m[2], validate=True)
    except (binascii.Error, ValueError):
        return "promptImage: invalid base64"
    magic = {"image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8", "image/webp": b"RIFF"}[m[1]]
    if not data.startswith(magic):
        return f"promptImage: the data is not {m[1]}"
    return None


def _handler(double: RunwayDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: Any = None, ctype: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
            body = (payload if isinstance(payload, bytes)
                    else b"" if payload is None else json.dumps(payload).encode())
            self.send_response(status)
            if body or status != 204:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self.entry["status"] = status

        def _error(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
            self._send(status, {"error": text}, headers=headers)

        def _dispatch(self, method: str) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            self.entry: dict[str, Any] = {
                "t": time.monotonic(), "method": method, "path": split.path,
                "query": split.query, "status": None, "body": body,
                "version": self.headers.get("X-Runway-Version"),
                "authorization": self.headers.get("Authorization")}
            with double._lock:
                double.requests.append(self.entry)
            try:
                self._route(method, split.path, body)
            except ConnectionError:
                pass

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def _injected(self, kind: str) -> bool:
            got = double._take_injected(kind)
            if got is None:
                return False
            status, retry_after = got
            if status == 429:
                self._error(429, "You have exceeded your daily generation limit.",
                            {"Retry-After": str(retry_after)} if retry_after is not None
                            else None)
            else:
                self._error(status, "Runway is shedding load")
            return True

        def _route(self, method: str, path: str, body: Any) -> None:
            if path.startswith("/files/") and method == "GET":
                if self._injected("file"):
                    return
                found = double._file(path.removeprefix("/files/"))
                if found is None:
                    return self._error(404, "not found")
                return self._send(200, found[0], found[1])
            if self.headers.get("Authorization") != f"Bearer {double.key}":
                return self._error(401, "Incorrect API key provided")
            if self.headers.get("X-Runway-Version") != API_VERSION:
                return self._error(400, "X-Runway-Version header is missing or invalid; "
                                        f"use {API_VERSION}")
            m_create = re.fullmatch(r"/v1/(image_to_video|text_to_image)", path)
            m_task = re.fullmatch(r"/v1/tasks/([^/]+)", path)
            if m_create and method == "POST":
                if self._injected("create"):
                    return
                if not isinstance(body, dict):
                    return self._error(400, "body must be a JSON object")
                problem = double._validate(m_create[1], body)
                if problem:
                    return self._error(400, f"Validation of body failed: {problem}")
                made = double._create(body)
                with double._lock:
                    drop, double.drop_create_answers = (double.drop_create_answers > 0,
                                                        max(0, double.drop_create_answers - 1))
                if drop:  # the task exists (and bills) but the connection closes unanswered
                    self.entry["status"] = "dropped"
                    self.close_connection = True
                    return None
                return self._send(200, {"id": made.id})
            if m_task:
                task = double.tasks.get(m_task[1])
                if task is None or task.deleted:
                    return self._error(404, "Task not found")
                if method == "GET":
                    with double._lock:
                        double.status_requests[task.id] += 1
                    if self._injected("get"):
                        return
                    return self._send(200, double._json(task))
                if method == "DELETE":
                    if self._injected("delete"):
                        return
                    now = time.monotonic()
                    with double._lock:
                        double.deletes.append(task.id)
                        st = task.status(now)
                        if st in ("PENDING", "THROTTLED", "RUNNING"):
                            task.cancelled_from, task.cancelled_at = st, now
                        else:  # a finished task is deleted: gone for good
                            task.deleted = True
                    return self._send(204)
            self._error(405 if m_create else 404, f"{method} {path}")

    return Handler


def start_runway_double(key: str) -> RunwayDouble:
    """Serve a double on 127.0.0.1 (a free port) in a daemon thread; call `.stop()` after."""
    double = RunwayDouble(key)
    server = _Server(("127.0.0.1", 0), _handler(double))
    double._server = server
    double.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True,
                     name="runway-double").start()
    return double
