"""Undo, redo, snapshots and restore over history.jsonl, and diffs between two states.

Undo and redo walk a stack built from the events, like any editor's: an undo moves the
last change onto the redo stack, a redo moves it back, and a new change drops the redo
stack. They change choices only (scene fields and order, which take is current, trims,
finishing, answers, ...): takes, comments and exports are records and stay. A scene that
an undo takes out of the storyboard is archived with its takes, not lost.

A past state is rebuilt by walking the events back from the current one; its hash is
checked against the one its event recorded, so a history that does not fit is an error,
never a wrong restore.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import deprecated

from nbvideo.errors import InvalidInput, ProjectLocked, quote
from nbvideo.model.checked import text_problem
from nbvideo.model.state import ProjectState
from nbvideo.providers import provider_set
from nbvideo.runtime.context import Runtime
from nbvideo.store.history import (
    SNAPSHOT_NAME,
    HistoryError,
    HistoryEvent,
    HistoryLog,
    Recorder,
    UndoStacks,
    apply,
    denormal,
    diff,
    is_choice,
    normal,
    state_hash,
)

COLUMNS = ["id", "time", "user", "kind", "summary", "scenes", "fields", "target", "snapshot",
           "undone", "note", "changes"]


class AssetsMissing(HistoryError):
    """The state asked for points at asset files that are no longer in the project."""


def _recorder(rt: Runtime) -> Recorder:
    if rt.history is None:
        raise ProjectLocked(f"{rt.store.root} is open read-only; undo, redo, restore and "
                            "snapshots change it. Open it without read_only=True.")
    return rt.history


def events(rt: Runtime) -> list[HistoryEvent]:
    from nbvideo.store.history import HISTORY_FILE

    return HistoryLog(rt.store.root / HISTORY_FILE).events()


def stacks(evs: list[HistoryEvent]) -> tuple[list[HistoryEvent], list[HistoryEvent]]:
    """(undo stack, redo stack), last on top (see history.UndoStacks)."""
    st = UndoStacks(evs)
    return st.undo, st.redo


def history_table(evs: list[HistoryEvent]) -> pd.DataFrame:
    """The events as a table, oldest first; `undone` marks changes undone and not redone."""
    undone: dict[int, bool] = {}
    for e in evs:
        if e.kind in ("undo", "redo") and e.target is not None:
            undone[e.target] = e.kind == "undo"
    rows = [{
        "id": e.id, "time": e.time, "user": e.user, "kind": e.kind, "summary": e.summary,
        "scenes": e.scenes, "fields": list(dict.fromkeys(c.dotted for c in e.changes)),
        "target": e.target, "snapshot": e.snapshot, "undone": undone.get(e.id, False),
        "note": e.note, "changes": [c.model_dump() for c in e.changes],
    } for e in evs]
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["time"] = pd.to_datetime(df["time"], utc=True)
    df["target"] = df["target"].astype("Int64")
    df["undone"] = df["undone"].astype("bool")
    return df


# ---------------------------------------------------------------------- rebuild / merge
def resolve_ref(evs: list[HistoryEvent], ref: str | int) -> HistoryEvent:
    """An event by id, or the snapshot of that name."""
    if isinstance(ref, bool) or not isinstance(ref, int | str):
        raise InvalidInput(f"a state is named by a snapshot name or an event id (int), got {quote(ref)}")
    if isinstance(ref, int):
        found = next((e for e in evs if e.id == ref), None)
        if found is None:
            last = evs[-1].id if evs else 0
            raise InvalidInput(f"no history event {ref}; event ids run from 1 to {last} "
                               "(see p.history)")
        return found
    found = next((e for e in reversed(evs) if e.snapshot == ref), None)
    if found is None:
        names = ", ".join(repr(e.snapshot) for e in evs if e.snapshot) or "none yet"
        raise InvalidInput(f"no snapshot named {quote(ref)}; snapshots: {names}")
    return found


def state_at(rt: Runtime, evs: list[HistoryEvent], ref: str | int | None) -> dict[str, Any]:
    """The normal form of the state after event `ref` (None: now), rebuilt and checked."""
    n = normal(rt.state)
    if ref is None:
        return n
    target = resolve_ref(evs, ref)
    if evs and state_hash(n) != evs[-1].hash:
        raise HistoryError(f"{rt.store.root}/project.json does not match the end of its "
                           "history (changed outside nbvideo?); reopen the project to go on")
    for e in reversed(evs):
        if e.id <= target.id:
            break
        if e.chain_break:
            raise HistoryError(f"event {target.id} is before a break in the history at event "
                               f"{e.id} ({e.summary}); states before it cannot be rebuilt")
        apply(n, [c for c in e.changes if c.path[0] != "takes"], reverse=True)
    if state_hash(n) != target.hash:
        raise HistoryError(f"the history does not rebuild event {target.id} exactly (a line "
                           "lost or edited?); nothing was changed")
    return n


def merge(target: dict[str, Any], current: ProjectState) -> ProjectState:
    """Choices from `target`, records (takes, comments, exports) from `current`. A scene
    that `target` does not have but that has takes or comments now is kept, archived."""
    cur = normal(current)
    out = copy.deepcopy(target)
    for key in ("exports", "schema_version", "name", "created_at"):
        out[key] = cur[key]
    for sid, s in out["scenes"].items():
        if sid in cur["scenes"]:
            s["comments"] = cur["scenes"][sid]["comments"]
    have = {s.id: s for s in (*current.scenes, *current.archived_scenes)}
    for sid, s in cur["scenes"].items():
        if sid not in out["scenes"] and (s["comments"] or have[sid].frame_takes
                                         or have[sid].clip_takes):
            out["scenes"][sid] = s
            out["archived"].append(sid)
    listed = set(out["order"]) | set(out["archived"])
    out["archived"] += [sid for sid in out["scenes"] if sid not in listed]
    return denormal(out, current)


def missing_assets(rt: Runtime, state: ProjectState) -> list[str]:
    """Asset files the state would newly use (takes it makes current, its music) that are
    not in the project. What is already current now is not the restore's doing."""
    now = {(s.id, s.frame_take_id, s.clip_take_id) for s in rt.state.scenes}
    out = []
    for n, s in enumerate(state.scenes, 1):
        for kind, tid in (("frame", s.frame_take_id), ("clip", s.clip_take_id)):
            if tid is None or (s.id, s.frame_take_id, s.clip_take_id) in now:
                continue
            try:
                take = s.take(tid)
            except KeyError:
                out.append(f"scene {n} ({s.id}): {kind} take {tid} is not in the project")
                continue
            if take.path and not rt.store.path(take.path).is_file():
                out.append(f"scene {n} ({s.id}): {kind} take {tid} ({take.path})")
    music = state.finishing.music
    if (music not in ("bed", "none") and music != rt.state.finishing.music
            and not (rt.store.root / music).is_file()):
        out.append(f"finishing music ({music})")
    return out


