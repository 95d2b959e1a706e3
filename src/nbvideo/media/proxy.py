"""Editing proxies: a 540p H.264 copy of every source above 1080p, for the views to play.

A 4K clip is eight times the pixels of 1080p: decoding it for a widget's preview or a scrub
costs seconds and hundreds of megabytes each time. So each source whose short side is above
PROXY_ABOVE gets a proxy once, with a short side of PROXY_SHORT_SIDE, the same frame rate,
frames and duration (and its sound), named by the source's content hash under
cache/proxies/ beside the smart-export cache: built once per content, safe to delete (it is
made again on first need). The views read proxies; the export never does, it reads the
originals (render/export.py), so a proxy's softness never reaches a deliverable.

A proxy is made in the background when a clip is imported (`start`) or on first need
(`ensure`); both take one lock per proxy, so a view asking while the background build runs
waits for it instead of making a second one, and one proxy is made at a time, so importing
six 4K clips in a row does not decode six at once.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

from nbvideo.errors import render_step
from nbvideo.media.ffmpeg import probe, run_ffmpeg
from nbvideo.media.threads import encoder_threads

__all__ = ["PROXY_ABOVE", "PROXY_DIR", "PROXY_SHORT_SIDE", "building", "ensure", "needs_proxy",
           "proxy_path", "proxy_size", "start"]

PROXY_ABOVE = 1080  # short side in px above which a source gets a proxy
PROXY_SHORT_SIDE = 540
PROXY_DIR = "cache/proxies"
PROXY_CRF = 23
_locks: dict[str, threading.Lock] = {}
_threads: dict[str, threading.Thread] = {}
_guard = threading.Lock()
# One proxy is made at a time in a process: each decodes a 4K source (a few hundred MB), so
# six clips imported in a row must not decode six at once.
_slots = threading.BoundedSemaphore(1)


def needs_proxy(width: int | None, height: int | None) -> bool:
    """Whether a source of this size gets a proxy (its short side is above 1080 px)."""
    return bool(width and height and min(width, height) > PROXY_ABOVE)


def proxy_size(width: int, height: int) -> tuple[int, int]:
    """The proxy's size: short side PROXY_SHORT_SIDE, the source's aspect, both even
    (3840x2160 -> 960x540, 2160x3840 -> 540x960)."""
    k = PROXY_SHORT_SIDE / min(width, height)
    return max(2, round(width * k / 2) * 2), max(2, round(height * k / 2) * 2)


def proxy_path(root: Path, checksum: str) -> Path:
    """Where the proxy of the source with content hash `checksum` lives (made or not)."""
    return Path(root) / PROXY_DIR / f"{checksum[:24]}-{PROXY_SHORT_SIDE}p.mp4"


def _lock(out: Path) -> threading.Lock:
    with _guard:
        return _locks.setdefault(str(out), threading.Lock())


def building(root: Path, checksum: str) -> bool:
    """Whether a background build of this proxy is running now."""
    t = _threads.get(str(proxy_path(root, checksum)))
    return t is not None and t.is_alive()


def ensure(root: Path, source: Path, checksum: str, width: int | None = None,
           height: int | None = None, cancel: threading.Event | None = None) -> Path | None:
    """The proxy of `source` (made now if missing); None when the source needs none.

    Written to a temp name and renamed, so a proxy on disk is always whole."""
    if not (width and height):
        info = probe(source, count_frames=False)
        width, height = info.width, info.height
    if not needs_proxy(width, height):
        return None
    out = proxy_path(root, checksum)
    with _lock(out):
        if out.is_file():
            return out
        out.parent.mkdir(parents=True, exist_ok=True)
        w, h = proxy_size(width, height)
        tmp = out.with_name(f".{out.stem}.{secrets.token_hex(4)}.part.mp4")
        try:
            with _slots, render_step("proxy"):
                # Same frames at the same rate: no -r, no fps filter; the sound is kept
                # (re-encoded to AAC) so a view plays the clip as it is.
                run_ffmpeg(["-i", str(source), "-map", "0:v:0", "-map", "0:a:0?",
                            "-vf", f"scale={w}:{h}:flags=bicubic", "-c:v", "libx264",
                            "-preset", "veryfast", "-crf", str(PROXY_CRF), *encoder_threads(),
                            "-pix_fmt", "yuv420p",
                            "-c:a", "aac", "-b:a", "128k", "-sn", "-dn",
                            "-movflags", "+faststart", "-f", "mp4", str(tmp)],
                           total_s=None, cancel=cancel)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
    return out


def start(root: Path, source: Path, checksum: str, width: int, height: int
          ) -> threading.Thread | None:
    """Make the proxy in a background thread (None: none needed, or already made or
    being made). A failure is left for `ensure` to meet again, where a view needs it."""
    if not needs_proxy(width, height):
        return None
    out = proxy_path(root, checksum)
    with _guard:
        running = _threads.get(str(out))
        if out.is_file() or (running is not None and running.is_alive()):
            return None

        def run() -> None:
            try:
                ensure(root, source, checksum, width, height)
            except Exception:  # a view's `ensure` meets it again and reports it
                pass

        t = threading.Thread(target=run, name=f"nbvideo-proxy-{checksum[:8]}", daemon=True)
        _threads[str(out)] = t
    t.start()
    return t
