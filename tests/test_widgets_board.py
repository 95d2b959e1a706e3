"""StoryboardBoard driven by simulated browser messages, checked against project.json."""

from __future__ import annotations

import json
import threading

import pytest

pytest.importorskip("anywidget")

import nbvideo as nv
from nbvideo.providers.catalog import get_model
from nbvideo.widgets.board import StoryboardBoard, duration_bounds
from tests.wire import Wire, send


def on_disk(p: nv.Project) -> dict:
    return json.loads((p.path / "project.json").read_text())


def scene_ids(p: nv.Project) -> list[str]:
    return [s["id"] for s in on_disk(p)["scenes"]]


def test_a_card_per_scene_in_order_with_its_thumbnail(rendered, wire: Wire):
    board = StoryboardBoard(rendered)
    assert [c.key for c in board.cards] == scene_ids(rendered)
    first = board.cards[0]
    assert first.scene["description"] == rendered.scene(1).description
    assert first.thumb[:3] == b"\xff\xd8\xff"
    assert board.summary["scenes"] == 3 and board.summary["target_s"] == 8.0
    assert board.summary["estimate_usd"] == 0.0  # the offline model is free
    assert board.options["duration"]["min"] == 1.0 and "push-in" in board.options["cameras"]


def test_an_edit_on_a_card_is_saved_and_shown(rendered, wire: Wire):
    board = StoryboardBoard(rendered)
    sid = board.cards[1].key
    send(board, "edit", scene=sid, changes={"description": "Boots splash across a creek",
                                            "shot": "wide", "duration_s": 2.5})
    saved = on_disk(rendered)["scenes"][1]
    assert (saved["description"], saved["shot"], saved["duration_s"]) == (
        "Boots splash across a creek", "wide", 2.5)
    assert board.cards[1].scene["shot"] == "wide" and board.error == ""


@pytest.mark.parametrize("changes, says", [
    ({"duration_s": 99}, "duration_s must be a number of seconds from 1 to 15"),
    ({"duration_s": "long"}, "duration_s must be a number"),
    ({"shot": "aerial"}, "shot"),
    ({"description": ""}, "description"),
    ({"frame_take_id": "x"}, "cannot edit frame_take_id"),
])
def test_a_bad_value_is_refused_on_the_widget_and_nothing_is_saved(rendered, wire: Wire,
                                                                   changes, says):
    board = StoryboardBoard(rendered)
    before = (rendered.path / "project.json").read_bytes()
    card = board.cards[0]
    shown = dict(card.scene)
    mark = wire.mark()
    send(board, "edit", scene=card.key, changes=changes)
    assert says in board.error
    (reply,) = wire.replies(mark)
    assert reply["ok"] is False and says in reply["error"]
    assert (rendered.path / "project.json").read_bytes() == before
    assert card.scene == shown


def test_drag_and_drop_and_keyboard_reorder_are_saved(rendered, wire: Wire):
    board = StoryboardBoard(rendered)
    a, b, c = scene_ids(rendered)
    send(board, "reorder", order=[c, a, b])
    assert scene_ids(rendered) == [c, a, b] and [x.key for x in board.cards] == [c, a, b]
    send(board, "move", scene=c, to=3)  # Alt+ArrowRight twice, as one move
    assert scene_ids(rendered) == [a, b, c]
    send(board, "reorder", order=[a, b])
    assert "every scene exactly once" in board.error and scene_ids(rendered) == [a, b, c]
    send(board, "move", scene=a, to=9)
    assert "position from 1 to 3" in board.error


