"""A small OpenAI API double: a real HTTP server on 127.0.0.1 that the official SDK talks to.

It serves POST /v1/chat/completions (structured outputs), POST /v1/images/generations,
POST /v1/images/edits (multipart: the form fields become the logged body, each uploaded image
as {"filename", "content_type", "size", "sha256"}) and
POST /v1/audio/speech (a WAV of speech-like tone bursts, as long as the text would take to
say, streamed the way OpenAI sends WAV: 24 kHz mono with 0xFFFFFFFF placeholder sizes),
checks the bearer token, answers with scripted or generated content, bills tokens, images,
characters and audio minutes at catalog prices (so tests can compare a provider's cost with what the "vendor" charged), and
injects faults on demand: 429 with Retry-After, 500, 401, malformed JSON, refusal, length
cut-off, content filter, a non-JSON 200 page (as a misconfigured proxy gives), and latency.
A model OpenAI has shut down (past its catalog shutdown date, or named in `retired`) is
answered 404 model_not_found, as the real API answers it.

    double = start_openai_double(api_key="sk-test-...")
    double.fail("429", retry_after="0.01"); double.push({"questions": [...]})
    ... AsyncOpenAI(base_url=double.base_url, api_key=...) ...
    double.stop()
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import io
import json
import math
import re
import struct
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from PIL import Image

from nbvideo.providers import catalog, lifecycle

MODEL_PATHS = ("/v1/chat/completions", "/v1/images/generations", "/v1/images/edits",
               "/v1/audio/speech")
FAULTS = ("429", "500", "401", "malformed", "refusal", "length", "content_filter", "garbage",
          "redirect")  # redirect: 307 to `text` + the same path (another origin, say)
DEFAULT_REFUSAL = "I'm sorry, but I can't help with that request."


@dataclass
class Fault:
    kind: str
    retry_after: str | None = None
    text: str | None = None


def default_questions() -> dict[str, Any]:
    return {"questions": [
        {"id": "audience", "prompt": "Who is the ad for?", "kind": "choice",
         "choices": ["Weekend hikers", "Trail runners", "City commuters"],
         "default": "Weekend hikers", "help": "Sets casting and setting."},
        {"id": "tone", "prompt": "What tone should it have?", "kind": "choice",
         "choices": ["Gritty", "Playful", "Premium"], "default": "Gritty",
         "help": "Sets music, pace and colour."},
        {"id": "cta", "prompt": "What should viewers do at the end?", "kind": "text",
         "choices": [], "default": "Shop now", "help": "The last line of the ad."},
        {"id": "music", "prompt": "What music fits?", "kind": "choice",
         "choices": ["Driving drums", "Acoustic", "None"], "default": "Driving drums",
         "help": "Sets the edit rhythm."},
    ]}


def default_storyboard() -> dict[str, Any]:
    beats = [("hook", 3.0, "close-up"), ("problem", 6.0, "wide"), ("product", 8.0, "detail"),
             ("proof", 7.0, "medium"), ("call-to-action", 6.0, "medium")]
    return {"title": "Rain-proof trails", "structure": "problem-solution", "scenes": [
        {"beat": b, "title": f"{b.title()} scene", "description": f"The {b} beat of the ad.",
         "visual_prompt": f"{shot} photo of a hiker on a muddy trail in rain, {b}, cinematic",
         "shot": shot, "camera": "push-in" if i % 2 else "static", "duration_s": d,
         "on_screen_text": "Shop now" if b == "call-to-action" else "",
         "voice_line": "Shop now at your local store." if b == "call-to-action" else "",
         # what a model answers for these scenes: a hiker on screen in every one, the
         # product in detail in the product scene, the shop's name read in the last
         "complexity": {"people": b != "product", "fast_motion": b == "hook",
                        "camera_move": bool(i % 2), "legible_text": b == "call-to-action",
                        "product_closeup": shot == "detail", "dialogue": False}}
        for i, (b, d, shot) in enumerate(beats)]}


def _png(width: int, height: int) -> bytes:
    im = Image.new("RGB", (width, height), (40, 90, 60))
    im.paste((200, 120, 40), (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def _spec_for(ref: str) -> catalog.ModelSpec | None:
    return next((m for m in catalog.models(provider="openai") if m.ref == ref), None)


class OpenAIDouble:
    """State of the double: queued content and faults, the request log and what was billed."""

    def __init__(self, api_key: str | None, latency_s: float = 0.0) -> None:
        self.api_key = api_key
        self.latency_s = latency_s
        self.requests: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.tokens = {"prompt": 0, "completion": 0}
        self.images = 0
        self.characters = 0
        self.speech_seconds = 0.0
        self.retired: set[str] = set()  # models answered 404 model_not_found, besides the
        # catalog's shut-down ones
        self.charged_usd = 0.0
        self._script: deque[Any] = deque()
        self._faults: deque[Fault] = deque()
        self._n = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True, name="openai-double")
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def shut_down(self, model: str) -> bool:
        """Whether OpenAI no longer serves `model` today: named in `retired`, or past its
        catalog shutdown date by the lifecycle clock (frozen in tests)."""
        if model in self.retired:
            return True
        spec = _spec_for(model)
        return spec is not None and lifecycle.retired(spec)

    # ---- scripting
    def push(self, payload: dict[str, Any] | str) -> None:
        """Queue the next answer's content (a dict is sent as JSON, a str verbatim)."""
        with self._lock:
            self._script.append(payload)

    def fail(self, kind: str, times: int = 1, *, retry_after: str | None = "0.01",
             text: str | None = None) -> None:
        """Queue `times` faults; each request takes the next one before any content."""
        if kind not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}, got {kind!r}")
        with self._lock:
            self._faults.extend(Fault(kind, retry_after, text) for _ in range(times))

    def bodies(self, path: str = "/v1/chat/completions") -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["path"] == path]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # ---- request handling (called from server threads)
    def handle(self, path: str, headers: dict[str, str],
               raw: bytes) -> tuple[int, dict[str, str], dict[str, Any] | str | bytes]:
        """(status, headers, payload): a dict is sent as JSON, a str as an HTML page, bytes
        as they are (with the content-type from the headers)."""
        ctype = headers.get("content-type", "")
        try:
            body = _form(ctype, raw) if ctype.startswith("multipart/") else json.loads(raw or b"{}")
        except ValueError:
            body = None
        with self._lock:
            self._n += 1
            n = self._n
            self.counts[path] += 1
            self.requests.append({"path": path, "headers": headers, "body": body,
                                  "time": time.monotonic()})
            fault = self._faults.popleft() if self._faults else None
        if self.latency_s:
            time.sleep(self.latency_s)
        hdrs = {"x-request-id": f"req_double{n}"}
        if fault and fault.kind == "redirect":
            return 307, {**hdrs, "location": f"{fault.text}{path}"}, {}
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if (self.api_key is not None and token != self.api_key) or (fault and fault.kind == "401"):
            return 401, hdrs, _error(f"Incorrect API key provided: {token}.", "invalid_api_key")
        if body is None:
            return 400, hdrs, _error("We could not parse the JSON body of your request.", None)
        if fault and fault.kind in ("429", "500"):
            if fault.retry_after is not None:
                hdrs["retry-after"] = fault.retry_after
            if fault.kind == "429":
                return 429, hdrs, _error("Rate limit reached for requests.", "rate_limit_exceeded")
            return 500, hdrs, _error("The server had an error while processing your request.",
                                     None)
        if fault and fault.kind == "garbage":
            return 200, hdrs, "<html><body>Gateway says hello</body></html>"
        model = str(body.get("model") or "")
        if path in MODEL_PATHS and model and self.shut_down(model):
            # what OpenAI answers for a model it has shut down (or one the key cannot see):
            # 404 with this body, e.g. github.com/Aider-AI/aider/issues/2030 and
            # github.com/shobrook/wut/issues/14 (openai.NotFoundError, code model_not_found)
            return 404, hdrs, _error(f"The model `{model}` does not exist or you do not have "
                                     "access to it.", "model_not_found")
        if path == "/v1/chat/completions":
            return 200, hdrs, self._chat(n, body, fault)
        if path in ("/v1/images/generations", "/v1/images/edits"):
            if path.endswith("edits") and not body.get("image"):
                return 400, hdrs, _error("image is required for an edit", "missing_image")
            return 200, hdrs, self._image(body)
        if path == "/v1/audio/speech":
            return self._speech(body, fault, hdrs)
        return 404, hdrs, _error(f"Unknown path {path}", "not_found")

    def _chat(self, n: int, body: dict[str, Any], fault: Fault | None) -> dict[str, Any]:
        schema = ((body.get("response_format") or {}).get("json_schema") or {})
        name = str(schema.get("name", "")).lower()
        with self._lock:
            scripted = self._script.popleft() if self._script else None
        if scripted is None:
            scripted = default_questions() if "question" in name else default_storyboard()
        text = scripted if isinstance(scripted, str) else json.dumps(scripted)
        content: str | None = text
        refusal, finish = None, "stop"
        kind = fault.kind if fault else None
        if kind == "malformed":
            content = fault.text if fault and fault.text else text[: len(text) // 2]
        elif kind == "length":
            content, finish = text[: len(text) // 3], "length"
        elif kind == "refusal":
            content, refusal = None, (fault.text if fault and fault.text else DEFAULT_REFUSAL)
        elif kind == "content_filter":
            content, finish = None, "content_filter"
        prompt = max(1, len(json.dumps(body.get("messages", []))) // 4)
        completion = max(1, len(content or refusal or "") // 4)
        spec = _spec_for(str(body.get("model")))
        with self._lock:
            self.tokens["prompt"] += prompt
            self.tokens["completion"] += completion
            if spec is not None:
                self.charged_usd += catalog.price(spec, input_tokens=prompt,
                                                  output_tokens=completion).cost_usd
        return {
            "id": f"chatcmpl-double{n}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model"), "system_fingerprint": "fp_double",
            "choices": [{"index": 0, "finish_reason": finish, "logprobs": None,
                         "message": {"role": "assistant", "content": content,
                                     "refusal": refusal}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion},
        }

    def _image(self, body: dict[str, Any]) -> dict[str, Any]:
        w, h = (int(x) for x in str(body.get("size") or "1024x1024").split("x"))
        count = int(body.get("n") or 1)
        spec = _spec_for(str(body.get("model")))
        with self._lock:
            self.images += count
            if spec is not None:
                self.charged_usd += catalog.price(spec, images=count).cost_usd
        png = base64.b64encode(_png(w, h)).decode()
        return {"created": int(time.time()), "data": [{"b64_json": png}] * count,
                "usage": {"input_tokens": 50, "output_tokens": 1056, "total_tokens": 1106,
                          "input_tokens_details": {"text_tokens": 50, "image_tokens": 0}}}


    def _speech(self, body: dict[str, Any], fault: Fault | None,
                hdrs: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any] | bytes]:
        text = str(body.get("input") or "")
        if not text or not body.get("voice"):
            return 400, hdrs, _error("'input' and 'voice' are required.", None)
        if (body.get("response_format") or "mp3") != "wav":
            return 400, hdrs, _error("This double only speaks response_format='wav'.", None)
        speed = float(body.get("speed") or 1.0)
        seconds, wav = speech_wav(text, speed)
        spec = _spec_for(str(body.get("model")))
        with self._lock:
            self.characters += len(text)
            self.speech_seconds += seconds
            if spec is not None:
                self.charged_usd += catalog.price(spec, characters=len(text),
                                                  seconds=seconds).cost_usd
        if fault and fault.kind == "malformed":
            wav = wav[:30]  # billed, but cut off inside the header
        return 200, {**hdrs, "content-type": "audio/wav"}, wav


SPEECH_RATE = 24_000


def speech_seconds(text: str, speed: float = 1.0) -> float:
    """How long the double's voice takes to say `text`: 2.6 words/s plus breath at the ends."""
    words = max(1, len(re.findall(r"[\w'-]+", text)))
    return round(words / (2.6 * speed) + 0.3, 3)


def speech_wav(text: str, speed: float = 1.0) -> tuple[float, bytes]:
    """(seconds, WAV bytes): one tone burst per word around 160 Hz with a few harmonics, so
    it ducks music and measures like speech; header sizes 0xFFFFFFFF, as OpenAI streams it."""
    seconds = speech_seconds(text, speed)
    n = round(seconds * SPEECH_RATE)
    t = np.arange(n) / SPEECH_RATE
    words = max(1, len(re.findall(r"[\w'-]+", text)))
    word_s = (seconds - 0.3) / words
    pos = (t - 0.15) / word_s
    env = np.where((pos >= 0) & (pos < words), np.sin(np.pi * np.clip(pos % 1, 0, 1)) ** 0.5, 0)
    f0 = 160 + 25 * np.sin(2 * math.pi * 0.7 * t)
    phase = 2 * math.pi * np.cumsum(f0) / SPEECH_RATE
    voice = sum(np.sin(k * phase) / k for k in (1, 2, 3, 4))
    pcm = np.round(0.3 * env * voice * 32767).astype("<i2").tobytes()
    header = (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVEfmt "
              + struct.pack("<IHHIIHH", 16, 1, 1, SPEECH_RATE, SPEECH_RATE * 2, 2, 16)
              + b"data" + struct.pack("<I", 0xFFFFFFFF))
    return seconds, header + pcm


def _form(content_type: str, raw: bytes) -> dict[str, Any]:
    """A multipart/form-data body as a dict; files (repeated `image[]` or `image`) as a list
    of what they were, so tests can check the very bytes that were sent."""
    msg = BytesParser(policy=email.policy.HTTP).parsebytes(
        f"content-type: {content_type}\r\n\r\n".encode() + raw)
    if not msg.is_multipart():
        raise ValueError("not a multipart body")
    out: dict[str, Any] = {}
    for part in msg.iter_parts():
        name = str(part.get_param("name", header="content-disposition") or "")
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            out.setdefault(name.removesuffix("[]"), []).append({
                "filename": filename, "content_type": part.get_content_type(),
                "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        else:
            out[name] = data.decode()
    return out


def _error(message: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": code}}


def _make_handler(double: OpenAIDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, hdrs, payload = double.handle(self.path, headers, raw)
            if isinstance(payload, bytes):
                data, kind = payload, hdrs.pop("content-type", "application/octet-stream")
            elif isinstance(payload, str):
                data, kind = payload.encode(), "text/html"
            else:
                data, kind = json.dumps(payload).encode(), "application/json"
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(data)))
            for k, v in hdrs.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    return Handler


def start_openai_double(api_key: str | None = "sk-test-" + "x" * 30,
                        latency_s: float = 0.0) -> OpenAIDouble:
    """Start the double on a free port; `api_key=None` accepts any bearer token."""
    return OpenAIDouble(api_key, latency_s)