def _adopt(rt: Runtime, new: ProjectState, kind: str, target: int, summary: str,
           missing_ok: bool) -> HistoryEvent:
    """Make `new` the project's state (in place, so live views keep their object) and save
    it as one `kind` event."""
    rec = _recorder(rt)
    missing = missing_assets(rt, new)
    if len(missing) > 12:
        missing = [*missing[:12], f"and {len(missing) - 12} more"]
    if missing and not missing_ok:
        raise AssetsMissing(
            f"{kind} would use asset files that are missing: {'; '.join(missing)}. Nothing "
            f"was changed; put the files back, or pass missing_ok=True to {kind} anyway "
            "(those scenes then need new takes).")
    note = f"missing assets: {'; '.join(missing)}" if missing else ""
    if missing:
        warnings.warn(f"{kind}: these assets are missing: {'; '.join(missing)}", stacklevel=3)
    providers = (provider_set(new.providers, new.models, rt.providers.options)
                 if new.models != rt.state.models else rt.providers)  # checks keys first
    with rec.labelled(kind, summary=summary, target=target, note=note, force=True):
        for name in ProjectState.model_fields:
            if name != "updated_at" and getattr(rt.state, name) != getattr(new, name):
                setattr(rt.state, name, getattr(new, name))
        rt.budget.limit_usd = rt.state.budget_usd
        rt.providers = providers
        rt.save()
    assert rec.last is not None
    return rec.last


