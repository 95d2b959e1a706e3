"""Paths that come from outside (a brand kit, a look, a user's setting): resolved, confined,
and checked to be the right kind of file, once, where they enter.

A kit or a look can name a file anywhere; left unchecked, an absolute path, `../..` or a
symlink would embed a file from outside the project in an export, and a text file called
`.png` would only fail as a PIL traceback at export, on every try. `confined_file` resolves the
path (symlinks included), refuses it unless it lands inside one of the folders it may live in,
and decodes it as the kind asked for, so a bad value is refused when it is set, naming the
field and what is allowed. Checks are cached by (path, mtime, size): exports ask often.

    >>> confined_file("../../etc/passwd", field="look.logo",
    ...               roots=[("the project folder", Path("/tmp"))])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    nbvideo.errors.PathEscape: look.logo '../../etc/passwd' is outside the project folder ...
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from nbvideo.errors import InvalidInput, MediaMissing, PathEscape, quote
from nbvideo.media.sniff import sniff
from nbvideo.store.folder import unnameable

__all__ = ["Kind", "confined_file"]

Kind = Literal["image", "audio", "font", "any"]
_WANT = {"image": "an image file (PNG, JPEG or WebP)", "audio": "an audio file",
         "font": "a .ttf or .otf font file", "any": "a file"}


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def confined_file(value: str | os.PathLike[str], *, field: str,
                  roots: Sequence[tuple[str, Path]], kind: Kind = "any",
                  base: Path | None = None) -> Path:
    """The resolved file `value` names, after checking it may be used.

    `roots` are (description, folder) pairs it may live in, e.g. ("the project folder",
    root); a relative `value` resolves against `base` (default: the first root). Raises
    PathEscape when the resolved path (after following symlinks) is outside every root, and
    InvalidInput when it is missing, not a file, or does not decode as `kind`. `field` names
    the setting in the message ("look.reference_image", "brand 'Acme': logo").
    """
    if not roots:
        raise ValueError("confined_file needs at least one folder the file may live in")
    shown = quote(str(value))
    if unnameable(value):
        raise PathEscape(f"{field} {shown} has a character no file name can hold (NUL, or an "
                         "unpaired surrogate)")
    p = Path(value).expanduser()
    if not p.is_absolute():
        p = (base if base is not None else roots[0][1]) / p
    try:
        target = p.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise InvalidInput(f"{field} {shown} cannot be resolved ({type(exc).__name__})") from None
    allowed = [(desc, Path(folder).resolve()) for desc, folder in roots]
    if not any(_within(target, folder) for _desc, folder in allowed):
        names = " or ".join(f"{desc} ({folder})" for desc, folder in allowed)
        raise PathEscape(f"{field} {shown} is outside {names}; copy the file into "
                         f"{allowed[0][0]} and give its path there")
    if not target.exists():
        raise MediaMissing(f"{field} {shown} not found at {p}")
    if not target.is_file():
        raise InvalidInput(f"{field} {shown} is not a file; it must be {_WANT[kind]}")
    if kind != "any":
        st = target.stat()
        why = _kind_problem(str(target), kind, st.st_mtime_ns, st.st_size)
        if why:
            raise InvalidInput(f"{field} {shown} is not {_WANT[kind]} that can be read "
                               f"({why})")
    return target


@functools.lru_cache(maxsize=256)
def _kind_problem(path: str, kind: Kind, _mtime_ns: int, _size: int) -> str | None:
    """Why the file at `path` does not decode as `kind`, or None (cached per file version)."""
    if kind == "font":
        from PIL import ImageFont

        if Path(path).suffix.lower() not in (".ttf", ".otf"):
            return "not a .ttf or .otf file"
        try:
            ImageFont.truetype(path, 12)
        except (OSError, ValueError) as exc:
            return type(exc).__name__
        return None
    if kind == "image" or kind == "audio":  # the sniff the import gate (store/imports) runs
        return sniff(path, kind).why
    return None
