"""Thumbnail candidates from an export, and thumbnails rendered in the brand's style.

`candidates` samples an export's frames in one ffmpeg pass (at most `MAX_SAMPLES` frames,
`SAMPLE_WIDTH` pixels wide), drops every frame that is not a clean picture, scores the rest
and picks a few that differ from each other:

- dropped: frames inside a transition window, or within `CUT_GUARD_S` of a cut or of one, as
  the timeline places them (scene starts, transition kinds and durations, the end card), and
  frames that look like the blend of their neighbours (a fade or dissolve the timeline does
  not name: a fade inside a clip, a dip in a generated clip). The timeline's windows are only
  used when the export still matches it (same length to a frame); otherwise the frame-
  difference check is all there is, and `Thumbnails.notes` says so.
- sharpness: the variance of the Laplacian of the luma (BT.709 weights), mapped to 0..1 on
  a log scale (`SHARP_REF` is 1.0). A blurred or flat frame has little high frequency.
- exposure: the mean luma against mid-grey, less the share of clipped pixels (luma <= 4
  or >= 251): black, white and blown-out frames score low.
- product: with a product photo (the look's reference_image, or `product=`), how much some
  region of the frame looks like it: the best over windows of several sizes of a colour
  histogram intersection (hue, saturation, value; the photo's background, the colour of its
  border, left out) averaged with a zero-mean correlation of 16x16 luma thumbnails of the
  window and the photo. It says "this frame has the photo's colours and rough layout
  somewhere", not "this is the product": no object recognition, so a product in common
  colours (black, white, grey) on a busy frame, or scenery in the product's colours, fools
  it, and a product seen from a very different angle or much smaller than an eighth of the
  frame scores low. The match (0..1) is scored from `PRODUCT_FLOOR` (0, what unrelated
  frames in a similar palette reach) to twice that (1). Without a photo, the storyboard beat the frame belongs to stands in:
  1.0 for the "product" beat, 0.5 for benefit, proof and offer, 0 for the rest.
- caption: a frame shown while a caption burned into the export is on screen (the export's
  SRT sidecar has its cues) scores `CAPTION_PENALTY` of the weighted sum: a poster with half
  a sentence on it is worse than one between lines.

Each candidate keeps its components, so a person sees why it ranked where it did.

`render_thumbnail` puts title text on a frame in the brand kit's style (headline font, the
kit's lightest colour on a box of its darkest, an accent rule), wrapped and shrunk until it
fits the platform preset's safe area and clear of the logo; never cut. `THUMB_SPECS` are
the platforms' sizes (YouTube thumbnails.set: JPG/PNG <= 2 MB, 1280x720 recommended,
developers.google.com/youtube/v3/docs/thumbnails/set; Instagram Reels cover: JPG <= 8 MB,
9:16, developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/
media; TikTok takes no picture: its cover is a frame by time, post_info.
video_cover_timestamp_ms, developers.tiktok.com/doc/content-posting-api-reference-direct-post).
"""

from __future__ import annotations

import base64
import html
import io
import math
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from nbvideo.errors import InvalidInput, quote
from nbvideo.media.ffmpeg import open_image, probe, run_ffmpeg
from nbvideo.model.presets import PRESETS, Rect, SafeArea

if TYPE_CHECKING:
    import pandas as pd
    from PIL import Image

    from nbvideo.model.state import ExportRecord
    from nbvideo.runtime.context import Runtime
    from nbvideo.store.brands import BrandKit

__all__ = [
    "THUMB_SPECS", "FrameScore", "ThumbSpec", "ThumbnailCandidate", "ThumbnailRefused",
    "Thumbnails", "ProductMatcher", "Window", "candidates_from", "fit_frame", "grab_frame",
    "render_thumbnail", "sample_frames", "save_jpeg", "score_frame",
]  # fmt: skip

SAMPLE_WIDTH = 320
MAX_SAMPLES = 240
SAMPLE_FPS = 4.0
CUT_GUARD_S = 0.25
SHARP_REF = 600.0  # Laplacian variance (0-255 luma, 320 px wide) that scores 1.0
WEIGHTS = {"sharpness": 0.35, "exposure": 0.25, "product": 0.40}
# A frame with a caption burned into it (a voice line mid-sentence) makes a worse poster than
# one between lines: its score is multiplied by this, so a frame between cues wins unless it
# is much worse. Not dropped: with a voice-over, captions cover most of a short ad.
CAPTION_PENALTY = 0.85
PRODUCT_FLOOR = 0.45  # a match unrelated frames of a similar palette reach: scored 0; 0.9: 1
MB = 1024**2


class ThumbnailRefused(InvalidInput):
    """A thumbnail choice that cannot be used (a bad time, index or image, or title text
    that cannot fit); nothing was rendered or packaged."""


