"""A user's own video file, taken into the project: checked, copied by content, probed.

One function, `import_video`, for every place a user's clip enters (a scene's clip today,
an overlay clip on a second track next), so the checks are the same everywhere:

- the path: refused before anything is read when it holds a NUL or a `..` part, or is a
  symlink (the file itself, or any folder of it inside the project); it must be a regular
  file of an allowed type, not empty and at most MAX_IMPORT_BYTES. A relative path is inside
  the project folder; an absolute one may be anywhere and is copied in (as recorded voice
  lines are, sound/recorded.py), unless `roots` confines it, as a server may;
- the copy: streamed (a 4K file is never held in memory) with O_NOFOLLOW, hashed on the
  way, stopped at the cap if the file grows while it is read, and written beside its final
  place, so a refused file leaves nothing behind;
- the content: probed with PyAV and its first frame decoded; it must be a video of at least
  MIN_IMPORT_S with a frame rate and at most MAX_SIDE pixels a side (a still image, an
  audio file renamed .mp4 or a cut-short download is refused with the reason).

Names carry the content's hash: the same file imported twice is one file.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import uuid
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from nbvideo.errors import InvalidInput, MediaMissing, PathEscape, quote
from nbvideo.media.ffmpeg import probe

__all__ = ["IMPORT_PROVIDER", "MAX_IMPORT_BYTES", "VIDEO_SUFFIXES", "ImportedVideo",
           "import_video"]

IMPORT_PROVIDER = "import"  # Take.provider of a user's own clip: not made by any model
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm")
MAX_IMPORT_BYTES = 4 * 1024**3  # 4 GB: a minute of 4K at 400 Mb/s (ProRes-class) fits
MIN_IMPORT_S = 0.5
MAX_SIDE = 8192  # 8K; beyond that the export's filter graph would not fit in memory
_CHUNK = 1 << 20


class ImportedVideo(BaseModel):
    """A video file in the project, as probed after it was copied in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rel: str
    path: Path
    sha256: str
    name: str
    width: int
    height: int
    fps: float
    duration_s: float
    has_audio: bool
    size_bytes: int
    copied: bool  # False: the same content was already in the project


def _mb(n: int) -> str:
    return f"{n / 2**30:.3g} GB" if n >= 2**30 else f"{n / 2**20:.3g} MB"


def _refuse(field: str, given: str, why: str) -> InvalidInput:
    return InvalidInput(f"{field}: {quote(given)} {why}; give a video file "
                        f"({', '.join(VIDEO_SUFFIXES)}, at most {_mb(MAX_IMPORT_BYTES)}): "
                        "a path inside the project folder or an absolute path (it is copied in)")


def checked_source(given: str | os.PathLike[str], root: Path, *, field: str,
                   roots: Sequence[tuple[str, Path]] | None = None,
                   max_bytes: int | None = None) -> Path:
    """The source's path, after the path checks of the module docstring."""
    text = os.fspath(given)
    if not isinstance(text, str):
        raise InvalidInput(f"{field}: a path must be text, not bytes")
    if "\x00" in text:
        raise InvalidInput(f"{field}: the path holds a NUL character")
    raw = Path(text).expanduser()
    if ".." in raw.parts:
        raise PathEscape(f"{field}: {quote(text)} has a '..' part; give the file's own path")
    root = Path(root)
    path = raw if raw.is_absolute() else root / raw
    try:
        inside = path.relative_to(root)
    except ValueError:
        inside = None
    steps = ([root / Path(*inside.parts[:i + 1]) for i in range(len(inside.parts))]
             if inside is not None else [path])
    if any(p.is_symlink() for p in steps):
        raise _refuse(field, text, "is a symlink (or lies under one)")
    if roots is not None:
        real = path.resolve()
        allowed = [(d, Path(f).resolve()) for d, f in roots]
        if not any(real == f or f in real.parents for _d, f in allowed):
            raise PathEscape(f"{field}: {quote(text)} is outside "
                             + " or ".join(f"{d} ({f})" for d, f in allowed))
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise MediaMissing(f"{field}: {quote(text)} does not exist") from None
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(field, text, "is not a regular file")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise _refuse(field, text, f"is a {path.suffix or 'file without a type'}")
    cap = MAX_IMPORT_BYTES if max_bytes is None else max_bytes
    if st.st_size == 0:
        raise _refuse(field, text, "is empty")
    if st.st_size > cap:
        raise _refuse(field, text, f"is {_mb(st.st_size)}; the limit is {_mb(cap)}")
    return path


