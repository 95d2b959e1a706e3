"""Every project under a folder at a glance: `nv.projects(root)` and `nbvideo ls ROOT`.

Projects are read, never opened for writing: no lock is taken, so the overview works while a
kernel is busy in one of them, and a project that cannot be read gets a row saying why
instead of stopping the listing.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from nbvideo.errors import InvalidInput, NbvideoError
from nbvideo.model.state import ProjectState
from nbvideo.store.folder import BACKUP_FILE, LEDGER_FILE, STATE_FILE, parse_state
from nbvideo.store.ledger import Ledger

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ["name", "brief", "aspect", "duration_s", "scenes", "questions", "storyboard",
           "frames", "clips", "export", "spent_usd", "budget_usd", "last_change", "exports",
           "path", "first_frame", "error"]
PHASES = ["questions", "storyboard", "frames", "clips", "export"]
THUMB_PX = 96
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
    return max(times)


def project_row(folder: Path) -> dict[str, Any]:
    """One overview row; a project that cannot be read keeps its path and says why."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(name=folder.name, path=str(folder), error="")
    try:
        st = _state(folder)
        # the ledger's entries, not its DataFrame: one row per project, and `ls` stays quick
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
        duration_s=st.brief.duration_s, scenes=len(st.scenes),
        spent_usd=spent,
        budget_usd=st.budget_usd, last_change=_last_change(folder, st),
        exports=[e.path for e in st.exports],
        first_frame=str(frame_path) if frame_path and frame_path.exists() else None,
    )
    for phase, done, detail in phase_status(st):
        row[phase] = "done" if done else detail
    return row


class ProjectsFrame(pd.DataFrame):
    """A DataFrame of projects whose notebook display shows each project's first frame."""

    @property
    def _constructor(self) -> type[ProjectsFrame]:
        return ProjectsFrame

    def _repr_html_(self) -> str:  # type: ignore[override]
        if "first_frame" not in self.columns or self.empty:
            return super()._repr_html_() or ""
        shown = [c for c in self.columns if c not in ("first_frame", "path")]
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in ["", *shown])
        rows = []
        for _, r in self.iterrows():
            cells = [_thumb_html(r["first_frame"])]
            for c in shown:
                v = r[c]
                text = (f"{v:.2f}" if c.endswith("_usd") and isinstance(v, float) and v == v
                        else ", ".join(v) if isinstance(v, list) else
                        "" if v is None or (isinstance(v, float) and v != v) else str(v))
                style = ' style="color:var(--jp-error-color1,#c00)"' if c == "error" else ""
                cells.append(f"<td{style}>{html.escape(text)}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        return (f'<table class="dataframe nbvideo-projects"><thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(rows)}</tbody></table>")


def _thumb_html(path: Any) -> str:
    if not isinstance(path, str) or not os.path.exists(path):
        return "<td></td>"
    from nbvideo.media.ffmpeg import open_image  # Pillow only for a notebook's thumbnails

    try:
        with open_image(path, "frame") as im:
            im = im.convert("RGB")
            im.thumbnail((THUMB_PX, THUMB_PX))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=80)
    except (OSError, InvalidInput):  # a broken frame shows no thumbnail, not an error
        return "<td></td>"
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<td><img src="data:image/jpeg;base64,{data}" alt="first frame" width="{im.width}"></td>'


def projects(root: str | os.PathLike[str] = ".") -> ProjectsFrame:
    """A row per nbvideo project under `root` (campaign variants included), newest change
    first: brief, aspect, duration, scenes, each phase's status, spend vs budget, last change,
    exports. A project that cannot be read is listed with its `error`."""
    base = Path(root).expanduser()
    if not base.is_dir():
        raise InvalidInput(f"root must be an existing folder, got {str(root)!r}")
    rows = [project_row(p) for p in find_projects(base)]
    df = ProjectsFrame(rows, columns=COLUMNS)
    if not df.empty:
        df["last_change"] = pd.to_datetime(df["last_change"], utc=True)
        df = df.sort_values("last_change", ascending=False, na_position="last",
                            kind="stable").reset_index(drop=True)
    return df


def spend_chart(where: Any = ".") -> Figure:
    """Cumulative spend over time of every project under a folder, or of a campaign's
    variants (pass the Campaign or its folder), with their total."""
    from nbvideo import charts

    folder = Path(getattr(where, "path", where)).expanduser()
    if not folder.is_dir():
        raise InvalidInput(f"where must be a folder or a Campaign, got {str(where)!r}")
    ledgers = {}
    for p in find_projects(folder):
        name = p.relative_to(folder).as_posix() if p != folder else p.name
        ledgers[name] = Ledger(p / LEDGER_FILE).frame()
    return charts.spend_over_time(ledgers, title=f"Spend over time in {folder.name}")
