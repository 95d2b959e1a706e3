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