# ------------------------------------------------------------------------------ platforms
class ThumbSpec(BaseModel):
    """One platform's thumbnail: pixel size, the most bytes it takes, the preset whose safe
    area the text keeps to, and whether it is a picture at all (TikTok's is a frame time)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    width: int
    height: int
    max_bytes: int
    safe_preset: str | None
    image: bool = True
    text: bool = True


THUMB_SPECS: dict[str, ThumbSpec] = {
    "youtube": ThumbSpec(width=1280, height=720, max_bytes=2 * MB, safe_preset="youtube"),
    "shorts": ThumbSpec(width=1080, height=1920, max_bytes=2 * MB, safe_preset="shorts"),
    "reels": ThumbSpec(width=1080, height=1920, max_bytes=8 * MB, safe_preset="reels"),
    "instagram-feed": ThumbSpec(width=1080, height=1920, max_bytes=8 * MB, safe_preset="reels"),
    # Facebook video thumbnails (POST /{video-id}/thumbnails): 16:9, JPG/PNG; 1280x720 as
    # YouTube's, for the Facebook client to use.
    "facebook": ThumbSpec(width=1280, height=720, max_bytes=8 * MB, safe_preset="youtube"),
    # TikTok takes a frame of the video by time, no picture: the poster is that frame as is.
    "tiktok": ThumbSpec(width=1080, height=1920, max_bytes=8 * MB, safe_preset="tiktok",
                        text=False),
    "web": ThumbSpec(width=1280, height=720, max_bytes=2 * MB, safe_preset="web"),
}


def safe_area_for(spec: ThumbSpec) -> SafeArea:
    return PRESETS[spec.safe_preset].safe_area if spec.safe_preset in PRESETS else SafeArea()


# ------------------------------------------------------------------------------ sampling
def sample_frames(video: Path, *, width: int = SAMPLE_WIDTH, max_samples: int = MAX_SAMPLES,
                  rate: float = SAMPLE_FPS) -> tuple[np.ndarray, np.ndarray, float]:
    """(times in seconds, RGB frames N x H x W x 3 uint8, the video's fps) sampled from
    `video` in one ffmpeg pass, `rate` frames a second (fewer for a long video) at `width`
    pixels wide."""
    info = probe(video, count_frames=False)
    dur = max(info.duration_s, 1 / max(info.fps, 1))
    rate = min(rate, max_samples / dur, info.fps or rate)
    h = max(2, round(width * info.height / info.width / 2) * 2)
    with tempfile.TemporaryDirectory(prefix="nbvideo-thumbs-") as tmp:
        raw = Path(tmp) / "frames.rgb"
        run_ffmpeg(["-i", str(video), "-map", "0:v:0", "-an",
                    "-vf", f"fps={rate:.6f}:round=near,scale={width}:{h}:flags=area",
                    "-frames:v", str(max_samples), "-pix_fmt", "rgb24", "-f", "rawvideo",
                    str(raw)], total_s=None)
        data = np.fromfile(raw, dtype=np.uint8)
    n = data.size // (width * h * 3)
    frames = data[: n * width * h * 3].reshape(n, h, width, 3)
    times = np.arange(n) / rate
    return times, frames, float(info.fps)


def grab_frame(video: Path, at_s: float) -> Image.Image:
    """The frame at `at_s` at the video's full size, as RGB."""
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="nbvideo-thumb-") as tmp:
        out = Path(tmp) / "frame.png"
        run_ffmpeg(["-ss", f"{max(0.0, at_s):.6f}", "-i", str(video), "-map", "0:v:0",
                    "-frames:v", "1", "-update", "1", "-c:v", "png", "-f", "image2",
                    str(out)], total_s=None)
        if not out.is_file():  # past the last frame: the last one
            info = probe(video, count_frames=False)
            return grab_frame(video, max(0.0, info.duration_s - 2 / max(info.fps, 1))) \
                if at_s > 0.05 else Image.new("RGB", (info.width, info.height))
        with Image.open(out) as im:
            return im.convert("RGB")


# ------------------------------------------------------------------------------ scoring
def luma(rgb: np.ndarray) -> np.ndarray:
    f = rgb.astype(np.float32)
    return 0.2126 * f[..., 0] + 0.7152 * f[..., 1] + 0.0722 * f[..., 2]


class FrameScore(BaseModel):
    """How one frame scores on its own (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sharpness: float
    exposure: float
    laplacian_var: float
    mean_luma: float
    clipped: float


def score_frame(rgb: np.ndarray) -> FrameScore:
    """Sharpness and exposure of one RGB frame (H x W x 3 uint8)."""
    y = luma(rgb)
    lap = (y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:] - 4 * y[1:-1, 1:-1])
    var = float(lap.var()) if lap.size else 0.0
    sharp = min(1.0, math.log1p(var) / math.log1p(SHARP_REF))
    mean = float(y.mean())
    clipped = float(((y <= 4) | (y >= 251)).mean())
    level = max(0.0, 1 - (abs(mean - 118) / 118) ** 1.5)
    exposure = max(0.0, level * (1 - min(1.0, 1.5 * clipped)))
    return FrameScore(sharpness=round(sharp, 4), exposure=round(exposure, 4),
                      laplacian_var=round(var, 2), mean_luma=round(mean, 2),
                      clipped=round(clipped, 4))


def _bins(rgb: np.ndarray) -> np.ndarray:
    """A colour bin per pixel: 12 hues x 3 saturations x 3 values (greys by value only)."""
    f = rgb.astype(np.float32) / 255
    mx, mn = f.max(-1), f.min(-1)
    d = mx - mn
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    safe = np.where(d > 1e-6, d, 1)
    h = np.where(mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2,
                                                          (r - g) / safe + 4)) / 6
    s = np.where(mx > 1e-6, d / np.where(mx > 1e-6, mx, 1), 0)
    hb = np.minimum((h * 12).astype(np.int32), 11)
    sb = np.minimum((s * 3).astype(np.int32), 2)
    vb = np.minimum((mx * 3).astype(np.int32), 2)
    grey = s < 0.15
    return np.where(grey, 108 + vb, (hb * 3 + sb) * 3 + vb)  # 108 colour bins + 3 greys


N_BINS = 111


def _thumb16(y: np.ndarray) -> np.ndarray:
    """A 16x16 zero-mean unit-norm luma thumbnail (area averages)."""
    h, w = y.shape
    ys = np.linspace(0, h, 17).astype(int)
    xs = np.linspace(0, w, 17).astype(int)
    c = np.cumsum(np.cumsum(np.pad(y, ((1, 0), (1, 0))), 0), 1)
    s = (c[ys[1:]][:, xs[1:]] - c[ys[:-1]][:, xs[1:]] - c[ys[1:]][:, xs[:-1]]
         + c[ys[:-1]][:, xs[:-1]])
    area = np.outer(np.maximum(np.diff(ys), 1), np.maximum(np.diff(xs), 1))
    t = s / area
    t = t - t.mean()
    n = np.linalg.norm(t)
    return t / n if n > 1e-6 else t


class ProductMatcher:
    """How much a region of a frame looks like the product photo (module docstring)."""

    def __init__(self, photo: Image.Image) -> None:
        im = photo.convert("RGB")
        im.thumbnail((160, 160))
        rgb = np.asarray(im)
        border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float32)
        bg = np.median(border, axis=0)
        fg = np.abs(rgb.astype(np.float32) - bg).sum(-1) > 60
        if fg.mean() < 0.1:  # no plain background to take away: the whole photo
            fg = np.ones(fg.shape, bool)
        ys, xs = np.nonzero(fg)
        box = rgb[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        hist = np.bincount(_bins(rgb)[fg], minlength=N_BINS).astype(np.float32)
        self.hist = hist / hist.sum()
        self.shape = _thumb16(luma(box))
        self.aspect = box.shape[1] / box.shape[0]

    def score(self, rgb: np.ndarray) -> float:
        """0..1: the best window's mean of histogram intersection and luma correlation."""
        h, w = rgb.shape[:2]
        bins = _bins(rgb)
        y = luma(rgb)
        ww0 = min(w, h * self.aspect)
        hh0 = ww0 / self.aspect
        best = 0.0
        for scale in (1.0, 0.7, 0.5, 0.35):
            ww, hh = max(8, int(ww0 * scale)), max(8, int(hh0 * scale))
            for y0 in _steps(h, hh):
                for x0 in _steps(w, ww):
                    win = bins[y0:y0 + hh, x0:x0 + ww].ravel()
                    hist = np.bincount(win, minlength=N_BINS).astype(np.float32) / win.size
                    inter = float(np.minimum(hist, self.hist).sum())
                    corr = float((_thumb16(y[y0:y0 + hh, x0:x0 + ww]) * self.shape).sum())
                    best = max(best, 0.5 * inter + 0.5 * max(0.0, corr))
        return round(best, 4)


