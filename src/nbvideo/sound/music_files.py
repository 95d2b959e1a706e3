"""The user's own music: stored inside the project folder, checked to be audio first.

A music file arrives as bytes (from the browser, or a cell) and becomes the export's music
only once it is known to decode: it comes in through the project's one import gate
(store/imports.py: type, size cap, a copy beside its final place sniffed as audio, kept by
content, never over a different file), and here it is also decoded in full to be at least
MIN_MUSIC_S long. A file that is refused leaves nothing behind; the project's music setting
and every file already there stay as they were. The same song uploaded twice is one file.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from nbvideo.errors import InvalidInput
from nbvideo.runtime.context import Runtime
from nbvideo.store.imports import AUDIO_SUFFIXES, ImportRule, Staged, import_file, refusal

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


def _rule() -> ImportRule:
    """What a music file may be (read when called: the cap is this module's)."""
    return ImportRule(field="music file", kind="audio", suffixes=AUDIO_SUFFIXES,
                      max_bytes=MAX_MUSIC_BYTES, dest=MUSIC_DIR, stem="music",
                      hint=f"use an audio file: {', '.join(AUDIO_SUFFIXES)}")


def store_music(rt: Runtime, filename: str, data: bytes) -> str:
    """Keep `data` (an upload of the file `filename`) as a music file in the project through
    the import gate; returns its project-relative path.

    Refused (InvalidInput, nothing written) when the name is not an audio type, the file is
    empty or over MAX_MUSIC_BYTES, or it does not decode to at least MIN_MUSIC_S of audio."""
    rule = _rule()

    def long_enough(s: Staged) -> float:
        seconds = audio_seconds(s.path, repr(filename))
        if seconds < MIN_MUSIC_S:
            raise refusal(rule, s.given, f"is {seconds:.2f} s long; music needs at least "
                          f"{MIN_MUSIC_S:g} s")
        return seconds

    rt.require("edit", f"import music {filename}")
    kept, _seconds = import_file(str(filename), rt.store.root, rule, data=data,
                                 accept=long_enough)
    return kept.rel


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
