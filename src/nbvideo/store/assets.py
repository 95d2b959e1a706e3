"""An asset library on disk: `<folder>/asset-library/` holds the files, their thumbnails and
`index.json` (model/assets.py), one entry per distinct content.

Files come in through the project's one import gate (store/imports.py): the same path, name,
symlink, size and decode checks, copied beside their place and kept by content. A library
in a workspace is a shared folder, so the index is only ever rewritten whole
(`atomic_write_bytes`) under a file lock, after a fresh read: two people (or two threads)
adding at once both land, and the same bytes added twice are one asset whose tags merge.
Everything that can refuse a file runs before the lock is taken and before anything is
placed: a refused add leaves the folder as it was.

Roles are not checked here (the store is below the role gate); nbvideo/library.py checks
them and says who did what in the audit log.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock
from pydantic import ValidationError

from nbvideo.errors import InvalidInput, PathNotAllowed, from_validation, quote
from nbvideo.model.assets import (
    ASSET_KINDS,
    MAX_LICENCE,
    MAX_SOURCE,
    MEDIA,
    Asset,
    AssetIndex,
    AssetKind,
    check_kind,
    check_tags,
    ref_prefix,
)
from nbvideo.model.checked import text_problem
from nbvideo.store.folder import atomic_write_bytes, unnameable
from nbvideo.store.imports import (
    AUDIO_SUFFIXES,
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    ImportRule,
    Staged,
    keep,
    size_text,
    staged,
)

__all__ = ["INDEX_FILE", "LIBRARY_DIR", "MAX_ASSET_BYTES", "AssetStore", "Described",
           "find_library", "resolve"]

LIBRARY_DIR = "asset-library"
INDEX_FILE = "index.json"
FILES_DIR = "files"
THUMBS_DIR = "thumbs"
SUFFIXES = {"image": IMAGE_SUFFIXES, "video": VIDEO_SUFFIXES, "audio": AUDIO_SUFFIXES}
MAX_ASSET_BYTES = {"image": 64 * 2**20, "audio": 256 * 2**20, "video": 1024 * 2**20}
"""Per kind of media: a 2 GB upload is refused before a byte is read."""
MAX_NAME_BYTES = 255  # what one file name can hold on Linux, macOS and Windows


@dataclass(frozen=True)
class Described:
    """What the library's caller found in a staged file: its facts and thumbnail."""

    facts: dict[str, Any]  # width, height, duration_s, fps, has_audio, codec
    thumb_png: bytes | None


Describe = Callable[[Staged, str], Described]


def find_library(start: Path) -> Path | None:
    """The nearest folder at or above `start` with an asset library in it."""
    start = Path(start).absolute()
    for folder in (start, *start.parents):
        if (folder / LIBRARY_DIR / INDEX_FILE).is_file():
            return folder
    return None


def kind_for(name: str) -> AssetKind:
    """The kind a file's type suggests (a logo or a voice line has to be said)."""
    suffix = Path(name).suffix.lower()
    for kind, media in (("image", "image"), ("clip", "video"), ("music", "audio")):
        if suffix in SUFFIXES[media]:
            return kind  # type: ignore[return-value]
    every = sorted({s for v in SUFFIXES.values() for s in v})
    raise InvalidInput(f"add: {quote(name)} is a {Path(name).suffix or 'file without a type'},"
                       f" not an image, clip or audio type ({', '.join(every)})")


def check_name(given: str | os.PathLike[str]) -> None:
    """The name of a file to add, before the gate: text an index and a table can show (no
    control character: a newline in a file name breaks every table and log it is shown in;
    no bidi override: it shows the name in another order than it is) and short enough to be
    a file name. A NUL or an unpaired surrogate is left to the gate, which names them."""
    text = os.fspath(given)
    if not isinstance(text, str) or unnameable(text):
        return
    line = next((i for i, c in enumerate(text) if c in "\t\n\r"), None)
    problem = (text_problem(text) if line is None else  # text allows these three; names not
               f"contains a control character (U+{ord(text[line]):04X} at position {line})")
    if problem is not None:
        raise InvalidInput(f"add: the path {quote(text)} {problem}; rename the file "
                           "without it")
    size = len(os.fsencode(Path(text.replace("\\", "/")).name))
    if size > MAX_NAME_BYTES:
        raise InvalidInput(f"add: the file name is {size} bytes long; at most "
                           f"{MAX_NAME_BYTES} (rename it shorter)")


