"""History, undo/redo, snapshots and restore: what an editor of the project would notice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nbvideo as nv
from nbvideo.edit.versions import AssetsMissing
from nbvideo.model.state import SCHEMA_VERSION
from nbvideo.store.history import HistoryError
from tests.conftest import BRIEF, SMALL


def _events(p: nv.Project) -> list[dict]:
    return [json.loads(line) for line in (p.path / "history.jsonl").read_text().splitlines()
            if line.strip()]


def _last(p: nv.Project) -> dict:
    return p.history.iloc[-1].to_dict()


def _reopen(p: nv.Project) -> nv.Project:
    path = p.path
    p.close()
    return nv.Project.open(path)


# ---------------------------------------------------------------- what gets written
def test_a_new_project_starts_its_history_with_who_created_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBVIDEO_USER", "Ana Director")
    p = nv.Project.open(tmp_path / "p", brief=BRIEF, **SMALL)
    h = p.history
    assert list(h["kind"]) == ["create"]
    assert h.iloc[0]["user"] == "Ana Director"
    assert str(h["time"].dt.tz) == "UTC"
    p.user = "Bo Editor"
    p.answer(**{p.questions[0].id: "weekend hikers in the Alps"})
    assert _last(p)["user"] == "Bo Editor"
    with pytest.raises(nv.InvalidInput, match="user"):
        p.user = "  "
    p.close()


def test_each_kind_of_change_writes_an_event_with_before_and_after(
        rendered: nv.Project) -> None:
    p = rendered
    start = len(p.history)
    first, second = p.scenes[0].id, p.scenes[1].id
    old_title = p.scene(1).title

    p.edit_scene(1, title="Wet feet? Not today")
    ev = _last(p)
    assert ev["kind"] == "edit" and ev["scenes"] == [first]
    assert ev["changes"] == [{"path": ["scenes", first, "title"], "op": "set",
                              "before": old_title, "after": "Wet feet? Not today"}]
    p.move_scene(1, 2)
    assert _last(p)["kind"] == "reorder"
    assert _last(p)["changes"][0]["after"][:2] == [second, first]
    added = p.add_scene(description="A muddy close-up", duration_s=2.0).id
    assert _last(p)["kind"] == "add" and added in _last(p)["scenes"]
    p.delete_scene(added)
    assert _last(p)["kind"] == "delete"
    p.restore_scene(added)
    assert _last(p)["kind"] == "restore_scene"
    p.delete_scene(added)
    p.regenerate_frame(first, force=True)
    assert _last(p)["kind"] == "regenerate"
    old_frame = p.scene(first).frame_takes[0].id
    p.choose_take(first, old_frame)
    assert _last(p)["kind"] == "choose_take"
    p.trim(1, in_s=0.25)
    ev = _last(p)
    assert ev["kind"] == "trim"
    assert any(c["path"][-1] == "trim_in_s" and c["after"] == 0.25 for c in ev["changes"]) or \
        any(isinstance(c["after"], dict) and c["after"].get("trim_in_s") == 0.25
            for c in ev["changes"])
    p.set_transition(1, "crossfade", 0.5)
    assert _last(p)["kind"] == "transition"
    p.answer(**{p.questions[0].id: "trail runners"})
    assert _last(p)["kind"] == "answer"
    p.finish(music="bed")
    ev = _last(p)
    assert ev["kind"] == "finish"
    assert ev["changes"] == [{"path": ["finishing", "music"], "op": "set", "before": "none",
                              "after": "bed"}]
    p.update(fps=24)
    assert _last(p)["kind"] == "brief"
    p.approve(1)
    assert _last(p)["kind"] == "approve"
    p.comment(2, "Nice light")
    assert _last(p)["kind"] == "comment"
    # One line per change, each a complete JSON object, ids in order.
    lines = _events(p)
    assert [e["id"] for e in lines] == list(range(1, len(lines) + 1))
    assert list(p.history["kind"][start:]) == [
        "edit", "reorder", "add", "delete", "restore_scene", "delete", "reseed", "regenerate",
        "choose_take", "trim", "transition", "answer", "finish", "brief", "approve", "comment"]
    # A diff, not whole states: an edit's line is small even though the project holds takes.
    edit_line = next(e for e in lines if e["kind"] == "edit" and e["id"] > start)
    assert len(json.dumps(edit_line)) < 1500
    assert (p.path / "project.json").stat().st_size > 5 * len(json.dumps(edit_line))


def test_a_save_that_changes_nothing_writes_no_event(rendered: nv.Project) -> None:
    n = len(rendered.history)
    rendered.storyboard()  # everything is current: cache hits only
    rendered.generate_clips().wait()
    assert len(rendered.history) == n


def test_the_same_transition_at_every_cut_is_one_undo_step(rendered: nv.Project) -> None:
    p = rendered
    n = len(p.history)
    p.set_transitions("crossfade", 0.5)
    assert len(p.history) == n + 1 and _last(p)["kind"] == "transition"
    assert {r for r in p.timeline.to_pandas()["transition"] if r} == {"crossfade"}
    p.undo()
    assert {r for r in p.timeline.to_pandas()["transition"] if r} == {"cut"}


# ---------------------------------------------------------------- undo / redo
def test_undo_and_redo_of_a_regenerated_clip_keep_both_takes_on_disk(
        rendered: nv.Project) -> None:
    p = rendered
    old = p.scene(1).clip_take_id
    p.regenerate_clip(1, force=True).wait()
    new = p.scene(1).clip_take_id
    assert new != old
    new_path = p.scene(1).clip_path
    ev = p.undo()
    assert ev.kind == "undo"
    assert p.scene(1).clip_take_id == old
    takes = p.takes(1)
    assert {old, new} <= set(takes["take"])  # the new take is kept, just not current
    assert new_path.is_file() and p.scene(1).clip_path.is_file()
    p.redo()
    assert p.scene(1).clip_take_id == new
    again = _reopen(p)
    assert again.scene(1).clip_take_id == new
    assert {old, new} <= set(again.takes(1)["take"])
    again.undo()  # the history goes on after a reopen
    assert again.scene(1).clip_take_id == old
    again.close()


def test_undo_walks_back_step_by_step_and_a_new_change_drops_redo(rendered: nv.Project) -> None:
    p = rendered
    title = p.scene(1).title
    p.edit_scene(1, title="one")
    p.edit_scene(1, title="two")
    p.edit_scene(1, duration_s=2.0)
    p.undo()
    p.undo()
    assert p.scene(1).title == "one"
    p.undo()
    assert p.scene(1).title == title
    p.redo()
    assert p.scene(1).title == "one"
    p.edit_scene(1, title="three")  # a new change: "two" can no longer be redone
    with pytest.raises(HistoryError, match="nothing to redo"):
        p.redo()
    p.undo()  # undo of the new change
    assert p.scene(1).title == "one"
    undone = p.history.set_index("id")["undone"]
    assert undone.any()


def test_undo_of_undo_is_redo_and_history_records_both(rendered: nv.Project) -> None:
    p = rendered
    p.edit_scene(2, on_screen_text="Stay dry")
    edit_id = int(_last(p)["id"])
    p.undo()
    assert _last(p)["target"] == edit_id and _last(p)["kind"] == "undo"
    assert p.scene(2).on_screen_text != "Stay dry"
    p.redo()
    assert _last(p)["target"] == edit_id and _last(p)["kind"] == "redo"
    assert p.scene(2).on_screen_text == "Stay dry"


def test_undo_of_an_added_scene_with_takes_archives_it(rendered: nv.Project) -> None:
    p = rendered
    sid = p.add_scene(description="Boots in a stream", duration_s=2.0).id
    p.storyboard()  # makes its frame: a take that must never be lost
    assert p.scene(sid).frame is not None
    p.undo()  # the frame is no longer current
    assert p.scene(sid).frame is None
    p.undo()  # the add itself: the scene leaves the storyboard, archived with its take
    assert sid not in [s.id for s in p.scenes]
    archived = {s.id: s for s in p.state.archived_scenes}
    assert len(archived[sid].frame_takes) == 1
    p.redo()
    assert sid in [s.id for s in p.scenes]
    assert sid not in {s.id for s in p.state.archived_scenes}


def test_undo_of_a_delete_brings_the_scene_back_where_it_was(rendered: nv.Project) -> None:
    p = rendered
    order = [s.id for s in p.scenes]
    p.delete_scene(2)
    p.undo()
    assert [s.id for s in p.scenes] == order


def test_undo_with_nothing_to_undo_says_so(tmp_path: Path) -> None:
    p = nv.Project.open(tmp_path / "p", brief=BRIEF, **SMALL)
    with pytest.raises(HistoryError, match="nothing to undo"):
        p.undo()
    p.close()


def test_a_read_only_project_shows_history_but_cannot_undo(rendered: nv.Project) -> None:
    rendered.edit_scene(1, title="x")
    path = rendered.path
    rendered.close()
    ro = nv.Project.open(path, read_only=True)
    assert _last(ro)["kind"] == "edit"
    with pytest.raises(nv.ProjectLocked, match="read-only"):
        ro.undo()
    nv.Project.open(path).close()


# ---------------------------------------------------------------- snapshots / restore / diff
def test_snapshot_restore_and_diff_round_trip(rendered: nv.Project) -> None:
    p = rendered
    p.snapshot("sent-to-client", note="v1 to the client")
    sent = p.state
    p.edit_scene(1, title="Cold water? No problem", duration_s=2.0)
    removed = p.scenes[2].id
    p.delete_scene(removed)
    added = p.add_scene(description="Laces pulled tight", duration_s=2.0).id
    p.move_scene(1, 2)
    d = p.diff("sent-to-client")
    assert d.added == [added] and d.removed == [removed] and d.reordered
    assert set(d.changed[sent.scenes[0].id]) == {"title", "duration_s"}
    assert d.to_pandas()["change"].tolist().count("changed") == len(d.changed)

    ev = p.restore("sent-to-client")
    assert ev.kind == "restore" and ev.summary == "restore to snapshot 'sent-to-client'"
    now = p.state
    assert [s.id for s in now.scenes] == [s.id for s in sent.scenes]
    for a, b in zip(now.scenes, sent.scenes, strict=True):
        assert a.model_dump(exclude={"comments"}) == b.model_dump(exclude={"comments"})
    assert p.diff("sent-to-client").empty
    assert added in {s.id for s in now.archived_scenes} or added not in {s.id for s in now.scenes}
    p.undo()  # a restore is a change like any other
    assert p.scene(sent.scenes[0].id).title == "Cold water? No problem"
    again = _reopen(p)
    assert again.history["snapshot"].tolist().count("sent-to-client") == 1
    again.restore(int(again.history.query("snapshot == 'sent-to-client'")["id"].iloc[0]))
    assert [s.id for s in again.scenes] == [s.id for s in sent.scenes]
    again.close()


@pytest.mark.parametrize("bad", ["", " ", "sent to client", "../up", "x" * 65, "123", "-a", 7])
def test_snapshot_names_are_checked(rendered: nv.Project, bad: object) -> None:
    with pytest.raises(nv.InvalidInput, match="snapshot name"):
        rendered.snapshot(bad)  # type: ignore[arg-type]


def test_a_snapshot_name_is_used_once_and_unknown_names_are_listed(rendered: nv.Project) -> None:
    rendered.snapshot("v1")
    with pytest.raises(nv.InvalidInput, match="already taken"):
        rendered.snapshot("v1")
    with pytest.raises(nv.InvalidInput, match="snapshots: 'v1'"):
        rendered.restore("v2")
    with pytest.raises(nv.InvalidInput, match="no history event 9999"):
        rendered.restore(9999)


def test_restore_to_a_state_whose_clip_is_gone_names_it_and_changes_nothing(
        rendered: nv.Project) -> None:
    p = rendered
    p.snapshot("before")
    old_path = p.scene(1).clip_path
    p.regenerate_clip(1, force=True).wait()
    old_path.unlink()  # someone cleaned up the folder by hand
    current = p.scene(1).clip_take_id
    n = len(p.history)
    with pytest.raises(AssetsMissing, match=rf"scene 1 .*clip take .*{old_path.name}"):
        p.restore("before")
    assert p.scene(1).clip_take_id == current and len(p.history) == n
    with pytest.warns(UserWarning, match="missing"):
        ev = p.restore("before", missing_ok=True)
    assert old_path.name in ev.note


# ---------------------------------------------------------------- crashes and reopen
def test_a_torn_last_line_is_skipped_and_the_change_recovered_on_reopen(
        rendered: nv.Project) -> None:
    p = rendered
    title = p.scene(1).title
    p.edit_scene(1, title="first")
    p.edit_scene(1, title="second")
    path = p.path
    p.close()
    hist = path / "history.jsonl"
    data = hist.read_bytes()
    hist.write_bytes(data[: len(data) - 40])  # the crash cut the last line short
    with pytest.warns(UserWarning, match="skipped 1 unreadable line"):
        again = nv.Project.open(path)
    with pytest.warns(UserWarning, match="skipped 1 unreadable line"):
        h = again.history
    last = h.iloc[-1]
    assert last["kind"] == "edit" and "recovered" in last["note"]
    assert last["changes"][0]["after"] == "second"
    with pytest.warns(UserWarning):
        again.undo()
        assert again.scene(1).title == "first"
        again.undo()
    assert again.scene(1).title == title
    again.close()


def test_a_hand_edit_of_project_json_is_a_break_undo_cannot_cross(rendered: nv.Project) -> None:
    p = rendered
    p.edit_scene(1, title="before the hand edit")
    path = p.path
    p.close()
    raw = json.loads((path / "project.json").read_text())
    raw["scenes"][0]["title"] = "typed in an editor"
    (path / "project.json").write_text(json.dumps(raw))
    (path / "project.json.bak").write_text(json.dumps(raw))
    with pytest.warns(UserWarning, match="does not match the end of its history"):
        again = nv.Project.open(path)
    assert again.history.iloc[-1]["kind"] == "resync"
    assert again.scene(1).title == "typed in an editor"
    with pytest.raises(HistoryError, match="nothing to undo"):
        again.undo()
    with pytest.raises(HistoryError, match="break in the history"):
        again.restore(2)
    again.close()


def test_a_project_from_before_history_opens_and_starts_recording(rendered: nv.Project) -> None:
    path = rendered.path
    rendered.close()
    (path / "history.jsonl").unlink()
    raw = json.loads((path / "project.json").read_text())
    raw["schema_version"] = 1
    for s in raw["scenes"]:
        del s["review_status"], s["comments"]
    (path / "project.json").write_text(json.dumps(raw))
    p = nv.Project.open(path)
    assert p.history.empty
    assert {s.review_status for s in p.scenes} == {"draft"}
    p.edit_scene(1, title="now with history")
    assert list(p.history["kind"]) == ["edit"]
    assert json.loads((path / "project.json").read_text())["schema_version"] == SCHEMA_VERSION
    p.undo()
    assert p.scene(1).title != "now with history"
    p.close()


def test_putting_the_last_good_copy_back_is_recorded_as_a_restore(rendered: nv.Project) -> None:
    p = rendered
    p.edit_scene(1, title="first")
    p.edit_scene(1, title="second")
    path = p.path
    p.close()
    nv.Project.restore_last_good(path)  # `nbvideo restore`: project.json.bak comes back
    again = nv.Project.open(path)  # no warning: the history knows this state
    last = again.history.iloc[-1]
    assert last["kind"] == "restore" and again.scene(1).title == "first"
    assert last["changes"][0]["after"] == "first"
    again.undo()
    assert again.scene(1).title == "second"
    again.close()
