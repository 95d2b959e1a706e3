"""The Timeline's live preview in a real JupyterLab: press play and the film plays from the
first 360p piece (the video element's time advances, frames decoded); drag on the ruler and
the frame under the playhead changes, from the scrub strip."""

from __future__ import annotations

import json
from pathlib import Path

import nbvideo as nv
from tests.browser import lab

BRIEF = "8s ad for a waterproof trail shoe for weekend hikers"
CELL = "p.timeline"


def _project(root: Path) -> None:
    """An 8 s project with its clips and a crossfade, made before the browser opens it."""
    p = nv.Project.open(root / "pv" / "shoe", brief=BRIEF, aspect="16:9", duration_s=8.0,
                        resolution="720p", fps=12)
    try:
        p.storyboard()
        p.generate_clips().wait()
        p.set_transitions("crossfade", 0.5)
    finally:
        p.close()


def _notebook(root: Path) -> Path:
    cells = [f"import nbvideo as nv\np = nv.Project.open({str(root / 'pv' / 'shoe')!r})", CELL]
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {},
                     "outputs": [], "source": src} for src in cells],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                      "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path = root / "pv" / "preview.ipynb"
    path.write_text(json.dumps(nb))
    return path


def test_play_shows_frames_and_scrubbing_changes_the_frame(page, jupyter_server):
    lab.off_loop(_project, jupyter_server.root)
    lab.open_notebook(page, jupyter_server, _notebook(jupyter_server.root))
    lab.run_all(page)
    assert lab.error_outputs(page) == []
    view = lab.cell_output(page, lab.cell_index(page, CELL)).locator(".nbv-timeline")
    view.wait_for(state="visible")

    # Play: a video element gets frames and its time runs (the first piece plays while the
    # rest render in the kernel).
    view.locator("[data-action=live-play]").click()
    shown = view.locator("video[data-role=live-video]:not([hidden])")
    page.wait_for_function(
        "v => v.readyState >= 2 && v.currentTime > 0.3 && !v.error",
        arg=shown.element_handle(), timeout=120_000)
    first = shown.evaluate("v => v.currentTime")
    page.wait_for_function("([v, t]) => v.currentTime !== t",
                           arg=[shown.element_handle(), first], timeout=60_000)
    size = shown.evaluate("v => [v.videoWidth, v.videoHeight]")
    assert size == [640, 360]
    view.locator("[data-action=live-play]").click()  # pause

    # Scrub: press and drag on the ruler; the image under the playhead follows.
    ruler = view.locator("[data-role=ruler]")
    ruler.scroll_into_view_if_needed()
    box = ruler.bounding_box()
    assert box is not None
    frame = view.locator("img[data-role=scrub-frame]")
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.1, y)
    page.mouse.down()
    page.wait_for_function("img => !img.hidden && img.complete && img.naturalWidth > 0",
                           arg=frame.element_handle(), timeout=120_000)
    before = frame.evaluate("img => [img.dataset.t, img.src]")
    page.mouse.move(box["x"] + box["width"] * 0.7, y, steps=5)
    page.mouse.up()
    page.wait_for_function("([img, t]) => img.dataset.t !== t && img.complete",
                           arg=[frame.element_handle(), before[0]], timeout=30_000)
    after = frame.evaluate("img => [img.dataset.t, img.src, img.naturalHeight]")
    assert float(after[0]) > float(before[0]) and after[1] != before[1] and after[2] == 90
    # what the strip shows differs from frame to frame (not one image for the whole film)
    pixels = frame.evaluate("""img => { const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        return Array.from(g.getImageData(0, 0, c.width, c.height).data.slice(0, 4000)); }""")
    assert len(set(pixels)) > 4
