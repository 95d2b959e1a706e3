"""Project history: one JSON line per state change in history.jsonl, and the diffs undo,
redo and restore walk.

    {"id": 12, "time": "...", "user": "ana", "kind": "edit",
     "summary": "scene 2 (s1a2b3c4d): visual_prompt",
     "changes": [{"path": ["scenes", "s1a2b3c4d", "visual_prompt"], "op": "set",
                  "before": "wet rocks", "after": "low angle, rain"}], "hash": "..."}

Diffs are taken over a *normal form* of the state (`normal`): scenes keyed by id with the
order as a list of its own, so a reorder is one small change and an edit names its scene.
Takes are diffed apart (`TakeIndex`): they are records of what was made and paid for, as are
comments and exports; undo and restore never take a record away, only change choices.

`Recorder` sits in `Runtime.save`, the one place every state change goes through, so any
method that saves gets history without doing anything. The state is written first, then
its event: a crash between the two (or a torn last line) is repaired on the next open from
project.json.bak, whose state is the one the last readable event ends at.
"""

from __future__ import annotations

import copy
import datetime as _dt
import getpass
import hashlib
import json
import logging
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nbvideo.errors import NbvideoError, quote
from nbvideo.model.checked import text_problem
from nbvideo.model.effects import Effects
from nbvideo.model.state import ProjectState, utcnow
from nbvideo.model.tracks import default_tracks, track_dump
from nbvideo.store.history_kinds import Change, describe

HISTORY_FILE = "history.jsonl"
BACKUP_FILE = "project.json.bak"
log = logging.getLogger(__name__)

# Parts of the normal form that are records (kept by undo/restore), not choices.
RECORD_ROOTS = frozenset({"takes", "exports", "schema_version", "name", "created_at",
                          "library_files"})
NAVIGATION = frozenset({"undo", "redo", "restore"})
_TAKE_LISTS = {"frame_takes", "clip_takes"}
_EXCLUDE = {"updated_at": True, "revision": True, "scenes": {"__all__": _TAKE_LISTS},
            "archived_scenes": {"__all__": _TAKE_LISTS}}


_ADDED_LATER: dict[tuple[str, str], Any] = {
    ("finishing", "voice_fit"): "warn", ("finishing", "caption_style"): "lines",
    ("finishing", "music_ending"): "beat", ("", "sound_effects"): [],
    ("", "library_files"): {}}
"""Fields added after projects were made: left out of the state's hash while at their default,
so a project saved before they existed does not look edited by hand when it is opened."""

_DEFAULT_EFFECTS = Effects().model_dump(mode="json")
"""Per-item effects (model/effects.py), added to every scene edit and overlay image or clip
item: left out of the normal form at their default, for the same reason as `_ADDED_LATER`."""


_DEFAULT_TRACKS = track_dump(default_tracks())
"""The timeline's tracks as a project without overlays or audio items has them (schema 5):
left out of the normal form at that value, for the same reason as `_ADDED_LATER`."""


class HistoryError(NbvideoError):
    """Undo, redo or restore cannot do what was asked; the message says why and what can."""


class HistoryEvent(BaseModel):
    """One state change (or a marker such as a snapshot) as written to history.jsonl."""

    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=1)
    time: _dt.datetime = Field(default_factory=utcnow)
    user: str
    kind: str
    summary: str = ""
    scenes: list[str] = Field(default_factory=list, description="Scene ids the change touched.")
    changes: list[Change] = Field(default_factory=list)
    target: int | None = Field(None, description="The event an undo, redo or restore went to.")
    snapshot: str | None = None
    note: str = ""
    hash: str = Field(description="Hash of the state's normal form after this event.")
    chain_break: bool = Field(False, description="The state before this event is unknown.")

    def __repr__(self) -> str:
        return f"<history #{self.id} {self.kind} by {self.user}: {self.summary}>"

    __str__ = __repr__


def default_user() -> str:
    """Who changes the project: NBVIDEO_USER, else the OS user."""
    name = os.environ.get("NBVIDEO_USER", "").strip()
    if name:
        return name[:80]
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


def check_user(name: Any) -> str:
    if (not isinstance(name, str) or not name.strip() or len(name.strip()) > 80
            or text_problem(name)):
        raise_input(f"user must be a name of 1-80 characters without control characters, "
                    f"got {quote(name)}")
    return name.strip()