def _steps(total: int, size: int) -> list[int]:
    if size >= total:
        return [0]
    n = max(1, math.ceil((total - size) / (size / 3)))
    return sorted({round(i * (total - size) / n) for i in range(n + 1)})


# ------------------------------------------------------------------------------ candidates
class Window(BaseModel):
    """A stretch of the film no candidate comes from: a transition or around a cut."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    start_s: float
    end_s: float
    why: str


class Span(BaseModel):
    """A scene's stretch of the film (start, end) and its storyboard beat."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    start_s: float
    end_s: float
    scene: str
    number: int
    beat: str


BEAT_PRODUCT = {"product": 1.0, "benefit": 0.5, "proof": 0.5, "offer": 0.5}


class ThumbnailCandidate(BaseModel):
    """One frame worth a thumbnail, with why it ranked where it did."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    index: int = Field(description="Its place in the list `p.thumbnails()` returned (0 first).")
    time_s: float = Field(description="Seconds into the export, on a frame.")
    export: str = Field(description="The export it was sampled from (project path).")
    scene: str | None = None
    scene_number: int | None = None
    beat: str | None = None
    score: float
    sharpness: float
    exposure: float
    product: float | None = Field(None, description="0..1, see product_from; None: unmeasured.")
    product_from: Literal["photo", "beat", "none"] = "none"
    laplacian_var: float
    mean_luma: float
    clipped: float
    caption: bool = Field(False, description="A burned-in caption is on screen in it (its "
                                             "score is CAPTION_PENALTY of what it would be).")
    preview_jpeg: bytes = Field(b"", repr=False, exclude=True)


class Thumbnails:
    """Thumbnail candidates of an export, best first: ``t[0]``, ``len(t)``, ``t.to_pandas()``;
    in a notebook a grid of the frames with their scores. Pass one (or its index) to
    ``p.package(..., thumbnail=...)``."""

    def __init__(self, items: list[ThumbnailCandidate], export: str, *,
                 dropped: dict[str, int] | None = None, notes: Sequence[str] = (),
                 sampled: int = 0) -> None:
        self.items = items
        self.export = export
        self.dropped = dict(dropped or {})
        self.notes = list(notes)
        self.sampled = sampled

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[ThumbnailCandidate]:
        return iter(self.items)

    def __getitem__(self, i: int) -> ThumbnailCandidate:
        if not self.items:
            raise ThumbnailRefused(f"thumbnail: {self.export} has no thumbnail candidates to "
                                   f"pick from; {THUMB_RULE_HINT}")
        if isinstance(i, bool) or not isinstance(i, int) or not -len(self) <= i < len(self):
            seconds = (f"; for the frame at {i} s give a float, thumbnail={float(i)!r}"
                       if isinstance(i, int) and not isinstance(i, bool) else "")
            raise ThumbnailRefused(f"thumbnail: candidate index must be a whole number from 0 "
                                   f"to {len(self) - 1}, got {quote(i)}{seconds}")
        return self.items[i]

    @property
    def best(self) -> ThumbnailCandidate:
        return self[0]

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        cols = [f for f in ThumbnailCandidate.model_fields if f != "preview_jpeg"]
        return pd.DataFrame([c.model_dump() for c in self.items], columns=cols)

    def __repr__(self) -> str:
        return (f"Thumbnails({len(self)} of {self.sampled} frames sampled from {self.export}; "
                f"dropped {self.dropped})")

    def _repr_html_(self) -> str:
        cards = []
        for c in self.items:
            img = (f"<img src='data:image/jpeg;base64,{base64.b64encode(c.preview_jpeg).decode()}'"
                   " style='max-width:200px;max-height:200px'>" if c.preview_jpeg else "")
            prod = "" if c.product is None else f" · product {c.product:.2f} ({c.product_from})"
            where = f"scene {c.scene_number} ({c.beat})" if c.scene_number else ""
            if c.caption:
                where = f"{where} · caption on screen".lstrip(" ·")
            cards.append(
                f"<figure style='margin:4px;width:204px'>{img}<figcaption style='font-size:11px'>"
                f"<b>[{c.index}] {c.time_s:.2f} s</b> · score {c.score:.2f}<br>"
                f"sharp {c.sharpness:.2f} · exposure {c.exposure:.2f}{html.escape(prod)}<br>"
                f"{html.escape(where)}</figcaption></figure>")
        drop = ", ".join(f"{n} {why}" for why, n in self.dropped.items() if n)
        foot = (f"<p style='font-size:11px'><code>{len(self)} of {self.sampled} frames sampled "
                f"from {html.escape(self.export)}" + (f"; dropped: {html.escape(drop)}" if drop
                                                      else "") + "</code></p>")
        notes = "".join(f"<p style='font-size:11px'>{html.escape(n)}</p>" for n in self.notes)
        return f"<div style='display:flex;flex-wrap:wrap'>{''.join(cards)}</div>{foot}{notes}"


def _blocks(frames: np.ndarray, across: int = 20) -> np.ndarray:
    """Each frame's luma as block means, `across` blocks wide (N x blocks): coarse enough
    that motion and grain average out, fine enough to see a picture change."""
    n, h, w = frames.shape[:3]
    down = max(1, round(across * h / w))
    bh, bw = h // down, w // across
    ys = np.stack([luma(f[: bh * down, : bw * across]) for f in frames])
    return ys.reshape(n, down, bh, across, bw).mean(axis=(2, 4)).reshape(n, -1)


def _blend_flags(frames: np.ndarray) -> np.ndarray:
    """True where a frame looks like a mix of its neighbours while they differ a lot (mid
    fade, dissolve or dip): projected on the line from the previous sample to the next it
    lands well inside (0.15 < a < 0.85) and close to it (residual < 0.2 of their distance).
    A cut lands on an end; motion leaves a large residual or changes little."""
    n = len(frames)
    out = np.zeros(n, bool)
    if n < 3:
        return out
    ys = _blocks(frames)
    for i in range(1, n - 1):
        p, c, q = ys[i - 1], ys[i], ys[i + 1]
        d = q - p
        if float(np.abs(d).mean()) < 6:  # the neighbours are alike: no transition to be in
            continue
        nn = float(d @ d)
        a = float((c - p) @ d) / nn
        resid = float(np.linalg.norm(c - p - a * d)) / math.sqrt(nn)
        out[i] = 0.15 < a < 0.85 and resid < 0.2
    return out


def _cut_flags(frames: np.ndarray) -> np.ndarray:
    """True for the two samples either side of a jump (a cut the timeline does not name)."""
    n = len(frames)
    out = np.zeros(n, bool)
    if n < 2:
        return out
    d = np.abs(np.diff(_blocks(frames), axis=0)).mean(axis=1)
    med = float(np.median(d))
    for i, v in enumerate(d):
        if v > max(20.0, 6 * med):
            out[i] = out[i + 1] = True
    return out


def candidates_from(video: Path, export: str, *, n: int = 6,
                    windows: Sequence[Window] = (), spans: Sequence[Span] = (),
                    product: Image.Image | None = None, notes: Sequence[str] = (),
                    captions: Sequence[tuple[float, float]] = ()) -> Thumbnails:
    """The `n` best and most different frames of `video` (see the module docstring).
    `windows` are stretches to drop (transitions, cuts), `spans` the scenes with their
    beats, `product` the product photo, `captions` when a burned caption is on screen."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 24:
        raise ThumbnailRefused(f"n must be a whole number of candidates from 1 to 24, "
                               f"got {quote(n)}")
    times, frames, fps = sample_frames(video)
    if fps > 0:
        times = np.round(times * fps) / fps
    dropped = {"in a transition or by a cut": 0, "mid-fade (frame difference)": 0,
               "by a jump (frame difference)": 0}
    keep: list[int] = []
    blend, jump = _blend_flags(frames), _cut_flags(frames)
    for i, t in enumerate(times):
        if any(w.start_s - 1e-6 <= t <= w.end_s + 1e-6 for w in windows):
            dropped["in a transition or by a cut"] += 1
        elif blend[i]:
            dropped["mid-fade (frame difference)"] += 1
        elif jump[i]:
            dropped["by a jump (frame difference)"] += 1
        else:
            keep.append(i)
    matcher = ProductMatcher(product) if product is not None else None
    scored = []
    for i in keep:
        t = float(times[i])
        fs = score_frame(frames[i])
        span = next((s for s in spans if s.start_s <= t < s.end_s), None)
        if matcher is not None:
            raw = matcher.score(frames[i])
            prod, src = round(min(1.0, max(0.0, (raw - PRODUCT_FLOOR) / PRODUCT_FLOOR)), 4), "photo"
        elif span is not None:
            prod, src = BEAT_PRODUCT.get(span.beat, 0.0), "beat"
        else:
            prod, src = None, "none"
        parts = {"sharpness": fs.sharpness, "exposure": fs.exposure, "product": prod}
        used = {k: w for k, w in WEIGHTS.items() if parts[k] is not None}
        total = sum(used[k] * float(parts[k]) for k in used) / sum(used.values())  # type: ignore[arg-type]
        captioned = any(a <= t < b for a, b in captions)
        if captioned:
            total *= CAPTION_PENALTY
        scored.append((total, i, t, fs, span, prod, src, captioned))
    scored.sort(key=lambda s: (-s[0], s[2]))
    dur = float(times[-1]) if len(times) else 0.0
    gap = max(1.0, dur / (2 * n))
    per_scene = max(1, math.ceil(n / max(1, len(spans)))) if spans else n
    picked: list[tuple[Any, ...]] = []
    for relax in (False, True):  # first spread out, then fill up if too few are far apart
        for s in scored:
            if len(picked) >= n or s in picked:
                continue
            near = any(abs(s[2] - p[2]) < (gap / 2 if relax else gap) for p in picked)
            crowded = not relax and s[4] is not None and sum(
                1 for p in picked if p[4] is not None and p[4].scene == s[4].scene) >= per_scene
            if not near and not crowded:
                picked.append(s)
    picked.sort(key=lambda s: (-s[0], s[2]))
    from PIL import Image

    items = []
    for k, (total, i, t, fs, span, prod, src, captioned) in enumerate(picked):
        buf = io.BytesIO()
        Image.fromarray(frames[i]).save(buf, "JPEG", quality=82)
        items.append(ThumbnailCandidate(
            index=k, time_s=round(t, 6), export=export,
            scene=span.scene if span else None, scene_number=span.number if span else None,
            beat=span.beat if span else None, score=round(total, 4), sharpness=fs.sharpness,
            exposure=fs.exposure, product=prod, product_from=src,
            laplacian_var=fs.laplacian_var, mean_luma=fs.mean_luma, clipped=fs.clipped,
            caption=captioned, preview_jpeg=buf.getvalue()))
    return Thumbnails(items, export, dropped=dropped, notes=notes, sampled=len(times))


