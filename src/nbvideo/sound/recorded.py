"""A recorded voice line the user gives (WAV, MP3, M4A): checked, kept in the project, as 48 kHz.

A path is refused before anything is read when it holds a NUL, a `..` part, or a symlink
(the file itself, or any folder of it inside the project), when it is not a file, is over
MAX_RECORDING_BYTES or is not one of the allowed types. A file outside the project is copied
in (by content: the same recording twice is one file); the copy is decoded to the project's
working format (48 kHz mono WAV), which also proves it is audio, and refused if it holds
no sound. Nothing already in the project changes when a recording is refused.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

import numpy as np

from nbvideo.errors import InvalidInput, MediaMissing, quote
from nbvideo.media.audio_io import convert_to_wav, read_wav
from nbvideo.media.ffmpeg import FFmpegError
from nbvideo.runtime.context import Runtime

RECORDING_SUFFIXES = (".wav", ".mp3", ".m4a")
MAX_RECORDING_BYTES = 50 * 1024 * 1024
RECORDED_DIR = "assets/voice/recorded"
SILENT_PEAK = 1e-3  # a recording whose loudest sample is below this holds no speech


def _refuse(path: str, why: str) -> InvalidInput:
    return InvalidInput(f"voice: {quote(path)} {why}; give a recorded "
                        f"{'/'.join(s[1:].upper() for s in RECORDING_SUFFIXES)} file inside the "
                        "project folder or outside it (it is copied in), or voice='line'")


def checked_path(rt: Runtime, given: str | os.PathLike[str]) -> Path:
    """The recording's real path, after the checks of the module docstring."""
    text = os.fspath(given)
    if not isinstance(text, str):
        raise InvalidInput("voice: a path must be text, not bytes")
    if "\x00" in text:
        raise InvalidInput("voice: the path holds a NUL character")
    raw = Path(text).expanduser()
    if ".." in raw.parts:
        raise _refuse(text, "has a '..' part")
    root = rt.store.root
    path = raw if raw.is_absolute() else root / raw
    try:
        inside = path.relative_to(root)
    except ValueError:
        inside = None
    steps = [root / Path(*inside.parts[:i + 1]) for i in range(len(inside.parts))] if inside \
        else [path]
    if any(p.is_symlink() for p in steps):
        raise _refuse(text, "is a symlink (or lies under one)")
    if not path.exists():
        raise MediaMissing(f"voice: {quote(text)} does not exist")
    if not path.is_file():
        raise _refuse(text, "is not a file")
    if path.suffix.lower() not in RECORDING_SUFFIXES:
        raise _refuse(text, f"is a {path.suffix or 'file without a type'}")
    size = path.stat().st_size
    if size == 0:
        raise _refuse(text, "is empty")
    if size > MAX_RECORDING_BYTES:
        raise _refuse(text, f"is {size / 1e6:.1f} MB; the limit is "
                      f"{MAX_RECORDING_BYTES / 1e6:.0f} MB")
    return path


def take_in(rt: Runtime, given: str | os.PathLike[str]) -> tuple[Path, str, float]:
    """(the recording as a 48 kHz mono WAV in the project, the kept original's project
    path, its seconds). Raises InvalidInput naming `voice` and what is allowed."""
    path = checked_path(rt, given)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-.")[:60] or "line"
    rel = f"{RECORDED_DIR}/{stem}-{digest[:12]}{path.suffix.lower()}"
    kept = rt.store.path(rel)
    kept.parent.mkdir(parents=True, exist_ok=True)
    if not kept.is_file():
        tmp = kept.with_name(f".{kept.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, kept)
        finally:
            tmp.unlink(missing_ok=True)
    wav = kept.with_name(f"{kept.stem}.48k.wav")
    try:
        if not wav.is_file():
            convert_to_wav(kept, wav)
        samples, rate = read_wav(wav)
    except (FFmpegError, OSError, ValueError) as exc:
        wav.unlink(missing_ok=True)
        kept.unlink(missing_ok=True)
        raise _refuse(os.fspath(given), f"is not audio that can be decoded "
                      f"({type(exc).__name__})") from None
    if not len(samples) or float(np.abs(samples).max()) < SILENT_PEAK:
        raise _refuse(os.fspath(given), "holds no sound")
    return wav, rel, len(samples) / rate
