"""Live notebook views of a Project (anywidget): questions, storyboard, clips, timeline.

The Project's display hooks import this lazily, so `import nbvideo` works without a widget
stack and dependencies point one way: widgets -> project -> pipeline. Outside a live kernel
(a script, a terminal, nbconvert) the hooks get None and the static HTML repr shows instead.
"""

from __future__ import annotations

import sys
import weakref
from typing import TYPE_CHECKING, Any

from nbvideo.widgets.base import ProjectView
from nbvideo.widgets.board import StoryboardBoard
from nbvideo.widgets.grid import ClipGrid
from nbvideo.widgets.questions import QuestionForm
from nbvideo.widgets.timeline import Timeline

if TYPE_CHECKING:
    from nbvideo.project import Job, Project

__all__ = ["ClipGrid", "QuestionForm", "StoryboardBoard", "Timeline", "live_bundle",
           "live_kernel", "view_for"]

VIEWS: dict[str, type[ProjectView]] = {
    "questions": QuestionForm, "board": StoryboardBoard, "timeline": Timeline,
}
_views: weakref.WeakKeyDictionary[Any, dict[str, ProjectView]] = weakref.WeakKeyDictionary()
_grids: weakref.WeakKeyDictionary[Any, ClipGrid] = weakref.WeakKeyDictionary()


def live_kernel() -> bool:
    """True inside a Jupyter kernel, the only place a widget has a comm to talk over."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def view_for(project: Project, kind: str) -> ProjectView:
    """The project's one open view of `kind` (a new one if it was closed).

    Sharing it means showing `p.storyboard()` in two cells costs one set of thumbnails, and
    both copies stay in step."""
    if kind not in VIEWS:
        raise ValueError(f"unknown view {kind!r}; views: {', '.join(VIEWS)}")
    views = _views.setdefault(project, {})
    view = views.get(kind)
    if view is None or view.comm is None:
        view = views[kind] = VIEWS[kind](project)
    return view


def grid_for(project: Project, job: Job[Any]) -> ClipGrid:
    """The ClipGrid following `job` (one per job)."""
    grid = _grids.get(job)
    if grid is None or grid.comm is None:
        grid = _grids[job] = ClipGrid(project, job)
    return grid


def live_bundle(project: Project, kind: str, job: Job[Any] | None = None) -> Any:
    """The mime bundle of the live view in a kernel; None elsewhere (static repr instead)."""
    if not live_kernel():
        return None
    view = grid_for(project, job) if kind == "grid" and job is not None else view_for(project, kind)
    return view._repr_mimebundle_()