def raise_input(message: str) -> None:
    from nbvideo.errors import InvalidInput

    raise InvalidInput(message)


# ---------------------------------------------------------------------- normal form
def normal(state: ProjectState) -> dict[str, Any]:
    """The state as plain JSON with scenes keyed by id (active order and archived order as
    lists of ids), comments and exports keyed by id/path, and no takes, updated_at or save revision."""
    d = state.model_dump(mode="json", exclude=_EXCLUDE)  # type: ignore[arg-type]
    for (part, name), default in _ADDED_LATER.items():
        where = d.get(part, {}) if part else d  # "": a top-level field
        if where.get(name, default) == default:
            where.pop(name, None)
    for ed in d["timeline"].get("edits", {}).values():  # effects: see _DEFAULT_EFFECTS
        if ed.get("effects") == _DEFAULT_EFFECTS:
            ed.pop("effects")
    for track in d["timeline"].get("tracks", {}).values():
        for item in track.get("items", {}).values():
            if item.get("effects") == _DEFAULT_EFFECTS:
                item.pop("effects")
            if item.get("kind") == "text" and item.get("animation", 0) is None:
                item.pop("animation")  # added later: see _ADDED_LATER
    if d["timeline"].get("tracks") == _DEFAULT_TRACKS:  # added in schema 5: see _ADDED_LATER
        d["timeline"].pop("tracks")
    active, archived = d.pop("scenes"), d.pop("archived_scenes")
    table = {}
    for s in (*active, *archived):
        s["comments"] = {c["id"]: c for c in s["comments"]}
        table[s["id"]] = s
    d["scenes"] = table
    d["order"] = [s["id"] for s in active]
    d["archived"] = [s["id"] for s in archived]
    for e in d["exports"]:
        if e.get("assets", 0) == []:  # added later: see _ADDED_LATER
            e.pop("assets")
        if "encoding" in e and e["encoding"] is None:  # added later (preset encodings)
            e.pop("encoding")
    if isinstance(d.get("metadata"), dict) and d["metadata"].get("language") == "en":
        d["metadata"].pop("language")  # added later: see _ADDED_LATER
    d["exports"] = {e["path"]: e for e in d["exports"]}
    return d


def denormal(n: dict[str, Any], current: ProjectState) -> ProjectState:
    """A ProjectState from a normal form, with every scene's takes taken from `current`."""
    have = {s.id: s for s in (*current.scenes, *current.archived_scenes)}

    def scene(sid: str) -> dict[str, Any]:
        s = dict(n["scenes"][sid])
        s["comments"] = list(s["comments"].values())
        src = have.get(sid)
        s["frame_takes"] = list(src.frame_takes) if src else []
        s["clip_takes"] = list(src.clip_takes) if src else []
        return s

    d = {k: v for k, v in n.items() if k not in ("scenes", "order", "archived")}
    d["exports"] = list(n["exports"].values())
    d["scenes"] = [scene(i) for i in n["order"]]
    d["archived_scenes"] = [scene(i) for i in n["archived"] if i not in n["order"]]
    d["updated_at"], d["revision"] = current.updated_at, current.revision
    return ProjectState.model_validate(d)


