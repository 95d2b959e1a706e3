"""The one gate for a file a user brings into the project: checked, copied by content, sniffed.

Every place a user's file enters goes through `staged` (or `import_file`): a scene's clip
(`p.import_clip`, via `import_video` here), a recorded voice line (`p.lip_sync(voice=path)`,
sound/recorded.py), a sound effect (`p.import_sound_effect`, sound/sfx.py) and a music file
(`p.set_music_file` and the timeline's upload, sound/music_files.py). Each says what it
takes in an `ImportRule` (the field its errors name, the kind of media, the file types, the
size cap, the folder it is kept in, what to give instead); the checks are the same for all:

- the path, refused before anything is read: text only, no NUL, no `..` part, not a symlink
  (the file itself, or any folder of it inside the project), there, a regular file of an
  allowed type, not empty, at most the cap. A relative path is inside the project folder;
  an absolute one may be anywhere and is copied in, unless `roots` confines it (a server).
  Bytes from a browser upload have no path to check: their file name gets the text checks
  (no NUL, no `..`), then the type and size checks; only its last part names the kept file;
- the copy: streamed (a 4K file is never held in memory) with O_NOFOLLOW, hashed on the way,
  stopped at the cap if the file grows while it is read, written beside its final place in a
  folder that is itself inside the project (no symlink on the way);
- the content, sniffed on the copy (not on the user's file, which could change after the
  check): audio decodes, a video plays and is not a still, an image loads (media/sniff.py);
- the keeping: named by content (`{stem}-{sha256[:12]}{suffix}`), so the same file imported
  twice is one file; placed with a hard link, which never replaces a file: a different file
  already under that name is refused, never overwritten. A caller adds its own checks (a
  clip's length, a line's silence) inside the `staged` block; anything raised there, or a
  block left without `keep`, leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

from pydantic import BaseModel, ConfigDict

from nbvideo.errors import InvalidInput, MediaMissing, PathNotAllowed, quote
from nbvideo.media.ffmpeg import MediaInfo
from nbvideo.media.sniff import Kind, sniff
from nbvideo.store.folder import unnameable

__all__ = ["AUDIO_SUFFIXES", "IMAGE_SUFFIXES", "IMPORT_PROVIDER", "MAX_IMPORT_BYTES",
           "VIDEO_SUFFIXES", "ImportRule", "Imported",
           "ImportedVideo", "Staged", "clip_fits", "file_sha256", "import_file", "import_video", "keep",
           "place",
           "refusal", "size_text", "staged", "video_rule"]

IMPORT_PROVIDER = "import"  # Take.provider of a user's own clip: not made by any model
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm")
AUDIO_SUFFIXES = (".mp3", ".wav", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac", ".webm")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MAX_IMPORT_BYTES = 4 * 1024**3  # 4 GB: a minute of 4K at 400 Mb/s (ProRes-class) fits
MIN_IMPORT_S = 0.5
MAX_SIDE = 8192  # 8K; beyond that the export's filter graph would not fit in memory
_CHUNK = 1 << 20
_RESERVE_TRIES = 5
_WANT = {"audio": "audio that can be decoded", "video": "a playable video",
         "image": "an image that can be read"}
T = TypeVar("T")


class ImportRule(BaseModel):
    """What one caller takes in, and how its errors read: "{field}: {given} {why}; {hint}"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str  # "voice", "import_clip: path", "music file"
    kind: Kind
    suffixes: tuple[str, ...]
    max_bytes: int
    dest: str  # the project folder it is kept in
    hint: str  # what to give instead: "give a video file (...)"
    stem: str = "file"  # the kept name's stem when the source's own has no safe character


