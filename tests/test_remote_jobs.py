"""Remote clips: the prediction id is saved before waiting, a dead kernel's job is resumed by
the next process without a second create, and canceling cancels the remote predictions."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from pathlib import Path

import pytest

import nbvideo as nv
from tests.fake_remote import remote_providers


def _use_remote(p: nv.Project, server: Path, latency_s: float) -> None:
    p._rt.providers = remote_providers(server, latency_s)


def _die_mid_job(project: str, server: str, ready: multiprocessing.Queue[str]) -> None:
    """A kernel that submits every clip, then dies before any finishes."""
    p = nv.Project.open(project)
    _use_remote(p, Path(server), latency_s=30)
    p.generate_clips()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (p.costs["status"] == "submitted").sum() == len(p.scenes):
            break
        time.sleep(0.05)
    ready.put("submitted")
    ready.close()
    ready.join_thread()  # flush the queue: os._exit skips every cleanup
    os._exit(1)  # no cleanup, no cancel: like a crashed kernel


def test_a_new_process_resumes_predictions_instead_of_paying_again(
    rendered_template: Path, tmp_path: Path
) -> None:
    project = tmp_path / "shoe"
    shutil.copytree(rendered_template, project)
    server = tmp_path / "server"
    ctx = multiprocessing.get_context("spawn")
    q: multiprocessing.Queue[str] = ctx.Queue()
    proc = ctx.Process(target=_die_mid_job, args=(str(project), str(server), q))
    proc.start()
    assert q.get(timeout=120) == "submitted"
    proc.join(30)
    p = nv.Project.open(project)
    n = len(p.scenes)
    flying = [t for s in p.state.scenes for t in s.clip_takes if t.status == "running"]
    assert len(flying) == n and all(t.request_id for t in flying)  # saved before waiting
    _use_remote(p, server, latency_s=0)
    remote = p._rt.providers.video
    assert remote.creates() == n
    # make the predictions finish now, as a server would have by the time we come back
    for f in server.glob("*.json"):
        data = json.loads(f.read_text())
        data["ready_at"] = 0
        f.write_text(json.dumps(data))
    takes = p.generate_clips().wait(120)
    assert remote.creates() == n  # no second create
    assert {t.request_id for t in takes} == {t.request_id for t in flying}
    for s in p.scenes:
        assert s.clip.status == "succeeded" and s.clip.model == "fake-remote-video"
        assert len([t for t in s.clip_takes if t.model == "fake-remote-video"]) == 1
    paid = p.costs.query("status == 'succeeded' and model == 'fake-remote-video'")
    assert paid["cost_usd"].sum() == pytest.approx(0.05 * sum(s.duration_s for s in p.scenes))
    p.close()


def test_cancel_cancels_the_remote_predictions_and_records_it(rendered: nv.Project,
                                                               tmp_path: Path) -> None:
    server = tmp_path / "server"
    _use_remote(rendered, server, latency_s=60)
    job = rendered.generate_clips()
    n = len(rendered.scenes)
    deadline = time.monotonic() + 60
    while (rendered.costs["status"] == "submitted").sum() < n and time.monotonic() < deadline:
        time.sleep(0.05)
    job.cancel()
    remote = rendered._rt.providers.video
    deadline = time.monotonic() + 30
    while remote.cancels() < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert remote.cancels() == n
    while (rendered.costs["status"] == "canceled").sum() < n and time.monotonic() < deadline:
        time.sleep(0.05)
    canceled = [t for s in rendered.state.scenes for t in s.clip_takes if t.status == "canceled"]
    assert len(canceled) == n and all(t.request_id for t in canceled)
    assert not list((rendered.path / "assets/clips").glob("*fake*"))