def _copy(src: Path, tmp: Path, cap: int, field: str, given: str) -> str:
    """Stream `src` into `tmp` (never following a symlink swapped in since the check),
    hashing it; refused past `cap` bytes. Returns the SHA-256."""
    h = hashlib.sha256()
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(src, flags)
    except OSError as exc:
        raise _refuse(field, given, f"cannot be opened ({exc.strerror})") from None
    size = 0
    with os.fdopen(fd, "rb") as fin, open(tmp, "xb") as fout:
        if not stat.S_ISREG(os.fstat(fin.fileno()).st_mode):
            raise _refuse(field, given, "is not a regular file")
        for block in iter(lambda: fin.read(_CHUNK), b""):
            size += len(block)
            if size > cap:
                raise _refuse(field, given, f"grew past the {_mb(cap)} limit while it was read")
            h.update(block)
            fout.write(block)
    return h.hexdigest()


def _probe_video(path: Path, field: str, given: str) -> tuple[int, int, float, float, bool]:
    """(width, height, fps, seconds, has audio) of a file that plays as a video, else refused."""
    import av

    try:
        info = probe(path, count_frames=False)
        with av.open(str(path)) as c:  # the first frame decodes: not just a plausible header
            if next(c.decode(c.streams.video[0]), None) is None:
                raise InvalidInput("it holds no frames")
    except InvalidInput as exc:
        why = str(exc).replace(str(path), "it")
        raise _refuse(field, given, f"is not a playable video ({why})") from None
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise _refuse(field, given, "is not a playable video "
                      f"({getattr(exc, 'strerror', None) or type(exc).__name__})") from None
    if info.frames < 2 or info.fps <= 0:
        raise _refuse(field, given, f"is a still image ({info.codec}), not a video")
    if info.duration_s < MIN_IMPORT_S:
        raise _refuse(field, given, f"is {info.duration_s:.2f} s long; a clip needs at least "
                      f"{MIN_IMPORT_S:g} s")
    if max(info.width, info.height) > MAX_SIDE or min(info.width, info.height) < 2:
        raise _refuse(field, given, f"is {info.width}x{info.height}; at most {MAX_SIDE} px a "
                      "side")
    return info.width, info.height, info.fps, info.duration_s, info.has_audio


def import_video(given: str | os.PathLike[str], root: Path, dest: str, *, field: str,
                 roots: Sequence[tuple[str, Path]] | None = None,
                 max_bytes: int | None = None) -> ImportedVideo:
    """Copy the video `given` names into `dest` (a folder relative to the project `root`)
    after the checks of the module docstring; returns it as probed. `field` names the
    argument in errors ("import_clip: path"). Nothing is left behind when it is refused."""
    text = os.fspath(given)
    src = checked_source(given, root, field=field, roots=roots, max_bytes=max_bytes)
    cap = MAX_IMPORT_BYTES if max_bytes is None else max_bytes
    suffix = src.suffix.lower()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", src.stem).strip("-.")[:60] or "clip"
    folder = Path(root) / dest
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".import.{uuid.uuid4().hex[:12]}.part{suffix}"
    try:
        digest = _copy(src, tmp, cap, field, text)
        w, h, fps, seconds, audio = _probe_video(tmp, field, text)
        rel = f"{dest}/{stem}-{digest[:12]}{suffix}"
        out = Path(root) / rel
        copied = not out.is_file()
        if copied:
            os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return ImportedVideo(rel=rel, path=out, sha256=digest, name=src.name, width=w, height=h,
                         fps=fps, duration_s=seconds, has_audio=audio,
                         size_bytes=out.stat().st_size, copied=copied)
