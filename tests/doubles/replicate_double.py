"""A Replicate API double: a real HTTP server on 127.0.0.1 speaking the subset the client uses.

Routes: POST /v1/models/{owner}/{name}/predictions (and POST /v1/predictions with a version),
GET /v1/predictions (the listing, newest first), GET /v1/predictions/{id},
POST /v1/predictions/{id}/cancel, GET /v1/models/{owner}/{name} and
GET /v1/models/{owner}/{name}/versions/{id} (each catalog model's recorded input schema, from
tests/fixtures/replicate_schemas), and GET /files/{name} for outputs (served without auth,
like Replicate's CDN; `files_base` puts them on another origin). Every request's Host and
Authorization headers are kept in `requests`, so tests can see where the token went. `Prefer: wait=N` holds a create up to N s.
Predictions finish `latency_s` after creation; outputs are real PNGs (Pillow) and MP4s
(bundled ffmpeg, cached). A create that names a `webhook` is called back as Replicate does
(the prediction as the JSON body, signed with the account's secret, which GET
/v1/webhooks/default/secret returns): `webhooks_on_create` and `webhooks_on_completion` say
what is sent when (signed, replay, forged, stale, unsigned); `webhook_deliveries` records
each and the status it got. Tests steer failures with attributes and `inject`, and read the
counters: creates, status_requests, cancels, requests and charged_usd (billed like Replicate:
per image, or per second of output at the requested resolution, using the catalog prices).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import io
import json
import math
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageDraw

from nbvideo.media.ffmpeg import ffmpeg_exe
from nbvideo.providers import catalog

FLUX_SIZES = {"1:1": (1024, 1024), "16:9": (1344, 768), "9:16": (768, 1344),
              "4:5": (896, 1120), "5:4": (1120, 896), "3:2": (1216, 832), "2:3": (832, 1216),
              "4:3": (1152, 896), "3:4": (896, 1152), "21:9": (1536, 640), "9:21": (640, 1536)}
# Per model: the input fields it takes, the required ones, enum values, the field holding
# the image and the one holding the resolution. Stricter than Replicate (unknown fields are
# refused here) so a mapping typo fails a test instead of being silently ignored.
SCHEMAS: dict[str, dict[str, Any]] = {
    "black-forest-labs/flux-schnell": {
        "fields": {"prompt", "aspect_ratio", "seed", "output_format", "num_outputs", "go_fast",
                   "megapixels", "output_quality", "num_inference_steps",
                   "disable_safety_checker"},
        "required": {"prompt"},
        "enums": {"aspect_ratio": set(FLUX_SIZES), "output_format": {"webp", "jpg", "png"},
                  "megapixels": {"1", "0.25"}}},
    "black-forest-labs/flux-kontext-pro": {
        "fields": {"prompt", "input_image", "aspect_ratio", "seed", "output_format",
                   "safety_tolerance", "prompt_upsampling"},
        "required": {"prompt"},
        "enums": {"aspect_ratio": {"match_input_image", *FLUX_SIZES},
                  "output_format": {"jpg", "png"}}},
    "wan-video/wan-2.5-i2v-fast": {
        "fields": {"image", "prompt", "duration", "resolution", "seed", "negative_prompt",
                   "enable_prompt_expansion", "audio"},
        "required": {"image", "prompt"},
        "enums": {"duration": {5, 10}, "resolution": {"720p", "1080p"}},
        "image": "image", "res": "resolution", "default_res": "720p", "default_s": 5,
        "sound": True},
    "kwaivgi/kling-v2.1": {
        "fields": {"start_image", "end_image", "prompt", "duration", "mode", "negative_prompt"},
        "required": {"start_image", "prompt"},
        "enums": {"duration": {5, 10}, "mode": {"standard", "pro"}},
        "image": "start_image", "res": "mode", "default_res": "standard", "default_s": 5},
    "google/veo-3-fast": {
        "fields": {"prompt", "image", "aspect_ratio", "duration", "resolution", "generate_audio",
                   "negative_prompt", "seed"},
        "required": {"prompt"},
        "enums": {"duration": {4, 6, 8}, "resolution": {"720p", "1080p"},
                  "aspect_ratio": {"16:9", "9:16"}},
        "image": "image", "res": "resolution", "default_res": "1080p", "default_s": 8,
        "sound": True},
    "minimax/hailuo-02": {
        "fields": {"prompt", "first_frame_image", "last_frame_image", "duration", "resolution",
                   "prompt_optimizer"},
        "required": {"prompt"},
        "enums": {"duration": {6, 10}, "resolution": {"512p", "768p", "1080p"}},
        "image": "first_frame_image", "res": "resolution", "default_res": "768p", "default_s": 6},
    # sync/lipsync-2: the fields of its API page (tests/fixtures/replicate_schemas/lipsync-2.json).
    # The output is the input video with the input audio muxed (cut to the shorter, as
    # sync_mode="cut_off" does), billed per second of output.
    "sync/lipsync-2": {
        "fields": {"video", "audio", "sync_mode", "temperature"},
        "required": {"video", "audio"},
        "enums": {"sync_mode": {"loop", "bounce", "cut_off", "silence", "remap"}},
        "lipsync": True},
}
SHORT_SIDE = {"512p": 512, "720p": 720, "768p": 768, "1080p": 1080, "standard": 720, "pro": 1080}
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "replicate_schemas"


def recorded_schemas() -> dict[str, dict[str, Any]]:
    """model ref -> its fixture (a models-endpoint answer plus _source/_read notes)."""
    out = {}
    for path in sorted(FIXTURES.glob("*.json")):
        data = json.loads(path.read_text())
        out[data["model"]] = data
    return out


def version_id(fixture: dict[str, Any]) -> str:
    """The recorded version id, or (where the source named none) a content hash of the
    schema, as Replicate's ids are: stable, and different when the schema differs."""
    latest = fixture["latest_version"]
    if latest.get("id"):
        return str(latest["id"])
    text = json.dumps(latest["openapi_schema"], sort_keys=True).encode()
    return hashlib.sha256(text).hexdigest()