class Imported(BaseModel):
    """A file kept in the project by the gate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rel: str
    path: Path
    sha256: str
    name: str  # the source's own file name
    size_bytes: int
    copied: bool  # False: the same content was already in the project


@dataclass
class Staged:
    """The checked, sniffed copy of a file being taken in, beside where `keep` puts it."""

    rule: ImportRule
    root: Path
    given: str  # what the user gave (a path, or an upload's file name): errors quote it
    name: str
    path: Path  # the copy (removed when the `staged` block ends, unless kept)
    rel: str  # where `keep` puts it, by content
    sha256: str
    size_bytes: int
    video: MediaInfo | None = None  # the probe, for kind "video"
    kept: Imported | None = field(default=None)


def size_text(n: int) -> str:
    return f"{n / 2**30:.3g} GB" if n >= 2**30 else f"{n / 2**20:.3g} MB"


def refusal(rule: ImportRule, given: str, why: str) -> InvalidInput:
    """The gate's error for `given`, for a caller's own checks too: the field, the file, why
    and what to give instead."""
    return InvalidInput(f"{rule.field}: {quote(given)} {why}; {rule.hint}")


def _safe_stem(stem: str, default: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.")[:60] or default


def _checked_text(given: str | os.PathLike[str], rule: ImportRule) -> str:
    """The path (or an upload's file name) as text a file name can hold, without `..`."""
    f = rule.field
    text = os.fspath(given)
    if not isinstance(text, str):
        raise InvalidInput(f"{f}: a path must be text, not bytes")
    if "\x00" in text:
        raise InvalidInput(f"{f}: the path holds a NUL character")
    if unnameable(text):
        raise InvalidInput(f"{f}: the path has a character no file name can hold (an "
                           "unpaired surrogate)")
    if ".." in Path(text.replace("\\", "/")).parts:
        raise PathNotAllowed(f"{f}: {quote(text)} has a '..' part; give the file's own path; "
                             f"{rule.hint}")
    return text


def _checked_path(given: str | os.PathLike[str], root: Path, rule: ImportRule,
                  roots: Sequence[tuple[str, Path]] | None) -> Path:
    """The source's path, after the path checks of the module docstring."""
    f = rule.field
    text = _checked_text(given, rule)
    raw = Path(text).expanduser()
    path = raw if raw.is_absolute() else root / raw
    try:
        inside = path.relative_to(root)
    except ValueError:
        inside = None
    steps = ([root / Path(*inside.parts[:i + 1]) for i in range(len(inside.parts))]
             if inside is not None else [path])
    if any(p.is_symlink() for p in steps):
        raise refusal(rule, text, "is a symlink (or lies under one)")
    if roots is not None:
        real = path.resolve()
        allowed = [(d, Path(r).resolve()) for d, r in roots]
        if not any(real == r or r in real.parents for _d, r in allowed):
            raise PathNotAllowed(f"{f}: {quote(text)} is outside "
                                 + " or ".join(f"{d} ({r})" for d, r in allowed))
    try:
        st = path.lstat()
    except FileNotFoundError:
        where = "" if raw.is_absolute() else (
            f" in the project folder {root} (a relative path is read from there; give an "
            "absolute path for a file elsewhere)")
        raise MediaMissing(f"{f}: {quote(text)} does not exist{where}") from None
    except OSError as exc:  # a name too long, a folder that is a file
        raise refusal(rule, text, f"cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise refusal(rule, text, "is not a regular file")
    _check_type_and_size(rule, text, path.name, st.st_size)
    return path


def _check_type_and_size(rule: ImportRule, given: str, name: str, size: int) -> None:
    suffix = Path(name).suffix.lower()
    if suffix not in rule.suffixes:
        raise refusal(rule, given, f"is a {Path(name).suffix or 'file without a type'}, not a "
                      f"supported {rule.kind} type ({', '.join(rule.suffixes)})")
    if size == 0:
        raise refusal(rule, given, "is empty")
    if size > rule.max_bytes:
        shown, cap = size_text(size), size_text(rule.max_bytes)
        raise refusal(rule, given, f"is {shown}; the limit is {cap}"
                      + (f" ({size - rule.max_bytes} bytes over)" if shown == cap else ""))


def _folder(root: Path, rule: ImportRule, made: list[Path]) -> Path:
    """The project folder `rule.dest`, made if missing (recorded in `made`), refused when it
    or a folder on its way is a symlink or leaves the project."""
    dest = rule.dest
    parts = Path(dest).parts
    if Path(dest).is_absolute() or ".." in parts or not parts:
        raise PathNotAllowed(f"{rule.field}: import folder {quote(dest)} must be a relative "
                             "path inside the project folder")
    here = root
    for part in parts:
        here = here / part
        if not here.exists() and not here.is_symlink():
            with contextlib.suppress(FileExistsError):  # or another import made it just now
                here.mkdir()
                made.append(here)
        if here.is_symlink():
            raise PathNotAllowed(f"{rule.field}: import folder {quote(dest)}: "
                                 f"{here.relative_to(root)} is a symlink; files are only kept "
                                 "in the project's own folders")
        if not here.is_dir():
            raise refusal(rule, dest, f"(the folder imports are kept in) has a file at "
                          f"{here.relative_to(root)} where a folder belongs")
    return here


def _reserve(root: Path, rule: ImportRule, made: list[Path],
             suffix: str) -> tuple[Path, BinaryIO]:
    """A new temp file, open for writing, in the folder imports are kept in. Made in one
    step with the folder: another import whose cleanup removes a folder it made (empty a
    moment ago) cannot pull it from under this one, whose file now keeps it from being
    empty."""
    for _ in range(_RESERVE_TRIES):
        folder = _folder(root, rule, made)
        tmp = folder / f".import.{uuid.uuid4().hex[:12]}.part{suffix}"
        try:
            return tmp, open(tmp, "xb")  # the caller closes it
        except FileNotFoundError:  # the folder went between the two steps: make it again
            continue
    raise refusal(rule, rule.dest, "(the folder imports are kept in) kept being removed "
                  "while the file was copied in; try again")


def _copy_file(src: Path, fout: BinaryIO, rule: ImportRule, given: str) -> tuple[str, int]:
    """Stream `src` into `fout` (never following a symlink swapped in since the check),
    hashing it; refused past the cap. Returns (SHA-256, bytes)."""
    h = hashlib.sha256()
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(src, flags)
    except OSError as exc:
        raise refusal(rule, given, f"cannot be opened ({exc.strerror})") from None
    size = 0
    with os.fdopen(fd, "rb") as fin:
        if not stat.S_ISREG(os.fstat(fin.fileno()).st_mode):
            raise refusal(rule, given, "is not a regular file")
        for block in iter(lambda: fin.read(_CHUNK), b""):
            size += len(block)
            if size > rule.max_bytes:
                raise refusal(rule, given, f"grew past the {size_text(rule.max_bytes)} limit "
                              "while it was read")
            h.update(block)
            fout.write(block)
    if size == 0:
        raise refusal(rule, given, "is empty")
    return h.hexdigest(), size


@contextlib.contextmanager
def staged(given: str | os.PathLike[str], root: Path, rule: ImportRule, *,
           data: bytes | None = None,
           roots: Sequence[tuple[str, Path]] | None = None) -> Iterator[Staged]:
    """Check and copy the file `given` names (or, with `data`, an upload's bytes whose file
    name is `given`) beside its place in `rule.dest`, sniff it as `rule.kind`, and yield it.
    Inside the block a caller checks more and calls `keep`; when the block ends, the copy
    and any folder made for it are gone unless kept. Refusals are InvalidInput (MediaMissing
    for a missing file, PathNotAllowed for a `..` part or a path outside `roots`), naming
    `rule.field`."""
    root = Path(root)
    if data is not None:
        text = _checked_text(str(given), rule)
        name = Path(text.replace("\\", "/")).name
        _check_type_and_size(rule, text, name, len(data))
        src = None
    else:
        src = _checked_path(given, root, rule, roots)
        text, name = os.fspath(given), src.name
    suffix = Path(name).suffix.lower()
    made: list[Path] = []
    tmp: Path | None = None
    try:
        tmp, out = _reserve(root, rule, made, suffix)
        with out:
            if src is None:
                assert data is not None
                out.write(data)
                digest, size = hashlib.sha256(data).hexdigest(), len(data)
            else:
                digest, size = _copy_file(src, out, rule, text)
        found = sniff(tmp, rule.kind)
        if found.still is not None:
            raise refusal(rule, text, f"is a still image ({found.still}), not a video")
        if found.why is not None:
            raise refusal(rule, text, f"is not {_WANT[rule.kind]} ({found.why})")
        stem = _safe_stem(Path(name).stem, rule.stem)
        if not stem.endswith(f"-{digest[:12]}"):  # a file already named by its content
            stem = f"{stem}-{digest[:12]}"  # (an asset library's) keeps its name
        rel = f"{rule.dest}/{stem}{suffix}"
        s = Staged(rule=rule, root=root, given=text, name=name, path=tmp, rel=rel,
                   sha256=digest, size_bytes=size, video=found.video)
        yield s
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        for d in reversed(made):
            with contextlib.suppress(OSError):  # kept, or not empty: it stays
                d.rmdir()


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _already(out: Path, sha256: str, rule: ImportRule, given: str) -> bool:
    """False when `out` holds the bytes hashed as `sha256`; refused when it holds others."""
    if out.is_file() and not out.is_symlink() and file_sha256(out) == sha256:
        return False
    raise refusal(rule, given, f"would be kept as {out.name}, but a different file is "
                  "already there (left as it is)")


def place(tmp: Path, out: Path, *, sha256: str, rule: ImportRule, given: str) -> bool:
    """Move the finished file `tmp` to `out` without ever replacing what is there: True when
    it was placed, False when `out` already holds the same bytes; anything else there is
    refused (InvalidInput naming `rule.field`) and left as it is. For files a caller makes
    from an import too (an effect's WAV)."""
    if out.is_symlink() or out.exists():
        return _already(out, sha256, rule, given)
    try:
        os.link(tmp, out)  # atomic, and fails when the name is taken: never an overwrite
    except FileExistsError:  # taken since the look above
        return _already(out, sha256, rule, given)
    except OSError:  # a file system without hard links: the look above has to do
        os.replace(tmp, out)
        return True
    tmp.unlink(missing_ok=True)
    return True


def keep(s: Staged) -> Imported:
    """Put the staged copy at its content-addressed place (see `place`); once per block."""
    if s.kept is None:
        out = s.root / s.rel
        copied = place(s.path, out, sha256=s.sha256, rule=s.rule, given=s.given)
        s.kept = Imported(rel=s.rel, path=out, sha256=s.sha256, name=s.name,
                          size_bytes=out.stat().st_size, copied=copied)
    return s.kept


def import_file(given: str | os.PathLike[str], root: Path, rule: ImportRule, *,
                data: bytes | None = None, roots: Sequence[tuple[str, Path]] | None = None,
                accept: Callable[[Staged], T] | None = None) -> tuple[Imported, T | None]:
    """`staged`, then `accept` (a caller's own checks, which may raise), then `keep`."""
    with staged(given, root, rule, data=data, roots=roots) as s:
        extra = accept(s) if accept is not None else None
        return keep(s), extra


# --------------------------------------------------------------------------- a user's video

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


def video_rule(field: str, dest: str, max_bytes: int | None = None) -> ImportRule:
    cap = MAX_IMPORT_BYTES if max_bytes is None else max_bytes
    return ImportRule(field=field, kind="video", suffixes=VIDEO_SUFFIXES, max_bytes=cap,
                      dest=dest, stem="clip",
                      hint=f"give a video file ({', '.join(VIDEO_SUFFIXES)}, at most "
                           f"{size_text(cap)}): a path inside the project folder or an "
                           "absolute path (it is copied in)")


def clip_fits(s: Staged) -> MediaInfo:
    """A clip's own limits, past being a playable video: long enough, not too large."""
    info = s.video
    assert info is not None
    if info.duration_s < MIN_IMPORT_S:
        raise refusal(s.rule, s.given, f"is {info.duration_s:.2f} s long; a clip needs at "
                      f"least {MIN_IMPORT_S:g} s")
    if max(info.width, info.height) > MAX_SIDE or min(info.width, info.height) < 2:
        raise refusal(s.rule, s.given, f"is {info.width}x{info.height}; at most {MAX_SIDE} px "
                      "a side")
    return info


def import_video(given: str | os.PathLike[str], root: Path, dest: str, *, field: str,
                 roots: Sequence[tuple[str, Path]] | None = None,
                 max_bytes: int | None = None) -> ImportedVideo:
    """Copy the video `given` names into `dest` (a folder relative to the project `root`)
    through the gate; returns it as probed. `field` names the argument in errors
    ("import_clip: path"). Nothing is left behind when it is refused."""
    kept, info = import_file(given, root, video_rule(field, dest, max_bytes), roots=roots,
                             accept=clip_fits)
    assert info is not None
    return ImportedVideo(rel=kept.rel, path=kept.path, sha256=kept.sha256, name=kept.name,
                         width=info.width, height=info.height, fps=info.fps,
                         duration_s=info.duration_s, has_audio=info.has_audio,
                         size_bytes=kept.size_bytes, copied=kept.copied)
