"""The offline presenter: a drawn host, framed as a medium close-up over the scene's frame (or
a colour), whose mouth opens with the loudness of the offline voice saying the line.

Why drawn and not a placeholder: the Binder demo and the tests have no key, and a presenter
scene must still be a shot an ad team can judge for timing and framing. The line is spoken
by espeak-ng (providers/local/voice.py); its loudness per video frame drives the mouth, a
seeded schedule drives blinks and a slow head drift, so the shot never looks frozen. Frames
are drawn with Pillow and piped to the bundled ffmpeg with the line as the clip's own audio
track (H.264 + AAC), exactly `duration_s` long. Same request, same frames.
"""

from __future__ import annotations

import logging
import math
import random
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from nbvideo.errors import InvalidInput, MediaMissing
from nbvideo.media.audio_io import SAMPLE_RATE, read_wav, write_wav
from nbvideo.media.ffmpeg import (
    RGB_TO_BT709,
    TAG_BT709,
    ffmpeg_exe,
    open_image,
)
from nbvideo.media.threads import encoder_threads
from nbvideo.providers.base import MediaResult, PresenterRequest, SpeechRequest, Usage
from nbvideo.providers.local.animatic import encode_frames, render_in_thread

__all__ = ["AVATARS", "LEAD_S", "Avatar", "LocalPresenter", "mouth_openings", "render_presenter"]

log = logging.getLogger(__name__)

LEAD_S = 0.15
"""The presenter starts speaking this far into the shot (as a voice-over line does)."""
_SS = 2  # the head is drawn at twice its size and scaled down: smooth edges


@dataclass(frozen=True)
class Avatar:
    """One drawn presenter: skin, hair colour and cut."""

    title: str
    skin: str
    hair: str
    cut: str  # "long", "short", "curly", "bob"


AVATARS: dict[str, Avatar] = {
    "ava": Avatar("Ava: long dark-brown hair", "#e0ac8a", "#3b2416", "long"),
    "ben": Avatar("Ben: short black hair", "#c68c65", "#1f1a17", "short"),
    "kai": Avatar("Kai: curly black hair", "#8d5b3e", "#141010", "curly"),
    "mia": Avatar("Mia: auburn bob", "#f1c7a8", "#9a4a1c", "bob"),
}


