"""A small ElevenLabs API double: a real HTTP server on 127.0.0.1 that the official SDK talks to.

It speaks the shapes of the real API (elevenlabs 2.78 SDK text_to_speech/raw_client.py and
voices/raw_client.py; elevenlabs.io/docs/api-reference):

- POST /v1/text-to-speech/{voice_id}/with-timestamps?output_format=pcm_24000, authenticated by
  the `xi-api-key` header, JSON body {text, model_id, voice_settings?, seed?, ...}; answers
  {"audio_base64", "alignment", "normalized_alignment"}, each alignment {"characters",
  "character_start_times_seconds", "character_end_times_seconds"}, with the `request-id` and
  `character-cost` (credits) headers. The audio is 16-bit mono PCM (or WAV for wav_*): one
  voiced burst per word, silent between words and longer after punctuation, and the
  alignment says exactly where each character is, so a test can check both.
- GET /v2/voices (voices.search: page_size, next_page_token, search, category) and
  GET /v1/voices (voices.get_all).

Errors have ElevenLabs' body {"detail": {"status", "message"}} (help.elevenlabs.io "API
Error Code 400 or 401"); faults on demand: 401 invalid_api_key (echoing the key, as a careless
server might), 429 too_many_concurrent_requests with Retry-After, 500, 503 system_busy,
quota_exceeded (401), a garbled 200 (audio that is not base64 PCM), no alignment, latency.
Billing is at catalog prices, so a test can compare a provider's cost with what was charged.
"""

from __future__ import annotations

import base64
import io
import json
import math
import threading
import time
import wave
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

from nbvideo.providers import catalog

FAULTS = ("401", "429", "500", "503", "quota", "garbled", "no_alignment")
CREDITS = {"eleven_multilingual_v2": 1.0, "eleven_v3": 1.0, "eleven_flash_v2_5": 0.5}

PREMADE = [
    ("EXAVITQu4vr4xnSDxMaL", "Sarah", "female", "young", "american", "news"),
    ("pNInz6obpgDQGcFmaJgB", "Adam", "male", "middle_aged", "american", "social_media"),
    ("pFZP5JQG7iQjIQuC4Bku", "Lily", "female", "middle_aged", "british", "narration"),
    ("FGY2WhTYpPnrIDTdsKH5", "Laura", "female", "young", "american", "social_media"),
    ("JBFqnCBsd6RMkjVDRZzb", "George", "male", "middle_aged", "british", "narration"),
]
CLONED = ("Zk3x9TQp7Lm2Wq8Rt4Yv", "Trailhead Brand Voice", "male", "young", "american",
          "advertisement")


def voice_json(v: tuple[str, ...], category: str = "premade") -> dict[str, Any]:
    vid, name, gender, age, accent, use = v
    return {"voice_id": vid, "name": name, "category": category, "samples": None,
            "fine_tuning": None, "description": f"{name}, a {accent} voice for {use}",
            "labels": {"accent": accent, "gender": gender, "age": age, "use_case": use},
            "preview_url": f"https://storage.googleapis.com/eleven-public-prod/{vid}.mp3",
            "available_for_tiers": [], "settings": None, "sharing": None,
            "high_quality_base_model_ids": ["eleven_multilingual_v2"], "is_legacy": False}


def word_plan(text: str, speed: float = 1.0) -> list[tuple[str, float, float]]:
    """(character, start_s, end_s) for every character of `text` as the double speaks it:
    words 0.07 s a letter plus 0.1 s, a 0.12 s gap between words, 0.35 s after , . ! ? ;"""
    out: list[tuple[str, float, float]] = []
    t = 0.1 / speed
    words = text.split(" ")
    for wi, word in enumerate(words):
        length = (0.07 * max(len(word), 1) + 0.1) / speed
        step = length / max(len(word), 1)
        for ci, ch in enumerate(word):
            out.append((ch, round(t + ci * step, 4), round(t + (ci + 1) * step, 4)))
        t += length
        if wi < len(words) - 1:
            gap = (0.35 if word[-1:] in ",.!?;:" else 0.12) / speed
            out.append((" ", round(t, 4), round(t + gap, 4)))
            t += gap
    return out


