"""Every project under a folder at a glance: `nv.projects(root)` and `nbvideo ls ROOT`.

The rows come from `nbvideo.store.listing` (read-only: no lock, and a project that cannot be
read gets a row saying why); here they become a DataFrame whose notebook display shows each
project's first frame, and the spend chart across projects.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from nbvideo.errors import InvalidInput
from nbvideo.store.folder import LEDGER_FILE
from nbvideo.store.ledger import Ledger
from nbvideo.store.listing import COLUMNS, PHASES, find_projects, phase_status, project_rows

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["COLUMNS", "PHASES", "ProjectsFrame", "find_projects", "phase_status", "projects",
           "spend_chart"]

THUMB_PX = 96


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
    df = ProjectsFrame(project_rows(root), columns=COLUMNS)
    if not df.empty:
        df["last_change"] = pd.to_datetime(df["last_change"], utc=True)
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
        ledgers[name] = Ledger(p / LEDGER_FILE).to_pandas()
    return charts.spend_over_time(ledgers, title=f"Spend over time in {folder.name}")


def calendar(root: str | os.PathLike[str] = ".") -> pd.DataFrame:
    """Every post of every project under `root` (a project, a campaign or a folder of
    them): project, post, platform, package, status (scheduled, uploading, processing,
    posted, failed, missed, canceled), when it is or was due, the platform's id and address,
    in time order. `calendar_chart` draws it."""
    from nbvideo.deliver.publish import calendar as posts

    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise InvalidInput(f"root must be a folder of projects, got {str(root)!r}")
    return posts(find_projects(folder))


def calendar_chart(root: str | os.PathLike[str] = ".",
                   save_to: str | os.PathLike[str] | None = None) -> Figure:
    """`calendar(root)` as a plain chart: a row per platform, a dot per post coloured by
    its status; `save_to` also writes it as a PNG."""
    from nbvideo import charts

    fig = charts.post_calendar(calendar(root), title=f"Posts in {Path(root).name or root}")
    if save_to is not None:
        fig.savefig(save_to, dpi=110)
    return fig
