"""ffmpeg and media inspection: where the binary is, how to run it, what a file holds.

nbvideo uses the ffmpeg that imageio-ffmpeg ships in its wheel, so no system ffmpeg is
needed. Files are inspected with PyAV, which reads the container and (on request) decodes
every frame so a duration or frame count is the real one, not the header's claim.
"""

from __future__ import annotations

import functools
import hashlib
import queue
import subprocess
import threading
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from nbvideo.errors import Canceled, InvalidInput, RenderFailed, unreadable
from nbvideo.media.threads import filter_threads

if TYPE_CHECKING:
    from PIL import Image

RGB_TO_BT709 = "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"
"""ffmpeg filters that turn an sRGB picture into HD video: BT.709 matrix, limited range."""
TAG_BT709 = "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv"
"""Sets all three colour tags: players guess wrongly when primaries and transfer are unknown,
and an export that joins tagged and untagged clips loses the tags."""


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the bundled ffmpeg binary."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


class MediaInfo(BaseModel):
    """What a video file really holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    width: int
    height: int
    codec: str
    pix_fmt: str | None
    fps: float
    frames: int
    duration_s: float
    has_audio: bool
    size_bytes: int
    sar: float = 1.0
    extradata_sha1: str | None = None  # codec setup (SPS/PPS): equal hashes => safe to stream-copy


def probe(path: str | Path, count_frames: bool = True) -> MediaInfo:
    """Inspect a video file. With `count_frames`, every packet is read to count frames exactly.

    A file that is not a video (random bytes, a cut-short download) is an `InvalidInput`
    naming it; a missing file stays a FileNotFoundError."""
    import av

    path = Path(path)
    try:
        return _probe(av, path, count_frames)
    except av.FFmpegError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise unreadable(path, "video", exc) from None


def open_image(path: str | Path, what: str = "image") -> Image.Image:
    """Open an image and decode it now, so a broken file (not an image, cut short, or a
    decompression bomb) fails here as an `InvalidInput` naming it rather than as PIL's
    error later. A missing file stays a FileNotFoundError. Use it as `with open_image(p):`."""
    from PIL import Image

    try:
        im = Image.open(path)
        im.load()
    except FileNotFoundError:
        raise
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise unreadable(path, what, exc) from None
    return im


def _probe(av: Any, path: Path, count_frames: bool) -> MediaInfo:
    with av.open(str(path)) as container:
        vstreams = container.streams.video
        if not vstreams:
            raise InvalidInput(f"{path} has no video stream")
        v = vstreams[0]
        rate = v.average_rate or v.guessed_rate or Fraction(0)
        fps = float(rate) if rate else 0.0
        frames = v.frames
        if count_frames or not frames:
            frames = sum(1 for p in container.demux(v) if p.size)
        if fps:
            duration = frames / fps
        elif container.duration:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        extradata = v.codec_context.extradata
        sar = v.sample_aspect_ratio
        return MediaInfo(
            path=str(path),
            width=v.codec_context.width,
            height=v.codec_context.height,
            codec=v.codec_context.name,
            pix_fmt=v.codec_context.pix_fmt,
            fps=fps,
            frames=frames,
            duration_s=duration,
            has_audio=bool(container.streams.audio),
            size_bytes=path.stat().st_size,
            sar=float(sar) if sar else 1.0,
            extradata_sha1=hashlib.sha1(extradata).hexdigest() if extradata else None,
        )


class StreamFormat(BaseModel):
    """How a file's video stream is encoded, as a player or an upload check sees it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    codec: str
    profile: str | None  # "High", "Main", ...
    level: str | None  # "4.0", "4.1", "3.1" (H.264 level_idc / 10)
    pix_fmt: str | None
    video_kbps: float  # the video stream's own bytes over its duration
    audio_codec: str | None
    audio_profile: str | None  # "LC" for AAC-LC
    audio_rate: int | None
    faststart: bool  # the index (moov) before the media data (mdat)


