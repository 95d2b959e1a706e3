"""The project folder on disk: atomic saves, last good copy, corrupt files, schema, lock, paths."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from nbvideo.errors import PathEscape, ProjectCorrupt, ProjectLocked, SchemaTooNew
from nbvideo.model.state import SCHEMA_VERSION, Brief, ProjectState, Scene, Take
from nbvideo.store.folder import ProjectStore, inside, slug_path


def make_state(n_scenes: int = 2, takes: int = 1) -> ProjectState:
    scenes = []
    for i in range(n_scenes):
        sid = f"s{i:08x}"
        ft = [Take(id=f"f{i}{k}", kind="frame", key=f"k{i}{k}", provider="local", model="m",
                   seed=k, path=f"assets/frames/{sid}-f{i}{k}.png", status="succeeded")
              for k in range(takes)]
        scenes.append(Scene(id=sid, beat="hook", description=f"scene {i}", visual_prompt="p",
                            duration_s=3.0, frame_takes=ft, frame_take_id=ft[-1].id if ft else None))
    return ProjectState(name="t", brief=Brief(text="a test brief"), scenes=scenes)


@pytest.fixture
def store(tmp_path: Path) -> ProjectStore:
    s = ProjectStore(tmp_path / "proj")
    s.root.mkdir()
    s.acquire()
    yield s
    s.release()


def test_save_then_load_round_trips_every_field(store: ProjectStore) -> None:
    state = make_state(3, 4)
    state.answers = {"tone": "gritty"}
    store.save(state)
    assert store.load() == state


def test_second_save_keeps_the_previous_good_copy(store: ProjectStore) -> None:
    first = make_state(1)
    store.save(first)
    second = make_state(2)
    store.save(second)
    backup = json.loads(store.backup_path.read_text())
    assert len(backup["scenes"]) == 1
    assert len(store.load().scenes) == 2


def test_truncated_file_is_a_clear_error_and_is_not_overwritten(store: ProjectStore) -> None:
    store.save(make_state(1))
    store.save(make_state(2))
    data = store.state_path.read_bytes()
    store.state_path.write_bytes(data[: len(data) // 2])
    broken = store.state_path.read_bytes()
    with pytest.raises(ProjectCorrupt) as err:
        store.load()
    assert "project.json" in str(err.value) and "restore" in str(err.value)
    assert store.state_path.read_bytes() == broken


def test_restore_last_good_keeps_the_broken_file_aside(store: ProjectStore) -> None:
    store.save(make_state(1))
    store.save(make_state(2))
    store.state_path.write_text("{not json")
    aside = store.restore_last_good()
    assert aside is not None and aside.read_text() == "{not json"
    assert len(store.load().scenes) == 1


def test_invalid_field_names_where(store: ProjectStore) -> None:
    store.save(make_state(1))
    raw = json.loads(store.state_path.read_text())
    raw["scenes"][0]["duration_s"] = -4
    store.state_path.write_text(json.dumps(raw))
    with pytest.raises(ProjectCorrupt, match=r"scenes\.0\.duration_s"):
        store.load()


def test_newer_schema_is_refused_and_left_untouched(store: ProjectStore) -> None:
    store.save(make_state(1))
    raw = json.loads(store.state_path.read_text())
    raw["schema_version"] = SCHEMA_VERSION + 1
    store.state_path.write_text(json.dumps(raw))
    before = store.state_path.read_bytes()
    with pytest.raises(SchemaTooNew, match="newer nbvideo"):
        store.load()
    assert store.state_path.read_bytes() == before


def test_save_leaves_no_temp_files(store: ProjectStore) -> None:
    for _ in range(3):
        store.save(make_state(1))
    leftovers = [p.name for p in store.root.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []



def test_a_save_that_fails_midway_keeps_the_last_file_and_leaves_no_temp_file(
        store: ProjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk at fsync: project.json is still the last save, and no temp file is left."""
    store.save(make_state(1))
    before = store.state_path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        store.save(make_state(2))
    monkeypatch.undo()
    assert store.state_path.read_bytes() == before
    assert [p.name for p in store.root.iterdir() if p.name.endswith(".tmp")] == []
    assert len(ProjectStore(store.root).load().scenes) == 1

def _try_lock(root: str, q: multiprocessing.Queue[str]) -> None:
    try:
        ProjectStore(Path(root)).acquire()
        q.put("acquired")
    except ProjectLocked as exc:
        q.put(f"locked: {exc}")


def test_lock_stops_a_second_process(store: ProjectStore) -> None:
    ctx = multiprocessing.get_context("spawn")
    q: multiprocessing.Queue[str] = ctx.Queue()
    proc = ctx.Process(target=_try_lock, args=(str(store.root), q))
    proc.start()
    proc.join(60)
    msg = q.get(timeout=5)
    assert msg.startswith("locked:") and "another process" in msg


def test_lock_is_free_again_after_release(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    s = ProjectStore(root)
    s.acquire()
    s.release()
    ctx = multiprocessing.get_context("spawn")
    q: multiprocessing.Queue[str] = ctx.Queue()
    proc = ctx.Process(target=_try_lock, args=(str(root), q))
    proc.start()
    proc.join(60)
    assert q.get(timeout=5) == "acquired"


def test_read_only_store_refuses_to_save(tmp_path: Path) -> None:
    s = ProjectStore(tmp_path)
    with pytest.raises(ProjectLocked, match="read-only"):
        s.save(make_state(1))


@pytest.mark.parametrize("bad", ["../escape.png", "/etc/passwd", "assets/../../x", "a/../../b"])
def test_paths_cannot_escape_the_project(tmp_path: Path, bad: str) -> None:
    with pytest.raises(PathEscape):
        inside(tmp_path, bad)


def test_symlink_out_of_the_project_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, root / "assets")
    with pytest.raises(PathEscape):
        inside(root, "assets/frame.png")


def test_project_names_are_slugged(tmp_path: Path) -> None:
    assert slug_path(tmp_path / "Trail Shoe! (v2)").name == "trail-shoe-v2"
    with pytest.raises(PathEscape):
        slug_path(tmp_path / "!!!")


@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/passwd", "assets/../../x.png", "C:/x.png"])
def test_a_hand_edited_asset_path_that_leaves_the_project_is_refused_on_load(
    store: ProjectStore, bad: str
) -> None:
    store.save(make_state(1))
    raw = json.loads(store.state_path.read_text())
    raw["scenes"][0]["frame_takes"][0]["path"] = bad
    store.state_path.write_text(json.dumps(raw))
    with pytest.raises(ProjectCorrupt, match=r"scenes\.0\.frame_takes\.0\.path"):
        store.load()
