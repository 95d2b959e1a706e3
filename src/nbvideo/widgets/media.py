"""Bytes the views send: JPEG thumbnails of frames and low-res MP4 previews of clips.

A clip above 1080p is previewed from its 540p editing proxy (media/proxy.py), never decoded
at 4K for a view.

Both are made once and cached in the project folder (thumbnails by take id, previews by the
clip's checksum), so reopening a notebook or re-rendering a view costs a file read.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from pathlib import Path

from nbvideo.errors import NbvideoError, render_step
from nbvideo.media import proxy
from nbvideo.media.ffmpeg import open_image, run_ffmpeg
from nbvideo.media.threads import encoder_threads
from nbvideo.model.state import Scene, Take
from nbvideo.project import lip_synced

THUMB_SIDE = 480  # px, long side: sharp on a 240 px card at 2x
THUMB_MAX_BYTES = 48_000  # around 40 KB; busy photos are re-encoded smaller
PREVIEW_SHORT_SIDE = 480  # "480p": 854x480 landscape, 480x854 portrait
PREVIEW_CRF = 30
_preview_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _write(path: Path, data: bytes) -> None:
    """Atomic enough for a cache: temp file then rename; a read-only project just skips it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        pass


def thumbnail(root: Path, take: Take | None, side: int = THUMB_SIDE) -> bytes:
    """A JPEG of a frame take, at most `side` px and about 40 KB; b"" if there is none."""
    if take is None or not take.ok or take.path is None:
        return b""
    cached = root / "assets" / "thumbs" / f"{take.id}-w{side}.jpg"
    if cached.exists():
        return cached.read_bytes()
    src = root / take.path
    if not src.exists():
        return b""
    with open_image(src, "frame") as im:
        im = im.convert("RGB")
        im.thumbnail((side, side))
        limit = THUMB_MAX_BYTES * (side / THUMB_SIDE) ** 2
        data = b""
        for quality in (82, 70, 58, 45, 35):
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=quality, optimize=True, progressive=True)
            data = buf.getvalue()
            if len(data) <= limit:
                break
    _write(cached, data)
    return data


def preview_size(width: int, height: int, short: int = PREVIEW_SHORT_SIDE) -> tuple[int, int]:
    """The clip's size scaled so its short side is at most `short`, both sides even."""
    scale = min(1.0, short / min(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def preview(root: Path, take: Take | None) -> bytes:
    """A silent H.264 MP4 of a clip take at most 480p, made once per clip checksum."""
    if take is None or not take.ok or take.path is None:
        return b""
    src = root / take.path
    if not src.exists():
        return b""
    key = (take.checksum or take.id)[:20]
    cached = root / "assets" / "previews" / f"{key}-{PREVIEW_SHORT_SIDE}p.mp4"
    with _locks_guard:
        lock = _preview_locks.setdefault(str(cached), threading.Lock())
    with lock:  # two views asking at once make it once
        if cached.exists():
            return cached.read_bytes()
        if take.checksum and proxy.needs_proxy(take.width, take.height):
            try:  # a 4K source: the view plays its 540p proxy, made now if not yet
                src = proxy.ensure(root, src, take.checksum, take.width, take.height) or src
            except (OSError, NbvideoError):  # read-only, or ffmpeg failed: the original
                pass
        if take.width and take.height:
            w, h = preview_size(take.width, take.height)
        else:
            from nbvideo.media.ffmpeg import probe

            info = probe(src, count_frames=False)
            w, h = preview_size(info.width, info.height)
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
        except OSError:  # a read-only project: make it in a temp folder, keep nothing
            with tempfile.TemporaryDirectory() as tmp_dir:
                out = Path(tmp_dir) / cached.name
                _encode_preview(src, out, w, h)
                return out.read_bytes()
        tmp = cached.with_name(f".{cached.stem}.{os.getpid()}.{threading.get_ident()}.tmp.mp4")
        _encode_preview(src, tmp, w, h)
        os.replace(tmp, cached)
        return cached.read_bytes()


def _encode_preview(src: Path, out: Path, w: int, h: int) -> None:
    """Silent H.264 at (w, h), moov first so the browser starts playing at once."""
    with render_step("preview"):
        _run_preview(src, out, w, h)


def _run_preview(src: Path, out: Path, w: int, h: int) -> None:
    run_ffmpeg([
        "-i", str(src), "-an", "-vf", f"scale={w}:{h}", "-c:v", "libx264",
        "-preset", "veryfast", "-crf", str(PREVIEW_CRF), "-pix_fmt", "yuv420p",
        "-profile:v", "main", *encoder_threads(), "-movflags", "+faststart", str(out),
    ], total_s=None)


def badges(scene: Scene) -> list[dict[str, str]]:
    """What a scene's card says it is beside b-roll: a presenter scene (with its avatar),
    a chosen clip that is lip-synced to its line. The board and the clip grid show the same."""
    out = []
    if scene.kind == "presenter":
        avatar = scene.presenter.avatar if scene.presenter is not None else ""
        out.append({"kind": "presenter", "text": f"presenter: {avatar}" if avatar
                    else "presenter"})
    if lip_synced(scene.clip):
        out.append({"kind": "lip-synced", "text": "lip-synced"})
    return out