_MP4_CACHE: dict[tuple[int, int, int, str | None, bool], bytes] = {}
_MP4_LOCK = threading.Lock()
# Flaws real video models sometimes deliver, for the clip QA tests (a clip's middle third
# black; its second half one frozen frame).
FAULTS = {
    "black": lambda s: f"drawbox=color=black:t=fill:enable='between(t,{s / 3:.3f},{2 * s / 3:.3f})'",
    "frozen": lambda s: f"trim=duration={s / 2:.3f},tpad=stop_mode=clone:stop_duration={s / 2:.3f}",
}


def make_mp4(width: int, height: int, seconds: int, fps: int = 8,
             fault: str | None = None, sound: bool = False) -> bytes:
    """A real H.264 MP4 from ffmpeg's testsrc (with a tone where the model makes sound),
    made once per size, length, fault and sound."""
    key = (width, height, seconds, fault, sound)
    with _MP4_LOCK:
        if key not in _MP4_CACHE:
            with tempfile.TemporaryDirectory() as d:
                path = Path(d) / "out.mp4"
                vf = ["-vf", FAULTS[fault](seconds)] if fault else []
                tone = (["-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}",
                         "-c:a", "aac", "-shortest"] if sound else [])
                subprocess.run(
                    [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                     f"testsrc=size={width}x{height}:rate={fps}:duration={seconds}", *tone,
                     *vf, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                     "-movflags", "+faststart", str(path)], check=True)
                _MP4_CACHE[key] = path.read_bytes()
        return _MP4_CACHE[key]


def make_image(size: tuple[int, int], fmt: str) -> tuple[bytes, str]:
    img = Image.new("RGB", size, (34, 58, 94))
    ImageDraw.Draw(img).rectangle((size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2),
                                  fill=(220, 180, 90))
    buf = io.BytesIO()
    pil, ctype = {"png": ("PNG", "image/png"), "webp": ("WEBP", "image/webp"),
                  "jpg": ("JPEG", "image/jpeg")}[fmt]
    img.save(buf, pil)
    return buf.getvalue(), ctype


