"""Encoding per platform: the H.264 profile, level and bitrate ceiling of an upload.

An export for a platform preset is encoded as a *capped CRF*: x264 aims at a constant quality
(`crf`, the same for every platform) and a VBV (`-maxrate`/`-bufsize`) holds the bitrate under
a ceiling. A short ad gets the quality it can within the platform's recommended rate; a long
one never passes the platform's size limit, because the ceiling also comes from that limit and
the ad's duration:

    video budget = max_bytes x (1 - SAFETY) - audio bytes - mux overhead
    ceiling      = video budget x 8 / (duration + BUFFER_S)       (kbit/s, rounded down)
    maxrate      = min(ceiling, the preset's recommended rate);  bufsize = BUFFER_S x maxrate

A VBV-constrained stream holds at most maxrate x duration + bufsize bits, hence the
`duration + BUFFER_S` divisor; SAFETY (5%) covers what a smart export's pieces add (each
starts with its own buffer), AAC running over its nominal rate and container rounding.

The level is the lowest H.264 level (ITU-T H.264 Table A-1, with the High profile's 1.25x
bitrate and buffer allowance) whose macroblock rate, frame size, bitrate and buffer hold the
output: 1080p30 is 4.0 (4.2 at 60 fps), a 25+ Mbit/s 1080p is 4.1, 2160p30 is 5.1, 720p30
is 3.1. Everything else is what every platform asks for: High profile, yuv420p, a closed GOP,
AAC-LC at 48 kHz and the index (moov) at the front of the file (+faststart).

Published upload recommendations these follow (late 2026):
- YouTube, "Recommended upload encoding settings" (support.google.com/youtube/answer/1722171):
  MP4 with the moov atom at the front, H.264 High profile, closed GOP of half the frame rate,
  4:2:0, AAC-LC at 48 or 96 kHz (384 kbit/s stereo); 1080p 8 Mbit/s (12 at 48-60 fps), 720p
  5 (7.5), 1440p 16 (24), 2160p 35-45 (53-68). Uploads up to 256 GB.
- Instagram Reels through the Graph API (developers.facebook.com, IG User media, reel
  specifications; also summarised at ayrshare.com/docs/media-guidelines/instagram): MP4/MOV,
  no edit lists, moov at the front, H.264 or HEVC, progressive, closed GOP, 4:2:0, AAC at
  48 kHz at most, 23-60 fps, video at most 300 MB. Facebook Reels asks for a closed GOP of
  2-5 s (ayrshare.com/docs/media-guidelines/facebook_pages).
- TikTok Content Posting API (developers.tiktok.com/doc/content-posting-api-media-transfer-guide
  and its video restrictions): MP4/MOV/WebM, H.264 recommended, 23-60 fps, up to 4 GB; TikTok
  publishes no bitrate, and uploads well over 10 Mbit/s are refused in practice
  (ayrshare.com/solutions/tiktok-api-400-bad-request-encoding-validation), so the preset stays
  at 8 Mbit/s.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from nbvideo.errors import InvalidInput

if TYPE_CHECKING:
    from nbvideo.model.presets import Preset

__all__ = ["BUFFER_S", "SAFETY", "EncodingPlan", "h264_level", "mux_overhead_bytes",
           "plan_encoding", "size_ceiling_kbps"]

SAFETY = 0.05  # of the size limit kept free
BUFFER_S = 2.0  # VBV buffer in seconds of the ceiling (bufsize = 2 x maxrate)
AUDIO_SLACK = 1.05  # AAC at "-b:a N" may run a few percent over N
_MUX_BASE = 64 * 1024  # ftyp, moov headers, mdat header
_MUX_PER_FRAME = 24  # stsz + ctts + stts + stss and chunk offsets per video frame, generously
_MUX_PER_AUDIO_PACKET = 12  # per AAC frame (1024 samples)
AUDIO_RATE = 48_000
# Below this share of the preset's recommended rate the picture falls apart: the export is
# refused (with the duration that would fit) rather than made unwatchable.
MIN_SHARE = 0.1

# ITU-T H.264 Table A-1: level -> (MaxMBPS, MaxFS, MaxBR kbit/s, MaxCPB kbit) for Main;
# High allows 1.25x MaxBR and MaxCPB (Table A-2).
_LEVELS: tuple[tuple[str, int, int, int, int], ...] = (
    ("3.1", 108_000, 3_600, 14_000, 14_000),
    ("3.2", 216_000, 5_120, 20_000, 20_000),
    ("4.0", 245_760, 8_192, 20_000, 25_000),
    ("4.1", 245_760, 8_192, 50_000, 62_500),
    ("4.2", 522_240, 8_704, 50_000, 62_500),
    ("5.0", 589_824, 22_080, 135_000, 135_000),
    ("5.1", 983_040, 36_864, 240_000, 240_000),
    ("5.2", 2_073_600, 36_864, 240_000, 240_000),
)
_HIGH = 1.25


class EncodingPlan(BaseModel):
    """What an export for a platform is encoded with, and why its ceiling is what it is.

    Recorded on the export (`ExportRecord.encoding`) and in a package's metadata.json."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: str
    codec: Literal["h264"] = "h264"
    profile: Literal["high"] = "high"
    level: str = Field(description="H.264 level, e.g. '4.0'.")
    pix_fmt: Literal["yuv420p"] = "yuv420p"
    crf: int = Field(ge=0, le=51, description="Quality target (x264 CRF) under the ceiling.")
    maxrate_kbps: int = Field(gt=0, description="The bitrate ceiling (VBV maxrate).")
    bufsize_kbps: int = Field(gt=0, description="VBV buffer.")
    keyint_s: float = Field(gt=0, description="Keyframe interval the platform asks for "
                            "(closed GOP); a smart export uses its own 0.5 s grain.")
    audio_codec: Literal["aac-lc"] = "aac-lc"
    audio_kbps: int = Field(gt=0)
    audio_rate: int = AUDIO_RATE
    faststart: bool = True
    duration_s: float = Field(gt=0)
    max_bytes: int = Field(gt=0, description="The platform's upload size limit.")
    recommended_kbps: int = Field(gt=0, description="The platform's recommended rate.")
    size_kbps: int = Field(description="The ceiling the size limit alone allows.")
    limited_by: Literal["recommendation", "size"]

    def video_args(self) -> list[str]:
        """x264 output arguments: profile, level, ceiling and buffer, closed GOP."""
        return ["-profile:v", self.profile, "-level:v", self.level,
                "-maxrate", f"{self.maxrate_kbps}k", "-bufsize", f"{self.bufsize_kbps}k",
                "-flags", "+cgop"]

    def worst_case_bytes(self) -> int:
        """The largest file these settings can make for `duration_s` (VBV bound + audio +
        container); at most `max_bytes x (1 - SAFETY)` by construction."""
        video = self.maxrate_kbps * 1000 / 8 * (self.duration_s + self.bufsize_kbps /
                                                 self.maxrate_kbps)
        audio = self.audio_kbps * 1000 / 8 * self.duration_s * AUDIO_SLACK
        fps = 60  # the overhead at the highest rate a preset uses: an upper bound
        return math.ceil(video + audio + mux_overhead_bytes(self.duration_s, fps))

    def describe(self) -> str:
        """'H.264 High@4.0 yuv420p, CRF 20 capped at 6000 kbit/s (recommendation), ...'"""
        return (f"H.264 High@{self.level} {self.pix_fmt}, CRF {self.crf} capped at "
                f"{self.maxrate_kbps} kbit/s ({self.limited_by} limit), keyframe every "
                f"{self.keyint_s:g} s, AAC-LC {self.audio_kbps} kbit/s {self.audio_rate // 1000}"
                " kHz, fast start")


