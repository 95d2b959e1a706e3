"""The timeline's sound in a real JupyterLab: a waveform drawn on an audio item (and on the
music), the music's beats as ticks, and an item dragged near a beat snapping onto it,
checked in project.json. Its own small project (8 s, 24 fps, the generated bed), made by
the notebook's first cell, so it does not wait for the quickstart."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import expect

from tests.browser import lab

SETUP = """\
import numpy as np
import nbvideo as nv
from nbvideo.media.audio_io import write_wav

p = nv.Project.open("audio-shoe", brief="8s ad for a waterproof trail shoe for weekend hikers",
                    aspect="16:9", duration_s=8.0, resolution="720p", fps=24)
p.storyboard()
await p.generate_clips()
p.finish(music="bed")
t = np.arange(48_000) / 48_000  # a second: a swelling tone, so the waveform has a shape
write_wav(p.path / "assets" / "swell.wav", 0.8 * t * np.sin(2 * np.pi * 220 * t))
hit = p.timeline.add_audio("assets/swell.wav", 0.2, track="sfx")
"""
SNAP_PX = 8  # timeline.js: a dragged edge this close to a point sticks to it
SAVE_TIMEOUT_S = 60.0

expect.set_options(timeout=60_000)  # a bound on a hang on a loaded machine, not a speed check


def _saved(project: Path) -> dict:
    return json.loads((project / "project.json").read_text())


def test_an_audio_item_shows_its_waveform_and_a_drag_snaps_to_a_beat(page, jupyter_server):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(SETUP),
                nbformat.v4.new_code_cell("p.timeline.snap_points().to_json("
                                          "p.path / 'snaps.json', orient='records')\np.timeline")]
    folder = jupyter_server.root / "audio"
    folder.mkdir(exist_ok=True)
    nbformat.write(nb, folder / "audio.ipynb")
    lab.open_notebook(page, jupyter_server, folder / "audio.ipynb")
    lab.run_all(page)
    assert lab.error_outputs(page) == []
    project = folder / "audio-shoe"
    state = _saved(project)
    fps = state["brief"]["fps"]
    (item_id, item), = state["timeline"]["tracks"]["sfx"]["items"].items()
    points = json.loads((project / "snaps.json").read_text())
    beats = [p["t_s"] for p in points if p["kind"] == "beat"]
    assert len(beats) > 8

    timeline = lab.cell_output(page, 1).locator(".nbv-timeline")
    block = timeline.locator(f'[data-track=track-sfx] .nbv-item[data-item-id="{item_id}"]')
    expect(block).to_have_count(1)
    # the waveform: an SVG outline across the block, rising as the tone swells
    wave = block.locator("svg.nbv-wave")
    expect(wave).to_have_count(1)
    assert int(wave.get_attribute("data-buckets")) >= 100
    d = wave.locator("path").get_attribute("d")
    ys = [float(pt.split(",")[1]) for pt in d[1:].split("Z")[0].split("L")]
    half = len(ys) // 2
    top = ys[:half]  # the outline's upper edge, left to right: 128 - max
    assert min(top[-10:]) < 40 < min(top[:10])  # loud at the end, near silent at the start
    wb, bb = wave.bounding_box(), block.bounding_box()
    assert wb["width"] == pytest.approx(bb["width"], abs=3) and wb["height"] > 10
    music = timeline.locator("[data-track=music] .nbv-musicblock svg.nbv-wave")
    expect(music).to_have_count(1)
    expect(timeline.locator("[data-track=music] .nbv-beat")).to_have_count(len(beats))
    block.scroll_into_view_if_needed()
    lab.screenshot(page, "timeline-waveform", target=timeline)

    # Drag the block so its start lands a few pixels past a beat: it sticks to the beat.
    box = block.bounding_box()
    scale = box["width"] / item["duration_s"]  # px per second
    tol = SNAP_PX / scale
    off_px = SNAP_PX - 2
    others = [p["t_s"] for p in points]

    def clear(b: float) -> bool:
        """Only this beat is near where the start lands (the start wins over the end in
        timeline.js when it sticks), and sticking differs from rounding to a frame."""
        s = b + off_px / scale
        return all(abs(t - s) > tol for t in others if t != b) and \
            round(s * fps) != round(b * fps)

    beat = next(b for b in beats if 1.0 < b < 6.0 and clear(b))
    target_x = box["x"] + (beat - item["start_s"]) * scale + off_px
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(target_x + box["width"] / 2, y, steps=10)
    page.mouse.up()
    want = round(beat * fps) / fps
    deadline = time.monotonic() + SAVE_TIMEOUT_S
    got = item["start_s"]
    while time.monotonic() < deadline:
        got = _saved(project)["timeline"]["tracks"]["sfx"]["items"][item_id]["start_s"]
        if got != item["start_s"]:
            break
        page.wait_for_timeout(100)
    assert got == pytest.approx(want, abs=1e-6), (
        f"dropped {off_px} px past the beat at {beat:.4f} s: saved {got}, want the beat's "
        f"frame {want} (unsnapped would be {round((beat + off_px / scale) * fps) / fps})")