def state_hash(n: dict[str, Any]) -> str:
    blob = json.dumps(n, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def is_choice(path: Sequence[str]) -> bool:
    """Choices are what undo and restore change; records (takes, comments, exports) stay."""
    if path[0] in RECORD_ROOTS:
        return False
    return not (path[0] == "scenes" and len(path) >= 3 and path[2] == "comments")


# ---------------------------------------------------------------------- diff / apply
def diff(a: Any, b: Any, path: tuple[str, ...] = ()) -> list[Change]:
    """Changes from a to b: dicts are walked key by key; lists and scalars are whole values."""
    if a == b:
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[Change] = []
        for k in a:
            if k not in b:
                out.append(Change(path=[*path, k], op="remove", before=a[k]))
            else:
                out.extend(diff(a[k], b[k], (*path, k)))
        out.extend(Change(path=[*path, k], op="add", after=b[k]) for k in b if k not in a)
        return out
    return [Change(path=list(path), op="set", before=a, after=b)]


def apply(n: dict[str, Any], changes: Sequence[Change], reverse: bool = False) -> None:
    """Apply changes to a normal form in place (undone, last first, when `reverse`)."""
    for c in (reversed(changes) if reverse else changes):
        op = {"add": "remove", "remove": "add", "set": "set"}[c.op] if reverse else c.op
        value = c.before if reverse else c.after
        parent: Any = n
        for key in c.path[:-1]:
            if not isinstance(parent, dict) or key not in parent:
                raise HistoryError(f"history does not fit the project at {c.dotted}; "
                                   "project.json may have been edited by hand")
            parent = parent[key]
        if op == "remove":
            parent.pop(c.path[-1], None)
        else:
            parent[c.path[-1]] = copy.deepcopy(value)


class TakeIndex:
    """Which takes the last event saw. Finished takes are not re-read on every save (a
    project may hold thousands); new takes and ones still pending or running are."""

    def __init__(self, state: ProjectState) -> None:
        self.seen: dict[str, dict[str, dict[str, Any] | None]] = {}
        self.changes: list[Change] = []
        for s in (*state.scenes, *state.archived_scenes):
            self.seen[s.id] = {t.id: _open_take(t) for t in (*s.frame_takes, *s.clip_takes)}

    def step(self, state: ProjectState) -> TakeIndex:
        """A new index for `state`, holding the take changes since this one."""
        new = TakeIndex.__new__(TakeIndex)
        new.seen, new.changes = {}, []
        for s in (*state.scenes, *state.archived_scenes):
            old = self.seen.get(s.id, {})
            row: dict[str, dict[str, Any] | None] = {}
            for t in (*s.frame_takes, *s.clip_takes):
                if t.id not in old:
                    dump = t.model_dump(mode="json")
                    new.changes.append(Change(path=["takes", s.id, t.id], op="add", after=dump))
                    row[t.id] = dump if t.status in ("pending", "running") else None
                elif old[t.id] is not None:
                    dump = t.model_dump(mode="json")
                    new.changes.extend(diff(old[t.id], dump, ("takes", s.id, t.id)))
                    row[t.id] = dump if t.status in ("pending", "running") else None
                else:
                    row[t.id] = None
            new.seen[s.id] = row
        return new


def _open_take(t: Any) -> dict[str, Any] | None:
    return t.model_dump(mode="json") if t.status in ("pending", "running") else None


# ---------------------------------------------------------------------- the file
class HistoryLog:
    """history.jsonl: append-only, one event a line, fsynced. A torn line (a crash
    mid-write) is skipped on read with a warning; the next append starts a new line."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._guard = threading.Lock()

    def append(self, event: HistoryEvent) -> None:
        line = event.model_dump_json().encode() + b"\n"
        with self._guard, open(self.path, "ab+") as fh:
            if fh.tell() > 0:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":  # a torn last line: keep it apart from this one
                    line = b"\n" + line
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def events(self) -> list[HistoryEvent]:
        if not self.path.exists():
            return []
        out: list[HistoryEvent] = []
        bad = 0
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    out.append(HistoryEvent.model_validate_json(line))
                except (ValidationError, ValueError):
                    bad += 1
        if bad:
            warnings.warn(f"{self.path}: skipped {bad} unreadable line(s) (a write cut off by "
                          "a crash?); the other events are intact", stacklevel=3)
        return out

    def last(self) -> HistoryEvent | None:
        """The last event, read from the end of the file (a long history opens fast); the
        whole file is read when the tail does not hold one whole, readable line."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return None
        with open(self.path, "rb") as fh:
            fh.seek(max(0, size - (1 << 18)))
            tail = fh.read()
        lines = tail.split(b"\n")
        complete = lines[1:] if size > len(tail) else lines  # the first may be cut by the seek
        last = next((ln for ln in reversed(complete) if ln.strip()), None)
        if last is not None and tail.endswith(b"\n"):
            try:
                return HistoryEvent.model_validate_json(last)
            except (ValidationError, ValueError):
                pass
        evs = self.events()
        return evs[-1] if evs else None


# ---------------------------------------------------------------------- undo / redo stacks
class UndoStacks:
    """The undo and redo stacks, last on top, built by feeding events oldest first: an undo
    moves a change onto the redo stack, a redo moves it back, a new change drops the redo
    stack. Events that only add records (a take that finished, a comment, an export) are not
    steps: there is no choice in them to undo. Fed one event at a time, so a view can follow
    a long history without reading history.jsonl again after every change."""

    def __init__(self, events: Sequence[HistoryEvent] = ()) -> None:
        self.undo: list[HistoryEvent] = []
        self.redo: list[HistoryEvent] = []
        for e in events:
            self.feed(e)

    def feed(self, e: HistoryEvent) -> None:
        if e.chain_break:
            self.undo.clear()
            self.redo.clear()
        elif e.kind in ("undo", "redo") and e.target is not None:
            src, dst = (self.undo, self.redo) if e.kind == "undo" else (self.redo, self.undo)
            hit = next((x for x in reversed(src) if x.id == e.target), None)
            if hit is not None:
                src.remove(hit)
                dst.append(hit)
        elif any(is_choice(c.path) for c in e.changes):
            self.undo.append(e)
            self.redo.clear()


# ---------------------------------------------------------------------- the recorder
Rule = Callable[[ProjectState, dict[str, Any], list[Change], str], list[str]]
"""A rule run before each save: (state, normal form before, changes, user) -> notes. It may
change the state (e.g. an edited approved scene goes back to draft); notes say why."""


@dataclass
class Pending:
    event: HistoryEvent
    normal: dict[str, Any]
    takes: TakeIndex


@dataclass
class _Label:
    kind: str
    summary: str | None
    target: int | None
    note: str
    force: bool


class Recorder:
    """Turns every save of one project into a history event. One per writable Runtime."""

    def __init__(self, root: Path, state: ProjectState, rules: Sequence[Rule] = ()) -> None:
        self.root = Path(root)
        self.log = HistoryLog(self.root / HISTORY_FILE)
        self.user = default_user()
        self.rules = list(rules)
        self.last: HistoryEvent | None = None
        self._label: _Label | None = None
        self._base = normal(state)
        self._hash = state_hash(self._base)
        self._takes = TakeIndex(state)
        self._next = 1
        self._stacks: UndoStacks | None = None
        self._sync(state)

    # -- open: does the history end where project.json is?
    def _sync(self, state: ProjectState) -> None:
        tip = self.log.last()
        if tip is None:
            return
        self._next, self.last = tip.id + 1, tip
        if tip.hash == self._hash:
            return
        evs = self.log.events()
        if not evs:
            return
        tip = evs[-1]
        self._next, self.last = tip.id + 1, tip
        if self._migrated(tip):
            return
        before = self._backup()
        if before is not None and state_hash(normal(before)) == tip.hash:
            nb = normal(before)
            changes = diff(nb, self._base) + TakeIndex(before).step(state).changes
            kind, scenes, summary = describe(changes, nb, self._base)
            self._append(HistoryEvent(
                id=self._next, user=self.user, kind=kind, summary=summary, scenes=scenes,
                changes=changes, hash=self._hash,
                note="recovered on open: the save finished but its history line was lost"))
            log.info("history of %s: recovered the last change from %s", self.root, BACKUP_FILE)
            return
        if self._put_back(evs):
            return
        self._append(HistoryEvent(
            id=self._next, user=self.user, kind="resync", hash=self._hash, chain_break=True,
            summary="project.json changed outside nbvideo",
            note="project.json does not match the end of history.jsonl (edited by hand?); "
                 "undo and restore stop here"))
        warnings.warn(f"{self.root}: project.json does not match the end of its history "
                      f"(edited by hand?); history goes on from here, and undo and restore "
                      f"cannot go back past event {self._next - 1}", stacklevel=4)

    def _migrated(self, tip: HistoryEvent) -> bool:
        """project.json was written by an older schema and is, migrated, the state the history
        ends at: record the upgrade as a `migrate` event (a record, not a choice: nothing to
        undo), so the history stays whole instead of breaking as if edited by hand."""
        now = self._base.get("schema_version")
        if not isinstance(now, int):
            return False
        for old in range(now - 1, 0, -1):
            if state_hash({**self._base, "schema_version": old}) == tip.hash:
                self._append(HistoryEvent(
                    id=self._next, user=self.user, kind="migrate", hash=self._hash,
                    summary=f"project opened by a newer nbvideo: schema {old} -> {now}",
                    changes=[Change(path=["schema_version"], op="set", before=old, after=now)]))
                return True
        return False

    def _put_back(self, evs: list[HistoryEvent]) -> bool:
        """project.json is an earlier state of this history (`nbvideo restore` put the last
        good copy back): record the step back as a restore, so the history stays whole."""
        for k in range(len(evs) - 2, -1, -1):
            if evs[k].chain_break and evs[k].hash != self._hash:
                return False
            if evs[k].hash != self._hash:
                continue
            n = copy.deepcopy(self._base)
            try:
                for e in evs[k + 1:]:
                    apply(n, [c for c in e.changes if c.path[0] != "takes"])
            except HistoryError:
                return False
            if state_hash(n) != evs[-1].hash:
                return False
            changes = diff(n, self._base)
            _kind, scenes, _summary = describe(changes, n, self._base)
            self._append(HistoryEvent(
                id=self._next, user=self.user, kind="restore", target=evs[k].id,
                summary=f"project.json put back to the state after event #{evs[k].id}",
                scenes=scenes, changes=changes, hash=self._hash,
                note="found on open: a last good copy was put back (nbvideo restore)"))
            return True
        return False

    def _backup(self) -> ProjectState | None:
        from nbvideo.store.folder import parse_state

        path = self.root / BACKUP_FILE
        try:
            return parse_state(path.read_bytes(), path)
        except (OSError, NbvideoError):
            return None

    # -- labels and groups
    @contextmanager
    def labelled(self, kind: str, *, summary: str | None = None, target: int | None = None,
                 note: str = "", force: bool = False) -> Iterator[None]:
        """Saves inside the block are recorded as `kind` (force: even with no change)."""
        prev = self._label
        self._label = _Label(kind, summary, target, note, force)
        try:
            yield
        finally:
            self._label = prev

    # -- save
    def prepare(self, state: ProjectState) -> Pending | None:
        """Before a save: run the rules, diff against the last event. None: nothing to record
        (no change)."""
        return self._prepare(state)

    def _rules_for_now(self) -> list[Rule]:
        return [] if self._label and self._label.kind in NAVIGATION else self.rules

    def _prepare(self, state: ProjectState) -> Pending | None:
        n = normal(state)
        changes = diff(self._base, n)
        notes: list[str] = []
        for rule in self._rules_for_now():
            said = rule(state, self._base, changes, self.user)
            if said:
                notes += said
                n = normal(state)
                changes = diff(self._base, n)
        takes = self._takes.step(state)
        changes += takes.changes
        label = self._label
        if not changes and not (label and label.force):
            return None
        auto_kind, scenes, auto_summary = describe(changes, self._base, n)
        event = HistoryEvent(
            id=self._next, user=self.user, kind=label.kind if label else auto_kind,
            summary=label.summary if label and label.summary else auto_summary,
            scenes=scenes, changes=changes, target=label.target if label else None,
            note="; ".join([*([label.note] if label and label.note else []), *notes]),
            hash=state_hash(n))
        return Pending(event, n, takes)

    def commit(self, pending: Pending) -> HistoryEvent:
        """After the state is on disk: append its event and move the base on."""
        self._append(pending.event)
        self._base, self._takes = pending.normal, pending.takes
        self._hash = pending.event.hash
        return pending.event

    def mark(self, kind: str, *, summary: str, snapshot: str | None = None,
             note: str = "") -> HistoryEvent:
        """An event that changes nothing (a snapshot): it names the state as it is now."""
        event = HistoryEvent(id=self._next, user=self.user, kind=kind, summary=summary,
                             snapshot=snapshot, note=note, hash=self._hash)
        self._append(event)
        return event

    def _append(self, event: HistoryEvent) -> None:
        self.log.append(event)
        self.last = event
        self._next = event.id + 1
        if self._stacks is not None:
            self._stacks.feed(event)

    @property
    def stacks(self) -> UndoStacks:
        """What p.undo() and p.redo() would take next; read from the log once, then kept up
        to date as events are appended (this Recorder is the project's only writer)."""
        if self._stacks is None:
            self._stacks = UndoStacks(self.log.events())
        return self._stacks

    @property
    def base(self) -> dict[str, Any]:
        """The normal form of the state as of the last event (read-only by convention)."""
        return self._base


SNAPSHOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
