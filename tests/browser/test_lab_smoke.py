"""The quickstart notebook, run by a person in JupyterLab: proof that the browser harness works.

nbval already checks the quickstart's text outputs. This checks what only a browser can:
that Lab renders the storyboard and plays the exported video, and that the notebook looks
right in both themes (screenshots land in the artifacts folder).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import nbvideo as nv
from tests.browser import lab

QUICKSTART = Path(__file__).parents[2] / "notebooks" / "01-quickstart.ipynb"


def test_quickstart_runs_in_jupyterlab_and_shows_its_storyboard_and_video(page, jupyter_server):
    path = lab.open_notebook(page, jupyter_server, QUICKSTART)
    assert path == "01-quickstart.ipynb"

    lab.run_all(page)

    assert lab.error_outputs(page) == []
    project = jupyter_server.root / "projects" / "trail-shoe"
    assert (project / "project.json").is_file(), "the notebook should have saved its project"
    saved = lab.off_loop(nv.Project.open, project, read_only=True)
    try:
        assert len(saved.scenes) >= 3 and all(s.clip and s.clip.ok for s in saved.scenes)
    finally:
        saved.close()

    # The storyboard cell shows one card per scene, each with its frame drawn as an image.
    board = lab.cell_output(page, lab.cell_index(page, "p.storyboard()"))
    frames = board.locator("img")
    frames.first.wait_for(state="visible")
    assert frames.count() >= 3
    assert frames.first.evaluate("img => img.complete && img.naturalWidth > 0")

    # The export cell shows the exported MP4s, and Chromium can really decode them.
    exports = lab.cell_output(page, lab.cell_index(page, "p.export("))
    video = exports.locator("video").first
    video.scroll_into_view_if_needed()
    video.wait_for(state="visible")
    page.wait_for_function("v => v.readyState >= 1 && v.duration > 0", arg=video.element_handle())
    assert video.evaluate("v => v.error") is None
    assert exports.locator("video").count() == 2  # the 16:9 cut and the 9:16 version


def test_theme_switch_restyles_the_notebook_and_its_storyboard(page, jupyter_server):
    lab.open_notebook(page, jupyter_server, QUICKSTART)
    lab.run_cell(page, lab.cell_index(page, "nv.Project.open("))
    board_index = lab.cell_index(page, "p.storyboard()")
    lab.run_cell(page, board_index)
    board = lab.cell_output(page, board_index)
    board.locator("img").first.wait_for(state="visible")
    card = board.locator("img").first.locator("xpath=..")  # the first scene's card
    card.scroll_into_view_if_needed()
    background = "() => getComputedStyle(document.body).getPropertyValue('--jp-layout-color0')"

    lab.set_theme(page, "light")
    assert lab.theme(page) == {"name": "JupyterLab Light", "light": "true"}
    light_bg = page.evaluate(background)
    shots = [lab.screenshot(page, "quickstart-light"),
             lab.screenshot(page, "scene-card-light", target=card)]

    lab.set_theme(page, "dark")
    assert lab.theme(page) == {"name": "JupyterLab Dark", "light": "false"}
    dark_bg = page.evaluate(background)
    shots += [lab.screenshot(page, "quickstart-dark"),
              lab.screenshot(page, "scene-card-dark", target=card)]

    assert light_bg.strip() and dark_bg.strip()
    assert light_bg != dark_bg, "the dark theme's CSS should have replaced the light one's"
    assert all(shot.is_file() and shot.stat().st_size > 0 for shot in shots)


def test_asyncio_code_runs_off_the_loop_playwright_keeps_running(browser):
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    coro = answer()
    with pytest.raises(RuntimeError, match="running event loop"):
        asyncio.run(coro)  # why lab.off_loop exists
    coro.close()
    assert lab.off_loop(asyncio.run, answer()) == 42