def mux_overhead_bytes(duration_s: float, fps: float) -> int:
    """MP4 bytes beside the streams' own: headers and the per-sample index."""
    audio_packets = duration_s * AUDIO_RATE / 1024
    return math.ceil(_MUX_BASE + duration_s * fps * _MUX_PER_FRAME
                     + audio_packets * _MUX_PER_AUDIO_PACKET)


def size_ceiling_kbps(max_bytes: int, duration_s: float, audio_kbps: int, fps: float) -> int:
    """The highest video ceiling (kbit/s) whose worst case stays under `max_bytes` with the
    safety margin, for an export of `duration_s` with AAC at `audio_kbps`. May be <= 0 when
    even the audio does not fit."""
    if not (isinstance(duration_s, int | float) and math.isfinite(duration_s) and duration_s > 0):
        raise InvalidInput(f"duration_s must be a number of seconds > 0, got {duration_s!r}")
    if max_bytes <= 0:
        raise InvalidInput(f"max_bytes must be > 0, got {max_bytes!r}")
    budget = (max_bytes * (1 - SAFETY) - audio_kbps * 1000 / 8 * duration_s * AUDIO_SLACK
              - mux_overhead_bytes(duration_s, max(fps, 60)))
    return math.floor(budget * 8 / 1000 / (duration_s + BUFFER_S))


