"""The project folder on disk: layout, atomic saves, the writer lock, schema migrations.

    <slug>/project.json       ProjectState (schema_version); tmp + fsync + rename
    <slug>/project.json.bak   the previous good copy, kept on every save
    <slug>/ledger.jsonl       one line per provider call (see ledger.py)
    <slug>/history.jsonl      one line per state change (see history.py)
    <slug>/assets/            frames/, clips/, thumbs/, audio/
    <slug>/exports/

A file we cannot read is never overwritten: loading raises with the file's name and what
to do, and `restore_last_good` puts the previous copy back while keeping the bad one aside
(a readable file from a newer nbvideo is refused instead: upgrade, do not roll back).

A save never overwrites what it did not see: the store remembers the bytes of project.json as
it loaded or last wrote them, and refuses (`ProjectStale`) when the file on disk is another
(another program, `nbvideo restore`, another process that ignored the lock).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import filelock
from pydantic import ValidationError
from slugify import slugify

from nbvideo.errors import (
    PathEscape,
    ProjectCorrupt,
    ProjectLocked,
    ProjectNotFound,
    ProjectStale,
    SchemaTooNew,
    quote,
    validation_message,
)
from nbvideo.model.state import SCHEMA_VERSION, ProjectState, utcnow
from nbvideo.model.tracks import default_tracks, track_dump

STATE_FILE = "project.json"
BACKUP_FILE = "project.json.bak"
LEDGER_FILE = "ledger.jsonl"
HISTORY_FILE = "history.jsonl"
LOCK_FILE = ".nbvideo.lock"
ASSET_DIRS = ("assets/frames", "assets/clips", "assets/thumbs", "assets/audio", "exports")



def _v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 2 added review_status and comments to scenes; both have defaults."""
    return raw