# ------------------------------------------------------------------------------ rendering
def fit_frame(frame: Image.Image, width: int, height: int) -> Image.Image:
    """`frame` filling width x height: scaled to cover when the aspect is close (within
    3%), else fitted whole over a blurred, darkened copy of itself (no black bars)."""
    from PIL import Image, ImageEnhance, ImageFilter

    fw, fh = frame.size
    target, have = width / height, fw / fh
    if abs(have / target - 1) <= 0.03:
        scale = max(width / fw, height / fh)
        im = frame.resize((max(width, round(fw * scale)), max(height, round(fh * scale))),
                          Image.Resampling.LANCZOS)
        x, y = (im.width - width) // 2, (im.height - height) // 2
        return im.crop((x, y, x + width, y + height))
    cover = max(width / fw, height / fh)
    bg = frame.resize((max(1, round(fw * cover / 8)), max(1, round(fh * cover / 8))),
                      Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(3))
    bg = ImageEnhance.Brightness(bg.resize((round(fw * cover), round(fh * cover)),
                                           Image.Resampling.BILINEAR)).enhance(0.6)
    x, y = (bg.width - width) // 2, (bg.height - height) // 2
    out = bg.crop((x, y, x + width, y + height))
    fit = min(width / fw, height / fh)
    fg = frame.resize((round(fw * fit), round(fh * fit)), Image.Resampling.LANCZOS)
    out.paste(fg, ((width - fg.width) // 2, (height - fg.height) // 2))
    return out


class Rendered(BaseModel):
    """Where the title went: its box and font size, the safe area, the logo's box."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    width: int
    height: int
    text: str
    text_rect: Rect | None
    font_px: int | None
    safe: Rect
    logo_rect: Rect | None


def _title_style(kit: BrandKit | None, size_pct: float) -> Any:
    from nbvideo.store.brands import CaptionStyle

    base = dict(font=kit.fonts.headline if kit else "manrope-extrabold", size_pct=size_pct,
                min_size_pct=size_pct, color=kit.lightest if kit else "#ffffff",
                outline_color=kit.darkest if kit else "#000000", outline_px=0 if kit else 4,
                box=kit is not None, box_color=kit.darkest if kit else "#000000",
                box_opacity=0.78, position="bottom", max_lines=3, line_spacing=1.08)
    return CaptionStyle(**base)


# Where a title may go, and how much busier a place may be before the next is taken: the lower
# third first (where viewers look for it), then the top; the middle covers the subject, so it
# must be far calmer to win.
TITLE_PLACES = (("bottom", 1.0), ("top", 1.15), ("center", 1.8))


def _detail(img: Image.Image, rect: Rect, tile: int = 32) -> float:
    """How busy the frame is under `rect`, which a title drawn on top would fight: the mean
    luma gradient there (0 for a flat wall, high over foliage or texture), plus a quarter of
    its busiest `tile`-pixel square's, so a small label or a line of lettering counts though
    it fills a corner of the box (averaged over the box it would be lost)."""
    box = img.convert("L").crop((rect.x, rect.y, rect.right, rect.bottom))
    y = np.asarray(box, np.float32)
    if y.size == 0 or min(y.shape) < 2:
        return 0.0
    grad = np.zeros_like(y)
    grad[1:, :] += np.abs(np.diff(y, axis=0))
    grad[:, 1:] += np.abs(np.diff(y, axis=1))
    th, tw = min(tile, grad.shape[0]), min(tile, grad.shape[1])
    rows, cols = grad.shape[0] // th, grad.shape[1] // tw
    squares = grad[:rows * th, :cols * tw].reshape(rows, th, cols, tw).mean(axis=(1, 3))
    return float(grad.mean() + squares.max() / 4)


def _fit_title(text: str, kit: BrandKit | None, w: int, h: int, safe_area: SafeArea,
               logo_box: Rect | None, position: str) -> tuple[Any, float] | None:
    """The title laid out at `position` at the largest size that fits the safe area clear of
    the logo, and that size; None when it fits there at no size."""
    from nbvideo.edit.captions import layout_text

    base = kit.base_dir if kit is not None else None
    safe = safe_area.rect(w, h)
    short = min(w, h) / max(w, h)
    size = 11.0 if short > 0.7 or w > h else 6.5  # of the frame height
    while True:
        lay = layout_text(text, _title_style(kit, size), w, h, safe_area, base=base,
                          position=position, avoid=logo_box)
        clear = logo_box is None or not lay.rect.intersects(logo_box)
        if lay.fits and clear and safe.contains(lay.rect):
            return lay, size
        if size <= 2.0:
            return None
        size = round(size * 0.88, 3)


def _calmest_title(img: Image.Image, text: str, kit: BrandKit | None, w: int, h: int,
                   safe_area: SafeArea, logo_box: Rect | None) -> tuple[Any, float]:
    """The title where the frame is calmest (TITLE_PLACES, weighed), so it is not drawn over
    text or detail already in the picture; refused when it fits nowhere."""
    best: tuple[float, Any, float] | None = None
    for position, weight in TITLE_PLACES:
        fit = _fit_title(text, kit, w, h, safe_area, logo_box, position)
        if fit is None:
            continue
        busy = (_detail(img, fit[0].rect) + 1.0) * weight
        if best is None or busy < best[0]:
            best = (busy, *fit)
    if best is None:
        raise ThumbnailRefused(
            f"thumbnail_text: {quote(text[:60])} does not fit a {w}x{h} thumbnail's "
            f"safe area even at the smallest size; give a shorter text (or "
            f"thumbnail_text='' for none)")
    return best[1], best[2]


def render_thumbnail(frame: Image.Image, spec: ThumbSpec, text: str,
                     kit: BrandKit | None = None, *, draw_logo: bool = False
                     ) -> tuple[Image.Image, Rendered]:
    """`frame` at the spec's size with `text` on it in the kit's style, inside the preset's
    safe area and clear of the kit's logo corner (where an export's watermark sits; the
    logo is drawn there too with `draw_logo`). The text is wrapped (up to 3 lines) and
    shrunk until it fits the safe area; text that fits nowhere is refused
    (ThumbnailRefused), never cut."""
    from PIL import Image, ImageDraw, ImageFont

    from nbvideo.edit.overlays import logo_rect
    from nbvideo.media.glyphs import FontStack, warn_missing
    from nbvideo.model.color import hex_rgb

    w, h = spec.width, spec.height
    img = fit_frame(frame.convert("RGB"), w, h).convert("RGBA")
    safe_area = safe_area_for(spec)
    safe = safe_area.rect(w, h)
    logo_box = None
    logo = kit.logo_path() if kit is not None else None
    if logo is not None:
        logo_box = logo_rect(logo, w, h, kit.logo_placement, safe_area)  # type: ignore[union-attr]
        if draw_logo:
            with open_image(logo, "logo") as lim:
                mark = lim.convert("RGBA").resize((logo_box.w, logo_box.h),
                                                  Image.Resampling.LANCZOS)
            img.alpha_composite(mark, (logo_box.x, logo_box.y))
    text = " ".join(text.split())
    lay = None
    if text:
        lay, size = _calmest_title(img, text, kit, w, h, safe_area, logo_box)
        style = _title_style(kit, size)
        stack = FontStack(ImageFont.truetype(str(lay.font), lay.font_px))
        warn_missing(stack, text, "thumbnail_text", stacklevel=3)
        over = Image.new("RGBA", img.size, (0, 0, 0, 0))
        d = ImageDraw.Draw(over)
        r = lay.rect
        if style.box:
            d.rounded_rectangle((r.x, r.y, r.right, r.bottom), radius=round(lay.font_px * 0.2),
                                fill=(*hex_rgb(style.box_color), round(255 * style.box_opacity)))
            if kit is not None:  # the accent rule along the box's top edge
                th = max(3, round(lay.font_px * 0.09))
                d.rectangle((r.x, r.y, r.right, r.y + th), fill=(*hex_rgb(kit.accent), 255))
        for line, base_y in zip(lay.lines, lay.baselines):
            stack.draw(d, (lay.center_x, base_y), line, anchor="ms",
                       fill=(*hex_rgb(style.color), 255), stroke_width=lay.outline_px,
                       stroke_fill=(*hex_rgb(style.outline_color), 255))
        img.alpha_composite(over)
    return img.convert("RGB"), Rendered(width=w, height=h, text=text,
                                        text_rect=lay.rect if lay else None,
                                        font_px=lay.font_px if lay else None, safe=safe,
                                        logo_rect=logo_box)


def save_jpeg(img: Image.Image, path: Path, max_bytes: int) -> int:
    """Write `img` as a JPEG no larger than `max_bytes` (quality stepped down from 92)."""
    data = b""
    for q in (92, 88, 84, 78, 70, 60, 50, 40):
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=q, optimize=True, progressive=True)
        data = buf.getvalue()
        if len(data) <= max_bytes:
            break
    else:
        raise ThumbnailRefused(f"thumbnail: the image stays over {max_bytes // MB} MB even at "
                               "low JPEG quality; use a smaller picture")
    path.write_bytes(data)
    return len(data)


# ------------------------------------------------------------------------------ a project's
def film_plan(rt: Runtime) -> tuple[list[Span], list[Window], float]:
    """The timeline as the export plays it: each scene's stretch and beat, the windows no
    candidate comes from (each cut and transition, `CUT_GUARD_S` either side, and the end
    card), and the planned length in seconds (film and end card)."""
    from nbvideo.edit.timeline import entries

    es = entries(rt)
    fps = rt.state.brief.fps
    spans: list[Span] = []
    windows: list[Window] = []
    for k, e in enumerate(es):
        end = es[k + 1].start_s if k + 1 < len(es) else e.start_s + e.frames / fps
        spans.append(Span(start_s=e.start_s, end_s=end, scene=e.scene.id, number=e.number,
                          beat=e.scene.beat))
        if k:
            t = es[k - 1].transition
            d = t.duration_s if t.kind != "cut" else 0.0
            windows.append(Window(start_s=e.start_s - CUT_GUARD_S,
                                  end_s=e.start_s + d + CUT_GUARD_S,
                                  why=f"{t.kind} into scene {e.number}"))
    film = (round(es[-1].start_s * fps) + es[-1].frames) / fps if es else 0.0
    kit = rt.brand_kit()
    card = kit.end_card.duration_s if kit is not None and rt.state.finishing.end_card else 0.0
    if card:
        windows.append(Window(start_s=film - CUT_GUARD_S, end_s=film + card + 1,
                              why="the end card"))
    return spans, windows, film + card


def export_record(rt: Runtime, export: Any) -> ExportRecord:
    """The export `export` names: None (the newest), an ExportRecord, or its path, preset
    or aspect."""
    from nbvideo.errors import PhaseNotReady
    from nbvideo.model.state import ExportRecord

    made = list(rt.state.exports)
    if not made:
        raise PhaseNotReady("no export yet to take thumbnails from; run p.export() or "
                            "p.package() first")
    if export is None:
        return made[-1]
    if isinstance(export, ExportRecord):
        return export
    if isinstance(export, str):
        for r in reversed(made):
            if export in (r.path, r.preset, r.aspect):
                return r
    raise ThumbnailRefused(f"export: {quote(export)} is not an export of this project; give "
                           f"an export's path, preset or aspect: "
                           f"{', '.join(r.preset or r.path for r in made)}")


def product_photo(rt: Runtime, product: Any) -> Image.Image | None:
    """The product photo: `product` (a path in the project), the look's reference_image
    when None, no photo when False."""
    from nbvideo.store.brands import look_roots, reference_for
    from nbvideo.store.confine import confined_file

    if product is False:
        return None
    if product is None:
        look = rt.state.look
        path = reference_for(look, True, rt.store.root) if look is not None else None
    else:
        if not isinstance(product, str | Path):
            raise ThumbnailRefused(f"product must be the path of the product's photo in the "
                                   f"project, or False for none, got {quote(product)}")
        path = confined_file(product, field="product", roots=look_roots(rt.store.root),
                             kind="image")
    if path is None:
        return None
    with open_image(path, "product photo") as im:
        return im.convert("RGB")


def thumbnails_for(rt: Runtime, export: Any = None, n: int = 6, product: Any = None
                   ) -> Thumbnails:
    """Candidates from an export of the project (see `candidates_from`), with the
    timeline's cuts, transitions and beats when the export still matches it."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 24:
        raise ThumbnailRefused(f"n must be a whole number of candidates from 1 to 24, "
                               f"got {quote(n)}")
    with rt.guard:
        record = export_record(rt, export)
        spans, windows, planned = film_plan(rt)
    photo = product_photo(rt, product)
    notes = []
    if abs(planned - record.duration_s) > 1.5 / max(record.fps, 1):
        notes.append(f"the timeline changed since {record.path} was made ({planned:.2f} s now, "
                     f"{record.duration_s:.2f} s then): transitions were found by frame "
                     "difference only, and scenes are not named")
        spans, windows = [], []
    return candidates_from(rt.store.path(record.path), record.path, n=n, windows=windows,
                           spans=spans, product=photo, notes=notes,
                           captions=burned_captions(rt, record))


def burned_captions(rt: Runtime, record: ExportRecord) -> list[tuple[float, float]]:
    """When a caption is on screen in `record`: its SRT sidecar, written with the cues it
    burned in (none: no captions were burned)."""
    from nbvideo.edit.captions import srt_spans

    srt = next((s for s in record.sidecars if s.endswith(".srt")), None)
    path = rt.store.path(srt) if srt else None
    if path is None or not path.is_file():
        return []
    return srt_spans(path.read_text(encoding="utf-8", errors="replace"))


# ------------------------------------------------------------------------------ picking
class ThumbnailPick(BaseModel):
    """What `p.package(..., thumbnail=...)` was given, checked: a frame by time (a
    candidate's or a time in seconds) or the user's own picture, kept in the project."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["candidate", "time", "file", "best"]
    """best: none was given; the best candidate of the package's own export."""
    time_s: float | None = None
    image: str | None = Field(None, description="The user's picture, as kept in the project.")
    source: str | None = Field(None, description="The picture's own file name.")
    text: str = ""
    candidate: dict[str, Any] | None = None

    @property
    def cover_ms(self) -> int | None:
        return None if self.time_s is None else round(self.time_s * 1000)


THUMB_RULE_HINT = ("give a PNG, JPEG or WebP picture of at least 640x360 pixels, a time in "
                   "seconds (a float), or a candidate of p.thumbnails()")
MIN_SIDES = (640, 360)
MAX_SOURCE_BYTES = 50 * MB


def _user_image(rt: Runtime, given: Any) -> tuple[str, str]:
    """The user's picture, checked by the import gate and kept in assets/thumbnails."""
    from nbvideo.store.imports import IMAGE_SUFFIXES, MAX_SIDE, ImportRule, import_file, refusal

    rule = ImportRule(field="thumbnail", kind="image", suffixes=IMAGE_SUFFIXES,
                      max_bytes=MAX_SOURCE_BYTES, dest="assets/thumbnails",
                      hint=THUMB_RULE_HINT, stem="thumbnail")

    def sized(s: Any) -> None:
        with open_image(s.path, "thumbnail") as im:
            w, h = im.size
        long, short = max(w, h), min(w, h)
        if long < MIN_SIDES[0] or short < MIN_SIDES[1] or long > MAX_SIDE:
            raise refusal(rule, s.given, f"is {w}x{h} pixels; a thumbnail needs at least "
                          f"{MIN_SIDES[0]}x{MIN_SIDES[1]} and at most {MAX_SIDE} on a side")

    kept, _ = import_file(given, rt.store.root, rule, accept=sized)
    return kept.rel, kept.name


def resolve_pick(rt: Runtime, thumbnail: Any, text: str | None, title: str,
                 candidates: Any) -> ThumbnailPick:
    """Check `thumbnail` (a ThumbnailCandidate, a candidate's index into `candidates()`, a
    time in seconds as a float, or an image file's path) before anything renders. `text`
    None: `title` on a frame, none on the user's own picture."""
    check_text(text)
    if isinstance(thumbnail, ThumbnailCandidate):
        time_s, kind = thumbnail.time_s, "candidate"
        cand: dict[str, Any] | None = thumbnail.model_dump()
    elif isinstance(thumbnail, int) and not isinstance(thumbnail, bool):
        chosen = candidates()[thumbnail]
        time_s, kind, cand = chosen.time_s, "candidate", chosen.model_dump()
    elif isinstance(thumbnail, float):
        if not math.isfinite(thumbnail) or thumbnail < 0:
            raise ThumbnailRefused(f"thumbnail: a time must be a finite number of seconds "
                                   f"from 0, got {quote(thumbnail)}")
        time_s, kind, cand = thumbnail, "time", None
    elif isinstance(thumbnail, str | Path):
        rel, name = _user_image(rt, thumbnail)
        return ThumbnailPick(kind="file", image=rel, source=name,
                             text=" ".join((text or "").split()))
    else:
        raise ThumbnailRefused(f"thumbnail: {quote(thumbnail)} is not a thumbnail choice; "
                               f"{THUMB_RULE_HINT}")
    with rt.guard:
        _spans, _windows, planned = film_plan(rt)
    check_time(time_s, planned, "the video as the timeline plans it")
    return ThumbnailPick(kind=kind, time_s=time_s, candidate=cand,  # type: ignore[arg-type]
                         text=title_text(text, title))


def check_text(text: Any) -> None:
    if text is not None and not isinstance(text, str):
        raise ThumbnailRefused(f"thumbnail_text must be text ('' for none), got {quote(text)}")


def title_text(text: str | None, title: str) -> str:
    """What a frame's poster says: `text` if given, else the metadata's `title`, on one line."""
    return " ".join((title if text is None else text).split())


def check_time(time_s: float, duration_s: float, what: str) -> None:
    if not time_s < duration_s:
        raise ThumbnailRefused(f"thumbnail: {time_s:g} s is beyond the end of {what} "
                               f"({duration_s:.2f} s); give a time from 0 to below it")


class PosterMaker:
    """Makes each package's poster from a pick (package.write_package calls it)."""

    def __init__(self, root: Path, pick: ThumbnailPick, kit: BrandKit | None) -> None:
        self.root, self.pick, self.kit = root, pick, kit

    def finds(self, record: ExportRecord) -> bool:
        """Whether there is a frame or picture to make `record`'s poster from."""
        return True

    def precheck(self, presets: Sequence[str]) -> None:
        """Before the export: the title fits every platform's thumbnail (drawn on a blank
        frame), so text that cannot fit stops the package before anything renders."""
        from PIL import Image

        for preset in presets:
            spec = THUMB_SPECS.get(preset, THUMB_SPECS["web"])
            if self.pick.text and spec.text and spec.image:
                render_thumbnail(Image.new("RGB", (spec.width, spec.height)), spec,
                                 self.pick.text, self.kit)

    def check(self, records: Sequence[ExportRecord]) -> None:
        """Before any package is written: the time is inside every export."""
        if self.pick.time_s is not None:
            for r in records:
                check_time(self.pick.time_s, r.duration_s, r.path)

    def make(self, preset: str, record: ExportRecord, out: Path) -> dict[str, Any]:
        """Write the poster for `preset` to `out`; what metadata.json records of it."""
        spec = THUMB_SPECS.get(preset, THUMB_SPECS["web"])
        pick = self.pick
        note = None
        if pick.kind == "file":
            if not spec.image:  # TikTok: the cover is a frame; the picture cannot go up
                frame, text = grab_frame(self.root / record.path, 1.0), ""
                note = ("TikTok takes a frame of the video as its cover, not a picture: the "
                        "cover stays the frame at 1 s; set your picture in the app")
            else:
                with open_image(self.root / str(pick.image), "thumbnail") as im:
                    frame, text = im.convert("RGB"), pick.text
        else:
            frame = grab_frame(self.root / record.path, float(pick.time_s or 0.0))
            text = pick.text if spec.text else ""
            if not spec.text and pick.text:
                note = "TikTok's cover is the frame itself: no title is drawn on it"
        if not spec.image:  # the poster is the frame the platform will show, as it is
            spec = spec.model_copy(update={"width": record.width, "height": record.height})
        img, done = render_thumbnail(frame, spec, text, self.kit)
        size = save_jpeg(img, out, spec.max_bytes)
        doc: dict[str, Any] = {**pick.model_dump(exclude={"candidate"}),
                               "cover_ms": pick.cover_ms, "poster": out.name, "bytes": size, **done.model_dump()}
        if pick.candidate is not None:
            doc["candidate"] = {k: pick.candidate[k] for k in (
                "index", "time_s", "export", "score", "sharpness", "exposure", "product",
                "product_from", "scene", "beat")}
        if note:
            doc["note"] = note
        return doc


class BestFramePoster(PosterMaker):
    """No `thumbnail=` given: each poster is the best candidate frame (scored as
    `p.thumbnails()` scores them) of the export its package ships, not whatever is at 1 s
    (often a fade or a title card); each export is scored, as a 9:16 crop of a 16:9 film
    may have lost what made the wide frame good. Its title is `text` (checked like a
    chosen frame's), else the metadata's title where it fits every platform's thumbnail.
    An export with no candidate keeps its own poster."""

    def __init__(self, rt: Runtime, title: str, text: str | None,
                 presets: Sequence[str]) -> None:
        check_text(text)
        pick = ThumbnailPick(kind="best", text=title_text(text, title))
        super().__init__(rt.store.root, pick, rt.brand_kit())
        self.rt, self.note = rt, ""
        self.best: dict[str, ThumbnailCandidate] = {}
        try:
            super().precheck(presets)
        except ThumbnailRefused:
            if text is not None:  # text the user gave that cannot fit: refused
                raise
            self.pick = pick.model_copy(update={"text": ""})
            self.note = "the title does not fit the thumbnail, so it has none"

    def precheck(self, presets: Sequence[str]) -> None:
        """Done on creation: the title is known before the export."""

    def check(self, records: Sequence[ExportRecord]) -> None:
        """After the export, before any package: the best frame of each export."""
        for record in records:
            if record.path not in self.best:
                found = thumbnails_for(self.rt, export=record, n=1)
                if len(found):
                    self.best[record.path] = found.best

    def finds(self, record: ExportRecord) -> bool:
        return record.path in self.best

    def make(self, preset: str, record: ExportRecord, out: Path) -> dict[str, Any]:
        best = self.best[record.path]
        self.pick = self.pick.model_copy(update={"time_s": best.time_s,
                                                 "candidate": best.model_dump()})
        doc = super().make(preset, record, out)
        chosen = (f"no thumbnail was chosen: the best-scoring frame of {record.path} "
                  f"(score {best.score:.2f}); choose another with thumbnail=")
        doc["note"] = "; ".join(n for n in (chosen, self.note, doc.get("note", "")) if n)
        return doc


def poster_maker(rt: Runtime, thumbnail: Any, text: str | None, title: str,
                 presets: Sequence[str], candidates: Any) -> PosterMaker:
    """The checked choice (`resolve_pick`) and its title checked against every preset's
    thumbnail, ready to make posters."""
    pick = resolve_pick(rt, thumbnail, text, title, candidates)
    maker = PosterMaker(rt.store.root, pick, rt.brand_kit())
    maker.precheck(presets)
    return maker