# ---------------------------------------------------------------------- verbs
class UndoRedo(BaseModel):
    """What p.undo() and p.redo() would do now, for an editor's buttons: the change each would
    take back or make again (its history id and summary), or None when there is none."""

    model_config = ConfigDict(frozen=True)

    undo: str | None = None
    undo_id: int | None = None
    redo: str | None = None
    redo_id: int | None = None
    read_only: bool = Field(False, description="Opened read_only=True: neither is possible.")


def next_steps(rt: Runtime) -> UndoRedo:
    """The tops of the undo and redo stacks, kept by the recorder (no re-read of the log)."""
    if rt.history is None:
        return UndoRedo(read_only=True)
    st = rt.history.stacks
    u = st.undo[-1] if st.undo else None
    r = st.redo[-1] if st.redo else None
    return UndoRedo(undo=u.summary if u else None, undo_id=u.id if u else None,
                    redo=r.summary if r else None, redo_id=r.id if r else None)


def undo(rt: Runtime, missing_ok: bool = False) -> HistoryEvent:
    return _walk(rt, "undo", missing_ok)


def redo(rt: Runtime, missing_ok: bool = False) -> HistoryEvent:
    return _walk(rt, "redo", missing_ok)


def _walk(rt: Runtime, kind: str, missing_ok: bool) -> HistoryEvent:
    """Take back the top of the undo stack, or make the top of the redo stack again: the
    recorder's kept stacks, the same ones the board's buttons name (`next_steps`)."""
    with rt.guard:
        st = _recorder(rt).stacks
        steps = st.undo if kind == "undo" else st.redo
        if not steps:
            raise HistoryError("nothing to undo: no change since the project was opened "
                               "with history, or every change is undone already"
                               if kind == "undo" else
                               "nothing to redo: no undo since the last change")
        e = steps[-1]
        n = normal(rt.state)
        apply(n, [c for c in e.changes if is_choice(c.path)], reverse=kind == "undo")
        return _adopt(rt, merge(n, rt.state), kind, e.id,
                      f"{kind} #{e.id} {e.kind}: {e.summary}"[:300], missing_ok)


def check_snapshot_name(name: Any) -> str:
    if not isinstance(name, str) or not SNAPSHOT_NAME.fullmatch(name) or name.isdigit():
        raise InvalidInput(
            f"snapshot name: {quote(name)} is not allowed; use 1-64 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit and not all digits (e.g. 'sent-to-client')")
    return name


def snapshot(rt: Runtime, name: str, note: str = "") -> HistoryEvent:
    check_snapshot_name(name)
    if not isinstance(note, str) or len(note) > 500 or text_problem(note):
        raise InvalidInput(f"note: up to 500 characters of text without control characters, "
                           f"got {quote(note)}")
    rt.require("edit", f"snapshot {name}")  # a history mark, not a save: checked here
    with rt.guard:
        rec = _recorder(rt)
        rt.store.ensure_current(rt.state)  # a snapshot names the state on disk: not a stale one
        taken = next((e for e in events(rt) if e.snapshot == name), None)
        if taken is not None:
            raise InvalidInput(f"snapshot name: {name!r} is already taken (event {taken.id}, "
                               f"{taken.time:%Y-%m-%d %H:%M} UTC); pick another name")
        return rec.mark("snapshot", summary=f"snapshot {name!r}", snapshot=name, note=note)