def speech_pcm(text: str, rate: int, speed: float = 1.0) -> tuple[bytes, list[Any], float]:
    """(16-bit mono PCM, the character alignment, seconds): a voiced burst per word."""
    plan = word_plan(text, speed)
    seconds = (plan[-1][2] if plan else 0.0) + 0.15 / speed
    n = round(seconds * rate)
    t = np.arange(n) / rate
    env = np.zeros(n)
    for ch, s, e in plan:
        if not ch.isspace():
            env[(t >= s) & (t < e)] = 1.0
    ramp = max(1, round(0.01 * rate))  # 10 ms fades: no clicks at word edges
    env = np.convolve(env, np.ones(ramp) / ramp, mode="same")
    f0 = 150 + 20 * np.sin(2 * math.pi * 0.9 * t)
    phase = 2 * math.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in (1, 2, 3, 4))
    pcm = np.round(0.3 * env * voice * 32767).astype("<i2").tobytes()
    return pcm, plan, seconds


def _alignment(plan: list[Any]) -> dict[str, list[Any]]:
    return {"characters": [c for c, _s, _e in plan],
            "character_start_times_seconds": [s for _c, s, _e in plan],
            "character_end_times_seconds": [e for _c, _s, e in plan]}


def _error(status: str, message: str) -> dict[str, Any]:
    return {"detail": {"status": status, "message": message}}