def test_regenerate_makes_a_new_take_and_sends_only_that_card(rendered, wire: Wire):
    board = StoryboardBoard(rendered)
    card = board.cards[1]
    old_take, old_thumb = card.scene["frame_take_id"], card.thumb
    mark = wire.mark()
    send(board, "regenerate", scene=card.key)
    board.settle()
    scene = on_disk(rendered)["scenes"][1]
    assert scene["frame_take_id"] != old_take and len(scene["frame_takes"]) == 2
    assert card.thumb != old_thumb and card.busy == ""
    sent = wire.since(mark)
    assert {m.comm_id for m in sent} <= {card.comm.comm_id, board.comm.comm_id}
    with_bytes = [m for m in sent if m.buffers]
    assert with_bytes and all(m.comm_id == card.comm.comm_id for m in with_bytes)
    busy = [m.data["state"]["busy"] for m in wire.updates(mark) if "busy" in m.data["state"]]
    assert busy == ["regenerating", ""]
    assert wire.bytes_since(mark) < len(card.thumb) + 6_000
    assert wire.replies(mark)[-1]["ok"] is True


def test_regenerate_with_a_new_prompt_saves_the_prompt(rendered, wire: Wire):
    board = StoryboardBoard(rendered)
    sid = board.cards[0].key
    send(board, "regenerate", scene=sid, prompt="low angle, rain on the lens")
    board.settle()
    assert on_disk(rendered)["scenes"][0]["visual_prompt"] == "low angle, rain on the lens"
    assert board.cards[0].scene["takes"][-1]["prompt"].startswith("low angle")


def test_the_rest_of_the_board_stays_usable_while_one_card_regenerates(rendered, wire: Wire,
                                                                       monkeypatch):
    board = StoryboardBoard(rendered)
    release = threading.Event()
    real = rendered.regenerate_frame

    def slow(*args, **kwargs):
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(rendered, "regenerate_frame", slow)
    first, second = board.cards[0], board.cards[1]
    send(board, "regenerate", scene=first.key)
    assert first.busy == "regenerating"
    send(board, "edit", scene=second.key, changes={"title": "Still editable"})
    assert on_disk(rendered)["scenes"][1]["title"] == "Still editable"
    assert first.busy == "regenerating" and second.busy == ""
    release.set()
    board.settle()
    assert first.busy == "" and len(on_disk(rendered)["scenes"][0]["frame_takes"]) == 2


def test_the_take_strip_offers_earlier_takes_and_choosing_one_goes_back(rendered, wire: Wire):
    board = StoryboardBoard(rendered)
    card = board.cards[0]
    first_take = card.scene["frame_take_id"]
    send(board, "regenerate", scene=card.key)
    board.settle()
    mark = wire.mark()
    send(board, "takes", scene=card.key)
    (reply,) = wire.replies(mark)
    assert reply["result"][0]["id"] == first_take
    assert len(reply["buffers"]) == 2 and all(b[:3] == b"\xff\xd8\xff" for b in reply["buffers"])
    send(board, "choose_take", scene=card.key, take=first_take)
    assert on_disk(rendered)["scenes"][0]["frame_take_id"] == first_take
    assert card.scene["frame_take_id"] == first_take


def test_add_duplicate_delete_and_undo(rendered, wire: Wire):
    board = StoryboardBoard(rendered)
    a, b, c = scene_ids(rendered)
    send(board, "add", after=a, fields={"description": "A new beat", "beat": "proof"})
    added = scene_ids(rendered)[1]
    assert added not in (a, b, c) and board.cards[1].scene["description"] == "A new beat"
    assert board.cards[1].thumb == b""  # no frame until asked for
    send(board, "regenerate", scene=added)  # "Make frame"
    board.settle()
    assert board.cards[1].thumb[:3] == b"\xff\xd8\xff"
    send(board, "duplicate", scene=c)
    assert len(scene_ids(rendered)) == 5 and scene_ids(rendered)[3] == c
    send(board, "delete", scene=b)
    assert b not in scene_ids(rendered)
    assert (board.undo["scene"], board.undo["to"]) == (b, 3)
    assert b in [s["id"] for s in on_disk(rendered)["archived_scenes"]]
    send(board, "restore", scene=b, to=3)
    assert scene_ids(rendered)[2] == b and board.undo == {}