def restore(rt: Runtime, ref: str | int, missing_ok: bool = False) -> HistoryEvent:
    with rt.guard:
        _recorder(rt)
        evs = events(rt)
        target = resolve_ref(evs, ref)
        n = state_at(rt, evs, ref)
        label = f"snapshot {target.snapshot!r}" if target.snapshot else f"event #{target.id}"
        return _adopt(rt, merge(n, rt.state), "restore", target.id, f"restore to {label}",
                      missing_ok)


# ---------------------------------------------------------------------- diff
class StateDiff(BaseModel):
    """How state `b` differs from state `a`, by scene: added, removed, changed fields."""

    model_config = ConfigDict(extra="forbid")

    a: str
    b: str
    added: list[str] = Field(default_factory=list, description="Scene ids only in b.")
    removed: list[str] = Field(default_factory=list, description="Scene ids only in a.")
    changed: dict[str, list[str]] = Field(default_factory=dict,
                                          description="Scene id -> fields that differ.")
    reordered: bool = False
    other: list[str] = Field(default_factory=list, description="Project fields that differ.")

    @property
    def empty(self) -> bool:
        """True when the two states are the same."""
        return not (self.added or self.removed or self.changed or self.reordered or self.other)

    def to_pandas(self) -> pd.DataFrame:
        """One row per added, removed or changed scene, with the fields that changed."""
        rows = ([{"scene": s, "change": "added", "fields": []} for s in self.added]
                + [{"scene": s, "change": "removed", "fields": []} for s in self.removed]
                + [{"scene": s, "change": "changed", "fields": f} for s, f in self.changed.items()])
        return pd.DataFrame(rows, columns=["scene", "change", "fields"])

    @deprecated("StateDiff.frame() is deprecated; use StateDiff.to_pandas() "
                "(\"frame\" means a storyboard image)")
    def frame(self) -> pd.DataFrame:
        """Deprecated alias of `to_pandas()`; removed in the next release."""
        return self.to_pandas()

    def __repr__(self) -> str:
        if self.empty:
            return f"<diff {self.a} -> {self.b}: no difference>"
        lines = [f"<diff {self.a} -> {self.b}>"]
        lines += [f"  + {s}" for s in self.added] + [f"  - {s}" for s in self.removed]
        lines += [f"  ~ {s}: {', '.join(f)}" for s, f in self.changed.items()]
        if self.reordered:
            lines.append("  scene order changed")
        if self.other:
            lines.append(f"  project: {', '.join(self.other)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(repr(self))}</pre>"


def _label(evs: list[HistoryEvent], ref: str | int | None) -> str:
    if ref is None:
        return "now"
    return repr(ref) if isinstance(ref, str) else f"#{ref}"


def compare(rt: Runtime, a: str | int | None, b: str | int | None = None) -> StateDiff:
    with rt.guard:
        evs = events(rt)
        na, nb = state_at(rt, evs, a), state_at(rt, evs, b)
    ao, bo = na["order"], nb["order"]
    out = StateDiff(a=_label(evs, a), b=_label(evs, b),
                    added=[s for s in bo if s not in ao], removed=[s for s in ao if s not in bo])
    common_a = [s for s in ao if s in bo]
    out.reordered = common_a != [s for s in bo if s in ao]
    ea, eb = na["timeline"].get("edits", {}), nb["timeline"].get("edits", {})
    for sid in bo:
        if sid not in ao:
            continue
        sa, sb = na["scenes"][sid], nb["scenes"][sid]
        fields = [k for k in dict.fromkeys([*sa, *sb]) if k != "comments" and sa.get(k) != sb.get(k)]
        fields += [f"timeline.{c.dotted}" for c in diff(ea.get(sid, {}), eb.get(sid, {}))]
        if fields:
            out.changed[sid] = fields
    rest_a = {k: v for k, v in na.items() if k not in ("scenes", "order", "archived", "exports")}
    rest_b = {k: v for k, v in nb.items() if k not in ("scenes", "order", "archived", "exports")}
    out.other = list(dict.fromkeys(
        ".".join(c.path[:2]) for c in diff(rest_a, rest_b)
        if not (c.path[:2] == ["timeline", "edits"] and len(c.path) > 2)))
    return out
