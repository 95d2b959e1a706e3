"""Saved work is never lost: one live project per folder per process, a save from an older
revision than the disk's is refused, history ids stay unique, restore never rolls back a
newer nbvideo's file (issue 16)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

import nbvideo as nv
from nbvideo.errors import ProjectStale, SchemaTooNew
from nbvideo.model.state import SCHEMA_VERSION
from nbvideo.store.folder import MIGRATIONS, ProjectStore
from tests.test_cli import cli


def on_disk(path: Path) -> dict:
    return json.loads((path / "project.json").read_text())


def test_two_opens_in_one_kernel_share_the_project_so_both_edits_survive(
        rendered: nv.Project) -> None:
    path = rendered.path
    again = nv.Project.open(path)  # the re-run cell
    rendered.edit_scene(1, title="edited through the first")
    again.edit_scene(2, title="edited through the second")
    assert again.scenes[0].title == "edited through the first"  # one live state
    titles = [s["title"] for s in on_disk(path)["scenes"][:2]]
    assert titles == ["edited through the first", "edited through the second"]
    ids = list(again.history["id"])
    assert len(ids) == len(set(ids))
    with pytest.raises(nv.InvalidInput, match="aspect"):  # other options are still refused
        nv.Project.open(path, aspect="9:16")
    again.close()  # one handle closing leaves the other writable
    rendered.edit_scene(3, title="after the other closed")
    assert on_disk(path)["scenes"][2]["title"] == "after the other closed"


def test_a_symlink_to_an_open_project_is_the_same_project(rendered: nv.Project,
                                                         tmp_path: Path) -> None:
    link = tmp_path / "elsewhere"
    link.mkdir()
    os.symlink(rendered.path, link / "shoe")
    other = nv.Project.open(link / "shoe")
    other.edit_scene(1, title="through the link")
    rendered.edit_scene(2, title="through the folder")
    scenes = on_disk(rendered.path)["scenes"]
    assert [s["title"] for s in scenes[:2]] == ["through the link", "through the folder"]
    other.close()


def test_a_save_over_a_project_json_changed_on_disk_is_refused_and_writes_nothing(
        rendered: nv.Project) -> None:
    path = rendered.path
    raw = on_disk(path)  # another tool edits the file and counts a save
    raw["scenes"][0]["title"] = "edited by another tool"
    raw["revision"] = raw.get("revision", 0) + 1
    (path / "project.json").write_text(json.dumps(raw, indent=1))
    before = (path / "project.json").read_bytes(), (path / "project.json.bak").read_bytes()
    with pytest.raises(ProjectStale, match="Nothing was overwritten.*Reopen"):
        rendered.edit_scene(2, title="from the stale handle")
    assert ((path / "project.json").read_bytes(), (path / "project.json.bak").read_bytes()) == before
    fresh = nv.Project.open(path)  # reopening goes on from the disk
    assert fresh.scenes[0].title == "edited by another tool"
    fresh.edit_scene(2, title="after reopening")
    assert [s["title"] for s in on_disk(path)["scenes"][:2]] == ["edited by another tool",
                                                                 "after reopening"]
    fresh.close()


def test_a_restore_behind_an_open_project_makes_its_next_save_refuse(rendered: nv.Project) -> None:
    path = rendered.path
    rendered.edit_scene(1, title="the edit restore takes back")
    nv.Project.restore_last_good(path)
    restored = (path / "project.json").read_bytes()
    with pytest.raises(ProjectStale, match="revision"):
        rendered.edit_scene(2, title="would undo the restore")
    assert (path / "project.json").read_bytes() == restored


def test_each_save_counts_a_revision_and_an_older_file_starts_at_zero(tmp_path: Path) -> None:
    p = nv.Project.open(tmp_path / "p", brief="6s ad for a reusable water bottle", duration_s=6)
    first = on_disk(p.path)["revision"]
    p.budget_usd = 5
    assert on_disk(p.path)["revision"] == first + 1
    p.close()
    raw = on_disk(p.path)
    del raw["revision"]
    raw["schema_version"] = 2
    (p.path / "project.json").write_text(json.dumps(raw))
    assert 2 in MIGRATIONS and SCHEMA_VERSION >= 3
    old = nv.Project.open(p.path)
    assert old.state.revision == 0 and old.budget_usd == 5
    old.budget_usd = 6
    assert on_disk(p.path)["revision"] == 1 and on_disk(p.path)["schema_version"] == SCHEMA_VERSION
    old.close()


def test_history_ids_stay_unique_when_threads_save_through_two_handles(
        rendered: nv.Project) -> None:
    handles = [rendered, nv.Project.open(rendered.path)]
    had = len(rendered.history)
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def edit(worker: int) -> None:
        p = handles[worker % 2]
        start.wait()
        try:
            for k in range(6):
                p.edit_scene(1 + worker % 3, title=f"worker {worker} edit {k}")
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=edit, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    lines = (rendered.path / "history.jsonl").read_text().splitlines()
    ids = [json.loads(line)["id"] for line in lines]
    assert len(ids) == len(set(ids)) and ids == sorted(ids)
    assert len(ids) == had + 24  # every edit is one event
    disk = [s["title"] for s in on_disk(rendered.path)["scenes"]]
    assert disk == [s.title for s in handles[1].scenes]  # what both hold is what is saved
    handles[1].close()


def newer_schema_file(path: Path) -> None:
    raw = on_disk(path)
    raw["schema_version"] = SCHEMA_VERSION + 1
    (path / "project.json").write_text(json.dumps(raw))


def test_restore_refuses_a_readable_file_from_a_newer_nbvideo_and_changes_nothing(
        tmp_path: Path) -> None:
    p = nv.Project.open(tmp_path / "p", brief="6s ad for a reusable water bottle", duration_s=6)
    p.budget_usd = 5  # so a last good copy exists
    p.close()
    newer_schema_file(p.path)
    before = {f.name: f.read_bytes() for f in p.path.iterdir() if f.is_file()}
    with pytest.raises(SchemaTooNew, match="Upgrade nbvideo.*Not restored"):
        ProjectStore(p.path).restore_last_good()
    assert {f.name: f.read_bytes() for f in p.path.iterdir() if f.is_file()} == before
    res = cli("restore", str(p.path))
    assert res.returncode == 3 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Upgrade nbvideo" in res.stderr
    assert {f.name: f.read_bytes() for f in p.path.iterdir() if f.is_file()} == before
