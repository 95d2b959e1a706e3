"""The user's own music: stored inside the project folder, checked to be audio first.

A music file arrives as bytes (from the browser, or a cell) and becomes the export's music
only once it is known to decode: it is written beside its final place, decoded with PyAV,
and only then moved in. A file that is not audio is deleted and refused with the reason;
the project's music setting and every file already there stay as they were. Names carry
the content's hash, so the same song uploaded twice is one file, and two songs with one
name never overwrite each other.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import uuid
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from nbvideo.errors import InvalidInput, quote
from nbvideo.runtime.context import Runtime

AUDIO_SUFFIXES = (".mp3", ".wav", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac", ".webm")
MAX_MUSIC_BYTES = 50 * 1024 * 1024
MIN_MUSIC_S = 0.5
MUSIC_DIR = "assets/music/user"


class MusicInfo(BaseModel):
    """What the export will put under the picture, for views and reports."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["none", "bed", "file"]
    name: str
    path: str | None = None
    duration_s: float | None = None
    loops: bool = False


def audio_seconds(path: Path, label: str | None = None) -> float:
    """Seconds of audio in `path`, decoding it to be sure it is audio; InvalidInput if not
    (naming the file as `label`, default its name)."""
    import av

    label = label or repr(path.name)
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise InvalidInput(f"music file: {label} has no audio stream")
            stream = container.streams.audio[0]
            samples, rate = 0, stream.codec_context.sample_rate or 0
            for frame in container.decode(stream):
                samples += frame.samples
                rate = frame.sample_rate or rate
    except InvalidInput:
        raise
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or type(exc).__name__
        raise InvalidInput(f"music file: {label} is not audio that can be decoded ({why}); "
                           f"use an audio file: {', '.join(AUDIO_SUFFIXES)}") from None
    if not samples or not rate:
        raise InvalidInput(f"music file: {label} holds no audio samples")
    return samples / rate


@functools.lru_cache(maxsize=64)
def _seconds_cached(path: str, _mtime_ns: int, _size: int) -> float:
    return audio_seconds(Path(path))


def _clean_name(filename: str) -> tuple[str, str]:
    """(stem, suffix) of an uploaded name, kept to safe characters; the suffix is checked."""
    base = Path(str(filename).replace("\\", "/")).name
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    if suffix not in AUDIO_SUFFIXES:
        raise InvalidInput(f"music file: {quote(base)} is not a supported audio type; "
                           f"allowed: {', '.join(AUDIO_SUFFIXES)}")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.")[:60] or "music"
    return stem, suffix


def store_music(rt: Runtime, filename: str, data: bytes) -> str:
    """Keep `data` as a music file in the project; returns its project-relative path.

    Refused (InvalidInput, nothing written) when the name is not an audio type, the file is
    empty or over MAX_MUSIC_BYTES, or it does not decode to at least MIN_MUSIC_S of audio."""
    stem, suffix = _clean_name(filename)
    if not data:
        raise InvalidInput(f"music file: {quote(filename)} is empty")
    if len(data) > MAX_MUSIC_BYTES:
        raise InvalidInput(f"music file: {quote(filename)} is {len(data) / 1e6:.1f} MB; "
                           f"the limit is {MAX_MUSIC_BYTES / 1e6:.0f} MB")
    digest = hashlib.sha256(data).hexdigest()[:12]
    rel = f"{MUSIC_DIR}/{stem}-{digest}{suffix}"
    out = rt.store.path(rel)
    if out.is_file() and out.stat().st_size == len(data):
        music_seconds(out)  # the same bytes were checked when they came in
        return rel
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{uuid.uuid4().hex[:8]}.part{suffix}")
    try:
        tmp.write_bytes(data)
        seconds = audio_seconds(tmp, repr(filename))
        if seconds < MIN_MUSIC_S:
            raise InvalidInput(f"music file: {quote(filename)} is {seconds:.2f} s long; music needs "
                               f"at least {MIN_MUSIC_S:g} s")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return rel


def music_seconds(path: Path) -> float:
    st = path.stat()
    return _seconds_cached(str(path), st.st_mtime_ns, st.st_size)


def music_info(rt: Runtime, total_s: float) -> MusicInfo:
    """The music the export will use for a film of `total_s` seconds."""
    music = rt.state.finishing.music
    if music == "none":
        return MusicInfo(source="none", name="No music")
    if music == "bed":
        return MusicInfo(source="bed", name=f"Generated bed (seed {rt.state.seed})",
                         duration_s=round(total_s, 3))
    path = rt.store.path(music)
    name = Path(music).name
    m = re.fullmatch(r"(.+)-[0-9a-f]{12}(\.[A-Za-z0-9]+)", name)
    shown = m.group(1) + m.group(2) if m and music.startswith(MUSIC_DIR + "/") else name
    try:
        seconds = music_seconds(path)
    except (InvalidInput, OSError):
        return MusicInfo(source="file", name=f"{shown} (missing or unreadable)", path=music)
    return MusicInfo(source="file", name=shown, path=music, duration_s=round(seconds, 3),
                     loops=seconds + 1e-3 < total_s)