def test_duration_bounds_follow_the_chosen_model():
    assert duration_bounds(get_model("ffmpeg-animatic"))["max"] == 15.0
    wan = duration_bounds(get_model("wan-2.5-i2v-fast"))
    assert (wan["min"], wan["max"], wan["allowed"]) == (1.0, 10.0, [5.0, 10.0])
    assert duration_bounds(get_model("veo-3-fast"))["max"] == 8.0


def test_reopening_shows_the_same_board(rendered, wire: Wire):
    board = StoryboardBoard(rendered)
    sid = board.cards[2].key
    send(board, "edit", scene=sid, changes={"camera": "pan-left"})
    send(board, "move", scene=sid, to=1)
    shown = [(c.key, c.scene, c.thumb) for c in board.cards]
    path = rendered.path
    rendered.close()
    with nv.Project.open(path) as again:
        assert [(c.key, c.scene, c.thumb) for c in StoryboardBoard(again).cards] == shown


def test_thirty_scenes_first_display_under_2mb_and_a_regenerate_sends_one_card(fresh, wire):
    fresh.storyboard()
    while len(fresh.scenes) < 30:
        n = len(fresh.scenes) + 1
        fresh.add_scene(description=f"Scene {n}: a hiker on wet rock, angle {n}",
                        visual_prompt=f"hiker on wet rock, rain, angle {n * 7} degrees")
    fresh.storyboard()  # frames for the added scenes
    mark = wire.mark()
    board = StoryboardBoard(fresh)
    first = wire.bytes_since(mark)
    print(f"\n30-scene board, first display: {first / 1e6:.3f} MB in {len(wire.since(mark))} "
          f"messages (thumbnails {sum(len(c.thumb) for c in board.cards) / 1e6:.3f} MB)")
    assert len(board.cards) == 30 and first <= 2_000_000
    card = board.cards[17]
    mark = wire.mark()
    send(board, "regenerate", scene=card.key)
    board.settle()
    after = wire.since(mark)
    print(f"after one regenerate: {wire.bytes_since(mark)} bytes "
          f"(that card's new thumbnail {len(card.thumb)} bytes)")
    assert {m.comm_id for m in after if m.buffers} == {card.comm.comm_id}
    others = {c.comm.comm_id for c in board.cards if c is not card}
    assert not others & {m.comm_id for m in after}


def test_an_edit_from_the_browser_reads_the_project_once_not_again_from_the_timer(rendered,
                                                                                  wire: Wire):
    board = StoryboardBoard(rendered)
    reads = []
    state = board._state
    board._state = lambda: reads.append(1) or state()  # type: ignore[method-assign]
    send(board, "edit", scene=board.cards[0].key, changes={"description": "Mud to the ankles"})
    threading.Event().wait(0.5)  # past the throttle's interval: a queued refresh would have run
    board.settle()
    assert len(reads) == 1 and board.cards[0].scene["description"] == "Mud to the ankles"


def test_a_voice_line_edit_is_saved_with_its_fit_against_the_scene(rendered, wire: Wire):
    board = StoryboardBoard(rendered)
    card = board.cards[1]
    fit = card.scene["voice_fit"]
    assert card.scene["voice_line"] == rendered.scene(2).voice_line and fit["fits"]
    room = fit["max_words"]
    line = " ".join(["Grip"] * room)
    send(board, "edit", scene=card.key, changes={"voice_line": line})
    assert on_disk(rendered)["scenes"][1]["voice_line"] == line
    assert card.scene["voice_line"] == line
    assert card.scene["voice_fit"]["words"] == room and card.scene["voice_fit"]["fits"]
    too_long = " ".join(["Grip"] * (room + 6))
    send(board, "edit", scene=card.key, changes={"voice_line": too_long})
    fit = card.scene["voice_fit"]
    assert fit["words"] == room + 6 and not fit["fits"] and fit["over_s"] > 0
    assert board.error == ""  # a long line is allowed; the card says it will not fit