class ElevenLabsDouble:
    """State of the double: faults queued, requests logged, characters billed."""

    def __init__(self, api_key: str, latency_s: float = 0.0) -> None:
        self.api_key = api_key
        self.latency_s = latency_s
        self.requests: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.characters = 0
        self.charged_usd = 0.0
        self.credits = 0.0
        self.responses: list[dict[str, Any]] = []
        self._faults: deque[tuple[str, str | None]] = deque()
        self._n = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True, name="elevenlabs-double")
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail(self, kind: str, times: int = 1, *, retry_after: str | None = "1") -> None:
        if kind not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}, got {kind!r}")
        with self._lock:
            self._faults.extend((kind, retry_after) for _ in range(times))

    def speech_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].startswith("/v1/text-to-speech/")]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # ---- request handling (server threads)
    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes
               ) -> tuple[int, dict[str, str], dict[str, Any]]:
        url = urlparse(target)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        with self._lock:
            self._n += 1
            n = self._n
            self.counts[url.path] += 1
            self.requests.append({"method": method, "path": url.path, "query": query,
                                  "headers": headers, "body": body, "time": time.monotonic()})
            fault = self._faults.popleft() if self._faults else None
        if self.latency_s:
            time.sleep(self.latency_s)
        hdrs = {"request-id": f"req{n:04d}double"}
        given = headers.get("xi-api-key", "")
        kind = fault[0] if fault else None
        if given != self.api_key or kind == "401":
            # a careless server echoing the key back: the client must redact it
            return 401, hdrs, _error("invalid_api_key", f"Invalid API key: {given}")
        if kind == "quota":
            return 401, hdrs, _error(
                "quota_exceeded", "This request exceeds your quota of 10000. You have 35 "
                "credits remaining, while 120 credits are required for this request.")
        if kind in ("429", "500", "503"):
            if fault and fault[1] is not None:
                hdrs["retry-after"] = fault[1]
            if kind == "429":
                return 429, hdrs, _error("too_many_concurrent_requests",
                                         "Too many concurrent requests for your plan.")
            if kind == "503":
                return 503, hdrs, _error("system_busy", "We are experiencing heavy traffic.")
            return 500, hdrs, {"detail": "Internal Server Error"}
        if method == "GET" and url.path in ("/v2/voices", "/v1/voices"):
            return 200, hdrs, self._voices(url.path, query)
        if method == "POST" and url.path.startswith("/v1/text-to-speech/") \
                and url.path.endswith("/with-timestamps"):
            if body is None:
                return 400, hdrs, _error("invalid_request", "Body is not JSON.")
            voice_id = url.path.split("/")[3]
            return self._speech(voice_id, query, body, kind, hdrs)
        return 404, hdrs, {"detail": "Not Found"}

    def _voices(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        allv = [voice_json(v) for v in PREMADE] + [voice_json(CLONED, "cloned")]
        if query.get("category"):
            allv = [v for v in allv if v["category"] == query["category"]]
        if query.get("search"):
            q = query["search"].lower()
            allv = [v for v in allv if q in json.dumps(v).lower()]
        if path == "/v1/voices":
            return {"voices": allv}
        size = int(query.get("page_size") or 10)
        start = int(query.get("next_page_token") or 0)
        page = allv[start:start + min(size, 3)]  # pages of at most 3: pagination is exercised
        more = start + len(page) < len(allv)
        return {"voices": page, "has_more": more, "total_count": len(allv),
                "next_page_token": str(start + len(page)) if more else None}

    def _speech(self, voice_id: str, query: dict[str, str], body: dict[str, Any],
                kind: str | None, hdrs: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        known = {v[0] for v in PREMADE} | {CLONED[0]}
        if voice_id not in known:
            return 400, hdrs, _error("voice_not_found",
                                     f"A voice with voice_id {voice_id} does not exist.")
        text = body.get("text")
        model = body.get("model_id") or "eleven_multilingual_v2"
        if not isinstance(text, str) or not text.strip():
            return 422, hdrs, {"detail": [{"loc": ["body", "text"],
                                           "msg": "field required", "type": "missing"}]}
        fmt = query.get("output_format") or "mp3_44100_128"
        if not (fmt.startswith("pcm_") or fmt.startswith("wav_")):
            return 400, hdrs, _error("invalid_output_format",
                                     f"This double speaks only pcm_* and wav_*, not {fmt}.")
        rate = int(fmt.split("_")[1])
        settings = body.get("voice_settings") or {}
        speed = float(settings.get("speed") or 1.0)
        if not 0.7 <= speed <= 1.2:
            return 400, hdrs, _error("invalid_voice_settings",
                                     "speed must be between 0.7 and 1.2")
        pcm, plan, _seconds = speech_pcm(text, rate, speed)
        if fmt.startswith("wav_"):
            buf = io.BytesIO()
            with wave.open(buf, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(rate)
                w.writeframes(pcm)
            pcm = buf.getvalue()
        credits = math.ceil(len(text) * CREDITS.get(model, 1.0))
        spec = next((m for m in catalog.models("audio", "elevenlabs") if m.ref == model), None)
        with self._lock:
            self.characters += len(text)
            self.credits += credits
            if spec is not None:
                self.charged_usd += catalog.price(spec, characters=len(text)).cost_usd
        audio = base64.b64encode(pcm).decode()
        if kind == "garbled":
            audio = "<html>not audio</html>"
        answer: dict[str, Any] = {"audio_base64": audio, "alignment": _alignment(plan),
                                  "normalized_alignment": _alignment(plan)}
        if kind == "no_alignment":
            answer["alignment"] = answer["normalized_alignment"] = None
        with self._lock:
            self.responses.append(answer)
        return 200, {**hdrs, "character-cost": str(credits)}, answer


def _make_handler(double: ElevenLabsDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, hdrs, payload = double.handle(method, self.path, headers, raw)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for k, v in hdrs.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            self._serve("POST")

        def do_GET(self) -> None:
            self._serve("GET")

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    return Handler


def start_elevenlabs_double(api_key: str, latency_s: float = 0.0) -> ElevenLabsDouble:
    """Start the double on a free port; point the SDK at `double.base_url`."""
    return ElevenLabsDouble(api_key, latency_s)