def stream_format(path: str | Path) -> StreamFormat:
    """The codec, H.264 profile and level, pixel format, video bitrate, audio codec and
    whether the index is at the front, of a video file (read with PyAV)."""
    import av

    path = Path(path)
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        cc = v.codec_context
        ext = cc.extradata or b""
        level = None
        if cc.name == "h264" and len(ext) > 3 and ext[0] == 1:  # avcC: level_idc at byte 3
            level = f"{ext[3] / 10:.1f}"
        a = c.streams.audio[0] if c.streams.audio else None
        acodec = a.codec_context.name if a is not None else None
        aprofile = a.codec_context.profile if a is not None else None
        arate = a.codec_context.sample_rate if a is not None else None
        nbytes, frames = 0, 0
        for pkt in c.demux(v):
            if pkt.size:
                nbytes += pkt.size
                frames += 1
        rate = v.average_rate or v.guessed_rate
        seconds = frames / float(rate) if rate else 0.0
        profile, pix_fmt = cc.profile, cc.pix_fmt
    order = _top_boxes(path)
    moov = order.index(b"moov") if b"moov" in order else -1
    mdat = order.index(b"mdat") if b"mdat" in order else len(order)
    return StreamFormat(
        codec=cc.name, profile=profile, level=level, pix_fmt=pix_fmt,
        video_kbps=nbytes * 8 / 1000 / seconds if seconds else 0.0, audio_codec=acodec,
        audio_profile=aprofile, audio_rate=arate,
        faststart=0 <= moov < mdat)


def _top_boxes(path: Path) -> list[bytes]:
    """The MP4's top-level box types in file order (headers only)."""
    out: list[bytes] = []
    with path.open("rb") as f:
        size = path.stat().st_size
        pos = 0
        while pos + 8 <= size and len(out) < 64:
            f.seek(pos)
            head = f.read(16)
            n, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if n == 1 and len(head) == 16:
                n = int.from_bytes(head[8:16], "big")
            elif n == 0:
                n = size - pos
            if n < 8:
                break
            out.append(kind)
            pos += n
    return out


# --- header-only MP4/H.264 probe ----------------------------------------------------------
# PyAV's open decodes a frame to learn the pixel format (~5 ms per 720p clip), which would
# dominate a stream-copy export. These readers get the same facts from the moov box and the
# SPS in microseconds; anything unexpected returns None and the caller uses `probe`.

_MAX_MOOV = 64 << 20
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}
_SAR_TABLE = [(0, 0), (1, 1), (12, 11), (10, 11), (16, 11), (40, 33), (24, 11), (20, 11),
              (32, 11), (80, 33), (18, 11), (15, 11), (64, 33), (160, 99), (4, 3), (3, 2), (2, 1)]


def _boxes(buf: bytes, start: int, end: int) -> dict[bytes, list[tuple[int, int]]]:
    """Child boxes of buf[start:end] as {type: [(payload_start, box_end), ...]}."""
    out: dict[bytes, list[tuple[int, int]]] = {}
    pos = start
    while pos + 8 <= end:
        size = int.from_bytes(buf[pos:pos + 4], "big")
        kind, head = buf[pos + 4:pos + 8], 8
        if size == 1:
            size, head = int.from_bytes(buf[pos + 8:pos + 16], "big"), 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            break
        out.setdefault(kind, []).append((pos + head, pos + size))
        pos += size
    return out


def _read_moov(path: Path) -> bytes | None:
    with path.open("rb") as f:
        pos = 0
        while True:
            f.seek(pos)
            head = f.read(16)
            if len(head) < 8:
                return None
            size, kind, skip = int.from_bytes(head[:4], "big"), head[4:8], 8
            if size == 1 and len(head) == 16:
                size, skip = int.from_bytes(head[8:16], "big"), 16
            if kind == b"moov":
                if size == 0 or size > _MAX_MOOV:
                    return None
                f.seek(pos + skip)
                return f.read(size - skip)
            if size < skip:
                return None
            pos += size


