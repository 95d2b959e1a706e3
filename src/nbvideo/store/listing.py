"""Every project under a folder, read without opening it: one row per project, newest first.

Projects are read, never opened for writing: no lock is taken, so a listing works while a
kernel is busy in one of them, and a project that cannot be read gets a row saying why instead
of stopping the listing. Plain dicts, no DataFrame: `nbvideo ls` prints these rows without
importing pandas; `nbvideo.overview.projects` turns them into the notebook's table.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nbvideo.errors import InvalidInput, NbvideoError
from nbvideo.model.state import ProjectState
from nbvideo.store.folder import BACKUP_FILE, LEDGER_FILE, STATE_FILE, parse_state
from nbvideo.store.ledger import Ledger

__all__ = ["COLUMNS", "PHASES", "find_projects", "phase_status", "project_row", "project_rows"]

COLUMNS = ["name", "brief", "aspect", "duration_s", "scenes", "questions", "storyboard",
           "frames", "clips", "export", "spent_usd", "budget_usd", "last_change", "exports",
           "path", "first_frame", "error"]
PHASES = ["questions", "storyboard", "frames", "clips", "export"]
MAX_DEPTH = 4  # root/campaign/variant/... : deeper folders are not searched
SKIP_DIRS = {"assets", "exports", "node_modules", "__pycache__"}


def phase_status(st: ProjectState) -> list[tuple[str, bool, str]]:
    """(phase, done, detail) for each phase: what `Project.status()` and the overview show."""
    n = len(st.scenes)
    return [
        ("questions", bool(st.questions), f"{len(st.answers)}/{len(st.questions)} answered"),
        ("storyboard", bool(st.scenes), f"{n} scenes"),
        ("frames", bool(st.scenes) and all(s.frame for s in st.scenes),
         f"{sum(1 for s in st.scenes if s.frame)}/{n}"),
        ("clips", bool(st.scenes) and all(s.clip for s in st.scenes),
         f"{sum(1 for s in st.scenes if s.clip)}/{n}"),
        ("export", bool(st.exports), f"{len(st.exports)} file(s)"),
    ]


def find_projects(root: Path) -> Iterator[Path]:
    """Project folders under `root` (itself included), sorted, not descending into one."""
    def walk(folder: Path, depth: int) -> Iterator[Path]:
        if (folder / STATE_FILE).exists() or (folder / BACKUP_FILE).exists():
            yield folder
            return
        if depth >= MAX_DEPTH:
            return
        try:
            subs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
        except OSError:
            return
        for sub in subs:
            if not sub.name.startswith(".") and sub.name not in SKIP_DIRS:
                yield from walk(sub, depth + 1)

    yield from walk(root, 0)


def _state(folder: Path) -> ProjectState:
    path = folder / STATE_FILE
    if not path.exists():
        raise NbvideoError(f"{path} is missing (only a backup is left); restore it with "
                           f"`nbvideo restore {folder}`")
    return parse_state(path.read_bytes(), path)


def _last_change(folder: Path, st: ProjectState) -> _dt.datetime:
    times = [st.updated_at]
    ledger = folder / LEDGER_FILE
    if ledger.exists():
        times.append(_dt.datetime.fromtimestamp(ledger.stat().st_mtime, _dt.UTC))
    return max(times).astimezone(_dt.UTC)


def project_row(folder: Path) -> dict[str, Any]:
    """One overview row; a project that cannot be read keeps its path and says why."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(name=folder.name, path=str(folder), error="")
    try:
        st = _state(folder)
        spent = math.fsum(e.cost_usd for e in Ledger(folder / LEDGER_FILE).entries()
                          if e.kind == "actual")
    except (NbvideoError, OSError) as exc:
        # the row already says where: name the file inside the project, not its full path
        row["error"] = str(exc).splitlines()[0].replace(f"{folder}{os.sep}", "")
        return row
    first = st.scenes[0].frame if st.scenes else None
    frame_path = folder / first.path if first is not None and first.path else None
    row.update(
        name=st.name, brief=st.brief.text, aspect=st.brief.aspect,
        duration_s=st.brief.duration_s, scenes=len(st.scenes), spent_usd=spent,
        budget_usd=st.budget_usd, last_change=_last_change(folder, st),
        exports=[e.path for e in st.exports],
        first_frame=str(frame_path) if frame_path and frame_path.exists() else None,
    )
    for phase, done, detail in phase_status(st):
        row[phase] = "done" if done else detail
    return row


def project_rows(root: str | os.PathLike[str] = ".") -> list[dict[str, Any]]:
    """A row per project under `root` (campaign variants included): newest change first, the
    unreadable ones (no change time) last, each in folder order among equals."""
    base = Path(root).expanduser()
    if not base.is_dir():
        raise InvalidInput(f"root must be an existing folder, got {str(root)!r}")
    rows = [project_row(p) for p in find_projects(base)]
    dated = sorted((r for r in rows if r["last_change"] is not None),
                   key=lambda r: r["last_change"], reverse=True)
    return dated + [r for r in rows if r["last_change"] is None]