def _v2_to_v3(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 3 counts saves (`revision`); an older file starts at 0."""
    raw.setdefault("revision", 0)
    return raw


def _v3_to_v4(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 4 gave scenes a kind ("broll") and presenter settings (None), and let a scene
    carry its complexity profile (an older scene has none: routing derives it from the
    scene's fields, model/complexity.py) and a pinned video model: all default."""
    return raw


def _v4_to_v5(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 5 gave the timeline tracks beside the scenes (V1, `edits`, is unchanged): the
    default ones are set up empty, the scene clips' own sound muted as exports left it."""
    timeline = raw.setdefault("timeline", {})
    if isinstance(timeline, dict) and "tracks" not in timeline:
        timeline["tracks"] = track_dump(default_tracks())
    return raw


# Upgraders from schema N to N+1, applied in order to raw JSON before validation.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2, 2: _v2_to_v3,
                                                                 3: _v3_to_v4, 4: _v4_to_v5}


def unnameable(path: str | os.PathLike[str]) -> bool:
    """Whether no file system path can hold this one: a NUL, or a lone surrogate that is not
    one of Python's escapes for undecodable bytes (os.fsencode refuses it)."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        return b"\x00" in text
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        return True
    return "\x00" in text


def slug_path(path: str | os.PathLike[str]) -> Path:
    """The project folder for a user-given path: its last part slugged ("Trail Shoe!" -> trail-shoe)."""
    if unnameable(path):
        raise PathEscape(f"project path {quote(str(path))} has a character no folder name can "
                         "hold (NUL, or an unpaired surrogate); use letters or digits")
    p = Path(path).expanduser()
    slug = slugify(p.name, max_length=80)
    if not slug:
        raise PathEscape(f"project path {quote(str(path))} has no usable name; use letters or digits")
    return p.parent / slug


def inside(root: Path, relative: str | os.PathLike[str]) -> Path:
    """Resolve `relative` under `root`, refusing anything that would leave it."""
    rel = Path(relative)
    if unnameable(relative):
        raise PathEscape(f"path {quote(str(relative))} has a character no file name can hold "
                         "(NUL, or an unpaired surrogate)")
    if rel.is_absolute() or any(part == ".." for part in rel.parts):
        raise PathEscape(f"path {quote(str(relative))} must stay inside the project folder {root}")
    target = (root / rel).resolve()
    base = root.resolve()
    if target != base and base not in target.parents:
        raise PathEscape(f"path {quote(str(relative))} resolves outside the project folder {root}")
    return target


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder, fsync, then rename over the target. The temp
    name is unique to this write (two hosts on a shared disk can share a pid), and a write
    that fails (a full disk) takes its temp file with it."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    fh = open(tmp, "xb")  # closed by the block below
    try:
        with fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def migrate(raw: dict[str, Any], source: Path) -> dict[str, Any]:
    version = raw.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise ProjectCorrupt(
            f"{source} has no valid schema_version; it is not an nbvideo project file. "
            f"Restore the last good copy with `nbvideo restore {source.parent}`."
        )
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"{source} was written by a newer nbvideo (schema {version}; this one reads up to "
            f"{SCHEMA_VERSION}). Upgrade nbvideo (pip install -U nbvideo); the file was not changed."
        )
    while version < SCHEMA_VERSION:
        raw = MIGRATIONS[version](raw)
        version += 1
        raw["schema_version"] = version
    return raw


def parse_state(data: bytes, source: Path) -> ProjectState:
    try:
        raw = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProjectCorrupt(
            f"{source} is not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc}); it may be "
            f"truncated. It was left untouched. Restore the last good copy with "
            f"`nbvideo restore {source.parent}` or Project.restore_last_good()."
        ) from None
    except RecursionError:  # '[[[[...' thousands deep: no project is shaped like that
        raise ProjectCorrupt(
            f"{source} is nested too deeply to be a project; it was left untouched. Restore "
            f"the last good copy with `nbvideo restore {source.parent}`."
        ) from None
    if not isinstance(raw, dict):
        raise ProjectCorrupt(f"{source} does not hold a project object; it was left untouched.")
    raw = migrate(raw, source)
    try:
        return ProjectState.model_validate(raw)
    except ValidationError as exc:
        raise ProjectCorrupt(
            f"{source} has an invalid value at {validation_message(exc)}. It was left untouched; "
            f"fix it by hand or restore the last good copy with `nbvideo restore {source.parent}`."
        ) from None


class ProjectStore:
    """One project folder. Holds the writer lock from `acquire()` until `release()`."""

    # Locks held by this process, shared by every store of one folder (one kernel = one writer).
    _held: ClassVar[dict[Path, tuple[filelock.BaseFileLock, int]]] = {}
    _held_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.state_path = self.root / STATE_FILE
        self.backup_path = self.root / BACKUP_FILE
        self.ledger_path = self.root / LEDGER_FILE
        self._lock_path = self.root / LOCK_FILE
        self._write_guard = threading.RLock()
        self._locked = False
        self._seen: str | None = None
        """sha256 of project.json as this store last loaded or wrote it (None: never)."""

    # ------------------------------------------------------------------ layout
    def exists(self) -> bool:
        return self.state_path.exists() or self.backup_path.exists()

    def make_dirs(self) -> None:
        for d in ASSET_DIRS:
            (self.root / d).mkdir(parents=True, exist_ok=True)

    def path(self, relative: str | os.PathLike[str]) -> Path:
        return inside(self.root, relative)

    def relative(self, absolute: Path) -> str:
        return absolute.resolve().relative_to(self.root.resolve()).as_posix()

    # ------------------------------------------------------------------ lock
    def acquire(self) -> None:
        """Take the writer lock. Within one process the lock is shared (one kernel = one writer)."""
        key = self._lock_path.resolve()
        with self._held_guard:
            if key in self._held:
                lock, count = self._held[key]
                self._held[key] = (lock, count + 1)
                self._locked = True
                return
            lock = filelock.FileLock(str(key), is_singleton=False)
            try:
                lock.acquire(timeout=0)
            except filelock.Timeout:
                raise ProjectLocked(
                    f"{self.root} is open for writing in another process (another kernel, notebook "
                    f"or CLI run). Close it there (p.close() or shut that kernel down), or open "
                    f"this one with read_only=True."
                ) from None
            self._held[key] = (lock, 1)
            self._locked = True

    def release(self) -> None:
        if not self._locked:
            return
        key = self._lock_path.resolve()
        with self._held_guard:
            lock, count = self._held.get(key, (None, 0))
            if lock is None:
                return
            if count <= 1:
                lock.release()
                del self._held[key]
            else:
                self._held[key] = (lock, count - 1)
        self._locked = False

    @property
    def writable(self) -> bool:
        return self._locked

    # ------------------------------------------------------------------ state
    def load(self) -> ProjectState:
        if not self.state_path.exists():
            if self.backup_path.exists():
                raise ProjectCorrupt(
                    f"{self.state_path} is missing but a last good copy exists; restore it with "
                    f"`nbvideo restore {self.root}`."
                )
            raise ProjectNotFound(f"no nbvideo project at {self.root} (no {STATE_FILE})")
        data = self.state_path.read_bytes()
        state = parse_state(data, self.state_path)
        self._seen = _digest(data)
        return state

    def is_current(self) -> bool:
        """project.json is still what this store last loaded or wrote (or is gone)."""
        try:
            data = self.state_path.read_bytes()
        except FileNotFoundError:
            return True
        return self._seen is not None and _digest(data) == self._seen

    def ensure_current(self, state: ProjectState) -> None:
        """Refuse (ProjectStale) when project.json is not the file `state` was loaded from
        or last saved as: writing now would overwrite someone else's change."""
        if self.is_current():
            return
        try:
            disk: Any = json.loads(self.state_path.read_bytes()).get("revision", 0)
        except (OSError, ValueError, AttributeError):
            disk = "unreadable"
        raise ProjectStale(
            f"{self.state_path} changed on disk since this project read it (revision {disk} "
            f"there, {state.revision} here: another program, `nbvideo restore` or another "
            f"process wrote it). Nothing was overwritten; this change is only in memory. "
            f"Reopen the project (nv.Project.open(path)) to go on from what is on disk."
        )

    def save(self, state: ProjectState) -> None:
        """Atomically replace project.json, keeping the previous good copy as project.json.bak.

        Refused (ProjectStale, nothing written) when the file on disk is not the one this
        store last loaded or wrote; each save counts one more `revision`."""
        if not self._locked:
            raise ProjectLocked(f"{self.root} is open read-only; it cannot be saved")
        with self._write_guard:
            self.ensure_current(state)
            state.updated_at = utcnow()
            state.revision += 1
            data = state.model_dump_json(indent=1).encode()
            if self.state_path.exists():
                tmp_bak = self.backup_path.with_name(f".{BACKUP_FILE}.tmp")
                shutil.copyfile(self.state_path, tmp_bak)
                os.replace(tmp_bak, self.backup_path)
            atomic_write_bytes(self.state_path, data)
            self._seen = _digest(data)

    def restore_last_good(self) -> Path | None:
        """Put project.json.bak back as project.json; the unreadable file is kept aside.

        Returns where the replaced file was moved (None if there was none)."""
        if not self.backup_path.exists():
            raise ProjectNotFound(f"{self.root} has no last good copy ({BACKUP_FILE})")
        held = self._locked
        if not held:
            self.acquire()
        try:
            return self._restore()
        finally:
            if not held:
                self.release()

    def _restore(self) -> Path | None:
        if self.state_path.exists():
            try:
                parse_state(self.state_path.read_bytes(), self.state_path)
            except SchemaTooNew as exc:  # readable, just newer: rolling back would lose work
                raise SchemaTooNew(f"{exc} Not restored: the last good copy is only for a "
                                   f"project.json that cannot be read.") from None
            except ProjectCorrupt:
                pass
        parse_state(self.backup_path.read_bytes(), self.backup_path)  # refuse a bad backup
        aside = None
        if self.state_path.exists():
            stamp = utcnow().strftime("%Y%m%dT%H%M%S")
            aside = self.root / f"project.json.broken-{stamp}"
            os.replace(self.state_path, aside)
        shutil.copyfile(self.backup_path, self.state_path)
        return aside