class _Bits:
    """Exp-Golomb bit reader over an RBSP (emulation-prevention bytes already removed)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        v = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3]  # IndexError on truncation: caller falls back
            v = (v << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def _sps_format(sps: bytes) -> tuple[str | None, float]:
    """(pix_fmt, sample aspect ratio) from an H.264 SPS NAL unit, the way libavcodec names it."""
    rbsp = sps[1:].replace(b"\x00\x00\x03", b"\x00\x00")
    b = _Bits(rbsp)
    profile = b.u(8)
    b.u(16)  # constraint flags, level
    b.ue()  # sps id
    chroma, depth = 1, 8
    if profile in _HIGH_PROFILES:
        chroma = b.ue()
        if chroma == 3:
            b.u(1)
        depth = 8 + b.ue()
        b.ue()  # chroma bit depth
        b.u(1)
        if b.u(1):  # scaling matrices
            for i in range(8 if chroma != 3 else 12):
                if b.u(1):
                    last = nxt = 8
                    for _ in range(16 if i < 6 else 64):
                        if nxt:
                            nxt = (last + b.se() + 256) % 256
                        last = nxt or last
    b.ue()  # log2_max_frame_num
    poc = b.ue()
    if poc == 0:
        b.ue()
    elif poc == 1:
        b.u(1), b.se(), b.se()
        for _ in range(b.ue()):
            b.se()
    b.ue(), b.u(1), b.ue(), b.ue()  # refs, gaps, width, height in macroblocks
    if not b.u(1):  # frame_mbs_only
        b.u(1)
    b.u(1)
    if b.u(1):  # cropping
        b.ue(), b.ue(), b.ue(), b.ue()
    sar, full_range = 1.0, False
    if b.u(1):  # VUI
        if b.u(1):
            idc = b.u(8)
            num, den = (b.u(16), b.u(16)) if idc == 255 else (
                _SAR_TABLE[idc] if idc < len(_SAR_TABLE) else (0, 0))
            sar = num / den if num and den else 1.0
        if b.u(1):
            b.u(1)
        if b.u(1):
            b.u(3)
            full_range = bool(b.u(1))
    names = {0: "gray", 1: "yuv420p", 2: "yuv422p", 3: "yuv444p"}
    fmt = names.get(chroma)
    if fmt and depth > 8:
        fmt = f"{fmt}{depth}le"
    elif fmt == "yuv420p" and full_range:
        fmt = "yuvj420p"
    return fmt, sar


def probe_mp4_header(path: str | Path) -> MediaInfo | None:
    """Fast `probe(count_frames=False)` for MP4 files with an H.264 video track.

    Reads only the moov box (frame count from stsz, rate from stts, format from the SPS in
    avcC). Returns None for anything else (other codecs, fragmented files, odd layouts).
    """
    path = Path(path)
    try:
        moov = _read_moov(path)
        if moov is None:
            return None
        has_audio, video = False, None
        for t0, t1 in _boxes(moov, 0, len(moov)).get(b"trak", []):
            mdia = _boxes(moov, t0, t1).get(b"mdia")
            if not mdia:
                continue
            m = _boxes(moov, *mdia[0])
            handler = moov[m[b"hdlr"][0][0] + 8:m[b"hdlr"][0][0] + 12]
            has_audio |= handler == b"soun"
            if handler == b"vide" and video is None:
                video = m
        if video is None:
            return None
        h0, _ = video[b"mdhd"][0]
        timescale = int.from_bytes(moov[h0 + 20:h0 + 24] if moov[h0] == 1
                                   else moov[h0 + 12:h0 + 16], "big")
        stbl = _boxes(moov, *_boxes(moov, *video[b"minf"][0])[b"stbl"][0])
        d0, _ = stbl[b"stsd"][0]
        entry = _boxes(moov, d0 + 8, stbl[b"stsd"][0][1])
        if b"avc1" not in entry:
            return None
        e0, e1 = entry[b"avc1"][0]
        width = int.from_bytes(moov[e0 + 24:e0 + 26], "big")
        height = int.from_bytes(moov[e0 + 26:e0 + 28], "big")
        a0, a1 = _boxes(moov, e0 + 78, e1)[b"avcC"][0]
        avcc = moov[a0:a1]
        sps_len = int.from_bytes(avcc[6:8], "big")
        pix_fmt, sar = _sps_format(avcc[8:8 + sps_len])
        z0, _ = stbl[b"stsz"][0]
        frames = int.from_bytes(moov[z0 + 8:z0 + 12], "big")
        s0, _ = stbl[b"stts"][0]
        ticks = sum(int.from_bytes(moov[p:p + 4], "big") * int.from_bytes(moov[p + 4:p + 8], "big")
                    for p in range(s0 + 8, s0 + 8 + 8 * int.from_bytes(moov[s0 + 4:s0 + 8], "big"), 8))
    except (KeyError, IndexError, ValueError, OSError):
        return None
    if not (frames and ticks and timescale and width and height):
        return None
    fps = float(Fraction(frames * timescale, ticks).limit_denominator(1001))
    return MediaInfo(
        path=str(path), width=width, height=height, codec="h264", pix_fmt=pix_fmt, fps=fps,
        frames=frames, duration_s=frames / fps, has_audio=has_audio,
        size_bytes=path.stat().st_size, sar=sar, extradata_sha1=hashlib.sha1(avcc).hexdigest(),
    )


class FFmpegError(RenderFailed):
    """ffmpeg exited nonzero: a `RenderFailed` with the tail of its stderr and the exit
    code (never the environment). `step` and `scene` are named by the caller that knows
    them (see `nbvideo.errors.render_step`)."""

    def __init__(self, returncode: int, stderr_tail: list[str], args: list[str], *,
                 step: str | None = None, scene: str | None = None) -> None:
        detail = "\n".join(stderr_tail) or "(no error output)"
        super().__init__(f"ffmpeg exited with code {returncode}:\n{detail}", step=step,
                         scene=scene, stderr_tail=stderr_tail)
        self.returncode = returncode
        self.args_list = args
        self.args = (returncode, list(stderr_tail), args)  # pickles (e.g. from a Dask worker)


class RenderCanceled(Canceled):
    """A render was canceled through its cancel event; the ffmpeg process was killed."""


_BASE_ARGS = ["-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-nostats"]
_PROGRESS_ARGS = ["-progress", "pipe:1", "-stats_period", "0.25"]
_STDERR_LINES = 20
_LAST_BEFORE_DONE = 0.99


def _progress_seconds(key: str, value: str) -> float | None:
    """Seconds of output written, from one `-progress` line (None if the line has none)."""
    if key in ("out_time_us", "out_time_ms") and value.strip().lstrip("-").isdigit():
        # Both keys are in microseconds (out_time_ms is misnamed in ffmpeg).
        return max(0, int(value)) / 1_000_000
    return None


def run_ffmpeg(
    args: list[str],
    *,
    total_s: float | None,
    on_progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Run the bundled ffmpeg with `args` (without the binary or global flags).

    Progress comes from ffmpeg's `-progress` stream and is reported as a monotonic fraction
    0..1 of `total_s`; 1.0 is reported once, only after a successful exit. Callbacks run in
    the calling thread, so a widget or tqdm bar can be updated directly.
    Setting `cancel` kills ffmpeg and raises RenderCanceled; it deletes nothing, so the caller
    decides what to do with a partial output. A nonzero exit raises FFmpegError.
    """
    progress = _PROGRESS_ARGS if on_progress is not None and total_s else []
    cmd = [ffmpeg_exe(), *_BASE_ARGS, *filter_threads(), *progress, *args]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    tail: deque[str] = deque(maxlen=_STDERR_LINES)
    events: queue.SimpleQueue[float | None] = queue.SimpleQueue()

    def drain_stderr() -> None:  # a full stderr pipe would block ffmpeg forever
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                tail.append(line)

    def read_progress() -> None:
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                key, _, value = raw.decode("ascii", "replace").strip().partition("=")
                secs = _progress_seconds(key, value)
                if secs is not None and total_s:
                    # 1.0 waits for a successful exit: the muxer can still fail after the last frame.
                    events.put(min(_LAST_BEFORE_DONE, secs / total_s))
        finally:
            events.put(None)  # wakes the caller at once when ffmpeg closes its output

    readers = [threading.Thread(target=f, daemon=True) for f in (drain_stderr, read_progress)]
    for t in readers:
        t.start()
    reported = -1.0
    canceled = False
    try:
        while True:
            if cancel is not None and cancel.is_set():
                canceled = True
                break
            try:
                frac = events.get(timeout=0.05)
            except queue.Empty:
                continue
            if frac is None:
                break
            if on_progress is not None and frac > reported:
                reported = frac
                on_progress(frac)
        while not canceled and proc.poll() is None:  # output closed; wait, still cancellable
            if cancel is not None and cancel.wait(0.02):
                canceled = True
            elif cancel is None:
                proc.wait()
    finally:
        if proc.poll() is None:  # canceled, or an exception (e.g. KeyboardInterrupt) in a callback
            proc.kill()
        proc.wait()
        for t in readers:
            t.join(timeout=5)
    if canceled:
        raise RenderCanceled("render canceled; ffmpeg was stopped")
    if proc.returncode != 0:
        raise FFmpegError(proc.returncode, list(tail), cmd[1:])
    if on_progress is not None and reported < 1.0:
        on_progress(1.0)