class AssetStore:
    """The library folder of `root` (`root/asset-library/`): read, add, change, remove."""

    def __init__(self, root: str | os.PathLike[str], *,
                 roots: Sequence[tuple[str, Path]] | None = None,
                 max_bytes: int | None = None) -> None:
        self.root = Path(root).expanduser().absolute()
        self.folder = self.root / LIBRARY_DIR
        self.index_path = self.folder / INDEX_FILE
        self.roots = roots
        """Folders a file may be added from (described by name); None: anywhere."""
        self.max_bytes = max_bytes
        """One cap for every kind (tests, an admin); None: MAX_ASSET_BYTES per kind."""

    # ------------------------------------------------------------------ reading
    def read(self) -> AssetIndex:
        """The index as it is on disk now (empty before the first add)."""
        try:
            raw = self.index_path.read_bytes()
        except FileNotFoundError:
            return AssetIndex()
        try:
            index = AssetIndex.model_validate_json(raw)
        except ValidationError as exc:
            raise from_validation(exc, prefix=f"{self.index_path}: ") from None
        for asset in index.assets.values():
            asset._library = self.root  # so a project can find its file again
        return index

    def all(self) -> list[Asset]:
        return sorted(self.read().assets.values(), key=lambda a: (a.added_at, a.id))

    def get(self, ref: Any) -> Asset:
        """The asset `ref` names: an Asset of this library, or 'asset:<hex>' (a unique start
        of at least 6 digits)."""
        prefix = ref.sha256 if isinstance(ref, Asset) else ref_prefix(ref)
        found = [a for a in self.read().assets.values() if a.sha256.startswith(prefix)]
        if len(found) == 1:
            return found[0]
        if not found:
            raise InvalidInput(f"asset: no asset {quote(getattr(ref, 'id', ref))} in the "
                               f"library at {self.folder}; lib.search() lists them")
        raise InvalidInput(f"asset: {quote(ref)} names {len(found)} assets "
                           f"({', '.join(a.id for a in found[:5])}); give more digits")

    def path(self, asset: Asset) -> Path:
        return self.folder / asset.file

    def thumb_path(self, asset: Asset) -> Path | None:
        return self.folder / asset.thumb if asset.thumb else None

    # ------------------------------------------------------------------ writing
    def _own(self, folder: Path) -> Path:
        """`folder` (made if missing), refused when it is a symlink: the library writes only
        into its own folders, as the import gate keeps files only in the project's."""
        if folder.is_symlink():
            raise PathNotAllowed(f"asset library: {folder} is a symlink; the library keeps "
                                 "its files only in its own folders (make it a real folder)")
        folder.mkdir(exist_ok=True)
        return folder

    def _lock(self) -> filelock.BaseFileLock:
        self._own(self.folder)
        return filelock.FileLock(str(self.folder / ".index.lock"), is_singleton=False,
                                 thread_local=False)

    def _write(self, index: AssetIndex) -> None:
        data = index.model_dump_json(indent=1, exclude_none=True).encode() + b"\n"
        atomic_write_bytes(self.index_path, data)

    @contextlib.contextmanager
    def _changing(self) -> Iterator[AssetIndex]:
        """The index, read fresh under the lock; written back when the block ends well."""
        with self._lock():
            index = self.read()
            yield index
            self._write(AssetIndex.model_validate(index.model_dump()))

    def rule(self, kind: AssetKind) -> ImportRule:
        media = MEDIA[kind]
        cap = self.max_bytes if self.max_bytes is not None else MAX_ASSET_BYTES[media]
        types = ", ".join(SUFFIXES[media])
        article = "an" if kind[0] in "aeiou" else "a"
        return ImportRule(field="add: path", kind=media, suffixes=SUFFIXES[media],
                          max_bytes=cap, dest=f"{LIBRARY_DIR}/{FILES_DIR}", stem=kind,
                          hint=f"give {article} {kind} file ({types}, at most {size_text(cap)})"
                               + ("" if self.roots is None else " from "
                                  + " or ".join(d for d, _ in self.roots)))

    def add(self, given: str | os.PathLike[str], *, kind: str | None, tags: Any,
            source: str, licence: str, user: str, describe: Describe,
            data: bytes | None = None) -> tuple[Asset, bool]:
        """Add the file `given` names (or an upload's `data` under that name); returns the
        asset and whether it is new (False: the same bytes were there; tags merged)."""
        check_name(given)
        kind = check_kind(kind) if kind is not None else kind_for(os.fspath(given))
        tags = check_tags(tags)
        for field, value, cap in (("source", source, MAX_SOURCE), ("licence", licence,
                                                                   MAX_LICENCE)):
            if not isinstance(value, str):
                raise InvalidInput(f"{field} must be text, got {quote(value)}")
            if len(value) > cap:
                raise InvalidInput(f"{field} must be at most {cap} characters, got "
                                   f"{len(value)}")
            if (problem := text_problem(value)) is not None:
                raise InvalidInput(f"{field} {problem}")
        with staged(given, self.root, self.rule(kind), data=data, roots=self.roots) as s:
            aid = f"asset:{s.sha256[:12]}"
            known = self.read().assets.get(aid)
            described = None if known is not None else describe(s, MEDIA[kind])
            file = s.rel.removeprefix(f"{LIBRARY_DIR}/")
            asset = None
            if described is not None:
                try:
                    asset = Asset(id=aid, sha256=s.sha256, kind=kind, name=s.name, file=file,
                                  thumb=f"{THUMBS_DIR}/{s.sha256[:12]}.png"
                                  if described.thumb_png else None,
                                  size_bytes=s.size_bytes, tags=tags, source=source.strip(),
                                  licence=licence.strip(), added_by=user, **described.facts)
                except ValidationError as exc:  # a probe's odd value: named, nothing kept
                    raise from_validation(exc, "add") from None
            out, new = self._commit(s, aid, asset, described, tags, source, licence)
        out._library = self.root
        return out, new

    def _commit(self, s: Staged, aid: str, asset: Asset | None, described: Described | None,
                tags: list[str], source: str, licence: str) -> tuple[Asset, bool]:
        placed: list[Path] = []
        try:
            with self._changing() as index:
                known = index.assets.get(aid)
                if known is not None:
                    if known.sha256 != s.sha256:
                        raise InvalidInput(f"add: {quote(s.given)} has the same id {aid} as "
                                           f"{known.name!r} but other bytes; it was not added")
                    index.assets[aid] = known.model_copy(update={
                        "tags": check_tags(known.tags + tags),
                        "source": known.source or source.strip(),
                        "licence": known.licence or licence.strip()})
                    return index.assets[aid], False
                if asset is None or described is None:  # removed since the look above
                    raise InvalidInput(f"add: {quote(s.given)} was removed from the library "
                                       "while it was added; add it again")
                kept = keep(s)
                if kept.copied:
                    placed.append(kept.path)
                if described.thumb_png and asset.thumb:  # derived: replaced if there
                    thumb = self._own(self.folder / THUMBS_DIR) / Path(asset.thumb).name
                    if not thumb.exists():
                        placed.append(thumb)
                    atomic_write_bytes(thumb, described.thumb_png)
                index.assets[aid] = asset
                return asset, True
        except BaseException:
            for p in placed:  # the index was not written: nothing half-added stays
                p.unlink(missing_ok=True)
            raise

    def update(self, ref: Any, change: Callable[[Asset], Asset]) -> Asset:
        """Change one asset's record (its tags, source or licence) under the lock."""
        aid = self.get(ref).id
        with self._changing() as index:
            if aid not in index.assets:
                raise InvalidInput(f"asset: {aid} was removed meanwhile")
            index.assets[aid] = Asset.model_validate(change(index.assets[aid]).model_dump())
            out = index.assets[aid]
        out._library = self.root
        return out

    def remove(self, ref: Any) -> Asset:
        """Take an asset out of the library (projects that used it keep their own copy)."""
        aid = self.get(ref).id
        with self._changing() as index:
            gone = index.assets.pop(aid, None)
            if gone is None:
                raise InvalidInput(f"asset: {aid} was removed meanwhile")
        for rel in (gone.file, gone.thumb):
            if rel:
                (self.folder / rel).unlink(missing_ok=True)
        return gone


assert set(MEDIA) == set(ASSET_KINDS)


def resolve(ref: Any, near: Path) -> tuple[AssetStore, Asset]:
    """The library and asset `ref` names, for a project at `near`: an Asset read from a
    library (it knows its own), or an id looked up in the nearest library at or above the
    project's folder (a workspace's)."""
    if isinstance(ref, Asset):
        bound = ref._library
        store = AssetStore(bound) if bound is not None else None
    else:
        ref_prefix(ref)  # a bad id is refused before any folder is searched
        store = None
    if store is None:
        found = find_library(Path(near).absolute().parent)
        if found is None:
            raise InvalidInput(f"asset: no asset library in {Path(near).parent} or a folder "
                               "above it; pass the Asset itself (nv.assets(root).get(...))")
        store = AssetStore(found)
    asset = store.get(ref)
    if not store.path(asset).is_file():
        raise InvalidInput(f"asset: {asset.id}'s file {store.path(asset)} is missing from "
                           "the library; add the file again")
    return store, asset