def test_a_voice_line_past_the_limit_is_refused_and_the_saved_one_kept(rendered, wire: Wire):
    board = StoryboardBoard(rendered)
    card = board.cards[0]
    before = (rendered.path / "project.json").read_bytes()
    shown = dict(card.scene)
    send(board, "edit", scene=card.key, changes={"voice_line": "x" * 401})
    assert "voice_line" in board.error and "400" in board.error
    assert (rendered.path / "project.json").read_bytes() == before and card.scene == shown


def test_approve_request_changes_and_comment_from_a_card(rendered, wire: Wire):
    board = StoryboardBoard(rendered)
    a, b = board.cards[0], board.cards[1]
    assert a.scene["review_status"] == "draft" and a.scene["comment_count"] == 0
    send(board, "approve", scene=a.key)
    send(board, "request_changes", scene=b.key, text="Brighter sky, please")
    send(board, "comment", scene=b.key, text="Also a closer shot of the laces")
    saved = {s["id"]: s for s in on_disk(rendered)["scenes"]}
    assert saved[a.key]["review_status"] == "approved"
    assert saved[b.key]["review_status"] == "changes_requested"
    assert [c["text"] for c in saved[b.key]["comments"]] == [
        "Brighter sky, please", "Also a closer shot of the laces"]
    assert a.scene["review_status"] == "approved" and a.scene["comment_count"] == 0
    assert (a.scene["latest"]["kind"], a.scene["latest"]["author"]) == ("approved", rendered.user)
    assert b.scene["review_status"] == "changes_requested" and b.scene["comment_count"] == 2
    last = b.scene["comments"][-1]
    assert (last["author"], last["kind"], last["text"]) == (
        rendered.user, "comment", "Also a closer shot of the laces")
    assert list(rendered.review["status"][:2]) == ["approved", "changes_requested"]
    send(board, "submit", scene=b.key)
    assert b.scene["review_status"] == "in_review" and board.error == ""


def test_a_review_message_updates_only_that_card(rendered, wire: Wire):
    board = StoryboardBoard(rendered)
    a, b = board.cards[0], board.cards[1]
    mark = wire.mark()
    send(board, "comment", scene=b.key, text="Looks right")
    changed = {m.comm_id for m in wire.since(mark) if m.msg_type == "comm_msg"
               and m.data.get("method") == "update"}
    assert b.comm.comm_id in changed and a.comm.comm_id not in changed


@pytest.mark.parametrize("kind, fields, says", [
    ("request_changes", {"text": "  "}, "text: a comment needs 1-2000 characters"),
    ("comment", {"text": ""}, "text: a comment needs 1-2000 characters"),
    ("comment", {"text": "x" * 2001}, "text: a comment needs 1-2000 characters"),
    ("approve", {"scene": "s00000000"}, "s00000000"),
])
def test_a_bad_review_message_is_refused_and_nothing_is_saved(rendered, wire: Wire, kind,
                                                              fields, says):
    board = StoryboardBoard(rendered)
    before = (rendered.path / "project.json").read_bytes()
    mark = wire.mark()
    send(board, kind, **{"scene": board.cards[0].key, **fields})
    (reply,) = wire.replies(mark)
    assert reply["ok"] is False and says in reply["error"] and says in board.error
    assert (rendered.path / "project.json").read_bytes() == before
    assert board.cards[0].scene["comment_count"] == 0


def test_editing_an_approved_scene_on_the_board_shows_it_back_in_draft_with_why(rendered,
                                                                                wire: Wire):
    board = StoryboardBoard(rendered)
    card = board.cards[0]
    send(board, "approve", scene=card.key)
    send(board, "edit", scene=card.key, changes={"description": "Boots in fresh snow"})
    assert card.scene["review_status"] == "draft"
    note = card.scene["comments"][-1]
    assert note["kind"] == "system" and "description" in note["text"]


