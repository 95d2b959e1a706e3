"""How the Project's objects display: live widgets in a kernel, static HTML everywhere else."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest
from IPython.core.formatters import DisplayFormatter

pytest.importorskip("anywidget")

from ipywidgets.widgets.widget import _instances

import nbvideo.widgets as nw
from tests.conftest import BRIEF, SMALL
from tests.wire import Wire

WIDGET = "application/vnd.jupyter.widget-view+json"
by_id = _instances  # ipywidgets' open widgets by model id


def shown(obj) -> dict:
    data, _meta = DisplayFormatter().format(obj)
    return data


@pytest.fixture
def kernel(monkeypatch, wire: Wire) -> Wire:
    """Pretend to be inside a Jupyter kernel (the comm is the recording one)."""
    monkeypatch.setattr(nw, "live_kernel", lambda: True)
    return wire


def test_outside_a_kernel_everything_shows_as_static_html(rendered):
    for obj in (rendered.questions, rendered.scenes, rendered.timeline):
        data = shown(obj)
        assert WIDGET not in data and "<" in data["text/html"]
    job = rendered.generate_clips()
    job.wait()
    assert WIDGET not in shown(job) and "<code>" in shown(job)["text/html"]


def test_in_a_kernel_each_phase_shows_its_widget_with_a_static_fallback(rendered, kernel):
    for obj, cls in ((rendered.questions, nw.QuestionForm), (rendered.scenes, nw.StoryboardBoard),
                     (rendered.timeline, nw.Timeline)):
        data = shown(obj)
        view = by_id[data[WIDGET]["model_id"]]
        assert isinstance(view, cls) and view.project is rendered
        assert "<" in data["text/html"]


def test_the_board_is_one_shared_view(rendered, kernel):
    first = shown(rendered.storyboard())[WIDGET]["model_id"]
    again = shown(rendered.scenes)[WIDGET]["model_id"]
    assert first == again == rendered.board.model_id
    rendered.board.close()
    assert rendered.board.model_id != first  # a closed view is replaced


def test_a_clip_job_shows_as_a_grid_that_follows_it(rendered, kernel):
    rendered.edit_scene(1, camera="static")
    job = rendered.generate_clips()
    data = shown(job)
    grid = by_id[data[WIDGET]["model_id"]]
    assert isinstance(grid, nw.ClipGrid)
    assert shown(job)[WIDGET]["model_id"] == grid.model_id
    job.wait()
    grid.settle()
    assert grid.tiles[0].tile["status"] == "succeeded" and grid.progress["state"] == "succeeded"
    regen = rendered.regenerate_clip(2, force=True)
    assert isinstance(by_id[shown(regen)[WIDGET]["model_id"]], nw.ClipGrid)
    regen.wait()


def test_importing_nbvideo_does_not_import_the_widget_stack():
    code = ("import sys, nbvideo; "
            "print('anywidget' in sys.modules, 'nbvideo.widgets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_a_real_kernel_gets_the_live_widgets(tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    opening = (f"import nbvideo as nv\np = nv.Project.open({str(tmp_path / 'k')!r}, "
               f"brief={BRIEF!r}, **{SMALL!r})")
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (
        opening,
        "p.questions",
        "p.storyboard()",
    )]
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    for cell in nb.cells[1:]:
        (out,) = [o for o in cell.outputs if o.output_type == "execute_result"]
        assert WIDGET in out.data and "text/html" in out.data, cell.source
