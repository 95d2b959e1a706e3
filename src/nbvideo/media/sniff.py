"""Is a file what its name says? One content check for files that come from outside.

A name is only a claim: a text file renamed `.wav`, `.mp4` or `.png` must be found by
reading it, not later as a decoder's traceback in an export. Each kind is proved the cheap
way that still decodes something: audio decodes its first frame (PyAV), a video is probed
and its first picture decoded (a still image renamed `.mp4` probes as one frame), an image
is verified and its pixels loaded (Pillow; a decompression bomb is refused). The import
gate (store/imports.py) runs it on the copy it took in; store/confine.py on files used in
place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nbvideo.errors import InvalidInput
from nbvideo.media.ffmpeg import MediaInfo, probe

__all__ = ["Kind", "Sniffed", "sniff"]

Kind = Literal["audio", "video", "image"]


@dataclass(frozen=True)
class Sniffed:
    """What reading a file found. `why` is the reason it is not the kind asked for (None:
    it is); `still` names a still image's codec where a video was asked for; `video` is the
    probe of a file that is one."""

    why: str | None = None
    still: str | None = None
    video: MediaInfo | None = None

    @property
    def ok(self) -> bool:
        return self.why is None and self.still is None


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or type(exc).__name__


def _audio(path: Path) -> Sniffed:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return Sniffed("it has no audio stream")
            for _frame in container.decode(container.streams.audio[0]):
                return Sniffed()
            return Sniffed("it holds no audio samples")
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        return Sniffed(_reason(exc))


def _video(path: Path) -> Sniffed:
    import av

    try:
        info = probe(path, count_frames=False)
        with av.open(str(path)) as c:  # the first frame decodes: not just a plausible header
            if next(c.decode(c.streams.video[0]), None) is None:
                return Sniffed("it holds no frames")
    except InvalidInput as exc:
        return Sniffed(str(exc).replace(str(path), "it"))
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        return Sniffed(_reason(exc))
    if info.frames < 2 or info.fps <= 0:
        return Sniffed(still=info.codec, video=info)
    return Sniffed(video=info)


def _image(path: Path) -> Sniffed:
    from PIL import Image

    try:
        with Image.open(path) as im:  # verify checks the structure; load decodes the pixels
            im.verify()
        with Image.open(path) as im:
            im.load()
    except Exception as exc:  # PIL raises many types for a bad file
        return Sniffed(type(exc).__name__)
    return Sniffed()


def sniff(path: str | Path, kind: Kind) -> Sniffed:
    """Read `path` as `kind`; never raises for a file that is not one (see `Sniffed.why`)."""
    return {"audio": _audio, "video": _video, "image": _image}[kind](Path(path))