def test_undo_and_redo_buttons_walk_the_projects_history(rendered, wire: Wire):
    board = StoryboardBoard(rendered)
    card = board.cards[1]
    old = card.scene["description"]
    send(board, "edit", scene=card.key, changes={"description": "Boots splash across a creek"})
    assert board.history["undo"] and "description" in board.history["undo"]
    assert board.history["redo"] is None
    mark = wire.mark()
    send(board, "undo_change")
    (reply,) = wire.replies(mark)
    assert reply["ok"] and "description" in reply["result"]["summary"]
    assert on_disk(rendered)["scenes"][1]["description"] == old
    assert card.scene["description"] == old
    assert board.history["redo"] and "description" in board.history["redo"]
    send(board, "redo_change")
    assert on_disk(rendered)["scenes"][1]["description"] == "Boots splash across a creek"
    assert card.scene["description"] == "Boots splash across a creek"
    assert board.history["redo"] is None


def test_undo_from_a_cell_shows_on_the_board(rendered, wire: Wire):
    board = StoryboardBoard(rendered)
    a, b, c = scene_ids(rendered)
    rendered.reorder([c, a, b])
    board.settle()
    assert [x.key for x in board.cards] == [c, a, b]
    rendered.undo()
    board.settle()
    assert [x.key for x in board.cards] == [a, b, c]
    assert board.history["redo"] and "order" in board.history["redo"]


def test_nothing_to_undo_is_said_on_the_board(fresh, wire: Wire):
    fresh.storyboard()
    board = StoryboardBoard(fresh)
    while board.history["undo"]:
        send(board, "undo_change")
        assert board.error == ""
    send(board, "undo_change")
    assert "nothing to undo" in board.error


def test_the_buttons_agree_with_p_undo_after_mixed_changes(rendered):
    """The board reads the recorder's stacks (no re-read of history.jsonl); they must name
    exactly what p.undo() and p.redo() then do."""
    from nbvideo.edit import versions
    p = rendered
    a, b, c = scene_ids(p)
    p.edit_scene(a, title="One")
    p.comment(b, "a record, not a step")
    p.reorder([b, a, c])
    p.undo()
    p.edit_scene(c, shot="wide")
    p.undo()
    p.undo()
    p.redo()
    for _ in range(3):
        evs = versions.events(p._rt)
        undo, redo = versions.stacks(evs)
        steps = p.undo_redo
        assert steps.undo_id == (undo[-1].id if undo else None)
        assert steps.redo_id == (redo[-1].id if redo else None)
        if steps.undo is None:
            break
        assert p.undo().target == steps.undo_id
    reopened_steps = p.undo_redo
    p.close()
    again = nv.Project.open(p.path)
    try:
        assert again.undo_redo == reopened_steps
    finally:
        again.close()


def test_the_boards_status_colours_are_the_review_sheets():
    """The CSS repeats approvals.STATUS_COLOURS (the static board and the review sheet draw
    with them): a status must look the same on the board, in a saved notebook and on paper."""
    import re
    from pathlib import Path

    from nbvideo.model.approvals import STATUS_COLOURS

    css = (Path(nv.__file__).parent / "widgets" / "static" / "nbvideo.css").read_text()
    base = re.search(r"\.nbv-review-status \{[^}]*background: (#[0-9a-f]{6})", css)
    assert base and base.group(1) == STATUS_COLOURS["draft"]
    for status, colour in STATUS_COLOURS.items():
        if status != "draft":
            assert re.search(rf'data-status="{status}"\] \{{ background: {colour}; \}}', css), status


def test_a_read_only_project_shows_undo_and_redo_off(rendered, wire: Wire):
    rendered.close()
    ro = nv.Project.open(rendered.path, read_only=True)
    try:
        board = StoryboardBoard(ro)
        assert board.history == {"undo": None, "redo": None, "read_only": True}
        send(board, "undo_change")
        assert "read-only" in board.error
    finally:
        ro.close()
