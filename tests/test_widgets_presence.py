"""Live collaboration on the board without a browser: presence, card locks, their expiry, and
what a presence message may hold. Two people are two `user` ids sending to one board, as two
browsers sharing one kernel do."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("anywidget")

import nbvideo as nv
from nbvideo.widgets.board import StoryboardBoard
from nbvideo.widgets.presence import PresenceMessage, Room
from tests.wire import Wire, send

ANA = {"user": "ana-1f2e", "name": "Ana", "colour": "#1f77b4"}
BO = {"user": "bo-9c0d", "name": "Bo", "colour": "#d62728"}


def on_disk(p: nv.Project) -> dict:
    return json.loads((p.path / "project.json").read_text())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_card_shows_who_views_and_who_edits_it(rendered, wire: Wire):
    board = StoryboardBoard(rendered)
    a, b, c = (card.key for card in board.cards)
    send(board, "presence", **ANA, viewing=[a, b], editing=b)
    send(board, "presence", **BO, viewing=[b, c])
    assert board.presence[a] == [{**ANA, "editing": False}]
    assert board.presence[b] == [{**ANA, "editing": True}, {**BO, "editing": False}]
    assert board.presence[c] == [{**BO, "editing": False}]
    assert board.error == ""
    send(board, "presence", **ANA, left=True)
    assert set(board.presence) == {b, c} and board.presence[b] == [{**BO, "editing": False}]


def test_a_card_being_edited_is_locked_for_the_others_and_says_by_whom(rendered, wire: Wire):
    board = StoryboardBoard(rendered)
    sid = board.cards[0].key
    before = on_disk(rendered)["scenes"][0]
    send(board, "presence", **ANA, editing=sid)

    mark = wire.mark()
    send(board, "presence", **BO, editing=sid)  # Bo clicks into the same card
    (claim,) = wire.replies(mark)
    assert claim["ok"] and claim["result"] == {"locked_by": "Ana"}
    assert [p["name"] for p in board.presence[sid] if p["editing"]] == ["Ana"]

    mark = wire.mark()
    for kind, fields in [("edit", {"changes": {"description": "Bo's words"}}),
                         ("move", {"to": 3}), ("delete", {}), ("regenerate", {})]:
        send(board, kind, scene=sid, by=BO["user"], **fields)
    send(board, "edit", scene=sid, changes={"description": "no name at all"})
    replies = wire.replies(mark)
    assert len(replies) == 5 and not any(r["ok"] for r in replies)
    assert all(r["error"] == "scene 1 is being edited by Ana; it is locked until they leave it"
               for r in replies)
    assert on_disk(rendered)["scenes"][0] == before  # nothing changed
    assert board.error == ""  # Ana's screen shows no error for Bo's refusal

    send(board, "edit", scene=sid, by=ANA["user"], changes={"description": "Ana's words"})
    assert on_disk(rendered)["scenes"][0]["description"] == "Ana's words"
    send(board, "presence", **ANA, viewing=[sid])  # Ana leaves the card: Bo may edit it
    send(board, "edit", scene=sid, by=BO["user"], changes={"description": "Bo's words"})
    assert on_disk(rendered)["scenes"][0]["description"] == "Bo's words"


def test_a_lock_expires_when_its_browser_stops_saying_it_is_there():
    clock = Clock()
    room = Room(ttl=30.0, clock=clock)
    scenes = {"s1", "s2"}
    room.update(PresenceMessage(**ANA, editing="s1"), scenes)
    clock.now += 20
    assert room.holder("s1", BO["user"]).name == "Ana"
    room.update(PresenceMessage(**ANA, editing="s1"), scenes)  # the heartbeat renews it
    clock.now += 20
    assert room.holder("s1", BO["user"]).name == "Ana"
    assert room.holder("s1", ANA["user"]) is None  # a lock never locks out its holder
    clock.now += 11  # the tab was closed: no heartbeat for 31 s
    assert room.holder("s1", BO["user"]) is None and room.by_scene() == {}
    assert room.update(PresenceMessage(**BO, editing="s1"), scenes) is None


def test_the_board_comment_names_its_author_when_others_are_on_the_board(rendered, wire: Wire):
    board = StoryboardBoard(rendered)
    sid = board.cards[0].key
    send(board, "comment", scene=sid, text="alone here", name="Ana")
    send(board, "presence", **ANA, viewing=[sid])
    send(board, "presence", **BO, viewing=[sid])
    send(board, "comment", scene=sid, text="Love the light", name="Bo")
    authors = [(c["author"], c["text"]) for c in board.cards[0].scene["comments"]]
    assert authors == [(rendered.user, "alone here"), ("Bo", "Love the light")]
    assert on_disk(rendered)["scenes"][0]["comments"][-1]["author"] == "Bo"


@pytest.mark.parametrize("fields, says", [
    ({**ANA, "viewing": ["nope"]}, "no scene 'nope' on this board"),
    ({**ANA, "editing": "nope"}, "no scene 'nope' on this board"),
    ({**ANA, "name": "Ana\x00"}, "control"),
    ({**ANA, "name": "A" * 81}, "name"),
    ({**ANA, "name": "   "}, "blank"),
    ({**ANA, "user": "ana\x00"}, "user"),
    ({**ANA, "user": "u" * 129}, "user"),
    ({**ANA, "colour": "red; background:url(x)"}, "colour"),
    ({**ANA, "mode": "typing"}, "mode"),
    ({**ANA, "viewing": "s1"}, "viewing"),
    ({"name": "Ana"}, "user"),
])
def test_a_bad_presence_message_is_refused_to_its_sender_only(rendered, wire: Wire, fields, says):
    board = StoryboardBoard(rendered)
    mark = wire.mark()
    send(board, "presence", **fields)
    (reply,) = wire.replies(mark)
    assert reply["ok"] is False and says in reply["error"]
    assert board.presence == {} and board.error == ""
    assert not [m for m in wire.updates(mark) if "presence" in m.data.get("state", {})]


def test_one_person_alone_sees_no_lock_and_edits_as_before(rendered, wire: Wire):
    board = StoryboardBoard(rendered)
    sid = board.cards[0].key
    send(board, "presence", **ANA, viewing=[sid], editing=sid)
    send(board, "edit", scene=sid, by=ANA["user"], changes={"description": "Still mine"})
    send(board, "edit", scene=board.cards[1].key, changes={"description": "From an old page"})
    assert [s["description"] for s in on_disk(rendered)["scenes"][:2]] == [
        "Still mine", "From an old page"]