def _image_aspect(uri: str | None) -> float:
    if not uri or not uri.startswith("data:"):
        return 16 / 9
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as im:
        return im.width / im.height


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


@dataclass
class _Prediction:
    id: str
    model: str
    input: dict[str, Any]
    created: float
    created_at: str
    latency: float
    fail_message: str | None = None
    canceled: bool = False
    fault: str | None = None
    webhook: str | None = None
    webhook_events_filter: list[str] | None = None
    version: str = "hidden"

    def status(self, now: float) -> str:
        if self.canceled:
            return "canceled"
        elapsed = now - self.created
        if elapsed < self.latency:
            return "starting" if elapsed < self.latency * 0.2 else "processing"
        return "failed" if self.fail_message else "succeeded"


class ReplicateDouble:
    """The server and its scenario controls; start with `start_replicate_double(token)`."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.latency_s = 0.3
        self.latency_by_model: dict[str, float] = {}
        self.fail_next = 0
        self.fail_refs: Counter[str] = Counter()  # model ref -> how many of its next creates fail
        self.progress_logs = True  # processing predictions log a tqdm bar, as cog models do
        self.fail_message = "CUDA out of memory while sampling frame 12"
        self.video_faults: deque[str] = deque()  # flaws of the next videos made, in order
        self.slow_download_s = 0.0
        self.chunked_files = False
        self.pad_files_bytes = 0
        self.file_content_type: str | None = None
        self.force_image_format: str | None = None
        self.data_url_outputs = False
        self.slow_upload_s = 0.0  # fault: a POST over 1 MB is read only after this pause
        self.answer_delay_s = 0.0  # fault: a create is made at once, its answer sent this late
        # Webhooks: the account's signing secret, what each hooked prediction is sent (kinds:
        # "signed"; "replay" resends the last signed delivery byte for byte; "forged" (signed
        # with another key), "stale" (ten minutes old) and "unsigned" claim the prediction
        # succeeded with an output at /files/forged-<id>.mp4), and every delivery's answer.
        self.webhook_secret = "whsec_" + base64.b64encode(uuid.uuid4().bytes * 2).decode()
        self.webhooks_on_create: list[str] = []
        self.webhooks_on_completion: list[str] = ["signed"]
        self.webhook_deliveries: list[dict[str, Any]] = []
        self._last_signed: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.creates: Counter[str] = Counter()
        self.list_requests = 0
        self.listing_lag_reads = 0  # fault: this many listings leave the newest out
        self.status_requests: Counter[str] = Counter()
        self.cancels: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.models = copy.deepcopy(recorded_schemas())  # ref -> fixture; edit to change one
        self.files_base = ""  # where output URLs point ("" = this server's base_url)
        self.redirect_api_to = ""  # fault: API requests to base_url answer 307 to this origin
        self._preds: dict[str, _Prediction] = {}
        self._synced: dict[str, tuple[bytes, float]] = {}
        self._files: dict[str, Any] = {}
        self._inject: dict[str, deque[tuple[int | str, int | None]]] = {}
        self._lock = threading.RLock()  # charged_usd prices a lip sync (which locks) under it
        self._server: ThreadingHTTPServer | None = None
        self.base_url = ""

    # --- scenario controls -------------------------------------------------------------
    def inject(self, kind: str, status: int | str, times: int = 1,
               retry_after: int | None = None) -> None:
        """Answer the next `times` requests of `kind` (create|get|list|cancel|file|model) with `status`
        (an HTTP code, or 'malformed' for a truncated JSON body)."""
        with self._lock:
            self._inject.setdefault(kind, deque()).extend([(status, retry_after)] * times)

    def add_file(self, name: str, data: bytes, content_type: str) -> str:
        with self._lock:
            self._files[name] = (data, content_type)
        return f"{self.base_url}/files/{name}"

    def cancel_elsewhere(self) -> list[str]:
        """Cancel every running prediction, as someone on replicate.com might."""
        now = time.monotonic()
        with self._lock:
            running = [p for p in self._preds.values()
                       if p.status(now) in ("starting", "processing")]
            for p in running:
                p.canceled = True
        return [p.id for p in running]

    def last_input(self, ref: str) -> dict[str, Any]:
        return self.inputs(ref)[-1]

    def inputs(self, ref: str) -> list[dict[str, Any]]:
        """Every prediction input sent to the model `ref`, oldest first."""
        with self._lock:
            return [p.input for p in self._preds.values() if p.model == ref]

    @property
    def charged_usd(self) -> float:
        """What Replicate would have billed for every prediction that has succeeded so far."""
        now, total = time.monotonic(), 0.0
        with self._lock:
            for p in self._preds.values():
                if p.status(now) == "succeeded":
                    total += self._price(p)
        return round(total, 6)

    def hooks(self, ref: str) -> list[tuple[str | None, tuple[str, ...] | None]]:
        """(webhook, webhook_events_filter) of each prediction of model `ref`, oldest first."""
        with self._lock:
            return [(p.webhook, None if p.webhook_events_filter is None
                     else tuple(p.webhook_events_filter))
                    for p in self._preds.values() if p.model == ref]

    def ids(self, ref: str) -> list[str]:
        with self._lock:
            return [p.id for p in self._preds.values() if p.model == ref]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- behaviour ----------------------------------------------------------------------
    def _price(self, p: _Prediction) -> float:
        spec = next(m for m in catalog.models(provider="replicate") if m.ref == p.model)
        if SCHEMAS[p.model].get("lipsync"):
            seconds = self._lipsync(p)[1]
            return catalog.price(spec, seconds=math.ceil(round(seconds * 25, 6)) / 25).cost_usd
        if spec.price_basis == "per_image":
            return catalog.price(spec, images=int(p.input.get("num_outputs", 1))).cost_usd
        schema = SCHEMAS[p.model]
        theirs = p.input.get(schema["res"], schema["default_res"])
        ours = next((k for k, v in spec.resolutions.items() if v == theirs), "720p")
        seconds = float(p.input.get("duration", schema["default_s"]))
        return catalog.price(spec, resolution=ours, seconds=seconds).cost_usd

    def _validate(self, ref: str, inp: dict[str, Any]) -> str | None:
        schema = SCHEMAS.get(ref)
        if schema is None:
            return f"model {ref} not found"
        for k in sorted(set(inp) - schema["fields"]):
            return f"input.{k}: unknown field"
        for k in sorted(schema["required"] - set(inp)):
            return f"input.{k}: is required"
        for k, allowed in schema["enums"].items():
            if k in inp and inp[k] not in allowed:
                return f"input.{k}: must be one of {sorted(allowed, key=str)}"
        return None

    # --- webhooks, sent as Replicate does (replicate.com/docs/topics/webhooks) ------------
    def _sign(self, secret: str, webhook_id: str, stamp: str, body: bytes) -> str:
        key = base64.b64decode(secret.split("_", 1)[1])
        mac = hmac.new(key, f"{webhook_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
        return "v1," + base64.b64encode(mac).decode()

    def _call_back(self, p: _Prediction) -> None:
        """In a thread: the on-create deliveries now, the on-completion ones when it ends."""
        for kind in list(self.webhooks_on_create):
            self._deliver(p, kind)
        time.sleep(max(0.0, p.created + p.latency - time.monotonic()) + 0.02)
        for kind in list(self.webhooks_on_completion):
            self._deliver(p, kind)

    def _deliver(self, p: _Prediction, kind: str) -> None:
        assert p.webhook is not None
        stamp = str(int(time.time()) - (600 if kind == "stale" else 0))
        headers = {"webhook-id": f"msg_{uuid.uuid4().hex}", "webhook-timestamp": stamp,
                   "Content-Type": "application/json"}
        if kind == "replay":
            if p.id not in self._last_signed:
                return
            body, headers = self._last_signed[p.id]
        elif kind == "signed":
            body = json.dumps(self._json(p)).encode()
            headers["webhook-signature"] = self._sign(self.webhook_secret,
                                                      headers["webhook-id"], stamp, body)
            self._last_signed[p.id] = (body, dict(headers))
        else:  # a claim that it finished, with an output of the sender's choosing
            fake = {**self._json(p), "status": "succeeded", "error": None,
                    "output": f"{self.base_url}/files/forged-{p.id}.mp4"}
            body = json.dumps(fake).encode()
            if kind != "unsigned":
                other = "whsec_" + base64.b64encode(b"not the account's key 32 bytes!!").decode()
                secret = other if kind == "forged" else self.webhook_secret
                headers["webhook-signature"] = self._sign(secret, headers["webhook-id"],
                                                          stamp, body)
        req = urllib.request.Request(p.webhook, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status: int | None = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        except OSError:
            status = None
        with self._lock:
            self.webhook_deliveries.append({"prediction": p.id, "kind": kind, "status": status})

    def _create(self, ref: str, inp: dict[str, Any], webhook: str | None = None,
                events: list[str] | None = None) -> _Prediction:
        pid = uuid.uuid4().hex[:20]
        with self._lock:
            fail = None
            if self.fail_next > 0:
                self.fail_next -= 1
                fail = self.fail_message
            elif self.fail_refs[ref] > 0:
                self.fail_refs[ref] -= 1
                fail = self.fail_message
            p = _Prediction(id=pid, model=ref, input=inp, created=time.monotonic(),
                            created_at=datetime.now(UTC).isoformat(),
                            latency=self.latency_by_model.get(ref, self.latency_s),
                            fail_message=fail, webhook=webhook, webhook_events_filter=events)
            if ref in self.models:
                p.version = version_id(self.models[ref])
            if self.video_faults and not ref.startswith("black-forest-labs/"):
                p.fault = self.video_faults.popleft()
            self._preds[pid] = p
            self.creates[ref] += 1
            self._files[pid] = p
        if webhook:
            threading.Thread(target=self._call_back, args=(p,), daemon=True,
                             name=f"webhook-{pid}").start()
        if not fail and not SCHEMAS[ref].get("lipsync") and not ref.startswith(
                "black-forest-labs/"):
            # The service renders while the prediction runs: its output is there to download
            # the moment it succeeds (the first clip of a size would otherwise be made when
            # asked for, and its ffmpeg time counted as ours).
            threading.Thread(target=self._render, args=(p, "mp4"), daemon=True,
                             name=f"render-{pid}").start()
        return p

    def _output(self, p: _Prediction) -> Any:
        if p.model.startswith("black-forest-labs/"):
            fmt = self.force_image_format or p.input.get("output_format", "webp")
            n = int(p.input.get("num_outputs", 1))
            names = [f"{p.id}-{i}.{fmt}" for i in range(n)]
        else:
            names = [f"{p.id}.mp4"]
        if self.data_url_outputs:  # as Replicate may answer: the file inline, base64
            urls = []
            for name in names:
                body, ctype = self._file(name) or (b"", "application/octet-stream")
                urls.append(f"data:{ctype};base64,{base64.b64encode(body).decode()}")
        else:
            urls = [f"{self.files_base or self.base_url}/files/{name}" for name in names]
        return urls if p.model.startswith("black-forest-labs/") else urls[0]

    def _logs(self, p: _Prediction, now: float) -> str:
        """A tqdm bar over the processing stage (the first 20 % of the latency is 'starting')."""
        if not self.progress_logs or p.status(now) != "processing":
            return ""
        frac = (now - p.created - 0.2 * p.latency) / (0.8 * p.latency)
        steps = max(0, min(99, int(frac * 100)))
        bar = "#" * (steps // 10)
        return f"loading weights\n{steps:3d}%|{bar:<10}| {steps}/100 [00:01<00:02, 30.00it/s]\n"

    def _json(self, p: _Prediction) -> dict[str, Any]:
        now = time.monotonic()
        status = p.status(now)
        done = status in ("succeeded", "failed", "canceled")
        api = f"{self.base_url}/v1/predictions/{p.id}"
        started = datetime.fromisoformat(p.created_at) + timedelta(seconds=0.2 * p.latency)
        return {
            "id": p.id, "model": p.model, "version": p.version, "input": p.input,
            "logs": self._logs(p, now),
            "output": self._output(p) if status == "succeeded" else None,
            "error": p.fail_message if status == "failed" else None,
            "status": status, "data_removed": False, "created_at": p.created_at,
            "started_at": started.isoformat() if status != "starting" else None,
            "completed_at": datetime.now(UTC).isoformat() if done else None,
            "urls": {"get": api, "cancel": f"{api}/cancel",
                     "web": f"https://replicate.com/p/{p.id}"},
            "metrics": ({"predict_time": round(p.latency * 0.8, 3),
                         "total_time": round(p.latency, 3)} if status == "succeeded" else {}),
        }

    def _file(self, name: str) -> tuple[bytes, str] | None:
        stem, _, ext = name.partition(".")
        pid = stem.split("-")[0]
        with self._lock:
            entry = self._files.get(name) or self._files.get(pid)
        if isinstance(entry, tuple):
            return entry
        if not isinstance(entry, _Prediction) or entry.status(time.monotonic()) != "succeeded":
            return None
        return self._render(entry, ext)

    def _render(self, p: _Prediction, ext: str) -> tuple[bytes, str]:
        """The output file of prediction `p` (made once per kind; see make_mp4)."""
        schema = SCHEMAS[p.model]
        if schema.get("lipsync"):
            return self._lipsync(p)[0], "video/mp4"
        if p.model.startswith("black-forest-labs/"):
            return make_image(FLUX_SIZES[p.input.get("aspect_ratio", "1:1")], ext)
        short = SHORT_SIDE[p.input.get(schema["res"], schema["default_res"])]
        if "aspect_ratio" in p.input:
            a, b = (int(x) for x in p.input["aspect_ratio"].split(":"))
            ratio = a / b
        else:
            ratio = _image_aspect(p.input.get(schema["image"]))
        size = (_even(short * ratio), short) if ratio >= 1 else (short, _even(short / ratio))
        seconds = int(p.input.get("duration", schema["default_s"]))
        sound = bool(schema.get("sound")) and p.input.get("generate_audio", True) is not False
        return make_mp4(*size, seconds, fault=p.fault, sound=sound), "video/mp4"

    def _lipsync(self, p: _Prediction) -> tuple[bytes, float]:
        """(MP4 bytes, seconds) of a lip-sync prediction: its video with its audio muxed in."""
        with self._lock:
            if p.id in self._synced:
                return self._synced[p.id]
        with tempfile.TemporaryDirectory() as d:
            ins = []
            for field, ext in (("video", "mp4"), ("audio", "wav")):
                path = Path(d) / f"in.{ext}"
                path.write_bytes(base64.b64decode(str(p.input[field]).split(",", 1)[1]))
                ins.append(path)
            out = Path(d) / "out.mp4"
            subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(ins[0]), "-i", str(ins[1]),
                            "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac",
                            "-shortest", "-movflags", "+faststart", str(out)], check=True)
            import av

            with av.open(str(out)) as c:  # billed by the picture's length (output frames)
                v = c.streams.video[0]
                frames = sum(1 for _ in c.demux(v) if _.size)
                seconds = frames / float(v.average_rate or 25)
            got = (out.read_bytes(), seconds)
        with self._lock:
            self._synced[p.id] = got
        return got

    def _take_injected(self, kind: str) -> tuple[int | str, int | None] | None:
        with self._lock:
            q = self._inject.get(kind)
            return q.popleft() if q else None


def _handler(double: ReplicateDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self.entry["status"] = status

        def _problem(self, status: int, title: str, detail: str,
                     headers: dict[str, str] | None = None) -> None:
            body = {"title": title, "detail": detail, "status": status}
            self._send(status, json.dumps(body).encode(), "application/problem+json", headers)

        def _dispatch(self, method: str) -> None:
            path = urlsplit(self.path).path
            length = int(self.headers.get("Content-Length") or 0)
            if method == "POST" and double.slow_upload_s and length > (1 << 20):
                # a congested uplink: a large body is taken in only after a pause, so the
                # client's send blocks once the socket buffers are full
                time.sleep(double.slow_upload_s)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            self.entry: dict[str, Any] = {
                "t": time.monotonic(), "method": method, "path": path, "status": None,
                "prefer": self.headers.get("Prefer"), "body": body,
                "host": self.headers.get("Host"),
                "authorization": self.headers.get("Authorization")}
            with double._lock:
                double.requests.append(self.entry)
            try:
                self._route(method, path, body)
            except ConnectionError:  # the client hung up (a canceled download, say)
                pass

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def _injected(self, kind: str) -> bool:
            got = double._take_injected(kind)
            if got is not None:
                self._reply(*got)
            return got is not None

        def _reply(self, status: int | str, retry_after: int | None) -> None:
            if status == "malformed":
                self._send(200, b'{"id": "broken", "status": ')
            elif status == 429:
                self._problem(429, "Too Many Requests",
                              "Request was throttled.",
                              {"Retry-After": str(retry_after)} if retry_after else None)
            elif status in (404, 410):
                self._problem(int(status), "Not Found", "expired")
            else:
                self._problem(int(status), "Internal Server Error", "something broke")
            return True

        def _route(self, method: str, path: str, body: Any) -> None:
            if path.startswith("/files/"):
                return self._serve_file(path.removeprefix("/files/"))
            if (double.redirect_api_to and path.startswith("/v1/")
                    and not double.redirect_api_to.endswith(str(self.headers.get("Host")))):
                return self._send(307, b"", headers={"Location": double.redirect_api_to + path})
            if path == "/redirect":
                to = parse_qs(urlsplit(self.path).query)["to"][0]
                return self._send(302, b"", headers={"Location": to})
            # replicate-python 1.x sends "Bearer"; the API also takes the older "Token" form.
            if self.headers.get("Authorization") not in (f"Bearer {double.token}",
                                                         f"Token {double.token}"):
                return self._problem(401, "Unauthenticated",
                                     "You did not pass a valid authentication token")
            if method == "GET" and path == "/v1/webhooks/default/secret":
                return self._send(200, json.dumps({"key": double.webhook_secret}).encode())
            m_get = re.fullmatch(r"/v1/models/([^/]+)/([^/]+)(?:/versions/([^/]+))?", path)
            if method == "GET" and m_get:
                return self._model(f"{m_get[1]}/{m_get[2]}", m_get[3])
            m_model = re.fullmatch(r"/v1/models/([^/]+)/([^/]+)/predictions", path)
            m_pred = re.fullmatch(r"/v1/predictions/([^/]+)(/cancel)?", path)
            if method == "GET" and path == "/v1/predictions":
                return self._list()
            if method == "POST" and (m_model or path == "/v1/predictions"):
                ref = (f"{m_model[1]}/{m_model[2]}" if m_model
                       else str((body or {}).get("version", "")).split(":")[0])
                return self._create(ref, body or {})
            if m_pred and m_pred[1] in double._preds:
                pred = double._preds[m_pred[1]]
                if method == "GET" and not m_pred[2]:
                    with double._lock:
                        double.status_requests[pred.id] += 1
                    if self._injected("get"):
                        return
                    return self._send(200, json.dumps(double._json(pred)).encode())
                if method == "POST" and m_pred[2]:
                    if self._injected("cancel"):
                        return
                    with double._lock:
                        double.cancels.append(pred.id)
                        if pred.status(time.monotonic()) in ("starting", "processing"):
                            pred.canceled = True
                    return self._send(200, json.dumps(double._json(pred)).encode())
            self._problem(404, "Not found", f"{method} {path}")

        def _list(self) -> None:
            """GET /v1/predictions: the account's predictions, newest first, 100 a page,
            `next` a URL with a cursor (replicate.com/docs/reference/http#predictions.list)."""
            if self._injected("list"):
                return None
            with double._lock:
                double.list_requests += 1
                preds = sorted(double._preds.values(), key=lambda p: p.created, reverse=True)
                if double.listing_lag_reads > 0:  # the newest is not listed yet
                    double.listing_lag_reads -= 1
                    preds = preds[1:]
                page = [double._json(p) for p in preds]
            at = int(parse_qs(urlsplit(self.path).query).get("cursor", ["0"])[0])
            nxt = (f"{double.base_url}/v1/predictions?cursor={at + 100}"
                   if at + 100 < len(page) else None)
            body = {"previous": None, "next": nxt, "results": page[at:at + 100]}
            return self._send(200, json.dumps(body).encode())

        def _model(self, ref: str, version: str | None) -> None:
            """A model (with latest_version and its openapi_schema) or one version."""
            if self._injected("model"):
                return None
            fixture = double.models.get(ref)
            if fixture is None:
                return self._problem(404, "Not found", f"model {ref} not found")
            owner, name = ref.split("/")
            latest = {"id": version_id(fixture), "created_at": "2025-08-01T00:00:00Z",
                      "cog_version": "0.16.0",
                      "openapi_schema": fixture["latest_version"]["openapi_schema"]}
            if version is not None:
                if version != latest["id"]:
                    return self._problem(404, "Not found", f"version {version} not found")
                return self._send(200, json.dumps(latest).encode())
            body = {"url": f"https://replicate.com/{ref}", "owner": owner, "name": name,
                    "description": fixture.get("_notes", ""), "visibility": "public",
                    "run_count": 1, "latest_version": latest}
            return self._send(200, json.dumps(body).encode())

        def _create(self, ref: str, body: dict[str, Any]) -> None:
            inject = double._take_injected("create")
            if inject is not None and inject[0] != "malformed":
                return self._reply(*inject)
            inp = body.get("input") or {}
            problem = double._validate(ref, inp)
            if problem:
                return self._problem(422, "Input validation failed", problem)
            pred = double._create(ref, inp, body.get("webhook"),
                                  body.get("webhook_events_filter"))
            m = re.fullmatch(r"wait(?:=(\d+))?", (self.headers.get("Prefer") or "").strip())
            if m:
                until = time.monotonic() + float(m[1] or 60)
                while (time.monotonic() < until and pred.status(time.monotonic())
                       in ("starting", "processing")):
                    time.sleep(0.01)
            if double.answer_delay_s:  # made, but the answer is slow to come back
                time.sleep(double.answer_delay_s)
            if inject is not None:  # created, but the answer is garbled
                return self._send(201, b'{"id": "' + pred.id.encode())
            self._send(201, json.dumps(double._json(pred)).encode())

        def _serve_file(self, name: str) -> None:
            if self._injected("file"):
                return
            found = double._file(name)
            if found is None:
                return self._problem(404, "Not found", name)
            data, ctype = found
            data += b"\0" * double.pad_files_bytes
            ctype = double.file_content_type or ctype
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            if double.chunked_files:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.entry["status"] = 200
            step = 1 << 16
            chunks = [data[i:i + step] for i in range(0, len(data), step)] or [b""]
            for chunk in chunks:
                if double.slow_download_s:
                    time.sleep(double.slow_download_s / len(chunks))
                if double.chunked_files:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                else:
                    self.wfile.write(chunk)
                self.wfile.flush()
            if double.chunked_files:
                self.wfile.write(b"0\r\n\r\n")

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # clients hanging up is normal
            super().handle_error(request, client_address)


def start_replicate_double(token: str) -> ReplicateDouble:
    """Serve a double on 127.0.0.1 (a free port) in a daemon thread; call `.stop()` after."""
    double = ReplicateDouble(token)
    server = _Server(("127.0.0.1", 0), _handler(double))
    double._server = server
    double.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True,
                     name="replicate-double").start()
    return double
