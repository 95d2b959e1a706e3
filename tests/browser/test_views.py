"""The quickstart's live views, used the way an ad director would, checked against project.json.

Running the quickstart is the slow part (over a minute), so one run serves every step: the
module-scoped `page` opens it once and the tests below are the scenario's steps in order.
Each step reads the state it starts from (the order, the in point, ...) rather than trusting
the step before it, and asserts what reached `project.json` on disk, which the kernel writes:
the views are thin windows on the Project, so the file is the truth a test must check.

The notebook is copied to `views/` in the server root so this module's project never shares
a folder with the smoke test's.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from nbvideo.media.ffmpeg import probe
from tests.browser import lab
from tests.browser import server as lab_server

QUICKSTART = Path(__file__).parents[2] / "notebooks" / "01-quickstart.ipynb"
NOTEBOOK = "views/01-quickstart.ipynb"
SAVE_TIMEOUT_S = 60.0  # bounds a hang; the kernel usually saves within a fraction of a second
EXPORT_TIMEOUT_MS = 300_000

# Each view: the notebook cell that shows it, and the view's root element.
QUESTIONS = ("p.questions", ".nbv-questions")
BOARD = ("p.storyboard()", ".nbv-board")
CLIPS = ("await job", ".nbv-grid")
TIMELINE = ("p.timeline", ".nbv-timeline")
VIEWS = {"questions": QUESTIONS, "board": BOARD, "clips": CLIPS, "timeline": TIMELINE}

expect.set_options(timeout=60_000)  # a bound on a hang on a loaded machine, not a speed check


@pytest.fixture(scope="module")
def page(browser, jupyter_server) -> Iterator[Page]:
    """One page for the whole scenario (overrides the per-test page of conftest)."""
    with lab_server.new_page(browser, jupyter_server) as pg:
        yield pg


@pytest.fixture(scope="module")
def project(page: Page, jupyter_server) -> Path:
    """The quickstart, opened and run once in JupyterLab; the folder of the project it made."""
    lab.open_notebook(page, jupyter_server, QUICKSTART, dest=NOTEBOOK)
    lab.run_all(page)
    assert lab.error_outputs(page) == []
    path = jupyter_server.root / "views" / "projects" / "trail-shoe"
    assert (path / "project.json").is_file()
    return path


# ---------------------------------------------------------------------------- helpers
def saved(project: Path) -> dict[str, Any]:
    return json.loads((project / "project.json").read_text())


def wait_saved(page: Page, project: Path, check: Callable[[dict[str, Any]], bool],
               what: str) -> dict[str, Any]:
    """The project as saved once `check` holds (the kernel saves after the browser's message)."""
    deadline = time.monotonic() + SAVE_TIMEOUT_S
    state = saved(project)
    while not check(state):
        if time.monotonic() > deadline:
            raise AssertionError(f"project.json never showed {what} within {SAVE_TIMEOUT_S:.0f} s")
        page.wait_for_timeout(100)
        state = saved(project)
    return state


def view(page: Page, which: tuple[str, str]) -> Locator:
    source, css = which
    return lab.cell_output(page, lab.cell_index(page, source)).locator(css)


def order(state: dict[str, Any]) -> list[str]:
    return [s["id"] for s in state["scenes"]]


def scene(state: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in state["scenes"] if s["id"] == sid)


def edit(state: dict[str, Any], sid: str) -> dict[str, Any]:
    """A scene's timeline edit as saved (trim and transition), defaults when never edited."""
    return state["timeline"]["edits"].get(sid, {
        "trim_in_s": 0.0, "trim_out_s": 0.0, "transition": {"kind": "cut", "duration_s": 0.0}})


def focused_question(page: Page) -> str | None:
    return page.evaluate(
        "() => document.activeElement?.closest('[data-question-id]')?.dataset.questionId ?? null")


def card_ids(board: Locator) -> list[str]:
    return board.locator("li.nbv-scene").evaluate_all("els => els.map(e => e.dataset.sceneId)")


# ---------------------------------------------------------------------------- the scenario
def test_questions_answered_with_the_keyboard_alone_are_saved(page, project):
    form = view(page, QUESTIONS)
    ids = form.locator("[data-question-id]").evaluate_all(
        "els => els.map(e => e.dataset.questionId)")
    before = saved(project)["answers"]
    open_ids = [q for q in ids if q not in before]
    assert len(open_ids) >= 2, f"the quickstart should leave questions open; answered: {before}"
    first, second = open_ids[0], open_ids[1]

    # Tab into the form and on to the first open question (no mouse from here on).
    form.locator("input[type=radio]:checked").first.focus()
    for _ in range(4 * len(ids)):
        if focused_question(page) == first:
            break
        page.keyboard.press("Tab")
    assert focused_question(page) == first

    def choices(qid: str) -> list[str]:
        return form.locator(f'[data-question-id="{qid}"] input[type=radio]').evaluate_all(
            "els => els.map(e => e.value)")

    def checked(qid: str) -> str:
        return form.locator(f'[data-question-id="{qid}"] input[type=radio]:checked').input_value()

    shown, was = choices(first), checked(first)
    assert 0 <= shown.index(was) < len(shown) - 2  # a next choice that is not "Other"
    page.keyboard.press("ArrowDown")  # the next choice of this question, not the next cell
    picked_first = checked(first)
    assert picked_first == shown[shown.index(was) + 1] and focused_question(page) == first
    page.keyboard.press("Enter")  # Enter moves to the next question
    assert focused_question(page) == second
    shown, was = choices(second), checked(second)
    assert shown.index(was) >= 1
    page.keyboard.press("ArrowUp")
    picked_second = checked(second)
    assert picked_second == shown[shown.index(was) - 1]
    while focused_question(page) != ids[-1]:
        page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # on the last question, Enter saves

    after = wait_saved(page, project, lambda s: len(s["answers"]) == len(ids),
                       "every question answered")["answers"]
    assert after[first] == picked_first and after[second] == picked_second
    assert {k: after[k] for k in before} == before  # answers given in the notebook stay
    form.locator('[data-answered="false"]').first.wait_for(state="detached")
    assert form.locator('[data-answered="true"]').count() == len(ids)
    assert f"{len(ids)} of {len(ids)} answered" in form.locator(".nbv-head").inner_text()


def test_a_description_typed_on_a_card_is_saved_when_the_field_loses_focus(page, project):
    board = view(page, BOARD)
    card = board.locator("li.nbv-scene").nth(1)
    sid = card.get_attribute("data-scene-id")
    others = {s["id"]: s["description"] for s in saved(project)["scenes"] if s["id"] != sid}
    text = "Boots splash across a creek at dawn, spray frozen mid-air"

    lab.type_into(page, card.locator("textarea[data-field=description]"), text)

    state = wait_saved(page, project, lambda s: scene(s, sid)["description"] == text,
                       "the new description")
    assert {s["id"]: s["description"] for s in state["scenes"] if s["id"] != sid} == others
    # The card re-rendered from the saved scene: its frame's alt text carries the description.
    page.wait_for_function("([img, text]) => img.alt.includes(text)",
                           arg=[card.locator(".nbv-thumb img").element_handle(), text[:60]])
    assert card.locator("textarea[data-field=description]").input_value() == text


def test_a_voice_line_typed_on_a_card_is_saved_and_its_fit_shown(page, project):
    board = view(page, BOARD)
    card = board.locator("li.nbv-scene").first
    sid = card.get_attribute("data-scene-id")
    field = card.locator("textarea[data-field=voice_line]")
    fit = card.locator("[data-role=voice-fit]")
    assert field.input_value() == scene(saved(project), sid)["voice_line"]
    room = int(fit.inner_text().split("/")[1].split()[0])  # "3 / 4 words · fits"
    others = {s["id"]: s["voice_line"] for s in saved(project)["scenes"] if s["id"] != sid}

    words = ("Mud? Rain? Rock? Bring it on. These boots keep going all weekend long, "
             "mile after mile after mile.").split()
    assert room + 4 <= len(words), f"scene 1 takes {room} words; the test line is shorter"
    line = " ".join(words[:room + 4])  # more than the scene has time for
    field.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(line)
    # The count follows the typing, before anything is saved.
    expect(fit).to_have_text(f"{room + 4} / {room} words · too long for the scene")
    expect(fit).to_have_attribute("data-fits", "false")
    page.keyboard.press("Tab")

    state = wait_saved(page, project, lambda s: scene(s, sid)["voice_line"] == line,
                       "the new voice line")
    assert {s["id"]: s["voice_line"] for s in state["scenes"] if s["id"] != sid} == others
    expect(field).to_have_attribute("aria-invalid", "true")
    short = " ".join(words[:room])
    lab.type_into(page, field, short)
    wait_saved(page, project, lambda s: scene(s, sid)["voice_line"] == short, "a line that fits")
    expect(fit).to_have_attribute("data-fits", "true")
    expect(fit).to_have_text(f"{room} / {room} words · fits")


def test_a_bad_duration_typed_into_the_stepper_is_refused_on_the_board_and_not_saved(page,
                                                                                    project):
    board = view(page, BOARD)
    card = board.locator("li.nbv-scene").first
    sid = card.get_attribute("data-scene-id")
    before = (project / "project.json").read_bytes()
    duration = json.loads(before)["scenes"][0]["duration_s"]
    alert = board.locator(".nbv-error[role=alert]")
    assert alert.is_hidden()

    lab.type_into(page, card.locator("input[data-field=duration_s]"), "99")

    alert.wait_for(state="visible")
    assert "duration_s" in alert.inner_text() and "99" in alert.inner_text()
    page.wait_for_timeout(1000)  # a late save would show up here
    assert (project / "project.json").read_bytes() == before
    assert scene(saved(project), sid)["duration_s"] == duration
    # The stepper puts the saved value back.
    assert float(card.locator("input[data-field=duration_s]").input_value()) == pytest.approx(
        duration, abs=0.01)
    alert.get_by_role("button", name="Dismiss message").click()
    assert alert.is_hidden()


def test_scenes_reordered_by_drag_and_by_alt_arrow_are_saved_in_that_order(page, project):
    board = view(page, BOARD)
    cards = board.locator("li.nbv-scene")
    start = order(saved(project))
    a, b, c = start[:3]

    # Drag the first card by its handle onto the right half of the third: it lands after it.
    target = cards.nth(2)
    box = target.bounding_box()
    assert box is not None
    cards.nth(0).locator(".nbv-handle").drag_to(
        target, target_position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    dragged = [b, c, a, *start[3:]]
    wait_saved(page, project, lambda s: order(s) == dragged, f"the order {dragged}")
    page.wait_for_function("([list, want]) => [...list.children].map(e => e.dataset.sceneId)"
                           ".join() === want", arg=[board.locator("ol.nbv-cards").element_handle(),
                                                    ",".join(dragged)])

    # The keyboard path: focus the first card's handle, Alt+ArrowRight moves it one later.
    cards.nth(0).locator(".nbv-handle").focus()
    page.keyboard.press("Alt+ArrowRight")
    moved = [c, b, a, *start[3:]]
    wait_saved(page, project, lambda s: order(s) == moved, f"the order {moved}")
    page.wait_for_function("([list, want]) => [...list.children].map(e => e.dataset.sceneId)"
                           ".join() === want", arg=[board.locator("ol.nbv-cards").element_handle(),
                                                    ",".join(moved)])
    # Focus followed the moved card, so pressing again would keep moving it.
    expect(board.locator(f'li[data-scene-id="{b}"] .nbv-handle')).to_be_focused()
    assert card_ids(board) == moved


def test_a_scene_approved_and_one_sent_back_with_comments_show_on_their_cards(page, project):
    board = view(page, BOARD)
    first, second = board.locator("li.nbv-scene").nth(0), board.locator("li.nbv-scene").nth(1)
    a, b = first.get_attribute("data-scene-id"), second.get_attribute("data-scene-id")
    expect(first.locator("[data-role=review-status]")).to_have_text("Draft")

    first.get_by_role("button", name="Approve scene 1").click()
    wait_saved(page, project, lambda s: scene(s, a)["review_status"] == "approved", "scene 1 approved")
    expect(first.locator("[data-role=review-status]")).to_have_text("Approved")
    expect(first.get_by_role("button", name="Approve scene 1")).to_be_disabled()
    expect(first.locator("[data-role=last-comment]")).to_have_text(
        f"{scene(saved(project), a)['comments'][-1]['author']} approved")

    # Request changes: the button opens a note, which is required, then sends it.
    second.get_by_role("button", name="Request changes to scene 2").click()
    note = second.locator("textarea[data-field=note]")
    expect(note).to_be_focused()
    send = second.locator("button[data-action=send-note]")
    expect(send).to_be_disabled()
    page.keyboard.type("Brighter sky, and the laces in focus")
    send.click()
    state = wait_saved(page, project,
                       lambda s: scene(s, b)["review_status"] == "changes_requested",
                       "changes requested on scene 2")
    said = scene(state, b)["comments"][-1]
    assert (said["kind"], said["text"]) == ("changes_requested",
                                            "Brighter sky, and the laces in focus")
    expect(second.locator("[data-role=review-status]")).to_have_text("Changes requested")
    expect(second.locator("[data-role=last-comment]")).to_contain_text("Brighter sky")
    expect(note).to_be_hidden()

    # A comment from the keyboard alone: Ctrl+Enter sends it (and does not run the cell).
    second.get_by_role("button", name="Comment on scene 2").click()
    page.keyboard.type("Keep the trail in frame")
    page.keyboard.press("Control+Enter")
    state = wait_saved(page, project, lambda s: len(scene(s, b)["comments"]) == 2,
                       "a second comment on scene 2")
    assert scene(state, b)["review_status"] == "changes_requested"  # a comment keeps the status
    thread_btn = second.locator("button[data-action=thread]")
    expect(thread_btn).to_have_text("2 comments")
    thread_btn.click()
    expect(second.locator(".nbv-thread li")).to_have_count(2)
    expect(second.locator(".nbv-thread li").last).to_contain_text("Keep the trail in frame")
    assert lab.error_outputs(page) == []


def test_a_presenter_scene_shows_its_badge_on_the_board_card_and_the_clip_tile(page, project):
    board, grid = view(page, BOARD), view(page, CLIPS)
    sid = order(saved(project))[1]
    card = board.locator(f'li.nbv-scene[data-scene-id="{sid}"]')
    tile = grid.locator(f'li.nbv-tile[data-scene-id="{sid}"]')
    expect(card.locator("[data-badge=presenter]")).to_have_count(0)
    lab.run_cell(page, lab.append_cell(page, 'p.present(2, avatar="ava")'))
    wait_saved(page, project, lambda s: scene(s, sid)["kind"] == "presenter", "scene 2 presenter")
    for where in (card, tile):
        badge = where.locator("[data-badge=presenter]")
        expect(badge).to_be_visible()
        expect(badge).to_have_text("presenter: ava")
    lab.run_cell(page, lab.append_cell(page, 'p.edit_scene(2, kind="broll")'))
    wait_saved(page, project, lambda s: scene(s, sid)["kind"] == "broll", "scene 2 b-roll again")
    expect(card.locator("[data-role=badges]")).to_be_hidden()
    expect(tile.locator("[data-role=badges]")).to_be_hidden()
    assert lab.error_outputs(page) == []


def test_undo_and_redo_on_the_board_take_back_an_edit_and_make_it_again(page, project):
    board = view(page, BOARD)
    card = board.locator("li.nbv-scene").nth(2)
    sid = card.get_attribute("data-scene-id")
    field = card.locator("textarea[data-field=description]")
    old = scene(saved(project), sid)["description"]
    text = "A runner crests the ridge as the sun breaks through"
    lab.type_into(page, field, text)
    wait_saved(page, project, lambda s: scene(s, sid)["description"] == text, "the edit")
    undo = board.locator("button[data-action=undo-change]")
    redo = board.locator("button[data-action=redo-change]")
    expect(undo).to_have_attribute("title", f"Undo: scene 3 ({sid}): description")

    undo.click()
    wait_saved(page, project, lambda s: scene(s, sid)["description"] == old, "the edit undone")
    expect(field).to_have_value(old)
    expect(redo).to_be_enabled()
    redo.click()
    wait_saved(page, project, lambda s: scene(s, sid)["description"] == text, "the edit redone")
    expect(field).to_have_value(text)
    expect(redo).to_be_disabled()


def test_regenerate_spins_only_its_own_card_then_shows_the_new_frame(page, project):
    board = view(page, BOARD)
    cards = board.locator("li.nbv-scene")
    card = cards.nth(2)
    sid = card.get_attribute("data-scene-id")
    before = scene(saved(project), sid)
    srcs = cards.locator(".nbv-thumb img").evaluate_all("els => els.map(e => e.src)")
    # Record every card that says it is busy, however briefly (a local frame takes < 1 s).
    page.evaluate(
        """(list) => {
            window.__nbvBusy = new Set();
            new MutationObserver((records) => {
                for (const r of records) {
                    if (r.target.getAttribute('aria-busy') === 'true' || r.oldValue === 'true')
                        window.__nbvBusy.add(r.target.dataset.sceneId);
                }
            }).observe(list, {subtree: true, attributes: true, attributeOldValue: true,
                              attributeFilter: ['aria-busy']});
        }""",
        board.locator("ol.nbv-cards").element_handle(),
    )

    card.locator("button[data-action=regenerate]").click()

    takes = len(before["frame_takes"])
    after = scene(wait_saved(page, project, lambda s: len(scene(s, sid)["frame_takes"]) > takes,
                             "a new frame take"), sid)
    assert after["frame_take_id"] != before["frame_take_id"]
    assert after["frame_take_id"] == after["frame_takes"][-1]["id"]
    page.wait_for_function(
        """([card, old]) => card.getAttribute('aria-busy') === 'false'
            && card.querySelector('.nbv-thumb img').src !== old
            && card.querySelector('.nbv-thumb img').complete
            && card.querySelector('.nbv-thumb img').naturalWidth > 0""",
        arg=[card.element_handle(), srcs[2]])
    assert page.evaluate("() => [...window.__nbvBusy]") == [sid]
    now = cards.locator(".nbv-thumb img").evaluate_all("els => els.map(e => e.src)")
    assert [s for i, s in enumerate(now) if i != 2] == [s for i, s in enumerate(srcs) if i != 2]
    assert card.locator("button[data-action=takes]").inner_text() == (
        f"Takes ({len([t for t in after['frame_takes'] if t['status'] == 'succeeded'])})")


def test_a_trim_handle_moved_with_the_arrow_keys_saves_the_in_point(page, project):
    timeline = view(page, TIMELINE)
    block = timeline.locator(".nbv-block").nth(1)
    sid = block.get_attribute("data-scene-id")
    state = saved(project)
    fps = state["brief"]["fps"]
    start = edit(state, sid)["trim_in_s"]
    handle = block.locator("[data-edge=in]")
    assert float(handle.get_attribute("aria-valuenow")) == pytest.approx(start, abs=0.01)

    # The kernel is busy (a long cell) while the handle moves, so the kernel's answers come
    # late, as on a loaded laptop: three presses, a pause long enough for the view to send
    # them, the lanes drawn again (as any change draws them), three more presses.
    lab.start_cell(page, lab.append_cell(page, "import time; time.sleep(15)"))
    handle.focus()
    for _ in range(3):  # one frame per press
        page.keyboard.press("ArrowRight")
    page.wait_for_timeout(1000)  # the view sends a run of presses 0.4 s after the last
    drawn = handle.element_handle()
    timeline.locator("[data-action=zoom-in]").evaluate("b => b.click()")
    page.wait_for_function("el => !el.isConnected", arg=drawn)  # the lanes were drawn again
    # Read at once, while the kernel is still busy: the new handle starts from the three
    # frames sent, not from the in point the kernel has not answered for yet (it did, and
    # the presses after it were lost).
    moved = timeline.locator(f'.nbv-block[data-scene-id="{sid}"] [data-edge=in]')
    assert moved.get_attribute("aria-valuenow") == f"{start + 3 / fps:.2f}"
    expect(moved).to_be_focused()
    for _ in range(3):
        page.keyboard.press("ArrowRight")

    want = start + 6 / fps
    state = wait_saved(page, project,
                       lambda s: abs(edit(s, sid)["trim_in_s"] - want) < 1e-6, f"in_s = {want}")
    assert edit(state, sid)["trim_out_s"] == 0.0
    expect(moved).to_have_attribute("aria-valuenow", f"{want:.2f}")
    expect(moved).to_be_focused()
    timeline.locator("[data-action=zoom-fit]").click()


def test_a_transition_set_to_crossfade_with_a_duration_is_saved(page, project):
    timeline = view(page, TIMELINE)
    sid = timeline.locator(".nbv-block").nth(1).get_attribute("data-scene-id")

    def cut() -> Locator:  # the cut's controls are drawn again after each change
        return timeline.locator(f'[data-cut="{sid}"]')

    cut().locator("select").select_option("cut")
    wait_saved(page, project, lambda s: edit(s, sid)["transition"] == {
        "kind": "cut", "duration_s": 0.0}, "a cut")
    expect(cut().locator("input")).to_be_hidden()

    cut().locator("select").select_option("crossfade")
    cut().locator("input[data-field=transition_s]").wait_for(state="visible")
    # 0.8 s, or less if the field's max (the longest crossfade there is) were lower. Typed
    # straight after choosing "fade": the kernel's echo of that choice arrives meanwhile and
    # must not redraw the field under the keys (it once turned "0.8" into "0.58").
    longest = float(cut().locator("input[data-field=transition_s]").get_attribute("max"))
    assert longest >= 0.2, f"this cut allows only {longest} s"
    want = 0.8 if longest >= 0.8 else math.floor(longest * 10) / 10
    lab.type_into(page, cut().locator("input[data-field=transition_s]"), f"{want:g}")

    state = wait_saved(page, project, lambda s: edit(s, sid)["transition"] == {
        "kind": "crossfade", "duration_s": want}, f"a {want:g} s crossfade")
    assert edit(state, sid)["transition"]["kind"] == "crossfade"
    expect(cut().locator("select")).to_have_value("crossfade")
    expect(cut().locator("input[data-field=transition_s]")).to_have_value(f"{want:g}")

    # A change made elsewhere while a duration is half typed: the view learns of it, but does
    # not draw the field again under the keys; it redraws once the field is left.
    other = timeline.locator(".nbv-block").nth(3).get_attribute("data-scene-id")
    lab.run_cell(page, lab.append_cell(
        page, f'import threading; threading.Timer(5.0, p.set_transition, ("{other}", "crossfade", '
              f'0.4)).start()'))
    cut().locator("input[data-field=transition_s]").click()
    page.keyboard.press("Control+A")
    page.keyboard.type("0.")
    wait_saved(page, project, lambda s: edit(s, other)["transition"]["duration_s"] == 0.4,
               "the change from the cell")
    page.wait_for_timeout(1000)  # its echo reaches the browser (the view sends within 0.2 s)
    page.keyboard.type("3")
    page.keyboard.press("Tab")
    wait_saved(page, project, lambda s: edit(s, sid)["transition"]["duration_s"] == 0.3,
               "the duration typed across the change")
    expect(timeline.locator(f'[data-cut="{other}"] input')).to_have_value("0.4")


def test_the_export_panel_renders_a_9_16_file_into_exports(page, project):
    panel = view(page, TIMELINE).locator("form.nbv-export")
    before = len(saved(project)["exports"])
    for box in panel.locator("input[name=aspect]").all():
        box.set_checked(box.get_attribute("value") == "9:16")
    lab.type_into(page, panel.locator("input[data-field=name]"), "browser")

    panel.locator("button[data-action=export]").click()

    panel.locator(".nbv-status", has_text="done").wait_for(timeout=EXPORT_TIMEOUT_MS)
    state = wait_saved(page, project, lambda s: len(s["exports"]) > before, "a new export")
    (record,) = state["exports"][before:]
    assert record["aspect"] == "9:16" and record["path"].startswith("exports/browser-9x16")
    path = project / record["path"]
    assert path.is_file()
    info = probe(path)
    assert info.width * 16 == info.height * 9, f"{info.width}x{info.height} is not 9:16"
    assert info.duration_s == pytest.approx(record["duration_s"], abs=0.1)
    assert panel.locator(f'.nbv-files li[data-path="{record["path"]}"]').is_visible()


def test_on_screen_text_edited_on_the_text_track_is_saved(page, project):
    timeline = view(page, TIMELINE)
    sid = timeline.locator(".nbv-block").nth(2).get_attribute("data-scene-id")
    others = {s["id"]: s["on_screen_text"] for s in saved(project)["scenes"] if s["id"] != sid}

    def field() -> Locator:  # the lanes are drawn again after each change
        return timeline.locator(f'.nbv-textblock[data-scene-id="{sid}"] input')

    field().click()
    page.keyboard.press("Control+A")
    page.keyboard.type("Grip that holds")
    page.keyboard.press("Enter")  # Enter saves, as leaving the field does

    state = wait_saved(page, project, lambda s: scene(s, sid)["on_screen_text"] == "Grip that holds",
                       "the new on-screen text")
    assert {s["id"]: s["on_screen_text"] for s in state["scenes"] if s["id"] != sid} == others
    expect(field()).to_have_value("Grip that holds")

    # Too long for the model: refused on the widget, the saved text comes back.
    before = (project / "project.json").read_bytes()
    lab.type_into(page, field(), "x" * 200 + "y")
    alert = timeline.locator(".nbv-error[role=alert]")
    expect(alert).to_contain_text("on_screen_text")
    assert (project / "project.json").read_bytes() == before
    expect(field()).to_have_value("Grip that holds")
    alert.get_by_role("button", name="Dismiss message").click()

    # A voice-over set from a cell shows up on the track as the captions the export burns.
    lab.run_cell(page, lab.append_cell(page, 'p.finish(voice="narrator-f")'))
    lines = [s["voice_line"] for s in saved(project)["scenes"] if s["voice_line"].strip()]
    cues = timeline.locator("[data-track=captions] .nbv-cue")
    expect(cues).to_have_count(len(lines))
    assert [" ".join(t.split()) for t in cues.all_inner_texts()] == [
        " ".join(t.split()) for t in lines]


def _wav(seconds: float, rate: int = 22050) -> bytes:
    import io
    import wave

    import numpy as np

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        t = np.arange(int(seconds * rate)) / rate
        w.writeframes((np.sin(2 * np.pi * 220 * t) * 6000).astype("<i2").tobytes())
    return buf.getvalue()


def test_a_music_file_chosen_in_the_browser_becomes_the_music(page, project):
    timeline = view(page, TIMELINE)
    controls = timeline.locator(".nbv-music-controls")
    before = (project / "project.json").read_bytes()

    # Not audio: refused with the reason, nothing saved.
    controls.locator("input[type=file]").set_input_files(
        files=[{"name": "notes.mp3", "mimeType": "audio/mpeg", "buffer": b"not music " * 50}])
    alert = timeline.locator(".nbv-error[role=alert]")
    expect(alert).to_contain_text("notes.mp3")
    expect(alert).to_contain_text("is not audio")
    assert (project / "project.json").read_bytes() == before
    alert.get_by_role("button", name="Dismiss message").click()

    song = _wav(4.0)
    controls.locator("input[type=file]").set_input_files(
        files=[{"name": "Camp Fire.wav", "mimeType": "audio/wav", "buffer": song}])
    state = wait_saved(page, project,
                       lambda s: s["finishing"]["music"].startswith("assets/music/user/"),
                       "the chosen music file")
    music = state["finishing"]["music"]
    assert (project / music).read_bytes() == song
    block = timeline.locator("[data-track=music] .nbv-musicblock")
    expect(block).to_contain_text("Camp-Fire.wav")
    expect(block).to_have_attribute("data-source", "file")
    expect(controls.locator(".nbv-status")).to_contain_text("Music set")

    # Back to the generated bed with the keyboard, then to the file again from a cell.
    controls.locator("[data-action=music-bed]").focus()
    page.keyboard.press("Enter")
    wait_saved(page, project, lambda s: s["finishing"]["music"] == "bed", "the music bed")
    expect(timeline.locator("[data-track=music] .nbv-musicblock")).to_have_attribute(
        "data-source", "bed")
    expect(timeline.locator("[data-action=music-bed]")).to_be_focused()
    lab.run_cell(page, lab.append_cell(page, f'p.finish(music="{music}")'))
    expect(timeline.locator("[data-track=music] .nbv-musicblock")).to_contain_text("Camp-Fire.wav")


def _js_seconds(s: float) -> str:
    """Seconds as the widgets print them (common.js fmtSeconds)."""
    return f"{round(s * 100) / 100:g} s"


def test_an_overlay_item_dragged_snaps_to_a_cut_and_its_end_trims_and_solo_sets(page, project):
    timeline = view(page, TIMELINE)
    lab.run_cell(page, lab.append_cell(page, (
        "from PIL import Image\n"
        "Image.new('RGBA', (40, 20), (255, 0, 0, 255)).save(p.path / 'assets' / 'logo.png')\n"
        "logo = p.timeline.add_image('assets/logo.png', 0.5, 1.0, x=0.9, y=0.1)")))
    block = timeline.locator("[data-track=track-V2] .nbv-item")
    expect(block).to_have_count(1)
    item_id = block.get_attribute("data-item-id")
    lab.run_cell(page, lab.append_cell(page, (
        "(p.path / 'cut.txt').write_text(str(float(p.timeline.to_pandas().iloc[1]['start_s'])))")))
    cut = float((project / "cut.txt").read_text())  # where scene 2 starts, from the kernel

    # Drag the block so its start lands a few pixels off the cut: it snaps onto the cut.
    block.scroll_into_view_if_needed()
    box = block.bounding_box()
    px_per_s = box["width"] / 1.0
    target = box["x"] + (cut - 0.5) * px_per_s + 3
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(target + box["width"] / 2, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    state = wait_saved(page, project, lambda s: s["timeline"]["tracks"]["V2"]["items"][item_id][
        "start_s"] == pytest.approx(cut, abs=1e-6), f"the item's start on the cut at {cut}")
    assert state["timeline"]["tracks"]["V2"]["items"][item_id]["duration_s"] == 1.0

    # The view redraws from the saved state: wait for the redrawn block (its label says the
    # new start) before measuring its grip, or the grip measured is the one being replaced.
    expect(timeline.locator(f'[data-item-id="{item_id}"]')).to_have_attribute(
        "aria-label", re.compile(rf"\b{re.escape(_js_seconds(cut))} to "))

    # Drag its end half a second left: trimmed (to a whole frame).
    fps = state["brief"]["fps"]
    end = timeline.locator(f'[data-item-id="{item_id}"] [data-edge=out]')
    eb = end.bounding_box()
    page.mouse.move(eb["x"] + eb["width"] / 2, eb["y"] + eb["height"] / 2)
    page.mouse.down()
    page.mouse.move(eb["x"] + eb["width"] / 2 - 0.5 * px_per_s, eb["y"] + eb["height"] / 2,
                    steps=8)
    page.mouse.up()
    state = wait_saved(page, project, lambda s: s["timeline"]["tracks"]["V2"]["items"][item_id][
        "duration_s"] < 0.75, "the item's end trimmed")
    d = state["timeline"]["tracks"]["V2"]["items"][item_id]["duration_s"]
    assert d == pytest.approx(round(d * fps) / fps) and 0.3 < d < 0.75

    # Solo the sfx track with its button; undo from a cell takes it back.
    timeline.locator("[data-action=solo-sfx]").click()
    wait_saved(page, project, lambda s: s["timeline"]["tracks"]["sfx"]["solo"], "sfx soloed")
    expect(timeline.locator("[data-action=solo-sfx]")).to_have_attribute("aria-pressed", "true")
    lab.run_cell(page, lab.append_cell(page, "p.undo()"))
    wait_saved(page, project, lambda s: not s["timeline"]["tracks"]["sfx"]["solo"], "solo undone")
    lab.run_cell(page, lab.append_cell(page, "p.timeline.remove(logo.id)"))


def test_each_view_in_light_and_dark_theme_is_pictured_and_readable(page, project):
    """Screenshots of every view in both themes (tests/browser/artifacts/view-*.png), and the
    check a picture cannot make by itself: text stands out from its background (WCAG AA)."""
    page.set_viewport_size({"width": 1400, "height": 2600})  # tall views fit whole
    try:
        for theme in ("light", "dark"):
            lab.set_theme(page, theme)
            for name, which in VIEWS.items():
                root = view(page, which)
                root.scroll_into_view_if_needed()
                shot = lab.screenshot(page, f"view-{name}-{theme}", target=root)
                assert shot.stat().st_size > 10_000
                text, muted = lab.contrast(root)
                assert text >= 4.5, f"{name} in {theme}: text contrast {text:.2f} < 4.5"
                assert muted >= 3.0, f"{name} in {theme}: muted text contrast {muted:.2f} < 3"
    finally:
        lab.set_theme(page, "light")
        page.set_viewport_size(lab_server.VIEWPORT)



def test_after_a_reload_and_a_new_kernel_the_views_show_what_was_saved(page, project,
                                                                        jupyter_server):
    # Leave, shut the kernel down, come back: a new kernel process that has only the disk.
    page.goto("about:blank")
    lab_server.shut_down_sessions(jupyter_server, path=NOTEBOOK)
    lab.open_notebook(page, jupyter_server, NOTEBOOK)
    lab.run_cell(page, lab.cell_index(page, "nv.Project.open("))
    cells = {name: lab.append_cell(page, source)
             for name, source in (("questions", "p.questions"), ("board", "p.board"),
                                  ("timeline", "p.timeline"))}
    for index in cells.values():
        lab.run_cell(page, index)
    assert lab.error_outputs(page) == []
    state = saved(project)

    form = lab.cell_output(page, cells["questions"]).locator(".nbv-questions")
    form.locator("[data-question-id]").first.wait_for()
    for q in state["questions"]:
        item = form.locator(f'[data-question-id="{q["id"]}"]')
        assert item.get_attribute("data-answered") == "true", f"{q['id']} shows as open"
        assert item.locator("input[type=radio]:checked").input_value() == state["answers"][q["id"]]

    board = lab.cell_output(page, cells["board"]).locator(".nbv-board")
    board.locator("li.nbv-scene").first.wait_for()
    assert card_ids(board) == order(state)
    for s in state["scenes"]:
        card = board.locator(f'li[data-scene-id="{s["id"]}"]')
        assert card.locator("textarea[data-field=description]").input_value() == s["description"]

    timeline = lab.cell_output(page, cells["timeline"]).locator(".nbv-timeline")
    timeline.locator(".nbv-block").first.wait_for()
    for s in state["scenes"]:
        e = edit(state, s["id"])
        handle = timeline.locator(f'.nbv-block[data-scene-id="{s["id"]}"] [data-edge=in]')
        assert handle.get_attribute("aria-valuenow") == f"{e['trim_in_s']:.2f}"
        cut = timeline.locator(f'[data-cut="{s["id"]}"]')
        if cut.count():  # the last clip has no cut after it
            assert cut.locator("select").input_value() == e["transition"]["kind"]
            if e["transition"]["kind"] == "crossfade":
                assert float(cut.locator("input").input_value()) == e["transition"]["duration_s"]
    files = timeline.locator(".nbv-files li").evaluate_all("els => els.map(e => e.dataset.path)")
    assert files == [r["path"] for r in state["exports"]]
