"""ClipGrid following real clip jobs, and driven by simulated browser messages."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time

import pytest

pytest.importorskip("anywidget")

import nbvideo as nv
from nbvideo.widgets.base import Throttle
from nbvideo.widgets.grid import ClipGrid
from tests.wire import Wire, send


def on_disk(p: nv.Project) -> dict:
    return json.loads((p.path / "project.json").read_text())


def statuses(grid: ClipGrid) -> list[str]:
    return [t.tile["status"] for t in grid.tiles]


def wait_for(pred, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise TimeoutError("condition not met")
        time.sleep(0.02)


def test_tiles_follow_a_running_job_to_the_end(fresh, wire: Wire):
    fresh.storyboard()
    job = fresh.generate_clips()
    grid = ClipGrid(fresh, job)
    assert grid.progress["total"] == 3
    job.wait()
    grid.settle()
    assert statuses(grid) == ["succeeded"] * 3
    pr = grid.progress
    assert (pr["done"], pr["succeeded"], pr["state"]) == (3, 3, "succeeded")
    assert pr["ended_ms"] >= pr["started_ms"] > 0
    for tile in grid.tiles:
        t = tile.tile
        assert t["in_job"] and t["ended_ms"] >= t["started_ms"] and t["take_id"]
        assert tile.poster[:3] == b"\xff\xd8\xff" and tile.preview == b""  # preview on request
    assert [t.tile["take_id"] for t in grid.tiles] == [
        s["clip_take_id"] for s in on_disk(fresh)["scenes"]]


def test_a_job_with_nothing_to_make_counts_the_projects_clips_not_zero_of_zero(rendered,
                                                                               wire: Wire):
    job = rendered.generate_clips()  # every clip is current: nothing runs
    job.wait()
    grid = ClipGrid(rendered, job)
    grid.settle()
    pr = grid.progress
    assert (pr["total"], pr["done"], pr["succeeded"]) == (3, 3, 3)
    assert statuses(grid) == ["succeeded"] * 3


def test_events_from_the_background_are_folded_at_most_every_interval():
    calls: list[float] = []
    throttle = Throttle(lambda: calls.append(time.monotonic()), interval=0.2)
    end = time.monotonic() + 0.7
    while time.monotonic() < end:
        throttle.poke()
        time.sleep(0.005)
    throttle.flush()
    assert 2 <= len(calls) <= 5
    assert all(b - a >= 0.18 for a, b in itertools.pairwise(calls[:-1]))


def test_a_preview_is_sent_when_asked_and_only_on_its_tile(rendered, wire: Wire):
    grid = ClipGrid(rendered)
    assert statuses(grid) == ["succeeded"] * 3 and grid.progress["state"] == "idle"
    tile = grid.tiles[1]
    mark = wire.mark()
    send(grid, "preview", scene=tile.key)
    grid.settle()
    assert tile.preview[4:8] == b"ftyp" and len(tile.preview) < 400_000
    assert {m.comm_id for m in wire.since(mark) if m.buffers} == {tile.comm.comm_id}
    assert wire.replies(mark)[-1]["ok"] is True


def test_a_failed_clip_shows_why_and_retry_makes_it(rendered, wire: Wire, monkeypatch):
    video = rendered._rt.providers.video
    real = video.clip

    async def broken(req, out):
        raise RuntimeError("render exploded")

    sid = rendered.scene(2).id
    rendered.edit_scene(2, camera="pan-left")  # its clip is now out of date
    monkeypatch.setattr(video, "clip", broken)
    job = rendered.generate_clips()
    grid = ClipGrid(rendered, job)
    with pytest.raises(RuntimeError):
        job.wait()
    grid.settle()
    tile = grid.tiles[1].tile
    assert tile["status"] == "failed" and "render exploded" in tile["message"]
    assert grid.progress["failed"] == 1
    monkeypatch.setattr(video, "clip", real)
    send(grid, "retry", scene=sid)
    retry_job = grid._jobs[-1][0]
    retry_job.wait()
    grid.settle()
    assert grid.tiles[1].tile["status"] == "succeeded" and grid.error == ""
    saved = on_disk(rendered)["scenes"][1]
    chosen = next(t for t in saved["clip_takes"] if t["id"] == saved["clip_take_id"])
    assert chosen["inputs"]["camera"] == "pan-left"


def _slow_for(video, monkeypatch, prompt: str, started: threading.Event):
    real = video.clip

    async def clip(req, out):
        if req.prompt == prompt:
            started.set()
            await asyncio.sleep(60)
        return await real(req, out)

    monkeypatch.setattr(video, "clip", clip)


def test_cancel_on_one_tile_stops_that_clip_and_the_others_finish(fresh, wire: Wire,
                                                                  monkeypatch):
    fresh.storyboard()
    target = fresh.scene(1)
    started = threading.Event()
    _slow_for(fresh._rt.providers.video, monkeypatch, target.visual_prompt, started)
    job = fresh.generate_clips()
    grid = ClipGrid(fresh, job)
    assert started.wait(30)
    send(grid, "cancel", scene=target.id)
    with pytest.raises(nv.SceneCanceled, match=f"scene {target.id} was canceled"):
        job.wait(60)
    grid.settle()
    assert statuses(grid) == ["canceled", "succeeded", "succeeded"]
    scenes = on_disk(fresh)["scenes"]
    assert scenes[0]["clip_take_id"] is None and all(s["clip_take_id"] for s in scenes[1:])


def test_cancel_all_stops_the_job(fresh, wire: Wire, monkeypatch):
    fresh.storyboard()
    started = threading.Event()
    _slow_for(fresh._rt.providers.video, monkeypatch, fresh.scene(1).visual_prompt, started)
    job = fresh.generate_clips()
    grid = ClipGrid(fresh, job)
    assert started.wait(30)
    send(grid, "cancel")
    wait_for(job.done)
    grid.settle()
    assert job.state == "canceled" and grid.progress["state"] == "canceled"
    assert "canceled" in statuses(grid)


def test_cancel_of_a_scene_with_nothing_running_is_refused(rendered, wire: Wire):
    grid = ClipGrid(rendered)
    send(grid, "cancel", scene=rendered.scene(1).id)
    assert "no clip is being made" in grid.error