def get_avatar(name: str) -> Avatar:
    try:
        return AVATARS[name]
    except KeyError:
        raise InvalidInput(f"presenter.avatar: {name!r} is not an offline avatar; offline "
                           f"avatars: {', '.join(AVATARS)}") from None


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _shade(c: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    return tuple(max(0, min(255, round(v * f))) for v in c)  # type: ignore[return-value]


def mouth_openings(samples: np.ndarray, frames: int, fps: int, rate: int = SAMPLE_RATE
                   ) -> np.ndarray:
    """How open the mouth is on each video frame (0 closed .. 1 wide): the RMS loudness of
    the audio under that frame, against the line's loud moments, with a short release so the
    mouth closes a little slower than it opens (as a real one does)."""
    mono = samples.reshape(len(samples), -1).mean(axis=1) if samples.size else samples
    rms = np.zeros(frames)
    for i in range(frames):
        a, b = round(i * rate / fps), round((i + 1) * rate / fps)
        chunk = mono[a:b]
        rms[i] = float(np.sqrt(np.mean(chunk.astype(np.float64) ** 2))) if len(chunk) else 0.0
    loud = float(np.percentile(rms[rms > 0], 90)) if np.any(rms > 0) else 0.0
    if loud <= 1e-6:
        return np.zeros(frames)
    raw = np.clip(rms / loud, 0.0, 1.0) ** 0.8
    raw[rms < loud * 0.08] = 0.0  # silence between words: closed
    out = np.zeros(frames)
    prev, release = 0.0, 0.4 ** (30 / fps)  # per frame: 0.4 a frame at 30 fps
    for i, v in enumerate(raw):
        prev = v if v >= prev else max(v, prev * release)
        out[i] = prev
    return out


def line_track(line: np.ndarray | None, frames: int, fps: int) -> np.ndarray:
    """The shot's audio: the line from LEAD_S on, cut (with a 60 ms fade) at the shot's end."""
    total = round(frames * SAMPLE_RATE / fps)
    track = np.zeros(total, dtype=np.float32)
    if line is None or not len(line):
        return track
    mono = line.reshape(len(line), -1).mean(axis=1)
    start = round(LEAD_S * SAMPLE_RATE)
    room = max(0, total - start)
    piece = mono[:room].astype(np.float32).copy()
    if len(mono) > room and len(piece):
        log.warning("the presenter's line runs %.2f s, longer than the %.2f s its shot leaves "
                    "after the lead-in: it is cut at the end of the shot (shorten the line or "
                    "lengthen the scene)", len(mono) / SAMPLE_RATE, room / SAMPLE_RATE)
        fade = min(len(piece), round(0.06 * SAMPLE_RATE))
        piece[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    track[start:start + len(piece)] = piece
    return track


class _Stage:
    """Everything that does not move: the background with the torso, and the face geometry."""

    def __init__(self, req: PresenterRequest, avatar: Avatar) -> None:
        w, h = req.width, req.height
        self.w, self.h = w, h
        u = min(w, h)
        self.u = u
        palette = [c for c in req.palette if len(c) == 7] or ["#1d2433", "#35506b", "#e0b04a"]
        self.shirt = _rgb(palette[1] if len(palette) > 1 else palette[0])
        self.accent = _rgb(palette[-1])
        self.skin, self.hair = _rgb(avatar.skin), _rgb(avatar.hair)
        self.cut = avatar.cut
        self.cx = round(w * (0.62 if w > h * 1.2 else 0.5))
        self.cy = round(min(h - 0.66 * u, 0.46 * h))
        self.hw, self.hh = 0.30 * u, 0.40 * u  # head width and height
        self.base = self._background(req).convert("RGB")
        self._torso(ImageDraw.Draw(self.base))

    def _background(self, req: PresenterRequest) -> Image.Image:
        w, h = self.w, self.h
        if req.background == "frame":
            if req.frame_path is None or not Path(req.frame_path).is_file():
                raise MediaMissing(f"frame_path: no image at {req.frame_path} for the "
                                   "presenter's background")
            img = open_image(req.frame_path, "frame").convert("RGB")
            scale = max(w / img.width, h / img.height)
            img = img.resize((max(w, round(img.width * scale)), max(h, round(img.height * scale))),
                             Image.Resampling.LANCZOS)
            x0, y0 = (img.width - w) // 2, (img.height - h) // 2
            img = img.crop((x0, y0, x0 + w, y0 + h))
            # a shallow depth of field: the set softens behind the presenter
            img = img.filter(ImageFilter.GaussianBlur(radius=max(2, self.u // 160)))
            return Image.blend(img, Image.new("RGB", (w, h), (0, 0, 0)), 0.18)
        top = _rgb(req.background)
        grad = np.linspace(1.08, 0.78, h)[:, None, None] * np.array(top)[None, None, :]
        return Image.fromarray(np.clip(np.broadcast_to(grad, (h, w, 3)), 0, 255).astype(np.uint8))

    def _torso(self, d: ImageDraw.ImageDraw) -> None:
        u, cx = self.u, self.cx
        neck_top = self.cy + 0.30 * self.hh
        sh_y = self.cy + 0.62 * self.hh  # shoulder line
        d.rectangle((cx - 0.22 * self.hw, neck_top, cx + 0.22 * self.hw, sh_y + 0.1 * u),
                    fill=_shade(self.skin, 0.86))
        half = 0.44 * u  # sloping shoulders: an ellipse over a body as wide as they are
        d.ellipse((cx - half, sh_y, cx + half, sh_y + 0.5 * u), fill=self.shirt)
        d.rectangle((cx - half, sh_y + 0.25 * u, cx + half, self.h), fill=self.shirt)
        # an open collar in the accent colour, a V of skin, a shadow under the chin
        d.polygon([(cx - 0.2 * self.hw, sh_y - 0.02 * u), (cx, sh_y + 0.13 * u),
                   (cx + 0.2 * self.hw, sh_y - 0.02 * u)], fill=_shade(self.skin, 0.86))
        d.line([(cx - 0.34 * self.hw, sh_y - 0.01 * u), (cx, sh_y + 0.15 * u),
                (cx + 0.34 * self.hw, sh_y - 0.01 * u)], fill=self.accent,
               width=max(2, round(0.012 * u)))


def _head(st: _Stage, opening: float, lid: float, brow: float, gaze: float) -> Image.Image:
    """The head as an RGBA layer (drawn at _SS times its size, then scaled down)."""
    s = _SS
    hw, hh = st.hw * s, st.hh * s
    W, H = round(hw * 1.6), round(hh * 1.5)
    img = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    cx, cy = W / 2, H * 0.52
    hair, skin = st.hair, st.skin
    if st.cut == "long":  # hair behind the head, down past the jaw
        d.rounded_rectangle((cx - 0.62 * hw, cy - 0.52 * hh, cx + 0.62 * hw, cy + 0.62 * hh),
                            radius=round(0.45 * hw), fill=hair)
    elif st.cut == "bob":
        d.rounded_rectangle((cx - 0.6 * hw, cy - 0.55 * hh, cx + 0.6 * hw, cy + 0.3 * hh),
                            radius=round(0.4 * hw), fill=hair)
    # ears, face
    for side in (-1, 1):
        ex = cx + side * 0.5 * hw
        d.ellipse((ex - 0.08 * hw, cy - 0.08 * hh, ex + 0.08 * hw, cy + 0.1 * hh),
                  fill=_shade(skin, 0.92))
    d.ellipse((cx - 0.5 * hw, cy - 0.5 * hh, cx + 0.5 * hw, cy + 0.5 * hh), fill=skin)
    # hair on top
    if st.cut == "curly":
        rng = random.Random(7)
        for _ in range(26):
            a = rng.uniform(math.pi * 1.05, math.pi * 1.95)
            r = rng.uniform(0.08, 0.13) * hw
            x, y = cx + math.cos(a) * 0.46 * hw, cy + math.sin(a) * 0.44 * hh
            d.ellipse((x - r, y - r, x + r, y + r), fill=hair)
    else:
        low = 0.02 if st.cut == "short" else 0.1  # where the hairline meets the temples
        d.chord((cx - 0.53 * hw, cy - 0.57 * hh, cx + 0.53 * hw, cy + low * hh), 180, 360,
                fill=hair)
    # eyes: whites, irises (a slow gaze drift), lids closing for a blink
    eye_y, eye_dx = cy - 0.04 * hh, 0.19 * hw
    ew, eh = 0.085 * hw, 0.05 * hh
    for side in (-1, 1):
        ex = cx + side * eye_dx
        d.ellipse((ex - ew, eye_y - eh, ex + ew, eye_y + eh), fill=(250, 248, 244))
        ir = 0.045 * hw
        ix = ex + gaze * 0.03 * hw
        d.ellipse((ix - ir, eye_y - ir, ix + ir, eye_y + ir), fill=(64, 44, 30))
        d.ellipse((ix - ir * 0.45, eye_y - ir * 0.45, ix + ir * 0.45, eye_y + ir * 0.45),
                  fill=(12, 10, 10))
        if lid > 0:  # the upper lid comes down over the eye; closed, a lash line is left
            box = (ex - ew * 1.08, eye_y - eh * 1.15, ex + ew * 1.08, eye_y + eh * 1.15)
            if lid >= 0.75:
                d.ellipse(box, fill=skin)
                d.arc(box, 20, 160, fill=_shade(skin, 0.55), width=max(2, round(0.012 * hh)))
            else:
                d.chord(box, 180, 360, fill=skin)
                d.line([(box[0], eye_y), (box[2], eye_y)], fill=_shade(skin, 0.55),
                       width=max(2, round(0.01 * hh)))
        by = eye_y - (0.11 + 0.03 * brow) * hh
        d.line([(ex - ew * 1.1, by + 0.01 * hh), (ex + ew * 1.1, by)], fill=hair,
               width=max(2, round(0.018 * hh)))
    # nose
    d.line([(cx, cy + 0.0 * hh), (cx - 0.02 * hw, cy + 0.13 * hh), (cx + 0.02 * hw, cy + 0.14 * hh)],
           fill=_shade(skin, 0.78), width=max(2, round(0.012 * hh)))
    # mouth: a closed line, or an opening as tall as the voice is loud
    my, mw = cy + 0.26 * hh, 0.15 * hw * (1 + 0.1 * opening)
    mh = 0.005 * hh + opening * 0.11 * hh
    lip = _shade(skin, 0.68)
    if mh < 0.012 * hh:
        d.line([(cx - mw, my), (cx + mw, my)], fill=lip, width=max(2, round(0.014 * hh)))
    else:
        d.ellipse((cx - mw, my - mh * 0.45, cx + mw, my + mh * 0.55), fill=(70, 22, 26),
                  outline=lip, width=max(2, round(0.012 * hh)))
        if opening > 0.35:
            d.rectangle((cx - mw * 0.6, my - mh * 0.4, cx + mw * 0.6, my - mh * 0.4 + 0.014 * hh),
                        fill=(240, 238, 232))
    return img.resize((round(W / s), round(H / s)), Image.Resampling.LANCZOS)


def _schedule(seed: int, frames: int, fps: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: eyelid closure (blinks every 2-4.5 s, 5 frames each) and gaze drift."""
    rng = random.Random(seed * 7919 + 17)
    lid = np.zeros(frames)
    t = rng.uniform(0.6, 1.8)
    shape = (0.5, 1.0, 1.0, 0.6, 0.25)
    while t * fps < frames:
        i = round(t * fps)
        for k, v in enumerate(shape):
            if i + k < frames:
                lid[i + k] = v
        t += rng.uniform(2.0, 4.5)
    phase = rng.uniform(0, 2 * math.pi)
    gaze = np.array([math.sin(2 * math.pi * i / (fps * 5.3) + phase) for i in range(frames)])
    return lid, gaze


def frames_of(req: PresenterRequest, opening: np.ndarray, avatar: Avatar):  # -> Iterator[bytes]
    st = _Stage(req, avatar)
    n = len(opening)
    lid, gaze = _schedule(req.seed, n, req.fps)
    rng = random.Random(req.seed)
    p1, p2 = rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi)
    for i in range(n):
        t = i / req.fps
        o = float(opening[i])
        dx = st.u * (0.006 * math.sin(2 * math.pi * t / 3.7 + p1))
        dy = st.u * (0.004 * math.sin(2 * math.pi * t / 2.9 + p2) + 0.006 * o)  # a small nod
        tilt = 1.6 * math.sin(2 * math.pi * t / 4.3 + p2) + 1.2 * o * math.sin(t * 3.1)
        head = _head(st, o, float(lid[i]), o, float(gaze[i])).rotate(
            tilt, resample=Image.Resampling.BICUBIC, expand=False)
        frame = st.base.copy()
        x = round(st.cx + dx - head.width / 2)
        y = round(st.cy + dy - head.height * 0.52)
        frame.paste(head, (x, y), head)
        yield frame.tobytes()


def render_presenter(req: PresenterRequest, line: Path | None, out: Path,
                     stop: threading.Event | None = None) -> MediaResult:
    """Blocking render of one presenter shot to `out` (atomically), with `line` (a WAV of the
    spoken line, or None for silence) as its audio track from LEAD_S on."""
    for name, v in (("width", req.width), ("height", req.height)):
        if v % 2:
            raise ValueError(f"{name}={v}: H.264 yuv420p needs an even width and height")
    avatar = get_avatar(req.avatar)
    n = round(req.duration_s * req.fps)
    if n < 1:
        raise ValueError(f"duration_s: {req.duration_s} s at {req.fps} fps gives no frames")
    samples = read_wav(line)[0] if line is not None else None
    track = line_track(samples, n, req.fps)
    opening = mouth_openings(track, n, req.fps)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.part")
    with tempfile.TemporaryDirectory(prefix=".presenter-") as work:
        wav = write_wav(Path(work) / "track.wav", track)
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{req.width}x{req.height}",
               "-r", str(req.fps), "-i", "-", "-i", str(wav),
               "-map", "0:v:0", "-map", "1:a:0", "-vf", f"{RGB_TO_BT709},{TAG_BT709}",
               "-c:v", "libx264", "-preset", "superfast", "-crf", "23", "-g", str(req.fps),
               *encoder_threads(),
               "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-ar", str(SAMPLE_RATE),
               "-ac", "1", "-t", f"{n / req.fps:.6f}", "-movflags", "+faststart",
               "-f", "mp4", str(tmp)]  # fmt: skip
        encode_frames(cmd, frames_of(req, opening, avatar), tmp, out, stop, step="presenter",
                      what=f"presenter shot {out.name}")
    return MediaResult(path=out, width=req.width, height=req.height, duration_s=n / req.fps,
                       fps=float(req.fps), usage=Usage(units=n / req.fps, unit="second"))


class LocalPresenter:
    """Presenter model, offline: espeak-ng says the line, a drawn host lip-syncs to it.

    Answers the clips phase's `clip(req, out)` like the animatic does. Cost 0 (logged)."""

    provider = "local"
    model = "local-presenter"

    async def clip(self, req: PresenterRequest, out: Path) -> MediaResult:
        from nbvideo.providers.local.voice import EspeakVoice

        get_avatar(req.avatar)  # a wrong avatar fails before anything is spoken
        with tempfile.TemporaryDirectory(prefix=".presenter-line-") as work:
            line = None
            if req.text.strip():
                line = Path(work) / "line.wav"
                await EspeakVoice().speak(SpeechRequest(text=req.text, voice=req.voice,
                                                        seed=req.seed), line)
            return await render_in_thread(render_presenter, req, line, Path(out), out=Path(out))