def h264_level(width: int, height: int, fps: float, maxrate_kbps: int = 0,
               bufsize_kbps: int = 0) -> str:
    """The lowest H.264 level (High profile) that holds this picture size, rate and VBV."""
    if width <= 0 or height <= 0 or fps <= 0:
        raise InvalidInput(f"width, height and fps must be > 0, got {width}x{height} at {fps}")
    mbs_w, mbs_h = math.ceil(width / 16), math.ceil(height / 16)
    frame = mbs_w * mbs_h
    for name, mbps, fs, br, cpb in _LEVELS:
        side = math.isqrt(8 * fs)  # Annex A: neither side may exceed sqrt(8 x MaxFS) MBs
        if (frame <= fs and frame * fps <= mbps and max(mbs_w, mbs_h) <= side
                and maxrate_kbps <= br * _HIGH and bufsize_kbps <= cpb * _HIGH):
            return name
    raise InvalidInput(f"no H.264 level holds {width}x{height} at {fps:g} fps and "
                       f"{maxrate_kbps} kbit/s; lower the resolution, fps or bitrate")


def plan_encoding(preset: Preset, duration_s: float, *, crf: int = 20) -> EncodingPlan:
    """The encoding of a `duration_s` export for `preset`: profile, level and ceiling.

    Raises InvalidInput naming the field when the duration is not a positive number, the crf
    is out of 0-51, or the size limit would leave the video under a tenth of the platform's
    recommended rate (the message gives the longest duration that fits).

    >>> from nbvideo.model.presets import get_preset
    >>> plan_encoding(get_preset("reels"), 30).maxrate_kbps
    6000
    """
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
        raise InvalidInput(f"crf must be a whole number from 0 to 51, got {crf!r}")
    w, h = preset.size
    size_kbps = size_ceiling_kbps(preset.max_upload_bytes, duration_s, preset.audio_kbps,
                                  preset.fps)
    floor = max(1, math.ceil(preset.video_kbps * MIN_SHARE))
    if size_kbps < floor:
        longest = _longest_s(preset, floor)
        raise InvalidInput(
            f"duration_s: a {duration_s:g} s export cannot fit the {preset.label} limit of "
            f"{_size(preset.max_upload_bytes)} at a watchable bitrate: it "
            f"would leave {max(size_kbps, 0)} kbit/s for the video, under the {floor} kbit/s "
            f"floor for {w}x{h}; at most {longest:,.{1 if longest < 100 else 0}f} s fits")
    maxrate = min(size_kbps, preset.video_kbps)
    bufsize = round(maxrate * BUFFER_S)
    return EncodingPlan(
        preset=preset.name, level=h264_level(w, h, preset.fps, maxrate, bufsize), crf=crf,
        maxrate_kbps=maxrate, bufsize_kbps=bufsize, keyint_s=preset.keyint_s,
        audio_kbps=preset.audio_kbps, duration_s=round(float(duration_s), 3),
        max_bytes=preset.max_upload_bytes, recommended_kbps=preset.video_kbps,
        size_kbps=size_kbps,
        limited_by="recommendation" if preset.video_kbps <= size_kbps else "size")


def _size(n: int) -> str:
    """300 MB, 4 GB, 200,000 bytes."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2)):
        if n >= scale:
            return f"{n / scale:,.4g} {unit}"
    return f"{n:,} bytes"


def _longest_s(preset: Preset, kbps: int) -> float:
    """The longest duration whose size ceiling is still `kbps` (bisection; it falls with d)."""
    lo, hi = 0.001, 1.0
    while size_ceiling_kbps(preset.max_upload_bytes, hi, preset.audio_kbps, preset.fps) >= kbps:
        lo, hi = hi, hi * 2
        if hi > 1e7:
            return hi
    for _ in range(60):
        mid = (lo + hi) / 2
        if size_ceiling_kbps(preset.max_upload_bytes, mid, preset.audio_kbps, preset.fps) >= kbps:
            lo = mid
        else:
            hi = mid
    return lo
