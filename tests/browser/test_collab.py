"""Two people on one storyboard board, live: a JupyterLab with real-time collaboration on
(jupyter-collaboration) and two browser contexts (two people, each their own login) in one
notebook, sharing its kernel.

What each sees of the other: the card the other edits is marked and locked ("Being edited by
..."), the other's edit arrives in place, and a comment made on one screen shows on the other
with its author. How fast is a bench figure (benchmarks/bench_collab.py), never asserted here.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

import nbvideo as nv
from tests.browser import lab
from tests.browser import server as lab_server

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jupyter_server_ydoc") is None,
                                reason="needs jupyter-collaboration (the test extra)")

BRIEF = "6s ad for a waterproof trail shoe"
CELL = "p.board"
expect.set_options(timeout=60_000)  # a bound on a hang on a loaded machine, not a speed check


def make_project(root: Path) -> Path:
    """A small offline project with its storyboard, and a notebook showing its board."""
    path = root / "together" / "shoe"
    p = nv.Project.open(path, brief=BRIEF, duration_s=6, resolution="720p", fps=12)
    try:
        p.storyboard()
    finally:
        p.close()
    write_notebook(root / "together" / "board.ipynb", "shoe")
    return path


def write_notebook(path: Path, project: str) -> None:
    cells = [f"import nbvideo as nv\np = nv.Project.open({project!r})", CELL]
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}",
                     "metadata": {}, "outputs": [], "source": src}
                    for i, src in enumerate(cells)],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                      "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


def my_name(page: Page) -> str:
    """The name the Jupyter server knows this browser by (what the others' screens show)."""
    return page.evaluate("""async () => {
        const cfg = JSON.parse(document.getElementById('jupyter-config-data').textContent);
        const r = await fetch(cfg.baseUrl + 'api/me');
        const me = (await r.json()).identity;
        return me.display_name || me.name || me.username;
    }""")


def board_of(page: Page) -> Locator:
    board = lab.cell_output(page, lab.cell_index(page, CELL)).locator(".nbv-board")
    board.locator(".nbv-card").first.wait_for(state="visible")
    return board


@pytest.fixture(scope="module")
def collab_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[lab.LabServer]:
    """A JupyterLab of its own with real-time collaboration on (the others run without)."""
    try:
        with lab_server.start_lab(tmp_path_factory.mktemp("collab-lab"), rtc=True) as server:
            yield server
    except lab_server.LabStartError as exc:
        pytest.fail(str(exc), pytrace=False)


def test_two_people_see_each_others_edits_locks_and_comments_live(browser, collab_lab):
    project = lab.off_loop(make_project, collab_lab.root)
    with lab_server.new_page(browser, collab_lab) as ana, \
            lab_server.new_page(browser, collab_lab) as bo:
        lab.open_notebook(ana, collab_lab, "together/board.ipynb")
        assert ana.evaluate("() => JSON.parse(document.getElementById("
                            "'jupyter-config-data').textContent).disableRTC") is False
        lab.run_all(ana)
        assert lab.error_outputs(ana) == []
        # Bo opens the same notebook: the board is already there, restored from the kernel.
        lab.open_notebook(bo, collab_lab, "together/board.ipynb")
        a_board, b_board = board_of(ana), board_of(bo)
        ana_name, bo_name = my_name(ana), my_name(bo)
        assert ana_name != bo_name, "each browser context should be its own person"

        # Ana clicks into scene 1's description: Bo's card 1 says so and is locked.
        a_card, b_card = a_board.locator(".nbv-card").nth(0), b_board.locator(".nbv-card").nth(0)
        a_desc = a_card.locator("textarea[data-field=description]")
        b_desc = b_card.locator("textarea[data-field=description]")
        a_desc.click()
        expect(b_card.locator("[data-role=lock]")).to_have_text(f"Being edited by {ana_name}")
        expect(b_desc).to_be_disabled()
        expect(b_card.locator(".nbv-person[data-editing=true]")).to_have_attribute(
            "title", f"{ana_name} is editing this scene")
        # Ana's own screen shows no lock and no dot for herself, only Bo looking on.
        expect(a_card.locator("[data-role=lock]")).to_be_hidden()
        expect(a_card.locator(f".nbv-person[title='{bo_name} is looking at this scene']")
               ).to_be_visible()

        # Ana's edit shows up on Bo's screen, from the saved project.
        text = "Boots splash through a cold creek at dawn"
        ana.keyboard.press("Control+A")
        ana.keyboard.type(text)
        ana.keyboard.press("Tab")  # commits the field; Ana is still on the card
        expect(b_desc).to_have_value(text)
        saved = json.loads((project / "project.json").read_text())
        assert saved["scenes"][0]["description"] == text
        expect(b_card).to_have_attribute("data-locked", "true")  # still Ana's
        lab.screenshot(bo, "collab-locked-card", target=b_card)

        # Ana leaves the card: the lock goes, Bo can edit it and Ana sees his change.
        a_board.locator("[data-action=add]").focus()
        expect(b_card.locator("[data-role=lock]")).to_be_hidden()
        expect(b_desc).to_be_enabled()
        lab.type_into(bo, b_desc, "A hiker laces up by the tent")
        expect(a_desc).to_have_value("A hiker laces up by the tent")

        # Bo comments on scene 2; Ana's card shows it at once, signed by Bo.
        b_two, a_two = b_board.locator(".nbv-card").nth(1), a_board.locator(".nbv-card").nth(1)
        b_two.locator("[data-action=comment]").click()
        b_two.locator("textarea[data-field=note]").fill("Can we see the logo here?")
        b_two.locator("[data-action=send-note]").click()
        expect(a_two.locator("[data-role=last-comment]")).to_have_text(
            f"{bo_name}: Can we see the logo here?")
        expect(a_two).to_have_attribute("data-locked", "false")  # commenting locks nothing
        assert lab.error_outputs(ana) == [] and lab.error_outputs(bo) == []
